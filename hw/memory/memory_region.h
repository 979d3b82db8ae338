#pragma once
// QEMU's memory-region model (docs/devel/memory.rst): regions form a tree of RAM, MMIO,
// alias and container nodes; an AddressSpace renders its root into an immutable FlatView.
// Thread: the tree is built and changed on the main thread only; vCPU threads never touch
// regions directly, they go through AddressSpace's lock-free FlatView snapshot.
// Lifetime: a region must outlive every AddressSpace and FlatView that can reach it (devices
// are torn down only after vCPUs are stopped); a destroyed region detaches itself from its
// parent and children.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hw/memory/mapping.h"
#include "util/result.h"

namespace nemu::memory {

class AddressSpace;
using Size128 = unsigned __int128;

// Passing kWholeSpace as a size means 2^64 bytes, as QEMU's memory_region_init does for
// UINT64_MAX (the "system" and PCI containers cover the whole 64-bit space).
inline constexpr uint64_t kWholeSpace = UINT64_MAX;

struct MmioHandler {
    virtual ~MmioHandler() = default;
    // offset is relative to the region start; size is 1, 2, 4 or 8 within the region's
    // AccessRules; values are little-endian, zero-extended.
    virtual uint64_t read(uint64_t offset, unsigned size) = 0;
    virtual void write(uint64_t offset, uint64_t value, unsigned size) = 0;
};

// The access sizes a device accepts. Other guest accesses are split (or widened to
// min_size), little-endian, as QEMU's access_with_adjusted_size() does.
struct AccessRules {
    unsigned min_size = 1;
    unsigned max_size = 8;
    bool unaligned = false;   // false: an access never straddles its own natural alignment
};

enum class RegionKind { Ram, Mmio, Alias, Container };

class MemoryRegion {
public:
    // RAM backed by an anonymous mapping owned by the region.
    static Result<std::unique_ptr<MemoryRegion>> ram(std::string name, uint64_t size);
    // RAM over host memory owned elsewhere (a memory backend), which must outlive the region.
    static std::unique_ptr<MemoryRegion> ram_from_host(std::string name, uint8_t* host,
                                                       uint64_t size);
    static std::unique_ptr<MemoryRegion> mmio(std::string name, uint64_t size,
                                              MmioHandler& handler, AccessRules rules = {});
    // A window [offset, offset+size) of target; target must outlive the alias.
    static std::unique_ptr<MemoryRegion> alias(std::string name, MemoryRegion& target,
                                               uint64_t offset, uint64_t size);
    static std::unique_ptr<MemoryRegion> container(std::string name, uint64_t size);

    MemoryRegion(const MemoryRegion&) = delete;
    MemoryRegion& operator=(const MemoryRegion&) = delete;
    ~MemoryRegion();

    // Map child at offset inside this region. Among overlapping siblings the higher priority
    // wins; on equal priority the later-added one wins (QEMU). A child has one parent: adding
    // a region that already has one moves it. Rebuilds the affected address spaces.
    void add_subregion(uint64_t offset, MemoryRegion& child, int priority = 0);
    void remove_subregion(MemoryRegion& child);
    // A disabled region is not rendered (QEMU memory_region_set_enabled).
    void set_enabled(bool enabled);
    // Move this region inside its parent (QEMU memory_region_set_address), e.g. a PCI BAR.
    void set_offset(uint64_t offset);

    const std::string& name() const { return m_name; }
    RegionKind kind() const { return m_kind; }
    Size128 size() const { return m_size; }
    uint64_t offset() const { return m_offset; }      // within the parent
    int priority() const { return m_priority; }
    bool enabled() const { return m_enabled; }
    const MemoryRegion* parent() const { return m_parent; }
    uint8_t* host_ptr() const { return m_host; }       // RAM only
    MmioHandler* handler() const { return m_handler; } // MMIO only
    const AccessRules& rules() const { return m_rules; }
    MemoryRegion* alias_target() const { return m_alias_target; }
    uint64_t alias_offset() const { return m_alias_offset; }
    // Children in rendering order: priority descending, newest first on equal priority.
    const std::vector<MemoryRegion*>& subregions() const { return m_subregions; }

private:
    friend class AddressSpace;
    MemoryRegion(std::string name, RegionKind kind, uint64_t size);
    void changed();
    void collect_spaces(std::vector<AddressSpace*>& out, std::vector<const MemoryRegion*>& seen);

    std::string m_name;
    RegionKind m_kind;
    Size128 m_size;
    Mapping m_mapping;
    uint8_t* m_host = nullptr;
    MmioHandler* m_handler = nullptr;
    AccessRules m_rules;
    MemoryRegion* m_alias_target = nullptr;
    uint64_t m_alias_offset = 0;
    MemoryRegion* m_parent = nullptr;
    uint64_t m_offset = 0;
    int m_priority = 0;
    bool m_enabled = true;
    std::vector<MemoryRegion*> m_subregions;
    std::vector<MemoryRegion*> m_aliased_by;   // aliases whose target is this region
    std::vector<AddressSpace*> m_spaces;       // address spaces rooted here
};

} // namespace nemu::memory
