// The split virtqueue (virtio 1.2, 2.7): descriptor table, available ring (driver area) and
// used ring (device area), with VIRTIO_F_INDIRECT_DESC (2.7.5.3) and VIRTIO_F_EVENT_IDX
// (2.7.7, 2.7.10).
#include <algorithm>

#include "hw/memory/address_space.h"
#include "hw/virtio/virtqueue_internal.h"

namespace nemu::hw::virtio::detail {

namespace {

// Avail ring: flags, idx, ring[size], used_event. Used ring: flags, idx, ring[size] of
// {le32 id, le32 len}, avail_event (2.7.6, 2.7.8).
constexpr uint64_t kRingHeader = 4;
constexpr uint64_t kUsedElemSize = 8;

class SplitQueue final : public Virtqueue {
public:
    SplitQueue(const memory::AddressSpace& memory, const VirtqueueConfig& config, uint8_t* desc,
               uint8_t* avail, uint8_t* used, const VirtqueueState& start)
        : m_memory(memory), m_config(config), m_desc(desc), m_avail(avail), m_used(used),
          m_next_avail(start.next_avail), m_next_used(start.next_used),
          m_in_flight(config.size) {}

    Result<std::optional<DescChain>> pop() override;
    Result<> push(const DescChain& chain, uint32_t written) override;
    bool should_notify() override;
    void enable_notification(bool enabled) override;
    bool has_available() override { return load_acquire_u16(m_avail + 2) != m_next_avail; }
    const VirtqueueConfig& config() const override { return m_config; }
    VirtqueueState state() const override {
        return VirtqueueState{m_next_avail, m_next_used, true, true, m_in_flight.count()};
    }

private:
    Result<> walk(uint16_t head, DescChain& chain);
    uint8_t* used_event() const { return m_avail + kRingHeader + 2 * uint64_t(m_config.size); }
    uint8_t* avail_event() const {
        return m_used + kRingHeader + kUsedElemSize * m_config.size;
    }

    const memory::AddressSpace& m_memory;
    VirtqueueConfig m_config;
    uint8_t* m_desc;
    uint8_t* m_avail;
    uint8_t* m_used;
    uint16_t m_next_avail;          // last_avail_idx (2.7.13.1)
    uint16_t m_next_used;           // our copy of used->idx
    uint16_t m_used_flags = 0;      // the device owns used->flags
    uint16_t m_signalled_used = 0;  // used->idx at the last should_notify()
    bool m_signalled_valid = false;
    bool m_notify_enabled = true;
    InFlight m_in_flight;
};

Result<std::optional<DescChain>> SplitQueue::pop() {
    const uint16_t size = m_config.size;
    // Acquire: the ring entries and descriptors the driver wrote before publishing idx.
    uint16_t avail_idx = load_acquire_u16(m_avail + 2);
    uint16_t pending = uint16_t(avail_idx - m_next_avail);
    if (pending == 0) return std::optional<DescChain>();
    if (pending > size)
        return vq_fail(m_config.index, "available index moved from {} to {}, more than the "
                       "queue size {}", m_next_avail, avail_idx, size);
    uint16_t head = load_relaxed_u16(m_avail + kRingHeader + 2 * (m_next_avail % size));
    if (head >= size)
        return vq_fail(m_config.index, "descriptor index {} out of range (queue size {})", head,
                       size);
    if (m_in_flight.contains(head))
        return vq_fail(m_config.index, "descriptor {} made available again while in flight",
                       head);
    DescChain chain;
    chain.id = head;
    chain.ring_slots = 1;
    TRY(walk(head, chain));
    m_in_flight.add(head, 1);
    ++m_next_avail;
    // 2.7.10: with EVENT_IDX the driver kicks when it passes avail_event; while notifications
    // are disabled we leave it behind so the driver does not kick.
    if (m_config.event_idx && m_notify_enabled) store_relaxed_u16(avail_event(), m_next_avail);
    return std::optional<DescChain>(std::move(chain));
}

Result<> SplitQueue::walk(uint16_t head, DescChain& chain) {
    ChainBuilder builder(m_memory, m_config.index, chain);
    const uint8_t* table = m_desc;
    uint32_t table_size = m_config.size;
    bool indirect = false;
    uint32_t index = head;
    uint32_t seen = 0;
    for (;;) {
        // A chain visits each descriptor of its table at most once; more means a loop.
        if (++seen > table_size) return vq_fail(m_config.index, "descriptor loop");
        const Desc d = read_split_desc(table + kDescSize * index);
        if (d.flags & kDescIndirect) {
            // 2.7.5.3.1: only with the feature, one level deep, and never with NEXT. It may
            // follow direct descriptors ("zero or more normal chained descriptors followed by
            // a single descriptor with VIRTQ_DESC_F_INDIRECT").
            if (!m_config.indirect)
                return vq_fail(m_config.index, "indirect descriptor without INDIRECT_DESC");
            if (indirect)
                return vq_fail(m_config.index, "indirect descriptor inside an indirect table");
            if (d.flags & kDescNext)
                return vq_fail(m_config.index, "indirect descriptor with the NEXT flag");
            table = TRY(map_indirect_table(m_memory, m_config.index, d, &table_size));
            indirect = true;
            index = 0;
            seen = 0;
            continue;
        }
        TRY(builder.add(d.addr, d.len, (d.flags & kDescWrite) != 0));
        if (!(d.flags & kDescNext)) return {};
        index = d.id_or_next;
        if (index >= table_size)
            return vq_fail(m_config.index, "descriptor index {} out of range ({} descriptors)",
                           index, table_size);
    }
}

Result<> SplitQueue::push(const DescChain& chain, uint32_t written) {
    if (!m_in_flight.contains(chain.id))
        return vq_fail(m_config.index, "used buffer id {} is not in flight", chain.id);
    uint32_t len = uint32_t(std::min<uint64_t>(written, chain.writable_bytes));
    uint8_t* elem = m_used + kRingHeader + kUsedElemSize * (m_next_used % m_config.size);
    store_relaxed_u32(elem, chain.id);
    store_relaxed_u32(elem + 4, len);
    ++m_next_used;
    // Release: the element is visible before the index that publishes it (2.7.13.3).
    store_release_u16(m_used + 2, m_next_used);
    m_in_flight.remove(chain.id);
    return {};
}

bool SplitQueue::should_notify() {
    // Our used->idx store must be visible before we read the driver's suppression fields,
    // or both sides can miss each other (2.7.13.3.1 / QEMU virtio_should_notify's smp_mb).
    full_fence();
    if (!m_config.event_idx) return !(load_relaxed_u16(m_avail) & kAvailNoInterrupt);
    uint16_t old_used = m_signalled_used;
    bool valid = m_signalled_valid;
    m_signalled_used = m_next_used;
    m_signalled_valid = true;
    return !valid || need_event(load_relaxed_u16(used_event()), m_next_used, old_used);
}

void SplitQueue::enable_notification(bool enabled) {
    m_notify_enabled = enabled;
    if (m_config.event_idx) {
        // 2.7.10: kick when the driver makes the next buffer available. Disabling leaves
        // avail_event where it was: the driver passes it at most once, then stays quiet.
        if (enabled) store_relaxed_u16(avail_event(), m_next_avail);
    } else {
        m_used_flags = enabled ? (m_used_flags & ~kUsedNoNotify) : (m_used_flags | kUsedNoNotify);
        store_relaxed_u16(m_used, m_used_flags);
    }
    // Callers re-check has_available() after enabling: order that read after this write.
    full_fence();
}

} // namespace

Result<std::unique_ptr<Virtqueue>> create_split(const memory::AddressSpace& memory,
                                                const VirtqueueConfig& config,
                                                const VirtqueueState& start) {
    const uint64_t size = config.size;
    // 2.7: "Queue Size value is always a power of 2"; alignments from the 2.7 table.
    if (!std::has_single_bit(config.size))
        return vq_fail(config.index, "queue size {} is not a power of 2", size);
    uint8_t* desc = TRY(map_ring_area(memory, config.index, "descriptor table", config.desc,
                                      kDescSize * size, 16));
    uint8_t* avail = TRY(map_ring_area(memory, config.index, "available ring", config.driver,
                                       kRingHeader + 2 * size + 2, 2));
    uint8_t* used = TRY(map_ring_area(memory, config.index, "used ring", config.device,
                                      kRingHeader + kUsedElemSize * size + 2, 4));
    return std::unique_ptr<Virtqueue>(
        std::make_unique<SplitQueue>(memory, config, desc, avail, used, start));
}

} // namespace nemu::hw::virtio::detail
