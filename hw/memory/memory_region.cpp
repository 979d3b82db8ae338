#include "hw/memory/memory_region.h"

#include <algorithm>

#include "hw/memory/address_space.h"

namespace nemu::memory {

namespace {
Size128 size_from(uint64_t size) {
    // QEMU memory_region_init: UINT64_MAX stands for 2^64.
    return size == kWholeSpace ? Size128(1) << 64 : Size128(size);
}
template <class T> void erase_value(std::vector<T*>& v, const T* p) {
    v.erase(std::remove(v.begin(), v.end(), p), v.end());
}
} // namespace

MemoryRegion::MemoryRegion(std::string name, RegionKind kind, uint64_t size)
    : m_name(std::move(name)), m_kind(kind), m_size(size_from(size)) {}

Result<std::unique_ptr<MemoryRegion>> MemoryRegion::ram(std::string name, uint64_t size) {
    if (size == 0 || size == kWholeSpace) return fail("invalid RAM size for '{}'", name);
    auto mapping = TRY(Mapping::anonymous(size));
    std::unique_ptr<MemoryRegion> mr(new MemoryRegion(std::move(name), RegionKind::Ram, size));
    mr->m_host = mapping.data();
    mr->m_mapping = std::move(mapping);
    return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::ram_from_host(std::string name, uint8_t* host,
                                                          uint64_t size) {
    std::unique_ptr<MemoryRegion> mr(new MemoryRegion(std::move(name), RegionKind::Ram, size));
    mr->m_host = host;
    return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::mmio(std::string name, uint64_t size,
                                                 MmioHandler& handler, AccessRules rules) {
    std::unique_ptr<MemoryRegion> mr(new MemoryRegion(std::move(name), RegionKind::Mmio, size));
    mr->m_handler = &handler;
    // Keep the rules usable whatever the caller passed: sizes are powers of two in [1, 8].
    auto fix = [](unsigned s) {
        unsigned p = 1;
        while (p < s && p < 8) p <<= 1;
        return p;
    };
    rules.min_size = fix(rules.min_size);
    rules.max_size = std::max(fix(rules.max_size), rules.min_size);
    mr->m_rules = rules;
    return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::alias(std::string name, MemoryRegion& target,
                                                  uint64_t offset, uint64_t size) {
    std::unique_ptr<MemoryRegion> mr(new MemoryRegion(std::move(name), RegionKind::Alias, size));
    mr->m_alias_target = &target;
    mr->m_alias_offset = offset;
    target.m_aliased_by.push_back(mr.get());
    return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::container(std::string name, uint64_t size) {
    return std::unique_ptr<MemoryRegion>(
        new MemoryRegion(std::move(name), RegionKind::Container, size));
}

MemoryRegion::~MemoryRegion() {
    if (m_parent) m_parent->remove_subregion(*this);
    for (MemoryRegion* child : m_subregions) child->m_parent = nullptr;
    if (m_alias_target) erase_value(m_alias_target->m_aliased_by, this);
    // Aliases of this region now show nothing: re-render the spaces that can see them.
    std::vector<AddressSpace*> spaces;
    std::vector<const MemoryRegion*> seen{this};
    for (MemoryRegion* a : m_aliased_by) {
        a->m_alias_target = nullptr;
        a->collect_spaces(spaces, seen);
    }
    for (AddressSpace* as : spaces) as->rebuild();
}

void MemoryRegion::add_subregion(uint64_t offset, MemoryRegion& child, int priority) {
    if (&child == this) return;
    if (child.m_parent) {
        MemoryRegion* old = child.m_parent;
        erase_value(old->m_subregions, &child);
        child.m_parent = nullptr;
        old->changed();
    }
    child.m_parent = this;
    child.m_offset = offset;
    child.m_priority = priority;
    // QEMU memory_region_add_subregion_common: insert before the first sibling whose priority
    // is not higher, so the newest of equal priority comes first and wins when rendering.
    auto it = std::find_if(m_subregions.begin(), m_subregions.end(),
                           [&](const MemoryRegion* o) { return priority >= o->m_priority; });
    m_subregions.insert(it, &child);
    changed();
}

void MemoryRegion::remove_subregion(MemoryRegion& child) {
    if (child.m_parent != this) return;
    erase_value(m_subregions, &child);
    child.m_parent = nullptr;
    changed();
}

void MemoryRegion::set_enabled(bool enabled) {
    if (m_enabled == enabled) return;
    m_enabled = enabled;
    changed();
}

void MemoryRegion::set_offset(uint64_t offset) {
    if (m_offset == offset) return;
    m_offset = offset;
    changed();
}

void MemoryRegion::collect_spaces(std::vector<AddressSpace*>& out,
                                  std::vector<const MemoryRegion*>& seen) {
    if (std::find(seen.begin(), seen.end(), this) != seen.end()) return;
    seen.push_back(this);
    for (AddressSpace* as : m_spaces) out.push_back(as);
    if (m_parent) m_parent->collect_spaces(out, seen);
    for (MemoryRegion* a : m_aliased_by) a->collect_spaces(out, seen);
}

void MemoryRegion::changed() {
    std::vector<AddressSpace*> spaces;
    std::vector<const MemoryRegion*> seen;
    collect_spaces(spaces, seen);
    for (AddressSpace* as : spaces) as->rebuild();
}

} // namespace nemu::memory
