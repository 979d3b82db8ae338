// The qcow2 node's write side: allocation with copy-on-write, discard, zero clusters, growth.
// Ordering for crash safety (see qcow2_node.h): refcount, data, L2 entry, L1 entry, then the
// release of whatever the old entry pointed at.
#include <algorithm>
#include <cerrno>

#include "block/qcow2/qcow2_node.h"

namespace nemu::block::qcow2 {

Result<> Qcow2Node::write_l1_sector(uint64_t index) {
    std::vector<uint8_t> sector(512, 0);
    const uint64_t first = (index * 8) & ~uint64_t{511};
    for (uint64_t k = 0; k < 64 && first / 8 + k < m_l1.size(); ++k) put_be64(&sector[k * 8], m_l1[first / 8 + k]);
    return file_pwrite(*m_file, m_hdr.l1_table_offset + first, sector);
}

// An L2 table that may be modified: allocated if missing, copied if shared with a snapshot
// (L1 entry without COPIED). New table first, then the L1 entry, then the old table released.
Result<Qcow2Node::L2Ref> Qcow2Node::l2_for_write(uint64_t l1_index) {
    if (l1_index >= m_l1.size()) return io_error(EIO, "qcow2: L1 table too small for the request");
    const uint64_t e = m_l1[l1_index];
    L2Ref old = TRY(l2_for_read(l1_index));
    if (old.table && (e & kOflagCopied)) return old;
    const uint64_t fresh = TRY(m_refs->alloc(1));
    auto t = std::make_shared<Table>();
    if (old.table) t->bytes = old.table->bytes;
    else t->bytes.assign(cs(), 0);
    TRY(file_pwrite(*m_file, fresh, t->bytes));
    note_end(fresh + cs());
    m_l2_cache.put(fresh, t);
    m_l1[l1_index] = fresh | kOflagCopied;
    if (auto r = write_l1_sector(l1_index); !r) {
        m_l1[l1_index] = e; // the new table is leaked; the image is unchanged
        return make_error(std::move(r).error());
    }
    if (old.table) (void)m_refs->free_range(old.offset, cs()); // failure only leaks
    return L2Ref{t, fresh};
}

Result<> Qcow2Node::free_old(const Mapping& m) {
    switch (m.kind) {
    case ClusterKind::Normal: return m_refs->free_range(m.host, cs());
    case ClusterKind::Zero: return m.host ? m_refs->free_range(m.host, cs()) : Result<>{};
    case ClusterKind::Compressed: return m_refs->free_range(m.first_sector, m.nb_sectors * 512);
    case ClusterKind::Unallocated: return {};
    }
    return {};
}

Result<> Qcow2Node::fill_cow(const Mapping& m, uint64_t voff, std::span<uint8_t> cluster) {
    iovec v{cluster.data(), cluster.size()};
    const std::span<const iovec> iov(&v, 1);
    switch (m.kind) {
    case ClusterKind::Unallocated: return read_backing(voff, iov);
    case ClusterKind::Zero: std::fill(cluster.begin(), cluster.end(), 0); return {};
    case ClusterKind::Normal: return read_host(m.host, iov);
    case ClusterKind::Compressed: return read_compressed(m, cluster);
    }
    return {};
}

// Writes data (within one guest cluster, at byte offset `offset`) into a newly allocated
// cluster. Caller holds m_meta, so a second writer of the same cluster waits and then finds
// it allocated (and COPIED): it is never allocated twice.
Result<> Qcow2Node::allocate_write(uint64_t offset, std::span<const iovec> data) {
    const uint64_t vc = offset / cs(), in = offset % cs(), n = iov_size(data);
    const L2Ref l2 = TRY(l2_for_write(vc / l2_entries()));
    const uint64_t idx = vc % l2_entries();
    const Mapping old = TRY(decode_l2_entry(l2.table->get64(idx), m_hdr.cluster_bits, m_file_end.load()));
    std::vector<uint8_t> buf(cs());
    if (in != 0 || n != cs()) TRY(fill_cow(old, vc * cs(), buf));
    iov_to_buf(data, 0, std::span<uint8_t>(buf).subspan(in, n));
    const uint64_t host = TRY(m_refs->alloc(1));
    TRY(file_pwrite(*m_file, host, buf));
    note_end(host + cs());
    l2.table->set64(idx, host | kOflagCopied);
    TRY(m_l2_cache.write_sector(l2.offset, *l2.table, idx * 8));
    (void)free_old(old); // failure only leaks
    return {};
}

Result<> Qcow2Node::write(uint64_t offset, std::span<const iovec> iov, bool fua) {
    const uint64_t len = iov_size(iov);
    TRY(check_request(offset, len, true));
    {
        std::shared_lock fl(m_free_lock);
        for (uint64_t pos = 0; pos < len;) {
            const uint64_t off = offset + pos;
            std::unique_lock lk(m_meta);
            const Run r = TRY(lookup_run(off, len - pos));
            if (r.m.kind == ClusterKind::Normal && r.m.copied) {
                lk.unlock(); // hot path: allocated, not shared, written in place without the lock
                TRY(m_file->write(r.m.host + off % cs(), iov_slice(iov, pos, r.bytes), false));
                pos += r.bytes;
                continue;
            }
            const uint64_t n = std::min(len - pos, cs() - off % cs());
            TRY(allocate_write(off, iov_slice(iov, pos, n)));
            pos += n;
        }
    }
    if (fua) TRY(m_file->flush());
    return {};
}

// Points a guest cluster at nothing (unallocated) or at zeroes; keep_allocation keeps an
// allocated, unshared cluster as a preallocated zero cluster. L2 first, then the release.
Result<> Qcow2Node::set_entry(uint64_t vc, bool zero, bool keep_allocation) {
    const Mapping old = TRY(lookup(vc));
    uint64_t entry = zero ? kOflagZero : 0;
    bool release = true;
    if (zero && keep_allocation && old.kind == ClusterKind::Normal && old.copied) {
        entry = old.host | kOflagCopied | kOflagZero;
        release = false;
    }
    if (old.kind == ClusterKind::Unallocated && !zero) return {};
    if (old.kind == ClusterKind::Zero && old.host == 0 && zero) return {};
    const L2Ref l2 = TRY(l2_for_write(vc / l2_entries()));
    const uint64_t idx = vc % l2_entries();
    l2.table->set64(idx, entry);
    TRY(m_l2_cache.write_sector(l2.offset, *l2.table, idx * 8));
    if (release) (void)free_old(old);
    return {};
}

Result<> Qcow2Node::discard(uint64_t offset, uint64_t len) {
    TRY(check_request(offset, len, true));
    const uint64_t size = length();
    // Whole clusters only; the image's partial last cluster counts as whole (as QEMU).
    const uint64_t first = (offset + cs() - 1) / cs();
    const uint64_t end = offset + len == size ? (size + cs() - 1) / cs() : (offset + len) / cs();
    // With a backing file, deallocating would expose the backing data: v3 marks the cluster
    // zero instead; v2 has no zero flag, so the discard is dropped (it is advisory).
    const bool zero = m_backing != nullptr;
    if (zero && m_hdr.version < 3) return {};
    std::unique_lock fl(m_free_lock);
    std::lock_guard lk(m_meta);
    for (uint64_t c = first; c < end; ++c) TRY(set_entry(c, zero, false));
    return {};
}

Result<> Qcow2Node::write_zeroes(uint64_t offset, uint64_t len, bool may_unmap) {
    TRY(check_request(offset, len, true));
    if (m_hdr.version < 3) return BlockNode::write_zeroes(offset, len, may_unmap);
    const uint64_t size = length();
    const uint64_t first = (offset + cs() - 1) / cs();
    const uint64_t end = offset + len == size ? (size + cs() - 1) / cs() : (offset + len) / cs();
    if (first >= end) return BlockNode::write_zeroes(offset, len, may_unmap);
    const uint64_t head_end = first * cs(), tail_start = std::min(end * cs(), offset + len);
    if (head_end > offset) TRY(BlockNode::write_zeroes(offset, head_end - offset, may_unmap));
    if (offset + len > tail_start) TRY(BlockNode::write_zeroes(tail_start, offset + len - tail_start, may_unmap));
    std::unique_lock fl(m_free_lock);
    std::lock_guard lk(m_meta);
    for (uint64_t c = first; c < end; ++c) TRY(set_entry(c, true, !may_unmap));
    return {};
}

// A larger L1 table: written in new clusters, then the header switched over in one sector
// write, then the old table released.
Result<> Qcow2Node::grow_l1(uint64_t entries, uint64_t new_size) {
    if (entries > kMaxL1Bytes / 8) return io_error(EFBIG, "Active L1 table too large");
    const uint64_t clusters = (entries * 8 + cs() - 1) / cs();
    const uint64_t off = TRY(m_refs->alloc(clusters));
    std::vector<uint8_t> raw(clusters * cs(), 0);
    for (uint64_t i = 0; i < m_l1.size(); ++i) put_be64(&raw[i * 8], m_l1[i]);
    TRY(file_pwrite(*m_file, off, raw));
    note_end(off + raw.size());
    const Header saved = m_hdr;
    m_hdr.l1_table_offset = off;
    m_hdr.l1_size = static_cast<uint32_t>(entries);
    m_hdr.size = new_size;
    if (auto r = write_header(); !r) {
        m_hdr = saved;
        return r;
    }
    m_l1.resize(entries, 0);
    (void)m_refs->free_range(saved.l1_table_offset, (uint64_t{saved.l1_size} * 8 + cs() - 1) / cs() * cs());
    return {};
}

Result<> Qcow2Node::truncate(uint64_t new_length) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    std::unique_lock fl(m_free_lock);
    std::lock_guard lk(m_meta);
    if (new_length == m_hdr.size) return {};
    if (new_length < m_hdr.size) {
        if (!m_snapshots.empty()) return io_error(ENOTSUP, "Can't shrink an image with internal snapshots");
        return io_error(ENOTSUP, "qcow2 doesn't support shrinking images yet");
    }
    if (new_length > (uint64_t{1} << 62)) return io_error(EFBIG, "Image is too big");
    const uint64_t span = cs() * l2_entries();
    const uint64_t needed = (new_length + span - 1) / span;
    const uint64_t old_length = m_hdr.size;
    if (needed > m_l1.size()) TRY(grow_l1(needed, new_length));
    else {
        m_hdr.size = new_length;
        TRY(write_header());
    }
    m_size = new_length;
    // The grown area must read as zeroes, not as a longer backing file's data (as QEMU): the
    // partial cluster by a data write, whole clusters by the zero flag (v3 only).
    const uint64_t blen = m_backing ? m_backing->length() : 0;
    if (blen > old_length && m_hdr.version >= 3) {
        if (old_length % cs()) {
            std::vector<uint8_t> z(cs() - old_length % cs(), 0);
            iovec v{z.data(), z.size()};
            TRY(allocate_write(old_length, std::span<const iovec>(&v, 1)));
        }
        const uint64_t last = (std::min(blen, new_length) + cs() - 1) / cs();
        for (uint64_t c = (old_length + cs() - 1) / cs(); c < last; ++c) TRY(set_entry(c, true, false));
    }
    return {};
}

} // namespace nemu::block::qcow2
