#include "hw/memory/mtree.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace nemu::memory {

namespace {

constexpr int kMaxDepth = 64;

// QEMU memory_region_type(): an alias shows the type of what it aliases.
const char* type_name(const MemoryRegion& mr, int depth = 0) {
    if (mr.kind() == RegionKind::Alias) {
        const MemoryRegion* t = mr.alias_target();
        return t && depth < kMaxDepth ? type_name(*t, depth + 1) : "i/o";
    }
    return mr.kind() == RegionKind::Ram ? "ram" : "i/o";
}

uint64_t last_of(uint64_t start, Size128 size) {
    return size == 0 ? start : static_cast<uint64_t>(start + size - 1);
}

struct Printer {
    std::string out;
    std::vector<const MemoryRegion*> alias_targets;

    void region(const MemoryRegion& mr, uint64_t base, int level) {
        if (level > kMaxDepth) return;
        uint64_t start = base + mr.offset();
        out += fmt::format("{:{}}{:016x}-{:016x} (prio {}, {}): ", "", level * 2, start,
                           last_of(start, mr.size()), mr.priority(), type_name(mr));
        if (mr.kind() == RegionKind::Alias && mr.alias_target()) {
            const MemoryRegion& t = *mr.alias_target();
            out += fmt::format("alias {} @{} {:016x}-{:016x}", mr.name(), t.name(),
                               mr.alias_offset(), last_of(mr.alias_offset(), mr.size()));
            if (std::find(alias_targets.begin(), alias_targets.end(), &t) == alias_targets.end())
                alias_targets.push_back(&t);
        } else {
            out += mr.name();
        }
        if (!mr.enabled()) out += " [disabled]";
        out += '\n';
        // QEMU mtree_print_mr(): children by address, then by descending priority; the
        // sort is stable over the rendering order.
        std::vector<const MemoryRegion*> kids(mr.subregions().begin(), mr.subregions().end());
        std::stable_sort(kids.begin(), kids.end(), [](const MemoryRegion* a, const MemoryRegion* b) {
            if (a->offset() != b->offset()) return a->offset() < b->offset();
            return a->priority() > b->priority();
        });
        for (const MemoryRegion* k : kids) region(*k, start, level + 1);
    }
};

} // namespace

std::string format_mtree(std::span<const AddressSpace* const> spaces) {
    Printer p;
    std::vector<bool> done(spaces.size(), false);
    for (size_t i = 0; i < spaces.size(); i++) {
        if (done[i]) continue;
        const MemoryRegion& root = spaces[i]->root();
        for (size_t j = i; j < spaces.size(); j++) {
            if (&spaces[j]->root() != &root) continue;
            p.out += fmt::format("address-space: {}\n", spaces[j]->name());
            done[j] = true;
        }
        // A root prints at its own offset and priority, as QEMU prints mr->addr.
        p.region(root, 0, 1);
        p.out += '\n';
    }
    for (size_t i = 0; i < p.alias_targets.size(); i++) {
        const MemoryRegion& t = *p.alias_targets[i];
        p.out += fmt::format("memory-region: {}\n", t.name());
        p.region(t, 0, 1);
        p.out += '\n';
    }
    return std::move(p.out);
}

std::string format_mtree(const AddressSpace& space) {
    const AddressSpace* one[] = {&space};
    return format_mtree(one);
}

} // namespace nemu::memory
