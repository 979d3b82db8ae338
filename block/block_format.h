#pragma once
// The format registry (STYLE.md §2): each image format names itself, probes an image's first
// bytes and opens a node over a file child. Protocols (file, host_device) are opened by
// file_node.h; block_open.h builds whole graphs from -drive / -blockdev / blockdev-add.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "block/block_node.h"
#include "block/block_types.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::block {

// Opens the image a format names as its backing file. filename is as written in the image
// header; the callee resolves it relative to the overlay, refuses loops and over-long
// chains, and probes when format is empty.
using BackingOpener =
    std::function<Result<std::shared_ptr<BlockNode>>(const std::string& filename, const std::string& format)>;

// Everything a format's open() gets besides its file child.
struct FormatOpenContext {
    OpenFlags flags;
    // The driver-specific members of BlockdevOptions<Driver> as JSON (already validated for
    // type by the caller only where QAPI says so): e.g. raw {"offset":..,"size":..},
    // vpc {"force-size":..}? (no: force_size is qemu-img's create option), qcow2 {"lazy-refcounts":..}.
    Json options = Json::object();
    // Backing file handling (formats that have one, i.e. qcow2):
    //   backing_disabled:   -blockdev backing=null — open without a backing file.
    //   backing_node:       -blockdev backing=<node-name> — use this node.
    //   otherwise:          open_backing(header's name, header's format) if the image has one.
    bool backing_disabled = false;
    std::shared_ptr<BlockNode> backing_node;
    BackingOpener open_backing;
};

struct BlockFormat {
    std::string_view name; // QAPI BlockdevDriver name
    // How sure the format is that `head` (the first up to 512 bytes of the file) is its
    // image: 0 = not mine, 100 = magic matched (QEMU's bdrv_probe scores).
    int (*probe)(std::span<const uint8_t> head, std::string_view filename);
    Result<std::shared_ptr<BlockNode>> (*open)(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx);
};

// raw, qcow2, vpc — in probe order (raw last: it accepts anything with score 1).
std::span<const BlockFormat> block_formats();
const BlockFormat* find_block_format(std::string_view name);
// The best-scoring format for these bytes (raw when nothing else matches).
const BlockFormat& probe_block_format(std::span<const uint8_t> head, std::string_view filename);

} // namespace nemu::block
