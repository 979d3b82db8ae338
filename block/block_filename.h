#pragma once
// The file name QEMU 7.2 shows for a node (block.c bdrv_refresh_filename): the protocol's file
// name when the node's options add nothing a plain name cannot say, else a "json:{...}"
// pseudo-name holding the node's options (driver, the driver's strong runtime options, the
// file child's options, and the backing child's when it was overridden). query-block and
// query-named-block-nodes report it as "file" and ImageInfo "filename".
// Thread: any (reads immutable node state).

#include <string>

#include "block/block_node.h"
#include "util/json.h"

namespace nemu::block {

// block.c bdrv_backing_overridden: the backing child was given explicitly and is not what
// the image header names (or the header's backing file was suppressed with backing=null).
bool backing_overridden(const BlockNode& node);

// The options QEMU puts into a json: file name for this node (bs->full_open_options).
Json full_open_options(const BlockNode& node);

// The name itself: info().filename, or "json:" + the options in QEMU's text form.
std::string node_filename(const BlockNode& node);

// QEMU's compact JSON text of a QDict (qobject_to_json): members in QDict's hash-bucket order
// (tdb_hash of the key modulo 512, as qdict.c iterates), ", " and ": " separators, strings
// escaped as qjson.c does (\uXXXX in upper-case hex for control and non-ASCII characters).
std::string qdict_json_text(const Json& value);

} // namespace nemu::block
