#pragma once
// A guest-side virtqueue driver for unit and device tests: fake guest RAM plus split
// (virtio 1.2, 2.7) or packed (2.8) rings laid out in it, filled the way Linux's virtio_ring.c
// fills them. Tests then call the device-side Virtqueue (hw/virtio/virtqueue.h) directly;
// nothing is kicked. Every ring byte stays reachable for corruption through GuestMemory.
//
//   nemu::test::GuestMemory mem(1 << 20);                     // RAM at [0, 1 MiB)
//   nemu::test::VirtqueueDriver drv(mem, {.size = 8, .desc = 0x1000, .driver = 0x2000,
//                                         .device = 0x3000});
//   auto vq = nemu::hw::virtio::Virtqueue::create(mem.space(), drv.config()).value();
//   uint16_t id = drv.add({{0x10000, 64, false}, {0x20000, 512, true}}).value();
//   auto chain = vq->pop().value();                           // chain->id == id
//   vq->push(*chain, 100).value();
//   auto used = drv.get_used();                               // {id, 100}
//
// Thread: the test's.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hw/virtio/virtqueue.h"
#include "util/result.h"

namespace nemu::memory {
class AddressSpace;
class MemoryRegion;
} // namespace nemu::memory

namespace nemu::test {

// Guest RAM: one or more RAM ranges inside a 2^64 container, and the AddressSpace over it.
class GuestMemory {
public:
    // RAM at [base, base + size). Aborts the test program if the mapping fails.
    explicit GuestMemory(uint64_t size, uint64_t base = 0);
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    // Another RAM range (e.g. right after the first, to test buffers crossing ranges).
    void add_ram(uint64_t base, uint64_t size);
    const memory::AddressSpace& space() const { return *m_space; }

    // Raw access for filling buffers and corrupting rings; out-of-RAM accesses are dropped
    // (reads give zeroes).
    void write(uint64_t gpa, std::span<const uint8_t> data);
    void read(uint64_t gpa, std::span<uint8_t> out) const;
    void fill(uint64_t gpa, uint8_t byte, uint64_t len);
    void write_u16(uint64_t gpa, uint16_t v);
    void write_u32(uint64_t gpa, uint32_t v);
    void write_u64(uint64_t gpa, uint64_t v);
    uint16_t read_u16(uint64_t gpa) const;
    uint32_t read_u32(uint64_t gpa) const;
    uint64_t read_u64(uint64_t gpa) const;
    // Host pointer to [gpa, gpa+len) or nullptr (as AddressSpace::ram_ptr).
    uint8_t* host(uint64_t gpa, uint64_t len = 1) const;

private:
    std::unique_ptr<memory::MemoryRegion> m_root;
    std::vector<std::unique_ptr<memory::MemoryRegion>> m_ram;
    std::unique_ptr<memory::AddressSpace> m_space;
};

// Where the rings go and what was negotiated: VirtqueueConfig without the checks, plus a
// start index for split rings (tests of the 16-bit wrap start near 65535).
struct DriverRingConfig {
    uint16_t index = 0;
    uint16_t size = 8;
    uint64_t desc = 0x1000;
    uint64_t driver = 0x2000;
    uint64_t device = 0x3000;
    bool packed = false;
    bool event_idx = false;
    bool indirect = false;
    uint16_t start = 0;   // split: initial avail->idx and used->idx
};

// One guest buffer of a chain.
struct GuestBuffer {
    uint64_t gpa = 0;
    uint32_t len = 0;
    bool writable = false;
};

// What the device returned: split used element, or packed used descriptor.
struct UsedBuffer {
    uint32_t id = 0;
    uint32_t len = 0;
};

class VirtqueueDriver {
public:
    // Zeroes the ring areas and sets up the driver side (free list / wrap counters).
    VirtqueueDriver(GuestMemory& memory, const DriverRingConfig& config);

    // The device-side view of this ring, and the state that matches `start`.
    hw::virtio::VirtqueueConfig config() const;
    hw::virtio::VirtqueueState initial_state() const;
    const DriverRingConfig& ring() const { return m_ring; }

    // Make a chain available: direct descriptors, or (table_gpa set) one indirect descriptor
    // whose table is written at table_gpa. Returns the id the device will report (split:
    // head index; packed: buffer id). Fails when the ring has no room.
    Result<uint16_t> add(const std::vector<GuestBuffer>& buffers,
                         std::optional<uint64_t> table_gpa = std::nullopt);
    // The next used buffer, if the device returned one; frees its descriptors / id.
    std::optional<UsedBuffer> get_used();
    uint16_t free_descriptors() const { return m_num_free; }

    // Suppression, driver side. Split: avail->flags (VIRTQ_AVAIL_F_NO_INTERRUPT = 1) and
    // used_event; packed: the driver event suppression structure (flags 0 enable,
    // 1 disable, 2 desc; off_wrap = offset | wrap << 15).
    void set_avail_flags(uint16_t flags);
    void set_used_event(uint16_t idx);
    void set_driver_event(uint16_t flags, uint16_t off_wrap = 0);
    // Device side, as the device wrote it. Split: used->flags, avail_event; packed: device
    // event suppression flags and off_wrap.
    uint16_t used_flags() const;
    uint16_t avail_event() const;
    uint16_t device_event_flags() const;
    uint16_t device_event_off_wrap() const;

    // Ring positions, driver side. Split: avail->idx as published, used idx last consumed;
    // packed: next slot to fill, next slot to read, wrap counters.
    uint16_t avail_idx() const { return m_avail_idx; }
    uint16_t last_used() const { return m_last_used; }   // packed: next used slot
    bool avail_wrap() const { return m_avail_wrap; }
    bool used_wrap() const { return m_used_wrap; }

    // Raw corruption helpers. Split: descriptor i of the table, avail->idx, avail->ring[i].
    // Packed: descriptor slot i (flags written last, release).
    void write_split_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
    void set_avail_idx(uint16_t idx);
    void set_avail_ring(uint16_t i, uint16_t head);
    void write_packed_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags);
    // The flag bits that make a packed descriptor available with the current wrap counter.
    uint16_t packed_avail_flags() const;
    uint64_t desc_gpa(uint16_t i) const { return m_ring.desc + 16ull * i; }

private:
    Result<uint16_t> add_split(const std::vector<GuestBuffer>& buffers,
                               std::optional<uint64_t> table_gpa);
    Result<uint16_t> add_packed(const std::vector<GuestBuffer>& buffers,
                                std::optional<uint64_t> table_gpa);
    void write_table(uint64_t table_gpa, const std::vector<GuestBuffer>& buffers);
    std::optional<UsedBuffer> get_used_split();
    std::optional<UsedBuffer> get_used_packed();

    GuestMemory& m_memory;
    DriverRingConfig m_ring;
    uint16_t m_num_free;            // free descriptors (split) or ring slots (packed)
    uint16_t m_avail_idx;           // split: avail->idx; packed: next slot to fill
    uint16_t m_last_used;           // split: used idx consumed; packed: next slot to read
    bool m_avail_wrap = true;
    bool m_used_wrap = true;
    std::vector<uint16_t> m_free;   // split: free descriptor indices; packed: free buffer ids
    std::vector<std::vector<uint16_t>> m_chains;   // split: descriptors of each in-flight head
    std::vector<uint16_t> m_slots;                 // packed: ring slots of each in-flight id
};

} // namespace nemu::test
