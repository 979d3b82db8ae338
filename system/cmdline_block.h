#pragma once
// -drive (QemuOpts, blockdev.c drive_new/blockdev_init) and -blockdev (keyval or JSON,
// libvirt 9.0's form) for the block layer (issue #6). Pure parsing: the Vm's BlockGraph
// opens the images (system/block_setup.h).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "block/block_backend.h"
#include "block/block_types.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::cmdline {

struct DriveSpec {
    std::string id;          // "" = auto ("none0", ...)
    std::string file;        // "" = an empty drive (no medium)
    std::string format;      // "" = probe
    std::string node_name;   // "" = auto "#blockNNN"
    block::OpenFlags flags;
    block::CacheMode cache;
    block::BackendOptions backend;
    // throttling.* (and the legacy iops=, bps_rd=, ... aliases), validated as QEMU's
    // throttle_is_valid; applied to the drive's backend (query-block shows it).
    block::ThrottleLimits throttle;
    bool snapshot = false;
    bool snapshot_given = false; // snapshot= was on the option (the global -snapshot only sets a default)
    // Other keys: the format's own options (QEMU passes them down and the format refuses
    // what it does not know: "Block format 'raw' does not support the option 'x'").
    std::vector<std::pair<std::string, std::string>> format_options;
};

// Errors are QEMU 7.2's, e.g. "invalid cache option", "'x' invalid write error action".
Result<DriveSpec> parse_drive(std::string_view text);

// -blockdev: JSON ('{' first) as is, or keyval with the BlockdevOptions scalars typed as
// QAPI does (booleans on/off, integers; "backing=" is null).
Result<Json> parse_blockdev(std::string_view text);

} // namespace nemu::cmdline
