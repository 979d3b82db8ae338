#pragma once
// AddressSpace: a root MemoryRegion rendered into an immutable FlatView, published through an
// atomic shared_ptr so that readers (vCPU threads) take no lock (QEMU uses RCU for the same).
// Thread: construction, listeners and tree changes on the main thread; read/write/ram_ptr/
// flat_view from any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hw/memory/memory_region.h"

namespace nemu::memory {

enum class MemTxResult { Ok, Error };   // Error: some byte hit no region (QEMU DECODE_ERROR)

// One piece of the flat view: [start, last] (inclusive, so the whole 2^64 space fits) maps to
// `region` (RAM or MMIO) at offset_in_region.
struct FlatRange {
    uint64_t start = 0;
    uint64_t last = 0;
    MemoryRegion* region = nullptr;
    uint64_t offset_in_region = 0;
    bool operator==(const FlatRange&) const = default;
};

struct FlatView {
    std::vector<FlatRange> ranges;   // sorted by start, non-overlapping
    // The range containing addr, or nullptr.
    const FlatRange* lookup(uint64_t addr) const;
    // The first range starting after addr, or nullptr.
    const FlatRange* next_after(uint64_t addr) const;
};

// A RAM piece of the flat view, as KVM memslots and vhost memory tables want it.
struct RamSection {
    uint64_t gpa = 0;
    uint64_t size = 0;
    uint8_t* host = nullptr;
    const MemoryRegion* region = nullptr;
    bool operator==(const RamSection&) const = default;
};

struct MemoryListener {
    virtual ~MemoryListener() = default;
    virtual void region_add(const RamSection&) = 0;
    virtual void region_del(const RamSection&) = 0;
};

class AddressSpace {
public:
    // root must outlive the address space.
    AddressSpace(std::string name, MemoryRegion& root);
    ~AddressSpace();
    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;

    const std::string& name() const { return m_name; }
    // What unassigned bytes read as: 0 for memory (QEMU unassigned_mem_read), 0xff for the
    // x86 I/O port space (QEMU unassigned_io_ops: an empty ISA bus floats high).
    void set_unassigned_byte(uint8_t b) { m_unassigned_byte = b; }
    const MemoryRegion& root() const { return m_root; }
    std::shared_ptr<const FlatView> flat_view() const {
        return m_view.load(std::memory_order_acquire);
    }

    // Unassigned bytes read as unassigned_byte (zero unless set) and writes to them are
    // dropped; both report Error. MMIO is split by the region's AccessRules.
    MemTxResult read(uint64_t gpa, std::span<uint8_t> out) const;
    MemTxResult write(uint64_t gpa, std::span<const uint8_t> in) const;
    uint8_t read_u8(uint64_t gpa) const;
    uint16_t read_u16(uint64_t gpa) const;   // little-endian
    uint32_t read_u32(uint64_t gpa) const;
    uint64_t read_u64(uint64_t gpa) const;
    MemTxResult write_u8(uint64_t gpa, uint8_t v) const;
    MemTxResult write_u16(uint64_t gpa, uint16_t v) const;
    MemTxResult write_u32(uint64_t gpa, uint32_t v) const;
    MemTxResult write_u64(uint64_t gpa, uint64_t v) const;
    // Host pointer for [gpa, gpa+len) if it lies inside one RAM range, else nullptr (DMA).
    uint8_t* ram_ptr(uint64_t gpa, uint64_t len) const;

    // The listener immediately gets region_add for every current RAM section, then the diff
    // (deletions first) on every change. It must be removed before it is destroyed.
    void add_listener(MemoryListener& l);
    void remove_listener(MemoryListener& l);

    // Re-render the root; called by MemoryRegion on any change that can affect this space.
    void rebuild();

private:
    uint8_t m_unassigned_byte = 0;
    std::string m_name;
    MemoryRegion& m_root;
    std::atomic<std::shared_ptr<const FlatView>> m_view;
    std::vector<MemoryListener*> m_listeners;
};

// Rendering, exposed for tests and for format_mtree's flat-view mode.
std::shared_ptr<const FlatView> render_flat_view(const MemoryRegion& root);
std::vector<RamSection> ram_sections(const FlatView& view);

} // namespace nemu::memory
