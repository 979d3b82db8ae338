// The guest side of split and packed virtqueues for tests (see virtqueue_driver.h), written
// after the driver rules of virtio 1.2, 2.7.13 and 2.8.13-2.8.21.
#include "tests/support/virtqueue_driver.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hw/memory/address_space.h"
#include "hw/memory/memory_region.h"

namespace nemu::test {

namespace {

constexpr uint16_t kNext = 1;
constexpr uint16_t kWrite = 2;
constexpr uint16_t kIndirect = 4;
constexpr uint16_t kAvail = 1u << 7;
constexpr uint16_t kUsed = 1u << 15;

} // namespace

GuestMemory::GuestMemory(uint64_t size, uint64_t base)
    : m_root(memory::MemoryRegion::container("system", memory::kWholeSpace)) {
    add_ram(base, size);
    m_space = std::make_unique<memory::AddressSpace>("memory", *m_root);
}

GuestMemory::~GuestMemory() = default;

void GuestMemory::add_ram(uint64_t base, uint64_t size) {
    auto ram = memory::MemoryRegion::ram(fmt::format("ram{}", m_ram.size()), size);
    if (!ram) {
        std::fprintf(stderr, "GuestMemory: %s\n", ram.error().msg.c_str());
        std::abort();   // test fixture: no memory for the test is a broken environment
    }
    m_root->add_subregion(base, **ram);
    m_ram.push_back(std::move(*ram));
}

void GuestMemory::write(uint64_t gpa, std::span<const uint8_t> data) {
    (void)m_space->write(gpa, data);
}
void GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const { (void)m_space->read(gpa, out); }
void GuestMemory::fill(uint64_t gpa, uint8_t byte, uint64_t len) {
    std::vector<uint8_t> bytes(len, byte);
    write(gpa, bytes);
}
void GuestMemory::write_u16(uint64_t gpa, uint16_t v) { (void)m_space->write_u16(gpa, v); }
void GuestMemory::write_u32(uint64_t gpa, uint32_t v) { (void)m_space->write_u32(gpa, v); }
void GuestMemory::write_u64(uint64_t gpa, uint64_t v) { (void)m_space->write_u64(gpa, v); }
uint16_t GuestMemory::read_u16(uint64_t gpa) const { return m_space->read_u16(gpa); }
uint32_t GuestMemory::read_u32(uint64_t gpa) const { return m_space->read_u32(gpa); }
uint64_t GuestMemory::read_u64(uint64_t gpa) const { return m_space->read_u64(gpa); }
uint8_t* GuestMemory::host(uint64_t gpa, uint64_t len) const { return m_space->ram_ptr(gpa, len); }

VirtqueueDriver::VirtqueueDriver(GuestMemory& memory, const DriverRingConfig& config)
    : m_memory(memory), m_ring(config), m_num_free(config.size),
      m_avail_idx(config.packed ? 0 : config.start), m_last_used(config.packed ? 0 : config.start),
      m_chains(config.size), m_slots(config.size, 0) {
    const uint64_t n = config.size;
    m_memory.fill(config.desc, 0, 16 * n);
    if (config.packed) {
        m_memory.fill(config.driver, 0, 4);
        m_memory.fill(config.device, 0, 4);
    } else {
        m_memory.fill(config.driver, 0, 6 + 2 * n);
        m_memory.fill(config.device, 0, 6 + 8 * n);
        m_memory.write_u16(config.driver + 2, config.start);
        m_memory.write_u16(config.device + 2, config.start);
    }
    // Hand out low indices first, as Linux does.
    for (uint32_t i = n; i > 0; --i) m_free.push_back(uint16_t(i - 1));
}

hw::virtio::VirtqueueConfig VirtqueueDriver::config() const {
    return hw::virtio::VirtqueueConfig{m_ring.index, m_ring.size,   m_ring.desc,
                                       m_ring.driver, m_ring.device, m_ring.packed,
                                       m_ring.event_idx, m_ring.indirect};
}

hw::virtio::VirtqueueState VirtqueueDriver::initial_state() const {
    hw::virtio::VirtqueueState s;
    if (!m_ring.packed) s.next_avail = s.next_used = m_ring.start;
    return s;
}

Result<uint16_t> VirtqueueDriver::add(const std::vector<GuestBuffer>& buffers,
                                      std::optional<uint64_t> table_gpa) {
    if (buffers.empty()) return fail("empty chain");
    return m_ring.packed ? add_packed(buffers, table_gpa) : add_split(buffers, table_gpa);
}

void VirtqueueDriver::write_table(uint64_t table_gpa, const std::vector<GuestBuffer>& buffers) {
    for (size_t i = 0; i < buffers.size(); ++i) {
        uint64_t p = table_gpa + 16 * i;
        uint16_t flags = buffers[i].writable ? kWrite : 0;
        // Split tables chain with NEXT; packed tables are sequential (2.8.7).
        if (!m_ring.packed && i + 1 < buffers.size()) flags |= kNext;
        m_memory.write_u64(p, buffers[i].gpa);
        m_memory.write_u32(p + 8, buffers[i].len);
        m_memory.write_u16(p + 12, m_ring.packed ? 0 : flags);
        m_memory.write_u16(p + 14, m_ring.packed ? flags : uint16_t(i + 1));
    }
}

Result<uint16_t> VirtqueueDriver::add_split(const std::vector<GuestBuffer>& buffers,
                                            std::optional<uint64_t> table_gpa) {
    size_t n = table_gpa ? 1 : buffers.size();
    if (n > m_free.size()) return fail("no room for {} descriptors", n);
    std::vector<uint16_t> descs;
    for (size_t i = 0; i < n; ++i) {
        descs.push_back(m_free.back());
        m_free.pop_back();
    }
    if (table_gpa) {
        write_table(*table_gpa, buffers);
        write_split_desc(descs[0], *table_gpa, uint32_t(16 * buffers.size()), kIndirect, 0);
    } else {
        for (size_t i = 0; i < n; ++i) {
            uint16_t flags = buffers[i].writable ? kWrite : 0;
            uint16_t next = 0;
            if (i + 1 < n) {
                flags |= kNext;
                next = descs[i + 1];
            }
            write_split_desc(descs[i], buffers[i].gpa, buffers[i].len, flags, next);
        }
    }
    uint16_t head = descs[0];
    m_num_free = uint16_t(m_num_free - n);
    m_chains[head] = std::move(descs);
    set_avail_ring(uint16_t(m_avail_idx % m_ring.size), head);
    set_avail_idx(uint16_t(m_avail_idx + 1));
    return head;
}

Result<uint16_t> VirtqueueDriver::add_packed(const std::vector<GuestBuffer>& buffers,
                                             std::optional<uint64_t> table_gpa) {
    size_t n = table_gpa ? 1 : buffers.size();
    if (n > m_num_free || m_free.empty()) return fail("no room for {} descriptors", n);
    uint16_t id = m_free.back();
    m_free.pop_back();
    if (table_gpa) write_table(*table_gpa, buffers);
    // Fill every descriptor but the head first, the head's flags last (2.8.21), so the
    // device never sees a partial chain.
    uint16_t head = m_avail_idx;
    uint16_t head_flags = 0;
    for (size_t i = 0; i < n; ++i) {
        uint16_t flags = packed_avail_flags();
        if (table_gpa) {
            flags |= kIndirect;
            write_packed_desc(m_avail_idx, *table_gpa, uint32_t(16 * buffers.size()), id, 0);
        } else {
            if (buffers[i].writable) flags |= kWrite;
            if (i + 1 < n) flags |= kNext;
            write_packed_desc(m_avail_idx, buffers[i].gpa, buffers[i].len, id, 0);
        }
        if (i == 0)
            head_flags = flags;
        else
            m_memory.write_u16(desc_gpa(m_avail_idx) + 14, flags);
        if (++m_avail_idx == m_ring.size) {
            m_avail_idx = 0;
            m_avail_wrap = !m_avail_wrap;
        }
    }
    __atomic_store_n(reinterpret_cast<uint16_t*>(m_memory.host(desc_gpa(head) + 14, 2)),
                     head_flags, __ATOMIC_RELEASE);
    m_slots[id] = uint16_t(n);
    m_num_free = uint16_t(m_num_free - n);
    return id;
}

std::optional<UsedBuffer> VirtqueueDriver::get_used() {
    return m_ring.packed ? get_used_packed() : get_used_split();
}

std::optional<UsedBuffer> VirtqueueDriver::get_used_split() {
    uint16_t used_idx = __atomic_load_n(
        reinterpret_cast<const uint16_t*>(m_memory.host(m_ring.device + 2, 2)), __ATOMIC_ACQUIRE);
    if (used_idx == m_last_used) return std::nullopt;
    uint64_t elem = m_ring.device + 4 + 8ull * (m_last_used % m_ring.size);
    UsedBuffer used{m_memory.read_u32(elem), m_memory.read_u32(elem + 4)};
    ++m_last_used;
    if (used.id < m_ring.size) {
        auto& descs = m_chains[used.id];
        m_num_free = uint16_t(m_num_free + descs.size());
        for (auto it = descs.rbegin(); it != descs.rend(); ++it) m_free.push_back(*it);
        descs.clear();
    }
    return used;
}

std::optional<UsedBuffer> VirtqueueDriver::get_used_packed() {
    uint64_t p = desc_gpa(m_last_used);
    uint16_t flags = __atomic_load_n(reinterpret_cast<const uint16_t*>(m_memory.host(p + 14, 2)),
                                     __ATOMIC_ACQUIRE);
    bool avail = (flags & kAvail) != 0;
    bool used = (flags & kUsed) != 0;
    if (avail != m_used_wrap || used != m_used_wrap) return std::nullopt;
    UsedBuffer u{m_memory.read_u16(p + 12), m_memory.read_u32(p + 8)};
    uint16_t slots = 1;
    if (u.id < m_ring.size && m_slots[u.id] != 0) {
        slots = m_slots[u.id];
        m_slots[u.id] = 0;
        m_free.push_back(uint16_t(u.id));
    }
    m_num_free = uint16_t(m_num_free + slots);
    uint32_t next = uint32_t(m_last_used) + slots;
    if (next >= m_ring.size) {
        next -= m_ring.size;
        m_used_wrap = !m_used_wrap;
    }
    m_last_used = uint16_t(next);
    return u;
}

void VirtqueueDriver::set_avail_flags(uint16_t flags) { m_memory.write_u16(m_ring.driver, flags); }
void VirtqueueDriver::set_used_event(uint16_t idx) {
    m_memory.write_u16(m_ring.driver + 4 + 2ull * m_ring.size, idx);
}
void VirtqueueDriver::set_driver_event(uint16_t flags, uint16_t off_wrap) {
    m_memory.write_u16(m_ring.driver, off_wrap);
    m_memory.write_u16(m_ring.driver + 2, flags);
}
uint16_t VirtqueueDriver::used_flags() const { return m_memory.read_u16(m_ring.device); }
uint16_t VirtqueueDriver::avail_event() const {
    return m_memory.read_u16(m_ring.device + 4 + 8ull * m_ring.size);
}
uint16_t VirtqueueDriver::device_event_flags() const { return m_memory.read_u16(m_ring.device + 2); }
uint16_t VirtqueueDriver::device_event_off_wrap() const { return m_memory.read_u16(m_ring.device); }

void VirtqueueDriver::write_split_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                                       uint16_t next) {
    uint64_t p = desc_gpa(i);
    m_memory.write_u64(p, addr);
    m_memory.write_u32(p + 8, len);
    m_memory.write_u16(p + 12, flags);
    m_memory.write_u16(p + 14, next);
}

void VirtqueueDriver::set_avail_idx(uint16_t idx) {
    m_avail_idx = idx;
    __atomic_store_n(reinterpret_cast<uint16_t*>(m_memory.host(m_ring.driver + 2, 2)), idx,
                     __ATOMIC_RELEASE);
}

void VirtqueueDriver::set_avail_ring(uint16_t i, uint16_t head) {
    m_memory.write_u16(m_ring.driver + 4 + 2ull * i, head);
}

void VirtqueueDriver::write_packed_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t id,
                                        uint16_t flags) {
    uint64_t p = desc_gpa(i);
    m_memory.write_u64(p, addr);
    m_memory.write_u32(p + 8, len);
    m_memory.write_u16(p + 12, id);
    __atomic_store_n(reinterpret_cast<uint16_t*>(m_memory.host(p + 14, 2)), flags,
                     __ATOMIC_RELEASE);
}

uint16_t VirtqueueDriver::packed_avail_flags() const {
    return m_avail_wrap ? kAvail : kUsed;
}

} // namespace nemu::test
