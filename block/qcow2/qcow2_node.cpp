#include "block/qcow2/qcow2_node.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2_repair.h"

namespace nemu::block::qcow2 {

namespace {
constexpr uint64_t kL2CacheBytes = 16ull << 20;
} // namespace

Qcow2Node::Qcow2Node(std::shared_ptr<BlockNode> file, bool read_only, Header h)
    : BlockNode(read_only), m_file(std::move(file)), m_hdr(std::move(h)),
      m_l2_cache(*m_file, m_hdr.cluster_size(), kL2CacheBytes) {}

Result<std::shared_ptr<Qcow2Node>> Qcow2Node::open(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx) {
    const uint64_t fsize = file->length();
    std::vector<uint8_t> head(std::min<uint64_t>(fsize, 512));
    TRY(file_pread(*file, 0, head));
    if (head.size() >= 24 && be32(head.data()) == kMagic) {
        const uint32_t cb = be32(head.data() + 20);
        if (cb >= kMinClusterBits && cb <= kMaxClusterBits && fsize > head.size()) {
            head.resize(std::min<uint64_t>(fsize, 1ull << cb));
            TRY(file_pread(*file, 0, head));
        }
    }
    Header h = TRY(parse_header(head, fsize));
    const bool ro = ctx.flags.read_only;
    if (!ro && (h.incompatible_features & kIncompatCorrupt))
        return fail("qcow2: Image is corrupt; cannot be opened read/write");
    std::vector<uint8_t> sector0(512, 0);
    std::copy_n(head.begin(), std::min<size_t>(head.size(), 512), sector0.begin());
    uint64_t file_len = fsize;
    // An image left dirty by QEMU's lazy refcounts is repaired on a read-write open, as QEMU
    // 7.2's qcow2_do_open does (its check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS, then
    // qcow2_mark_clean); read-only opens leave it alone. Autoclear features (bitmaps) are
    // dropped first, so the repair may free their clusters (qcow2.txt, "autoclear").
    if (!ro && (h.incompatible_features & kIncompatDirty)) {
        if (h.version >= 3 && h.autoclear_features) {
            h.autoclear_features = 0;
            encode_header_fields(h, sector0);
            TRY(file_pwrite(*file, 0, sector0));
            TRY(file->flush());
        }
        auto rep = repair_dirty_image(*file, h, sector0);
        if (!rep) {
            // QEMU's text (error_setg_errno "Could not repair dirty image"); the detail of
            // what was wrong is only in nemu's own message, which QEMU does not give.
            const int err = rep.error().sys_errno ? rep.error().sys_errno : EIO;
            return fail("Could not repair dirty image: {}", std::strerror(err));
        }
        file_len = file->length();
    }

    auto node = std::make_shared<Qcow2Node>(file, ro, h);
    node->m_sector0 = std::move(sector0);
    node->m_size = h.size;
    node->m_file_end = file_len;

    std::vector<uint8_t> raw(uint64_t{h.l1_size} * 8);
    TRY(file_pread(*file, h.l1_table_offset, raw));
    node->m_l1.resize(h.l1_size);
    for (uint64_t i = 0; i < h.l1_size; ++i) node->m_l1[i] = be64(&raw[i * 8]);

    raw.assign(uint64_t{h.refcount_table_clusters} * h.cluster_size(), 0);
    TRY(file_pread(*file, h.refcount_table_offset, raw));
    std::vector<uint64_t> reftable(raw.size() / 8);
    for (uint64_t i = 0; i < reftable.size(); ++i) reftable[i] = be64(&raw[i * 8]);
    Qcow2Node* self = node.get();
    node->m_refs = std::make_unique<Refcounts>(
        *file, h.cluster_bits, h.refcount_order, std::move(reftable), h.refcount_table_offset,
        h.refcount_table_clusters, node->m_file_end, [self](uint64_t off, uint32_t clusters) -> Result<> {
            self->m_hdr.refcount_table_offset = off;
            self->m_hdr.refcount_table_clusters = clusters;
            return self->write_header();
        });

    node->m_snapshots = TRY(read_snapshots(*file, h, file_len));

    node->m_backing_explicit = ctx.backing_node || ctx.backing_disabled;
    if (ctx.backing_node) {
        node->m_backing = ctx.backing_node;
    } else if (!h.backing_file.empty() && !ctx.backing_disabled) {
        if (!ctx.open_backing) return fail("Could not open backing file '{}': no way to open it", h.backing_file);
        node->m_backing = TRY(ctx.open_backing(h.backing_file, h.backing_format));
        if (!node->m_backing) return fail("Could not open backing file '{}'", h.backing_file);
    }

    // Autoclear features nemu does not maintain (bitmaps) must be cleared before writing.
    if (!ro && h.version >= 3 && h.autoclear_features) {
        node->m_hdr.autoclear_features = 0;
        TRY(node->write_header());
    }
    return node;
}

void Qcow2Node::note_end(uint64_t end) {
    uint64_t cur = m_file_end.load();
    while (cur < end && !m_file_end.compare_exchange_weak(cur, end)) {
    }
}

Result<> Qcow2Node::write_header() {
    encode_header_fields(m_hdr, m_sector0);
    return file_pwrite(*m_file, 0, m_sector0);
}

Result<Qcow2Node::L2Ref> Qcow2Node::l2_for_read(uint64_t l1_index) {
    if (l1_index >= m_l1.size()) return L2Ref{};
    const uint64_t e = m_l1[l1_index];
    const uint64_t off = e & kL1OffsetMask;
    if ((e & kL1Reserved) || (off & (cs() - 1)))
        return io_error(EIO, fmt::format("qcow2: L1 entry {} ({:#x}) invalid", l1_index, e));
    if (off == 0) return L2Ref{};
    if (off + cs() > m_file_end.load())
        return io_error(EIO, fmt::format("qcow2: L2 table offset {:#x} past the end of the file", off));
    return L2Ref{TRY(m_l2_cache.get(off)), off};
}

Result<Mapping> Qcow2Node::lookup(uint64_t vcluster) {
    const L2Ref l2 = TRY(l2_for_read(vcluster / l2_entries()));
    if (!l2.table) return Mapping{};
    return decode_l2_entry(l2.table->get64(vcluster % l2_entries()), m_hdr.cluster_bits, m_file_end.load());
}

Result<Qcow2Node::Run> Qcow2Node::lookup_run(uint64_t offset, uint64_t len) {
    const uint64_t c0 = offset / cs();
    Run r;
    r.m = TRY(lookup(c0));
    r.bytes = std::min(len, cs() - offset % cs());
    if (r.m.kind == ClusterKind::Compressed) return r;
    // Merge following clusters with the same answer (host-contiguous for data) up to the end
    // of this L2 table, so sequential I/O becomes one child request.
    uint64_t c = c0 + 1;
    while (r.bytes < len && c % l2_entries() != 0) {
        auto n = lookup(c);
        if (!n || n->kind != r.m.kind) break;
        if (r.m.kind == ClusterKind::Normal &&
            (n->copied != r.m.copied || n->host != r.m.host + (c - c0) * cs()))
            break;
        r.bytes = std::min(len, r.bytes + cs());
        ++c;
    }
    return r;
}

Result<> Qcow2Node::read_host(uint64_t host, std::span<const iovec> iov) {
    const uint64_t n = iov_size(iov), end = m_file_end.load();
    if (host + n <= end) return m_file->read(host, iov);
    // The image's last cluster may stop short of a full cluster: the rest reads as zeroes.
    const uint64_t have = host < end ? end - host : 0;
    if (have) TRY(m_file->read(host, iov_slice(iov, 0, have)));
    iov_memset(iov, have, n - have, 0);
    return {};
}

Result<> Qcow2Node::read_backing(uint64_t voff, std::span<const iovec> iov) {
    const uint64_t n = iov_size(iov);
    const uint64_t blen = m_backing ? m_backing->length() : 0;
    const uint64_t have = voff < blen ? std::min(n, blen - voff) : 0;
    if (have) TRY(m_backing->read(voff, iov_slice(iov, 0, have)));
    iov_memset(iov, have, n - have, 0);
    return {};
}

Result<> Qcow2Node::read_compressed(const Mapping& m, std::span<uint8_t> cluster) {
    const uint64_t end = m_file_end.load();
    const uint64_t n = std::min(m.csize, end > m.coffset ? end - m.coffset : 0);
    std::vector<uint8_t> in(n);
    TRY(file_pread(*m_file, m.coffset, in));
    return decompress_cluster(m_hdr.compression, in, cluster);
}

Result<> Qcow2Node::read(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t len = iov_size(iov);
    TRY(check_request(offset, len, false));
    std::shared_lock fl(m_free_lock);
    for (uint64_t pos = 0; pos < len;) {
        const uint64_t off = offset + pos;
        Run r;
        {
            std::lock_guard lk(m_meta);
            r = TRY(lookup_run(off, len - pos));
        }
        const auto part = iov_slice(iov, pos, r.bytes);
        switch (r.m.kind) {
        case ClusterKind::Normal: TRY(read_host(r.m.host + off % cs(), part)); break;
        case ClusterKind::Zero: iov_memset(part, 0, r.bytes, 0); break;
        case ClusterKind::Unallocated: TRY(read_backing(off, part)); break;
        case ClusterKind::Compressed: {
            std::vector<uint8_t> buf(cs());
            TRY(read_compressed(r.m, buf));
            iov_from_buf(part, 0, std::span<const uint8_t>(buf).subspan(off % cs(), r.bytes));
            break;
        }
        }
        pos += r.bytes;
    }
    return {};
}

Result<> Qcow2Node::flush() { return m_file->flush(); }

HostExtent Qcow2Node::map(uint64_t offset, uint64_t len, bool for_write) {
    const uint64_t size = length();
    if (len == 0 || offset >= size) return HostExtent{HostExtent::Kind::Indirect, std::max<uint64_t>(len, 1), -1, 0};
    len = std::min(len, size - offset);
    Run r;
    {
        std::lock_guard lk(m_meta);
        auto res = lookup_run(offset, len);
        if (!res) return HostExtent{HostExtent::Kind::Indirect, std::min(len, cs() - offset % cs()), -1, 0};
        r = *res;
    }
    switch (r.m.kind) {
    case ClusterKind::Normal: {
        if (for_write && !r.m.copied) break;
        const uint64_t host = r.m.host + offset % cs();
        if (host + r.bytes > m_file_end.load()) break;
        const HostExtent child = m_file->map(host, r.bytes, for_write);
        if (child.kind != HostExtent::Kind::Data) break;
        return HostExtent{HostExtent::Kind::Data, std::min(r.bytes, child.length), child.fd, child.host_offset};
    }
    case ClusterKind::Zero:
        if (!for_write) return HostExtent{HostExtent::Kind::Zero, r.bytes, -1, 0};
        break;
    case ClusterKind::Unallocated:
        if (!for_write && !m_backing) return HostExtent{HostExtent::Kind::Zero, r.bytes, -1, 0};
        break;
    case ClusterKind::Compressed: break;
    }
    return HostExtent{HostExtent::Kind::Indirect, r.bytes, -1, 0};
}

NodeInfo Qcow2Node::info() const {
    NodeInfo i;
    const NodeInfo fi = m_file->info();
    i.format = "qcow2";
    i.filename = fi.filename;
    i.virtual_size = length();
    i.actual_size = fi.actual_size;
    i.cluster_size = cs();
    i.dirty_flag = (m_hdr.incompatible_features & kIncompatDirty) != 0;
    i.backing_filename = m_hdr.backing_file;
    i.backing_format = m_hdr.backing_format;
    Json data = Json::object();
    data["compat"] = m_hdr.version >= 3 ? "1.1" : "0.10";
    data["compression-type"] = m_hdr.compression == Compression::Zstd ? "zstd" : "zlib";
    if (m_hdr.version >= 3) data["lazy-refcounts"] = (m_hdr.compatible_features & kCompatLazyRefcounts) != 0;
    data["refcount-bits"] = m_hdr.refcount_bits();
    if (m_hdr.version >= 3) {
        data["corrupt"] = (m_hdr.incompatible_features & kIncompatCorrupt) != 0;
        data["extended-l2"] = false;
    }
    i.format_specific = Json{{"type", "qcow2"}, {"data", std::move(data)}};
    return i;
}

} // namespace nemu::block::qcow2
