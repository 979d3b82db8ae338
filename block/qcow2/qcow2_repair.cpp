#include "block/qcow2/qcow2_repair.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "block/qcow2/qcow2_l2.h"

namespace nemu::block::qcow2 {

namespace {

constexpr uint64_t kRefTableOffsetMask = ~uint64_t{511};

uint64_t get_entry(std::span<const uint8_t> b, uint32_t order, uint64_t i) {
    const uint32_t bits = 1u << order;
    if (bits < 8) return (b[(i * bits) / 8] >> ((i * bits) % 8)) & ((1u << bits) - 1);
    uint64_t v = 0;
    for (uint32_t k = 0; k < bits / 8; ++k) v = (v << 8) | b[i * (bits / 8) + k];
    return v;
}

void set_entry(std::span<uint8_t> b, uint32_t order, uint64_t i, uint64_t v) {
    const uint32_t bits = 1u << order;
    if (bits < 8) {
        uint8_t& byte = b[(i * bits) / 8];
        const uint32_t shift = (i * bits) % 8;
        const uint8_t mask = static_cast<uint8_t>(((1u << bits) - 1) << shift);
        byte = static_cast<uint8_t>((byte & ~mask) | ((v << shift) & mask));
        return;
    }
    for (int k = static_cast<int>(bits / 8) - 1; k >= 0; --k, v >>= 8) b[i * (bits / 8) + k] = static_cast<uint8_t>(v);
}

// Counts the references the metadata makes to each host cluster.
class Counter {
public:
    Counter(BlockNode& file, const Header& h, uint64_t file_len)
        : m_file(file), m_h(h), m_cs(h.cluster_size()), m_file_len(file_len),
          // A compressed cluster's last sector may lie in the cluster just past the end.
          m_limit((file_len + m_cs - 1) / m_cs + 1) {}

    Result<> init() {
        if (m_limit > kMaxRepairClusters) return io_error(EFBIG, "qcow2: image too large to repair");
        m_want.assign(m_limit, 0);
        return {};
    }

    Result<> ref(uint64_t off, uint64_t len) {
        if (len == 0) return {};
        if (off >= kMaxHostOffset || len > kMaxHostOffset - off)
            return io_error(EIO, fmt::format("qcow2: metadata range {:#x}+{:#x} invalid", off, len));
        const uint64_t first = off / m_cs, last = (off + len - 1) / m_cs;
        if (last >= m_limit) return io_error(EIO, fmt::format("qcow2: cluster {:#x} past the end of the file", off));
        for (uint64_t c = first; c <= last; ++c) {
            if (m_want[c] == UINT32_MAX) return io_error(EIO, "qcow2: refcount overflow");
            ++m_want[c];
        }
        return {};
    }

    Result<> charge(uint64_t n) {
        if (n > m_budget) return io_error(EFBIG, "qcow2: too much metadata to repair");
        m_budget -= n;
        return {};
    }

    // One L1 table (active or a snapshot's) and the L2 tables and clusters it references.
    Result<> walk_l1(uint64_t l1_off, uint32_t l1_size, bool active) {
        if (l1_size == 0) return {};
        TRY(ref(l1_off, uint64_t{l1_size} * 8));
        std::vector<uint8_t> raw(uint64_t{l1_size} * 8);
        TRY(file_pread(m_file, l1_off, raw));
        std::vector<uint8_t> l2(m_cs);
        for (uint64_t i = 0; i < l1_size; ++i) {
            const uint64_t e = be64(&raw[i * 8]);
            const uint64_t off = e & kL1OffsetMask;
            if (e & kL1Reserved) return io_error(EIO, fmt::format("qcow2: L1 entry {:#x} has reserved bits set", e));
            if (off == 0) continue;
            if ((off & (m_cs - 1)) || off + m_cs > m_file_len)
                return io_error(EIO, fmt::format("qcow2: L2 table offset {:#x} invalid", off));
            TRY(charge(m_cs / 8));
            TRY(ref(off, m_cs));
            if (active) m_copied.push_back({off / m_cs, (e & kOflagCopied) != 0});
            TRY(file_pread(m_file, off, l2));
            for (uint64_t j = 0; j < m_cs / 8; ++j) {
                const Mapping m = TRY(decode_l2_entry(be64(&l2[j * 8]), m_h.cluster_bits, m_file_len));
                uint64_t host = 0;
                if (m.kind == ClusterKind::Compressed) {
                    TRY(ref(m.first_sector, m.nb_sectors * 512));
                    continue;
                }
                if (m.kind == ClusterKind::Normal || (m.kind == ClusterKind::Zero && m.host)) host = m.host;
                if (!host) continue;
                TRY(ref(host, m_cs));
                if (active) m_copied.push_back({host / m_cs, m.copied});
            }
        }
        return {};
    }

    // QEMU's check treats "COPIED set" != "refcount is 1" in the active tables as corruption;
    // nemu writes in place only where COPIED is set, so a mismatch is refused, not guessed at.
    Result<> check_copied() const {
        for (const auto& [c, copied] : m_copied)
            if (copied != (m_want[c] == 1))
                return io_error(EIO, fmt::format("qcow2: COPIED flag of cluster {:#x} disagrees with its {} references",
                                                 c * m_cs, m_want[c]));
        return {};
    }

    std::vector<uint32_t>& want() { return m_want; }
    uint64_t limit() const { return m_limit; }

private:
    struct CopiedRef {
        uint64_t cluster;
        bool copied;
    };
    BlockNode& m_file;
    const Header& m_h;
    uint64_t m_cs;
    uint64_t m_file_len;
    uint64_t m_limit;
    uint64_t m_budget = kRepairWorkBudget;
    std::vector<uint32_t> m_want;
    std::vector<CopiedRef> m_copied;
};

Result<> write_header(BlockNode& file, const Header& h, std::span<uint8_t> sector0) {
    encode_header_fields(h, sector0);
    TRY(file_pwrite(file, 0, sector0));
    return file.flush();
}

// Writes a complete new refcount structure past everything in use: k blocks, then an m-cluster
// table, counting themselves; then switches the header to it.
Result<> rebuild(BlockNode& file, Header& h, std::span<uint8_t> sector0, std::vector<uint32_t> want,
                 uint64_t max_refcount) {
    const uint64_t cs = h.cluster_size();
    const uint64_t per_block = (cs * 8) >> h.refcount_order;
    uint64_t base = 1;
    for (uint64_t c = 0; c < want.size(); ++c)
        if (want[c]) base = c + 1;
    base = std::max(base, (file.length() + cs - 1) / cs);
    uint64_t k = 1, m = 1;
    for (;; ++k) {
        m = (k * 8 + cs - 1) / cs;
        if (m * cs > kMaxRefTableBytes) return io_error(EFBIG, "qcow2: refcount table too large");
        if (k * per_block >= base + k + m) break;
    }
    if (((base + k + m) * cs) >= kMaxHostOffset) return io_error(EFBIG, "qcow2: image file too large");
    want.resize(base + k + m, 0);
    for (uint64_t c = base; c < base + k + m; ++c) want[c] = 1;
    for (uint64_t c = 0; c < want.size(); ++c)
        if (want[c] > max_refcount) return io_error(EIO, fmt::format("qcow2: refcount of cluster {:#x} overflows", c * cs));

    std::vector<uint8_t> block(cs);
    for (uint64_t t = 0; t < k; ++t) {
        std::fill(block.begin(), block.end(), 0);
        for (uint64_t j = 0; j < per_block && t * per_block + j < want.size(); ++j)
            set_entry(block, h.refcount_order, j, want[t * per_block + j]);
        TRY(file_pwrite(file, (base + t) * cs, block));
    }
    std::vector<uint8_t> table(m * cs, 0);
    for (uint64_t t = 0; t < k; ++t) put_be64(&table[t * 8], (base + t) * cs);
    TRY(file_pwrite(file, (base + k) * cs, table));
    TRY(file.flush());
    h.refcount_table_offset = (base + k) * cs;
    h.refcount_table_clusters = static_cast<uint32_t>(m);
    return write_header(file, h, sector0);
}

} // namespace

Result<RepairReport> repair_dirty_image(BlockNode& file, Header& h, std::span<uint8_t> sector0) {
    const uint64_t cs = h.cluster_size();
    const uint64_t file_len = file.length();
    const uint32_t order = h.refcount_order;
    const uint64_t per_block = (cs * 8) >> order;
    const uint64_t max_rc = order == 6 ? ~uint64_t{0} : (uint64_t{1} << (1u << order)) - 1;

    Counter cnt(file, h, file_len);
    TRY(cnt.init());
    TRY(cnt.ref(0, cs)); // the header, its extensions and the backing file name
    TRY(cnt.walk_l1(h.l1_table_offset, h.l1_size, true));
    uint64_t snap_end = h.snapshots_offset;
    const auto snaps = TRY(read_snapshots(file, h, file_len, &snap_end));
    if (h.nb_snapshots) TRY(cnt.ref(h.snapshots_offset, snap_end - h.snapshots_offset));
    for (const Snapshot& s : snaps) TRY(cnt.walk_l1(s.l1_table_offset, s.l1_size, false));
    TRY(cnt.check_copied());

    // The existing refcount structure can be fixed in place if its table and blocks are valid,
    // overlap nothing else, and cover every cluster in use.
    std::vector<uint32_t>& want = cnt.want();
    const std::vector<uint32_t> want_data = want; // without the old refcount structure
    std::vector<uint8_t> raw(uint64_t{h.refcount_table_clusters} * cs);
    TRY(file_pread(file, h.refcount_table_offset, raw));
    std::vector<uint64_t> table(raw.size() / 8);
    for (uint64_t i = 0; i < table.size(); ++i) table[i] = be64(&raw[i * 8]);

    bool in_place = static_cast<bool>(cnt.ref(h.refcount_table_offset, raw.size()));
    for (uint64_t t = 0; in_place && t < table.size(); ++t) {
        const uint64_t e = table[t], off = e & kRefTableOffsetMask;
        if (e == 0) continue;
        in_place = !(e & ~kRefTableOffsetMask) && off && !(off & (cs - 1)) && off + cs <= file_len &&
                   cnt.ref(off, cs);
    }
    for (uint64_t c = 0; in_place && c < want.size(); ++c) {
        if (want[c] == 0) continue;
        const uint64_t t = c / per_block;
        in_place = t < table.size() && table[t] != 0;
    }
    for (uint64_t t = 0; in_place && t < table.size(); ++t)
        if (table[t]) in_place = want[(table[t] & kRefTableOffsetMask) / cs] == 1;
    for (uint64_t c = 0; in_place && c < h.refcount_table_clusters; ++c)
        in_place = want[h.refcount_table_offset / cs + c] == 1;
    if (in_place)
        for (uint64_t c = 0; c < want.size(); ++c)
            if (want[c] > max_rc) return io_error(EIO, fmt::format("qcow2: refcount of cluster {:#x} overflows", c * cs));

    RepairReport rep;
    if (in_place) {
        std::vector<uint8_t> block(cs);
        for (uint64_t t = 0; t < table.size(); ++t) {
            if (!table[t]) continue;
            TRY(cnt.charge(per_block));
            const uint64_t off = table[t] & kRefTableOffsetMask;
            TRY(file_pread(file, off, block));
            bool changed = false;
            for (uint64_t j = 0; j < per_block; ++j) {
                const uint64_t c = t * per_block + j;
                const uint64_t w = c < want.size() ? want[c] : 0, d = get_entry(block, order, j);
                if (w == d) continue;
                (w > d ? rep.errors_fixed : rep.leaks_fixed)++;
                set_entry(block, order, j, w);
                changed = true;
            }
            if (changed) TRY(file_pwrite(file, off, block));
        }
        TRY(file.flush());
    } else {
        rep.rebuilt = true;
        TRY(rebuild(file, h, sector0, want_data, max_rc));
    }

    // Last: the refcounts are on disk, so the dirty bit may go (QEMU qcow2_mark_clean).
    h.incompatible_features &= ~kIncompatDirty;
    TRY(write_header(file, h, sector0));
    return rep;
}

} // namespace nemu::block::qcow2
