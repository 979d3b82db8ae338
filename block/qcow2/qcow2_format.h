#pragma once
// The qcow2 entry of the format registry (block_format.h) and a small image creator used by
// tests and by -drive snapshot=on (a temporary overlay).

#include <cstdint>
#include <string>

#include "block/block_format.h"
#include "block/block_node.h"
#include "util/result.h"

namespace nemu::block {

// name "qcow2"; probe: magic "QFI\xfb" and version >= 2 → 100 (QEMU's qcow2_probe); open:
// qcow2::Qcow2Node::open.
const BlockFormat& qcow2_format();

struct Qcow2CreateOptions {
    uint32_t cluster_size = 65536;  // 512 .. 2 MiB, a power of two
    uint32_t refcount_bits = 16;    // 1..64, a power of two (16 only for version 2)
    uint32_t version = 3;           // 2 = compat 0.10, 3 = compat 1.1
    std::string backing_file;       // as written in the header (may be relative)
    std::string backing_format;     // "" = none recorded
    bool lazy_refcounts = false;    // version 3 only
};

// Writes a fresh, empty qcow2 image of `size` virtual bytes into `file` (truncated first).
// The result passes `qemu-img check`.
Result<> qcow2_create(BlockNode& file, uint64_t size, const Qcow2CreateOptions& opts);

} // namespace nemu::block
