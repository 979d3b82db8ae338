#pragma once
// Building node graphs: from BlockdevOptions (-blockdev in JSON or keyval form once converted
// to JSON, blockdev-add) and from an image file name the way `-drive file=` and qemu-img do.
// Thread: main loop (opening does synchronous I/O on the image's headers).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "block/block_node.h"
#include "block/block_types.h"
#include "block/io_engine.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::block {

// Looks up an existing node by node-name, for references such as "file": "disk0-file" or
// "backing": "base". Returns null when there is no such node.
using NodeResolver = std::function<std::shared_ptr<BlockNode>(std::string_view node_name)>;

// Longest backing chain nemu opens (QEMU has no fixed limit, but a chain this deep is either
// a loop that escaped detection or a hostile image).
inline constexpr unsigned kMaxBackingChain = 64;

// BlockdevOptions (qapi/block-core.json) for the drivers nemu has: file, host_device, raw,
// qcow2, vpc, and rbd when built with it. Nested "file"/"backing" are objects or node-name strings; "backing": null
// opens without the backing file. Errors use QEMU 7.2's messages (e.g. "Could not open
// 'x': No such file or directory", "Unknown driver 'foo'" — check against qemu).
// Nodes created here get the node-name from the options, or none (the caller names them).
Result<std::shared_ptr<BlockNode>> open_blockdev(const Json& options, const NodeResolver& resolve);
// The same with the io_uring check injected: a file node given aio=io_uring explicitly
// calls probe once its file is open and fails with its error, as QEMU's raw_open_common
// does when the ring cannot be set up (the default above is probe_io_uring, io_engine.h).
Result<std::shared_ptr<BlockNode>> open_blockdev(const Json& options, const NodeResolver& resolve,
                                                 const UringProbe& probe);

// An image by file name: the file protocol ("rbd:..." names the rbd protocol), then `format` ("" = probe, as qemu-img does,
// QEMU's raw-probing rules), then the backing chain the header names (relative names are
// resolved against the image's directory; loops and chains past kMaxBackingChain are errors).
Result<std::shared_ptr<BlockNode>> open_image(const std::string& filename, const std::string& format,
                                              const OpenFlags& flags);

// -drive snapshot=on / -snapshot (block.c bdrv_append_temp_snapshot): a fresh qcow2 image
// of base's size (default creation options, no backing file in its header) in $TMPDIR or
// else /var/tmp, named vl.XXXXXX, with base as its explicit backing node. The file is
// unlinked at once (QEMU unlinks at close), so nothing is left behind even on SIGKILL; the
// overlay and its file node are opened cache=unsafe (direct off, no-flush on), as QEMU's
// bdrv_temp_snapshot_flags. Guest writes land in the overlay only. Errors as QEMU 7.2's:
// "Could not open temporary file '/dir/vl.AbC123': No such file or directory".
Result<std::shared_ptr<BlockNode>> open_temp_snapshot(std::shared_ptr<BlockNode> base, const OpenFlags& flags);

} // namespace nemu::block
