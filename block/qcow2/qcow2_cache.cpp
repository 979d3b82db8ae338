#include "block/qcow2/qcow2_cache.h"

#include <algorithm>

namespace nemu::block::qcow2 {

TableCache::TableCache(BlockNode& file, uint64_t table_size, uint64_t max_bytes)
    : m_file(file), m_table_size(table_size),
      m_max_tables(std::max<size_t>(kMinTables, static_cast<size_t>(max_bytes / table_size))) {}

void TableCache::touch(uint64_t off) {
    auto& e = m_map.at(off);
    m_lru.splice(m_lru.begin(), m_lru, e.pos);
}

Result<TablePtr> TableCache::get(uint64_t off) {
    if (auto it = m_map.find(off); it != m_map.end()) {
        touch(off);
        return it->second.table;
    }
    auto t = std::make_shared<Table>();
    t->bytes.resize(m_table_size);
    TRY(file_pread(m_file, off, t->bytes));
    put(off, t);
    return t;
}

void TableCache::put(uint64_t off, TablePtr t) {
    if (auto it = m_map.find(off); it != m_map.end()) {
        it->second.table = std::move(t);
        touch(off);
        return;
    }
    while (m_map.size() >= m_max_tables) {
        m_map.erase(m_lru.back());
        m_lru.pop_back();
    }
    m_lru.push_front(off);
    m_map.emplace(off, Entry{std::move(t), m_lru.begin()});
}

void TableCache::drop(uint64_t off) {
    if (auto it = m_map.find(off); it != m_map.end()) {
        m_lru.erase(it->second.pos);
        m_map.erase(it);
    }
}

Result<> TableCache::write_sector(uint64_t off, const Table& t, uint64_t byte_index) {
    const uint64_t start = byte_index & ~uint64_t{511};
    auto r = file_pwrite(m_file, off + start, std::span<const uint8_t>(t.bytes.data() + start, 512));
    if (!r) drop(off);
    return r;
}

} // namespace nemu::block::qcow2
