// Virtqueue::create() and the helpers the split and packed rings share (virtio 1.2, 2.7/2.8).
#include "hw/virtio/virtqueue.h"

#include "hw/memory/address_space.h"
#include "hw/virtio/virtqueue_internal.h"

namespace nemu::hw::virtio {

namespace detail {

Result<> ChainBuilder::add(uint64_t gpa, uint32_t len, bool writable) {
    // 2.7.4.2 / 2.8.4: all device-readable buffers come before the device-writable ones.
    if (!writable && !m_chain.writable.empty())
        return vq_fail(m_index, "device-readable descriptor after a device-writable one");
    if (len == 0) return {};
    if (gpa + len < gpa) return vq_fail(m_index, "buffer 0x{:x}+0x{:x} overflows", gpa, len);
    uint64_t& total = writable ? m_chain.writable_bytes : m_chain.readable_bytes;
    total += len;
    if (m_chain.readable_bytes + m_chain.writable_bytes > kMaxChainBytes)
        return vq_fail(m_index, "chain longer than {} bytes", kMaxChainBytes);
    auto& iovs = writable ? m_chain.writable : m_chain.readable;
    const uint64_t start = gpa;
    uint64_t left = len;
    while (left > 0) {
        if (m_chain.readable.size() + m_chain.writable.size() >= kMaxChainIovecs)
            return vq_fail(m_index, "chain has more than {} buffers", kMaxChainIovecs);
        uint64_t chunk = left;
        uint8_t* host = m_memory.ram_ptr(gpa, chunk);
        if (!host) {
            // The buffer may cross from one RAM range into an adjacent one (two memory
            // backends or DIMMs side by side): take what lies in this range, then go on.
            auto view = m_memory.flat_view();
            const memory::FlatRange* r = view->lookup(gpa);
            if (r && r->region->kind() == memory::RegionKind::Ram && r->last - gpa < chunk - 1)
                chunk = r->last - gpa + 1;
            host = m_memory.ram_ptr(gpa, chunk);
            if (!host || chunk == left)
                return vq_fail(m_index, "buffer 0x{:x}+0x{:x} is not in guest RAM", start, len);
        }
        iovs.push_back(iovec{host, chunk});
        gpa += chunk;
        left -= chunk;
    }
    return {};
}

Result<const uint8_t*> map_indirect_table(const memory::AddressSpace& memory, uint16_t index,
                                          const Desc& desc, uint32_t* count) {
    // 2.7.5.3.1 / 2.8.7: the table is a whole number of 16-byte descriptors; we also bound it
    // by the largest queue (Linux allocates at most one entry per scatter-gather element).
    if (desc.len == 0 || desc.len % kDescSize != 0)
        return vq_fail(index, "indirect table length {} is not a non-zero multiple of 16",
                       desc.len);
    if (desc.len / kDescSize > kMaxQueueSize)
        return vq_fail(index, "indirect table of {} descriptors exceeds {}",
                       desc.len / kDescSize, kMaxQueueSize);
    // The table must lie in one RAM range (Linux kmallocs it: physically contiguous).
    const uint8_t* table = desc.addr + desc.len < desc.addr ? nullptr
                                                             : memory.ram_ptr(desc.addr, desc.len);
    if (!table)
        return vq_fail(index, "indirect table 0x{:x}+0x{:x} is not in guest RAM", desc.addr,
                       desc.len);
    *count = desc.len / kDescSize;
    return table;
}

Result<uint8_t*> map_ring_area(const memory::AddressSpace& memory, uint16_t index,
                               const char* what, uint64_t gpa, uint64_t len, uint64_t align) {
    if (gpa % align != 0)
        return vq_fail(index, "{} at 0x{:x} is not aligned to {} bytes", what, gpa, align);
    uint8_t* host = gpa + len < gpa ? nullptr : memory.ram_ptr(gpa, len);
    if (!host) return vq_fail(index, "{} 0x{:x}+0x{:x} is not in guest RAM", what, gpa, len);
    return host;
}

} // namespace detail

bool Virtqueue::rearm_notification() {
    enable_notification(true);
    if (!has_available()) return false;
    enable_notification(false);
    return true;
}

Result<std::unique_ptr<Virtqueue>> Virtqueue::create(const memory::AddressSpace& memory,
                                                     const VirtqueueConfig& config,
                                                     const VirtqueueState& start) {
    if (config.size == 0 || config.size > kMaxQueueSize)
        return detail::vq_fail(config.index, "queue size {} is not in 1..{}", config.size,
                               kMaxQueueSize);
    if (start.in_flight != 0)
        return detail::vq_fail(config.index, "cannot resume with {} buffers in flight",
                               start.in_flight);
    if (config.packed) return detail::create_packed(memory, config, start);
    return detail::create_split(memory, config, start);
}

} // namespace nemu::hw::virtio
