#include "block/qcow2/qcow2_refcount.h"

#include <algorithm>
#include <cerrno>

namespace nemu::block::qcow2 {

namespace {
constexpr uint64_t kRefTableOffsetMask = ~uint64_t{511}; // bits 9-63; 0-8 reserved
constexpr uint64_t kRefBlockCacheBytes = 4ull << 20;
} // namespace

Refcounts::Refcounts(BlockNode& file, uint32_t cluster_bits, uint32_t refcount_order, std::vector<uint64_t> table,
                     uint64_t table_offset, uint32_t table_clusters, std::atomic<uint64_t>& file_end,
                     TableMoved moved)
    : m_file(file), m_cluster_bits(cluster_bits), m_order(refcount_order), m_cs(1ull << cluster_bits),
      m_per_block((m_cs * 8) >> refcount_order),
      m_max(refcount_order == 6 ? ~uint64_t{0} : (uint64_t{1} << (1u << refcount_order)) - 1),
      m_table(std::move(table)), m_table_offset(table_offset), m_table_clusters(table_clusters),
      m_file_end(file_end), m_moved(std::move(moved)), m_cache(file, m_cs, kRefBlockCacheBytes) {}

void Refcounts::note_end(uint64_t end) {
    uint64_t cur = m_file_end.load();
    while (cur < end && !m_file_end.compare_exchange_weak(cur, end)) {
    }
}

uint64_t Refcounts::read_entry(const Table& t, uint64_t i) const {
    const uint32_t bits = 1u << m_order;
    if (bits < 8) {
        const uint8_t byte = t.bytes[(i * bits) / 8];
        return (byte >> ((i * bits) % 8)) & ((1u << bits) - 1);
    }
    const uint8_t* p = t.bytes.data() + i * (bits / 8);
    uint64_t v = 0;
    for (uint32_t k = 0; k < bits / 8; ++k) v = (v << 8) | p[k];
    return v;
}

void Refcounts::write_entry(Table& t, uint64_t i, uint64_t v) const {
    const uint32_t bits = 1u << m_order;
    if (bits < 8) {
        uint8_t& byte = t.bytes[(i * bits) / 8];
        const uint32_t shift = (i * bits) % 8;
        const uint8_t mask = static_cast<uint8_t>(((1u << bits) - 1) << shift);
        byte = static_cast<uint8_t>((byte & ~mask) | ((v << shift) & mask));
        return;
    }
    uint8_t* p = t.bytes.data() + i * (bits / 8);
    for (int k = static_cast<int>(bits / 8) - 1; k >= 0; --k, v >>= 8) p[k] = static_cast<uint8_t>(v);
}

Result<TablePtr> Refcounts::block_for(uint64_t cluster, bool must_exist) {
    const uint64_t t = cluster / m_per_block;
    const uint64_t e = t < m_table.size() ? m_table[t] : 0;
    if (e == 0) {
        if (must_exist) return io_error(EIO, fmt::format("qcow2: no refcount block for cluster {}", cluster));
        return TablePtr{};
    }
    const uint64_t off = e & kRefTableOffsetMask;
    // Hostile images: reserved bits, unaligned blocks, blocks past the end or over the header.
    if ((e & ~kRefTableOffsetMask) || (off & (m_cs - 1)) || off == 0 || off >= kMaxHostOffset ||
        off + m_cs > m_file_end.load())
        return io_error(EIO, fmt::format("qcow2: refcount block offset {:#x} invalid", e));
    return m_cache.get(off);
}

Result<uint64_t> Refcounts::get(uint64_t cluster) {
    TablePtr b = TRY(block_for(cluster, false));
    if (!b) return uint64_t{0};
    return read_entry(*b, cluster % m_per_block);
}

Result<> Refcounts::update(uint64_t cluster, int delta) {
    TablePtr b = TRY(block_for(cluster, true));
    const uint64_t i = cluster % m_per_block;
    const uint64_t v = read_entry(*b, i);
    if (delta > 0 && v == m_max)
        return io_error(ENOSPC, fmt::format("qcow2: refcount of cluster {} would overflow", cluster));
    if (delta < 0 && v == 0) return io_error(EIO, fmt::format("qcow2: refcount of cluster {} is already 0", cluster));
    write_entry(*b, i, delta > 0 ? v + 1 : v - 1);
    const uint64_t off = m_table[cluster / m_per_block] & kRefTableOffsetMask;
    TRY(m_cache.write_sector(off, *b, entry_byte(i)));
    if (delta < 0 && v == 1) m_hint = std::min(m_hint, cluster);
    return {};
}

Result<> Refcounts::free_range(uint64_t offset, uint64_t len) {
    if (len == 0) return {};
    const uint64_t first = offset >> m_cluster_bits, last = (offset + len - 1) >> m_cluster_bits;
    for (uint64_t c = first; c <= last; ++c) TRY(update(c, -1));
    return {};
}

// A refcount block for range `index` that has none: the range's clusters all have refcount 0,
// so its first cluster holds the block, which counts itself. Block first, then the table entry.
Result<> Refcounts::materialize_block(uint64_t index) {
    if (index == 0) return io_error(EIO, "qcow2: the refcount block for the header is missing");
    const uint64_t off = (index * m_per_block) << m_cluster_bits;
    if (off >= kMaxHostOffset) return io_error(ENOSPC, "qcow2: image file too large");
    auto t = std::make_shared<Table>();
    t->bytes.assign(m_cs, 0);
    write_entry(*t, 0, 1);
    TRY(file_pwrite(m_file, off, t->bytes));
    note_end(off + m_cs);
    m_cache.put(off, t);
    m_table[index] = off;
    std::vector<uint8_t> sector(512, 0);
    const uint64_t first = (index * 8) & ~uint64_t{511};
    for (uint64_t k = 0; k < 64 && first / 8 + k < m_table.size(); ++k) put_be64(&sector[k * 8], m_table[first / 8 + k]);
    auto r = file_pwrite(m_file, m_table_offset + first, sector);
    if (!r) m_table[index] = 0; // the block is leaked, nothing points at it
    return r;
}

// Grows the refcount table so that `index` fits: new refcount blocks and the new table are
// placed together at the start of a fresh block range past the end of the file, counted by
// those same blocks (so nothing else needs a refcount first). Blocks, then table, then the
// header; the old table's clusters are released last (a crash in between only leaks).
Result<> Refcounts::grow_table(uint64_t index) {
    const uint64_t cap = m_table.size();
    const uint64_t E = m_per_block;
    const uint64_t end_clusters = (m_file_end.load() + m_cs - 1) >> m_cluster_bits;
    const uint64_t t0 = std::max(index, (end_clusters + E - 1) / E);
    uint64_t k = 1, m = 0;
    for (;; ++k) {
        const uint64_t entries = std::max(t0 + k, cap * 2);
        m = (entries * 8 + m_cs - 1) / m_cs;
        if (m * m_cs > kMaxRefTableBytes) return io_error(ENOSPC, "qcow2: refcount table too large");
        if (k * E >= k + m) break;
    }
    const uint64_t base = t0 * E;
    if (((base + k + m) << m_cluster_bits) >= kMaxHostOffset || base + k + m < base)
        return io_error(ENOSPC, "qcow2: image file too large");

    std::vector<TablePtr> blocks;
    for (uint64_t j = 0; j < k; ++j) {
        auto b = std::make_shared<Table>();
        b->bytes.assign(m_cs, 0);
        const uint64_t lo = (t0 + j) * E;
        for (uint64_t c = std::max(lo, base); c < std::min(lo + E, base + k + m); ++c) write_entry(*b, c - lo, 1);
        TRY(file_pwrite(m_file, (base + j) << m_cluster_bits, b->bytes));
        blocks.push_back(std::move(b));
    }
    std::vector<uint64_t> table(m * m_cs / 8, 0);
    std::copy(m_table.begin(), m_table.end(), table.begin());
    for (uint64_t j = 0; j < k; ++j) table[t0 + j] = (base + j) << m_cluster_bits;
    std::vector<uint8_t> raw(m * m_cs);
    for (uint64_t i = 0; i < table.size(); ++i) put_be64(&raw[i * 8], table[i]);
    const uint64_t new_off = (base + k) << m_cluster_bits;
    TRY(file_pwrite(m_file, new_off, raw));
    note_end(new_off + raw.size());
    TRY(m_moved(new_off, static_cast<uint32_t>(m)));

    const uint64_t old_off = m_table_offset, old_len = uint64_t{m_table_clusters} * m_cs;
    m_table = std::move(table);
    m_table_offset = new_off;
    m_table_clusters = static_cast<uint32_t>(m);
    for (uint64_t j = 0; j < k; ++j) m_cache.put((base + j) << m_cluster_bits, blocks[j]);
    return free_range(old_off, old_len);
}

Result<uint64_t> Refcounts::alloc(uint64_t n) {
    const uint64_t limit = kMaxHostOffset >> m_cluster_bits;
    uint64_t c = m_hint, run = 0, start = 0, first_free = UINT64_MAX;
    while (run < n) {
        if (c >= limit) return io_error(ENOSPC, "qcow2: no free cluster below the 64 PiB limit");
        const uint64_t t = c / m_per_block;
        if (t >= m_table.size()) {
            TRY(grow_table(t));
            run = 0;
            continue;
        }
        if (m_table[t] == 0) {
            TRY(materialize_block(t));
            run = 0;
            continue;
        }
        const uint64_t rc = TRY(get(c));
        if (rc == 0) {
            if (run == 0) start = c;
            first_free = std::min(first_free, c);
            ++run;
        } else {
            run = 0;
        }
        ++c;
    }
    for (uint64_t i = 0; i < n; ++i) TRY(update(start + i, +1));
    m_hint = first_free < start ? first_free : start + n;
    return start << m_cluster_bits;
}

} // namespace nemu::block::qcow2
