#pragma once
// A bounded LRU cache of qcow2 metadata tables (L2 tables, refcount blocks), one cluster each.
//
// Write-through by design: a table is changed in memory and the 512-byte sector holding the
// changed entry is written to the file at once, by the caller, in crash-safe order (refcount
// block, then data, then L2 entry: docs/interop/qcow2.txt gives the structures, QEMU's
// qcow2-cache.c the dependency rule). Nothing dirty ever waits in the cache, so a SIGKILL at any
// point leaves at worst leaked clusters, and flush() has no metadata to write back.
// Thread: used only under the owning node's metadata mutex.

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "block/block_node.h"
#include "block/qcow2/qcow2_header.h"
#include "util/result.h"

namespace nemu::block::qcow2 {

struct Table {
    std::vector<uint8_t> bytes;
    uint64_t get64(uint64_t i) const { return be64(bytes.data() + i * 8); }
    void set64(uint64_t i, uint64_t v) { put_be64(bytes.data() + i * 8, v); }
};
using TablePtr = std::shared_ptr<Table>;

class TableCache {
public:
    // max_bytes bounds the memory; at least kMinTables tables are kept whatever the size.
    TableCache(BlockNode& file, uint64_t table_size, uint64_t max_bytes);

    // The table at host offset off, read from the file on a miss (the caller validated off).
    Result<TablePtr> get(uint64_t off);
    // Inserts a table the caller has just written (a new L2 table or refcount block).
    void put(uint64_t off, TablePtr t);
    void drop(uint64_t off);
    // Writes the 512-byte sector of table t (at host offset off) holding byte_index.
    // On failure the cached copy is dropped, so memory never disagrees with the file.
    Result<> write_sector(uint64_t off, const Table& t, uint64_t byte_index);

    static constexpr size_t kMinTables = 4;

private:
    void touch(uint64_t off);
    BlockNode& m_file;
    uint64_t m_table_size;
    size_t m_max_tables;
    std::list<uint64_t> m_lru; // front = most recent
    struct Entry {
        TablePtr table;
        std::list<uint64_t>::iterator pos;
    };
    std::unordered_map<uint64_t, Entry> m_map;
};

} // namespace nemu::block::qcow2
