#pragma once
// Repair of a qcow2 image left "dirty" (incompatible feature bit 0) by QEMU's lazy refcounts
// after a crash (docs/interop/qcow2.txt: "the refcounts may be inconsistent ... must be
// repaired before being used"). QEMU 7.2 does this on every read-write open (qcow2_do_open:
// its check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS, then qcow2_mark_clean); nemu does the same.
//
// The refcount every cluster should have is counted from the metadata: the header cluster,
// the active and every snapshot's L1 table, each L2 table per L1 reference, each data (or
// preallocated zero) cluster per L2 reference, the clusters a compressed cluster's sectors
// touch, the snapshot table and the refcount structures. Refcounts too high (leaks) are
// lowered and too low ones raised. When the existing refcount blocks cover every cluster in
// use and overlap nothing, they are fixed in place; otherwise a new refcount table and blocks
// are written past the end of the file and the header is switched to them (the old ones
// become free clusters).
// Crash safety: refcount writes, flush, [header switch, flush,] dirty bit cleared, flush. The
// bit stays set until the refcounts are right on disk, so a kill at any point leaves an image
// that the next read-write open repairs again.
// Hostile images (offsets past the end, reserved bits, overlapping metadata, refcount
// overflow, COPIED flags that disagree with the counts) fail with EIO, before any write;
// memory and work are bounded (kMaxRepairClusters, kRepairWorkBudget).

#include <cstdint>
#include <span>

#include "block/block_node.h"
#include "block/qcow2/qcow2_header.h"
#include "util/result.h"

namespace nemu::block::qcow2 {

inline constexpr uint64_t kMaxRepairClusters = 1ull << 26;  // 256 MiB of counters
inline constexpr uint64_t kRepairWorkBudget = 1ull << 28;   // L2 + refcount entries visited

struct RepairReport {
    uint64_t leaks_fixed = 0;   // clusters whose refcount was lowered
    uint64_t errors_fixed = 0;  // clusters whose refcount was raised
    bool rebuilt = false;       // a new refcount table and blocks were written
};

// Repairs the refcounts of a dirty image opened read-write and clears the dirty bit. h is the
// parsed header (updated: refcount table, incompatible features); sector0 is the file's first
// 512 bytes, rewritten with h's fields on header updates.
Result<RepairReport> repair_dirty_image(BlockNode& file, Header& h, std::span<uint8_t> sector0);

} // namespace nemu::block::qcow2
