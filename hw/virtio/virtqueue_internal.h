#pragma once
// Pieces shared by the split and packed virtqueues (virtqueue_split.cpp, virtqueue_packed.cpp):
// ring-field access with the orderings the virtio memory model asks for, the chain builder
// that turns guest buffers into host iovecs under the hostile-guest rules, and the in-flight
// table. Not part of the public API.

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/core.h>

#include "hw/virtio/virtqueue.h"
#include "util/result.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::virtio::detail {

// Guest rings are little-endian (virtio 1.2, 2.7/2.8: le16/le32/le64); nemu hosts are x86-64
// and arm64 little-endian, so ring fields are read in place.
static_assert(std::endian::native == std::endian::little, "virtio rings are little-endian");

// Descriptor flags (2.7.5, 2.8.1).
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
inline constexpr uint16_t kDescAvail = 1u << 7;   // packed only
inline constexpr uint16_t kDescUsed = 1u << 15;   // packed only
// Split ring flags (2.7.6, 2.7.8).
inline constexpr uint16_t kAvailNoInterrupt = 1;
inline constexpr uint16_t kUsedNoNotify = 1;
// Packed event suppression flags (2.8.10).
inline constexpr uint16_t kEventEnable = 0;
inline constexpr uint16_t kEventDisable = 1;
inline constexpr uint16_t kEventDesc = 2;

inline constexpr uint64_t kDescSize = 16;   // split and packed descriptors are 16 bytes

// Bound on iovecs per chain: at most kMaxQueueSize ring descriptors plus kMaxQueueSize in an
// indirect table, each of which may cross a RAM-range boundary once or twice in practice.
inline constexpr size_t kMaxChainIovecs = 4 * size_t(kMaxQueueSize);

// Ring fields live in guest memory that the driver writes concurrently: every access is
// atomic, and the ones that publish or consume (indices, packed flags) carry acquire/release
// (virtio 1.2, 2.7.13 / 2.8.21 memory barriers). create() checked their alignment.
inline uint16_t load_acquire_u16(const uint8_t* p) {
    return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_ACQUIRE);
}
inline uint16_t load_relaxed_u16(const uint8_t* p) {
    return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED);
}
inline void store_release_u16(uint8_t* p, uint16_t v) {
    __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELEASE);
}
inline void store_relaxed_u16(uint8_t* p, uint16_t v) {
    __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED);
}
inline void store_relaxed_u32(uint8_t* p, uint32_t v) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED);
}
// A full barrier between our ring writes and reading the driver's suppression fields (and
// between re-enabling notifications and re-checking the ring): the store-load order that
// acquire/release does not give.
inline void full_fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// One descriptor copied out of guest memory, so every decision sees one value (no TOCTOU).
struct Desc {
    uint64_t addr = 0;
    uint32_t len = 0;
    uint16_t id_or_next = 0;   // split: next; packed: buffer id
    uint16_t flags = 0;
};
// Split layout: addr, len, flags, next. Packed layout: addr, len, id, flags.
inline Desc read_split_desc(const uint8_t* p) {
    Desc d;
    std::memcpy(&d.addr, p, 8);
    std::memcpy(&d.len, p + 8, 4);
    std::memcpy(&d.flags, p + 12, 2);
    std::memcpy(&d.id_or_next, p + 14, 2);
    return d;
}
inline Desc read_packed_desc_body(const uint8_t* p, uint16_t flags) {
    Desc d;
    std::memcpy(&d.addr, p, 8);
    std::memcpy(&d.len, p + 8, 4);
    std::memcpy(&d.id_or_next, p + 12, 2);
    d.flags = flags;
    return d;
}

// virtio 1.2, 2.7.10: notify when the used index has moved past `event` in (old, new],
// with wrapping 16-bit arithmetic.
inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
    return uint16_t(new_idx - event - 1) < uint16_t(new_idx - old_idx);
}

template <class... A>
Unexpected<Error> vq_fail(uint16_t index, fmt::format_string<A...> f, A&&... a) {
    return fail("virtqueue {}: {}", index, fmt::format(f, std::forward<A>(a)...));
}

// Builds one DescChain from guest buffers: translation to host iovecs (a buffer crossing
// RAM ranges becomes several iovecs), readable-before-writable (2.7.4.2 / 2.8.4), the byte
// and iovec bounds.
class ChainBuilder {
public:
    ChainBuilder(const memory::AddressSpace& memory, uint16_t index, DescChain& chain)
        : m_memory(memory), m_index(index), m_chain(chain) {}
    Result<> add(uint64_t gpa, uint32_t len, bool writable);

private:
    const memory::AddressSpace& m_memory;
    uint16_t m_index;
    DescChain& m_chain;
};

// Host pointer to an indirect table after the 2.7.5.3.1 / 2.8.7 checks on its descriptor;
// *count receives its number of descriptors.
Result<const uint8_t*> map_indirect_table(const memory::AddressSpace& memory, uint16_t index,
                                          const Desc& desc, uint32_t* count);

// Which buffer ids are popped but not yet pushed. Split: the head index; packed: the buffer
// id, with the number of ring slots its chain took (the used descriptor skips as many).
class InFlight {
public:
    explicit InFlight(uint16_t size) : m_slots(size, 0) {}
    bool contains(uint16_t id) const { return id < m_slots.size() && m_slots[id] != 0; }
    void add(uint16_t id, uint16_t slots) {
        m_slots[id] = slots;
        ++m_count;
    }
    uint16_t remove(uint16_t id) {
        uint16_t slots = m_slots[id];
        m_slots[id] = 0;
        --m_count;
        return slots;
    }
    uint16_t count() const { return m_count; }

private:
    std::vector<uint16_t> m_slots;   // 0: not in flight
    uint16_t m_count = 0;
};

Result<std::unique_ptr<Virtqueue>> create_split(const memory::AddressSpace& memory,
                                                const VirtqueueConfig& config,
                                                const VirtqueueState& start);
Result<std::unique_ptr<Virtqueue>> create_packed(const memory::AddressSpace& memory,
                                                 const VirtqueueConfig& config,
                                                 const VirtqueueState& start);
// Host pointer to a ring area of `len` bytes at `gpa`, aligned to `align`, wholly in RAM.
Result<uint8_t*> map_ring_area(const memory::AddressSpace& memory, uint16_t index,
                               const char* what, uint64_t gpa, uint64_t len, uint64_t align);

} // namespace nemu::hw::virtio::detail
