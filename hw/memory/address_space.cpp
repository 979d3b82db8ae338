#include "hw/memory/address_space.h"
#include "util/little_endian.h"

#include <algorithm>
#include <cstring>

namespace nemu::memory {

namespace {

using Addr = __int128;   // signed: an alias window may start "below zero" in its target
constexpr int kMaxDepth = 64;   // bounds recursion through nested containers and aliases

// QEMU render_memory_region(): higher-priority siblings are rendered first; a RAM/MMIO
// region then fills only the gaps inside [clip_start, clip_end) that nobody claimed.
void render(std::vector<FlatRange>& ranges, const MemoryRegion& mr, Addr base, Addr clip_start,
            Addr clip_end, int depth) {
    if (!mr.enabled() || depth > kMaxDepth) return;
    Addr s = std::max(base, clip_start);
    Addr e = std::min(base + static_cast<Addr>(mr.size()), clip_end);
    if (s >= e) return;
    if (mr.kind() == RegionKind::Alias) {
        if (const MemoryRegion* t = mr.alias_target())
            render(ranges, *t, base - static_cast<Addr>(mr.alias_offset()), s, e, depth + 1);
        return;
    }
    for (const MemoryRegion* child : mr.subregions())
        render(ranges, *child, base + child->offset(), s, e, depth + 1);
    if (mr.kind() == RegionKind::Container) return;

    std::vector<FlatRange> gaps;
    auto add_gap = [&](Addr from, Addr to_excl) {
        gaps.push_back(FlatRange{static_cast<uint64_t>(from), static_cast<uint64_t>(to_excl - 1),
                                 const_cast<MemoryRegion*>(&mr),
                                 static_cast<uint64_t>(from - base)});
    };
    Addr pos = s;
    for (const FlatRange& r : ranges) {
        Addr rs = r.start, rl = r.last;
        if (rl < pos) continue;
        if (rs >= e) break;
        if (rs > pos) add_gap(pos, rs);
        pos = rl + 1;
        if (pos >= e) break;
    }
    if (pos < e) add_gap(pos, e);
    ranges.insert(ranges.end(), gaps.begin(), gaps.end());
    std::sort(ranges.begin(), ranges.end(),
              [](const FlatRange& a, const FlatRange& b) { return a.start < b.start; });
}

unsigned pow2floor(uint64_t v) {
    unsigned p = 1;
    while (p * 2 <= v && p < 8) p *= 2;
    return p;
}

uint64_t size_mask(unsigned size) { return size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * size)) - 1; }


// QEMU access_with_adjusted_size(): widen to min_size or split into max_size pieces,
// little-endian.
uint64_t mmio_read_one(const MemoryRegion& mr, uint64_t off, unsigned size) {
    const AccessRules& r = mr.rules();
    unsigned access = std::clamp(size, r.min_size, r.max_size);
    uint64_t value = 0;
    for (unsigned i = 0; i < size; i += access)
        value |= (mr.handler()->read(off + i, access) & size_mask(access)) << (8 * i);
    return value & size_mask(size);
}
void mmio_write_one(const MemoryRegion& mr, uint64_t off, uint64_t value, unsigned size) {
    const AccessRules& r = mr.rules();
    unsigned access = std::clamp(size, r.min_size, r.max_size);
    value &= size_mask(size);
    for (unsigned i = 0; i < size; i += access)
        mr.handler()->write(off + i, (value >> (8 * i)) & size_mask(access), access);
}

// QEMU memory_access_size(): the largest power of two <= max_size that keeps the access
// naturally aligned unless the region accepts unaligned accesses.
void mmio_access(const MemoryRegion& mr, uint64_t off, uint8_t* buf, uint64_t n, bool write) {
    while (n) {
        uint64_t l = std::min<uint64_t>(n, mr.rules().max_size);
        if (!mr.rules().unaligned && off != 0) l = std::min<uint64_t>(l, off & (~off + 1));
        unsigned size = pow2floor(l);
        if (write)
            mmio_write_one(mr, off, load_le(buf, size), size);
        else
            store_le(buf, mmio_read_one(mr, off, size), size);
        off += size;
        buf += size;
        n -= size;
    }
}

// Bytes of [addr, addr+remaining) that lie in r (r contains addr).
uint64_t chunk_in(const FlatRange& r, uint64_t addr, uint64_t remaining) {
    uint64_t avail_minus_one = r.last - addr;
    return avail_minus_one >= remaining - 1 ? remaining : avail_minus_one + 1;
}

template <class Fn> MemTxResult walk(const FlatView& fv, uint64_t gpa, uint64_t len, Fn&& fn) {
    bool ok = true;
    uint64_t done = 0;
    while (done < len) {
        uint64_t addr = gpa + done;
        uint64_t remaining = len - done;
        const FlatRange* r = fv.lookup(addr);
        if (!r) {
            ok = false;
            uint64_t n = remaining;
            if (const FlatRange* next = fv.next_after(addr))
                n = std::min<uint64_t>(n, next->start - addr);
            fn(nullptr, uint64_t(0), done, n);
            done += n;
            continue;
        }
        uint64_t n = chunk_in(*r, addr, remaining);
        fn(r, r->offset_in_region + (addr - r->start), done, n);
        done += n;
    }
    return ok ? MemTxResult::Ok : MemTxResult::Error;
}

} // namespace

const FlatRange* FlatView::lookup(uint64_t addr) const {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                               [](uint64_t a, const FlatRange& r) { return a < r.start; });
    if (it == ranges.begin()) return nullptr;
    --it;
    return addr <= it->last ? &*it : nullptr;
}

const FlatRange* FlatView::next_after(uint64_t addr) const {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                               [](uint64_t a, const FlatRange& r) { return a < r.start; });
    return it == ranges.end() ? nullptr : &*it;
}

std::shared_ptr<const FlatView> render_flat_view(const MemoryRegion& root) {
    auto fv = std::make_shared<FlatView>();
    render(fv->ranges, root, 0, 0, static_cast<Addr>(root.size()), 0);
    // QEMU flatview_simplify(): merge neighbours that continue the same region.
    std::vector<FlatRange> merged;
    for (const FlatRange& r : fv->ranges) {
        if (!merged.empty()) {
            FlatRange& m = merged.back();
            if (m.region == r.region && m.last + 1 == r.start &&
                m.offset_in_region + (m.last - m.start) + 1 == r.offset_in_region) {
                m.last = r.last;
                continue;
            }
        }
        merged.push_back(r);
    }
    fv->ranges = std::move(merged);
    return fv;
}

std::vector<RamSection> ram_sections(const FlatView& view) {
    std::vector<RamSection> out;
    for (const FlatRange& r : view.ranges) {
        if (r.region->kind() != RegionKind::Ram) continue;
        out.push_back(RamSection{r.start, r.last - r.start + 1,
                                 r.region->host_ptr() + r.offset_in_region, r.region});
    }
    return out;
}

AddressSpace::AddressSpace(std::string name, MemoryRegion& root)
    : m_name(std::move(name)), m_root(root) {
    m_root.m_spaces.push_back(this);
    m_view.store(render_flat_view(m_root), std::memory_order_release);
}

AddressSpace::~AddressSpace() {
    auto& v = m_root.m_spaces;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void AddressSpace::rebuild() {
    auto fresh = render_flat_view(m_root);
    auto old = m_view.exchange(fresh, std::memory_order_acq_rel);
    if (m_listeners.empty()) return;
    auto before = ram_sections(*old);
    auto after = ram_sections(*fresh);
    for (const RamSection& s : before)
        if (std::find(after.begin(), after.end(), s) == after.end())
            for (MemoryListener* l : m_listeners) l->region_del(s);
    for (const RamSection& s : after)
        if (std::find(before.begin(), before.end(), s) == before.end())
            for (MemoryListener* l : m_listeners) l->region_add(s);
}

void AddressSpace::add_listener(MemoryListener& l) {
    m_listeners.push_back(&l);
    for (const RamSection& s : ram_sections(*flat_view())) l.region_add(s);
}

void AddressSpace::remove_listener(MemoryListener& l) {
    m_listeners.erase(std::remove(m_listeners.begin(), m_listeners.end(), &l), m_listeners.end());
}

MemTxResult AddressSpace::read(uint64_t gpa, std::span<uint8_t> out) const {
    auto fv = flat_view();
    return walk(*fv, gpa, out.size(),
                [&](const FlatRange* r, uint64_t off, uint64_t done, uint64_t n) {
                    uint8_t* dst = out.data() + done;
                    if (!r)
                        std::memset(dst, m_unassigned_byte, n);
                    else if (r->region->kind() == RegionKind::Ram)
                        std::memcpy(dst, r->region->host_ptr() + off, n);
                    else
                        mmio_access(*r->region, off, dst, n, false);
                });
}

MemTxResult AddressSpace::write(uint64_t gpa, std::span<const uint8_t> in) const {
    auto fv = flat_view();
    return walk(*fv, gpa, in.size(),
                [&](const FlatRange* r, uint64_t off, uint64_t done, uint64_t n) {
                    const uint8_t* src = in.data() + done;
                    if (!r) return;
                    if (r->region->kind() == RegionKind::Ram)
                        std::memcpy(r->region->host_ptr() + off, src, n);
                    else
                        mmio_access(*r->region, off, const_cast<uint8_t*>(src), n, true);
                });
}

uint8_t* AddressSpace::ram_ptr(uint64_t gpa, uint64_t len) const {
    auto fv = flat_view();
    const FlatRange* r = fv->lookup(gpa);
    if (!r || r->region->kind() != RegionKind::Ram) return nullptr;
    if (len > 0 && len - 1 > r->last - gpa) return nullptr;
    return r->region->host_ptr() + r->offset_in_region + (gpa - r->start);
}

namespace {
template <class T> T typed_read(const AddressSpace& as, uint64_t gpa) {
    uint8_t b[sizeof(T)];
    (void)as.read(gpa, b);
    return static_cast<T>(load_le(b, sizeof(T)));
}
template <class T> MemTxResult typed_write(const AddressSpace& as, uint64_t gpa, T v) {
    uint8_t b[sizeof(T)];
    store_le(b, v, sizeof(T));
    return as.write(gpa, b);
}
} // namespace

uint8_t AddressSpace::read_u8(uint64_t gpa) const { return typed_read<uint8_t>(*this, gpa); }
uint16_t AddressSpace::read_u16(uint64_t gpa) const { return typed_read<uint16_t>(*this, gpa); }
uint32_t AddressSpace::read_u32(uint64_t gpa) const { return typed_read<uint32_t>(*this, gpa); }
uint64_t AddressSpace::read_u64(uint64_t gpa) const { return typed_read<uint64_t>(*this, gpa); }
MemTxResult AddressSpace::write_u8(uint64_t gpa, uint8_t v) const { return typed_write(*this, gpa, v); }
MemTxResult AddressSpace::write_u16(uint64_t gpa, uint16_t v) const { return typed_write(*this, gpa, v); }
MemTxResult AddressSpace::write_u32(uint64_t gpa, uint32_t v) const { return typed_write(*this, gpa, v); }
MemTxResult AddressSpace::write_u64(uint64_t gpa, uint64_t v) const { return typed_write(*this, gpa, v); }

} // namespace nemu::memory
