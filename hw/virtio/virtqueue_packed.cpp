// The packed virtqueue (virtio 1.2, 2.8): one descriptor ring shared by driver and device,
// availability and use signalled by the AVAIL/USED flag bits against wrap counters (2.8.1),
// indirect tables (2.8.7) and the event suppression structures (2.8.10, 2.8.14).
#include <algorithm>

#include "hw/memory/address_space.h"
#include "hw/virtio/virtqueue_internal.h"

namespace nemu::hw::virtio::detail {

namespace {

// Event suppression structure: le16 desc (offset bits 0-14, wrap bit 15), le16 flags.
constexpr uint64_t kEventSize = 4;
constexpr uint16_t kWrapBit = 1u << 15;

// 2.8.1: a descriptor is available when its AVAIL bit equals the driver's wrap counter and
// its USED bit does not.
bool is_available(uint16_t flags, bool wrap) {
    return ((flags & kDescAvail) != 0) == wrap && ((flags & kDescUsed) != 0) != wrap;
}

class PackedQueue final : public Virtqueue {
public:
    PackedQueue(const memory::AddressSpace& memory, const VirtqueueConfig& config, uint8_t* desc,
                uint8_t* driver_event, uint8_t* device_event, const VirtqueueState& start)
        : m_memory(memory), m_config(config), m_desc(desc), m_driver_event(driver_event),
          m_device_event(device_event), m_next_avail(start.next_avail),
          m_next_used(start.next_used), m_avail_wrap(start.avail_wrap),
          m_used_wrap(start.used_wrap), m_signalled_used(start.next_used),
          m_signalled_wrap(start.used_wrap), m_in_flight(config.size) {}

    Result<std::optional<DescChain>> pop() override;
    Result<> push(const DescChain& chain, uint32_t written) override;
    bool should_notify() override;
    void enable_notification(bool enabled) override;
    bool has_available() override {
        return is_available(load_acquire_u16(slot(m_next_avail) + 14), m_avail_wrap);
    }
    const VirtqueueConfig& config() const override { return m_config; }
    VirtqueueState state() const override {
        return VirtqueueState{m_next_avail, m_next_used, m_avail_wrap, m_used_wrap,
                              m_in_flight.count()};
    }

private:
    uint8_t* slot(uint16_t i) const { return m_desc + kDescSize * i; }
    Result<> add_indirect(ChainBuilder& builder, const Desc& d);
    void publish_avail_event() {
        store_relaxed_u16(m_device_event, uint16_t(m_next_avail | (m_avail_wrap ? kWrapBit : 0)));
    }

    const memory::AddressSpace& m_memory;
    VirtqueueConfig m_config;
    uint8_t* m_desc;
    uint8_t* m_driver_event;   // driver area: the driver's wishes toward us (2.8.10)
    uint8_t* m_device_event;   // device area: ours toward the driver
    uint16_t m_next_avail;
    uint16_t m_next_used;
    bool m_avail_wrap;
    bool m_used_wrap;
    uint16_t m_signalled_used;   // next_used / used_wrap at the last should_notify()
    bool m_signalled_wrap;
    bool m_signalled_valid = false;
    bool m_notify_enabled = true;
    InFlight m_in_flight;
};

Result<std::optional<DescChain>> PackedQueue::pop() {
    const uint16_t size = m_config.size;
    // Acquire on the head's flags: the driver writes them last (2.8.21), after the rest of
    // the chain, so everything else is read after this and read once.
    uint16_t flags = load_acquire_u16(slot(m_next_avail) + 14);
    if (!is_available(flags, m_avail_wrap)) return std::optional<DescChain>();
    DescChain chain;
    ChainBuilder builder(m_memory, m_config.index, chain);
    uint16_t pos = m_next_avail;
    bool wrap = m_avail_wrap;
    uint16_t slots = 0;
    Desc d = read_packed_desc_body(slot(pos), flags);
    for (;;) {
        ++slots;
        if (d.flags & kDescIndirect) {
            // 2.8.7.1: the driver never links an indirect descriptor with NEXT, in either
            // direction: it is a chain of its own.
            if (!m_config.indirect)
                return vq_fail(m_config.index, "indirect descriptor without INDIRECT_DESC");
            if (d.flags & kDescNext)
                return vq_fail(m_config.index, "indirect descriptor with the NEXT flag");
            if (slots > 1)
                return vq_fail(m_config.index, "indirect descriptor inside a chain");
            TRY(add_indirect(builder, d));
        } else {
            TRY(builder.add(d.addr, d.len, (d.flags & kDescWrite) != 0));
        }
        // 2.8.6: the buffer id is in the chain's last descriptor.
        chain.id = d.id_or_next;
        if (++pos == size) {
            pos = 0;
            wrap = !wrap;
        }
        if (!(d.flags & kDescNext)) break;
        if (slots >= size)
            return vq_fail(m_config.index, "chain longer than the queue size {}", size);
        d = read_packed_desc_body(slot(pos), load_relaxed_u16(slot(pos) + 14));
    }
    // Buffer ids index our in-flight table: Linux hands out ids below the queue size.
    if (chain.id >= size)
        return vq_fail(m_config.index, "buffer id {} out of range (queue size {})", chain.id,
                       size);
    if (m_in_flight.contains(chain.id))
        return vq_fail(m_config.index, "buffer id {} made available again while in flight",
                       chain.id);
    chain.ring_slots = slots;
    m_in_flight.add(chain.id, slots);
    m_next_avail = pos;
    m_avail_wrap = wrap;
    if (m_config.event_idx && m_notify_enabled) publish_avail_event();
    return std::optional<DescChain>(std::move(chain));
}

Result<> PackedQueue::add_indirect(ChainBuilder& builder, const Desc& d) {
    uint32_t count = 0;
    const uint8_t* table = TRY(map_indirect_table(m_memory, m_config.index, d, &count));
    // 2.8.7: the table is sequential; WRITE is its only valid flag, the others and the id
    // are reserved and ignored by the device (so no nesting is possible).
    for (uint32_t i = 0; i < count; ++i) {
        uint16_t flags;
        std::memcpy(&flags, table + kDescSize * i + 14, 2);
        const Desc t = read_packed_desc_body(table + kDescSize * i, flags);
        TRY(builder.add(t.addr, t.len, (t.flags & kDescWrite) != 0));
    }
    return {};
}

Result<> PackedQueue::push(const DescChain& chain, uint32_t written) {
    if (!m_in_flight.contains(chain.id))
        return vq_fail(m_config.index, "used buffer id {} is not in flight", chain.id);
    uint32_t len = uint32_t(std::min<uint64_t>(written, chain.writable_bytes));
    uint16_t slots = m_in_flight.remove(chain.id);
    uint8_t* p = slot(m_next_used);
    store_relaxed_u32(p + 8, len);
    store_relaxed_u16(p + 12, chain.id);
    // 2.8.1: a used descriptor has AVAIL and USED both equal to the device's wrap counter;
    // release so id and len are visible first (2.8.21).
    store_release_u16(p + 14, m_used_wrap ? uint16_t(kDescAvail | kDescUsed) : uint16_t(0));
    // The next used descriptor goes after the slots this chain took (2.8.5).
    uint32_t next = uint32_t(m_next_used) + slots;
    if (next >= m_config.size) {
        next -= m_config.size;
        m_used_wrap = !m_used_wrap;
    }
    m_next_used = uint16_t(next);
    return {};
}

bool PackedQueue::should_notify() {
    full_fence();   // as in the split ring: our used flags before the driver's wishes
    uint16_t off_wrap = load_relaxed_u16(m_driver_event);
    uint16_t flags = load_relaxed_u16(m_driver_event + 2);
    uint16_t old_used = m_signalled_used;
    bool old_wrap = m_signalled_wrap;
    bool valid = m_signalled_valid;
    m_signalled_used = m_next_used;
    m_signalled_wrap = m_used_wrap;
    m_signalled_valid = true;
    if (flags == kEventDisable) return false;
    if (flags != kEventDesc || !m_config.event_idx) return true;   // enable (or reserved)
    if (!valid) return true;
    // 2.8.10: notify once the device has written past ring offset `off` of lap `wrap`,
    // i.e. off lies in [old, new) counting slots across the wrap. Distances back from new:
    const int size = m_config.size;
    const int new_pos = m_next_used;
    int moved = old_wrap == m_used_wrap ? new_pos - old_used : new_pos + size - old_used;
    int off = off_wrap & ~kWrapBit;
    bool event_wrap = (off_wrap & kWrapBit) != 0;
    int behind = event_wrap == m_used_wrap ? new_pos - off : new_pos + size - off;
    return behind >= 1 && behind <= moved;
}

void PackedQueue::enable_notification(bool enabled) {
    m_notify_enabled = enabled;
    uint16_t flags = kEventDisable;
    if (enabled && m_config.event_idx) {
        // 2.8.10: kick when the driver makes the descriptor at our next position available.
        publish_avail_event();
        flags = kEventDesc;
    } else if (enabled) {
        flags = kEventEnable;
    }
    store_release_u16(m_device_event + 2, flags);
    full_fence();   // callers re-check has_available() after enabling
}

} // namespace

Result<std::unique_ptr<Virtqueue>> create_packed(const memory::AddressSpace& memory,
                                                 const VirtqueueConfig& config,
                                                 const VirtqueueState& start) {
    if (start.next_avail >= config.size || start.next_used >= config.size)
        return vq_fail(config.index, "ring position {}/{} out of range (queue size {})",
                       start.next_avail, start.next_used, config.size);
    // 2.8.10.1 / 4.1.4.3: descriptor ring 16-byte aligned, event structures 4-byte aligned.
    uint8_t* desc = TRY(map_ring_area(memory, config.index, "descriptor ring", config.desc,
                                      kDescSize * config.size, 16));
    uint8_t* driver = TRY(map_ring_area(memory, config.index, "driver event suppression",
                                        config.driver, kEventSize, 4));
    uint8_t* device = TRY(map_ring_area(memory, config.index, "device event suppression",
                                        config.device, kEventSize, 4));
    return std::unique_ptr<Virtqueue>(
        std::make_unique<PackedQueue>(memory, config, desc, driver, device, start));
}

} // namespace nemu::hw::virtio::detail
