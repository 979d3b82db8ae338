#pragma once
// The qcow2 format node (QEMU docs/interop/qcow2.txt), versions 2 and 3.
//
// Threads: every method may be called from several I/O worker threads at once. One metadata
// mutex (m_meta) guards the L1 table, the L2 cache, the refcounts and the header; it is held
// while a cluster is allocated (so two writers of one unallocated cluster never allocate it
// twice) but NOT during data I/O to clusters that are already allocated (the hot path).
// m_free_lock is shared by reads/writes and exclusive for discard/write_zeroes/truncate, the
// only requests that free clusters: an in-place write never lands in a cluster that was
// freed and reused as metadata meanwhile.
// Crash safety: refcount block, then data, then L2 entry, then L1 entry, each written through
// before the next (write-through metadata, qcow2_cache.h); old clusters are released last.
// A killed process leaves at worst leaked clusters.

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "block/block_format.h"
#include "block/block_node.h"
#include "block/qcow2/qcow2_cache.h"
#include "block/qcow2/qcow2_header.h"
#include "block/qcow2/qcow2_l2.h"
#include "block/qcow2/qcow2_refcount.h"

namespace nemu::block::qcow2 {

class Qcow2Node final : public BlockNode {
public:
    static Result<std::shared_ptr<Qcow2Node>> open(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx);

    std::string_view driver() const override { return "qcow2"; }
    uint64_t length() const override { return m_size.load(); }
    Result<> read(uint64_t offset, std::span<const iovec> iov) override;
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) override;
    Result<> flush() override;
    Result<> discard(uint64_t offset, uint64_t length) override;
    Result<> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
    Result<> truncate(uint64_t new_length) override;
    HostExtent map(uint64_t offset, uint64_t length, bool for_write) override;
    NodeInfo info() const override;
    BlockNode* file_child() const override { return m_file.get(); }
    BlockNode* backing_child() const override { return m_backing.get(); }
    std::string header_backing_name() const override { return m_hdr.backing_file; }
    bool backing_explicit() const override { return m_backing_explicit; }

    // The internal snapshot table (read-only), and QEMU's ImageInfo "snapshots" list for it.
    const std::vector<Snapshot>& snapshots() const { return m_snapshots; }
    Json snapshots_info() const { return snapshots_json(m_snapshots); }

    Qcow2Node(std::shared_ptr<BlockNode> file, bool read_only, Header h); // use open()

private:
    struct Run {
        Mapping m;
        uint64_t bytes = 0; // from the queried offset, same kind (and contiguous on the host)
    };
    struct L2Ref {
        TablePtr table;
        uint64_t offset = 0;
    };
    uint64_t cs() const { return m_hdr.cluster_size(); }
    uint64_t l2_entries() const { return cs() / 8; }

    // All under m_meta:
    Result<L2Ref> l2_for_read(uint64_t l1_index);
    Result<L2Ref> l2_for_write(uint64_t l1_index);
    Result<Mapping> lookup(uint64_t vcluster);
    Result<Run> lookup_run(uint64_t offset, uint64_t len);
    Result<> allocate_write(uint64_t offset, std::span<const iovec> data);
    Result<> set_entry(uint64_t vcluster, bool zero, bool keep_allocation);
    Result<> free_old(const Mapping& m);
    Result<> write_l1_sector(uint64_t index);
    Result<> write_header();
    Result<> grow_l1(uint64_t entries, uint64_t new_size);

    // Data helpers (no lock needed).
    Result<> read_host(uint64_t host, std::span<const iovec> iov);
    Result<> read_backing(uint64_t voffset, std::span<const iovec> iov);
    Result<> read_compressed(const Mapping& m, std::span<uint8_t> cluster);
    Result<> fill_cow(const Mapping& m, uint64_t vcluster_offset, std::span<uint8_t> cluster);
    void note_end(uint64_t end);

    std::shared_ptr<BlockNode> m_file;
    std::shared_ptr<BlockNode> m_backing;
    bool m_backing_explicit = false; // backing= given (a node or null), not the header's
    Header m_hdr;
    std::vector<uint8_t> m_sector0; // the header's first sector, rewritten on header changes
    std::vector<Snapshot> m_snapshots;
    std::vector<uint64_t> m_l1;
    std::atomic<uint64_t> m_size{0};
    std::atomic<uint64_t> m_file_end{0};
    std::mutex m_meta;
    std::shared_mutex m_free_lock;
    TableCache m_l2_cache;
    std::unique_ptr<Refcounts> m_refs;
};

} // namespace nemu::block::qcow2
