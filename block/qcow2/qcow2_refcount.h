#pragma once
// qcow2 reference counts (docs/interop/qcow2.txt, "Host cluster management"): the refcount
// table (kept in memory, at most QEMU's 8 MiB), refcount blocks (through a TableCache),
// entries of 1..64 bits (refcount_order 0..6), cluster allocation and table growth.
// Thread: only under the owning node's metadata mutex.

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "block/block_node.h"
#include "block/qcow2/qcow2_cache.h"
#include "util/result.h"

namespace nemu::block::qcow2 {

class Refcounts {
public:
    // Called after a new refcount table is written, to point the header at it.
    using TableMoved = std::function<Result<>(uint64_t offset, uint32_t clusters)>;

    Refcounts(BlockNode& file, uint32_t cluster_bits, uint32_t refcount_order, std::vector<uint64_t> table,
              uint64_t table_offset, uint32_t table_clusters, std::atomic<uint64_t>& file_end, TableMoved moved);

    Result<uint64_t> get(uint64_t cluster);
    // Adds delta (+1/-1) to a cluster's refcount: ENOSPC past the order's maximum, EIO below 0.
    Result<> update(uint64_t cluster, int delta);
    // Allocates n contiguous free clusters with refcount 1 (written before returning).
    Result<uint64_t> alloc(uint64_t n);
    // Drops one reference from every cluster overlapping [offset, offset + len).
    Result<> free_range(uint64_t offset, uint64_t len);

    uint64_t max_refcount() const { return m_max; }
    uint64_t table_offset() const { return m_table_offset; }
    uint32_t table_clusters() const { return m_table_clusters; }

private:
    Result<TablePtr> block_for(uint64_t cluster, bool must_exist);
    Result<> materialize_block(uint64_t index);
    Result<> grow_table(uint64_t index);
    uint64_t read_entry(const Table& t, uint64_t i) const;
    void write_entry(Table& t, uint64_t i, uint64_t v) const;
    uint64_t entry_byte(uint64_t i) const { return (i << m_order) / 8; }
    void note_end(uint64_t end);

    BlockNode& m_file;
    uint32_t m_cluster_bits;
    uint32_t m_order;
    uint64_t m_cs;
    uint64_t m_per_block; // entries per refcount block
    uint64_t m_max;
    std::vector<uint64_t> m_table;
    uint64_t m_table_offset;
    uint32_t m_table_clusters;
    std::atomic<uint64_t>& m_file_end;
    TableMoved m_moved;
    TableCache m_cache;
    uint64_t m_hint = 1; // lowest cluster that may be free; cluster 0 is the header
};

} // namespace nemu::block::qcow2
