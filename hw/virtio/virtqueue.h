#pragma once
// One virtqueue as the device sees it (virtio 1.2, 2.7 split and 2.8 packed virtqueues):
// descriptor chains popped from the driver's ring, returned through the used/device ring,
// and the notification-suppression rules toward the driver (2.7.7/2.7.10, 2.8.10-2.8.21).
//
// The guest is hostile (STYLE.md rule 8): every index, length, address and chain is checked
// where it is read. A violation — a descriptor loop, a chain longer than the queue (or than
// kMaxChainBytes), an address outside guest RAM, an indirect table inside an indirect table,
// an avail index that moves more than the queue size, a used-buffer id the device never
// popped — returns an Error whose message names the queue and the rule; the device then
// marks itself NEEDS_RESET (virtio 1.2, 2.1.2) and stops touching the queue. Nothing here
// asserts on guest data or allocates more than the bounds below.
//
// Thread: one thread at a time (the device's: the main loop or its iothread).

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "util/result.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::virtio {

// The largest queue a transport offers (virtio 1.2, 2.7: split queue sizes are powers of two
// up to 32768; packed queues any size up to 32768).
inline constexpr uint16_t kMaxQueueSize = 32768;
// The bytes one chain may describe; larger chains are a driver error (bounds our iovecs and
// any bounce buffers; Linux never builds chains near this).
inline constexpr uint64_t kMaxChainBytes = 1ull << 32;

// What the driver wrote to the transport's queue registers before DRIVER_OK.
struct VirtqueueConfig {
    uint16_t index = 0;          // the queue's number, for messages
    uint16_t size = 0;           // queue_size as negotiated
    uint64_t desc = 0;           // descriptor area (split: table, packed: ring)
    uint64_t driver = 0;         // driver area (split: avail ring, packed: driver event suppression)
    uint64_t device = 0;         // device area (split: used ring, packed: device event suppression)
    bool packed = false;         // VIRTIO_F_RING_PACKED negotiated
    bool event_idx = false;      // VIRTIO_F_EVENT_IDX negotiated
    bool indirect = false;       // VIRTIO_F_INDIRECT_DESC negotiated
};

// One request: the chain's buffers in host memory, device-readable ones first (2.7.4.2: a
// device-readable descriptor after a device-writable one is a driver error).
struct DescChain {
    uint16_t id = 0;             // split: head index; packed: buffer id
    uint16_t ring_slots = 0;     // packed: descriptors the chain used in the ring; split: 1
    std::vector<iovec> readable;
    std::vector<iovec> writable;
    uint64_t readable_bytes = 0;
    uint64_t writable_bytes = 0;
};

// Ring positions, for reset and (later) migration: plain data.
struct VirtqueueState {
    uint16_t next_avail = 0;     // split: last_avail_idx; packed: next descriptor slot
    uint16_t next_used = 0;      // split: used->idx shadow; packed: next used slot
    bool avail_wrap = true;      // packed: wrap counters (2.8.1), start at 1
    bool used_wrap = true;
    uint16_t in_flight = 0;      // popped but not pushed
};

class Virtqueue {
public:
    // Checks the configuration (size a power of two for split queues, areas aligned as 2.7/2.8
    // require and lying wholly inside guest RAM) and keeps host pointers to the areas.
    // `start` resumes at saved ring positions (tests start near the 16-bit wrap; later,
    // migration); it must have nothing in flight (FIXME(#5): in-flight ids for migration).
    static Result<std::unique_ptr<Virtqueue>> create(const memory::AddressSpace& memory,
                                                     const VirtqueueConfig& config,
                                                     const VirtqueueState& start = {});
    virtual ~Virtqueue() = default;

    // The next available chain; nullopt when the driver has made none available.
    virtual Result<std::optional<DescChain>> pop() = 0;
    // Give a popped chain back with `written` bytes written into its writable buffers
    // (clamped to what it offered). Makes it visible to the driver (release ordering).
    virtual Result<> push(const DescChain& chain, uint32_t written) = 0;
    // After one or more push()es: whether the driver wants an interrupt now (split: the
    // avail ring's NO_INTERRUPT flag or used_event; packed: the driver event suppression).
    virtual bool should_notify() = 0;
    // Device-side suppression toward the driver: false asks the driver not to kick (used
    // flags / avail_event / device event suppression) while the device is busy polling.
    virtual void enable_notification(bool enabled) = 0;
    // Whether pop() would find something, without consuming it.
    virtual bool has_available() = 0;
    // Ends a pass that ran with notifications off and found the queue empty (2.7.10 /
    // 2.8.21): re-enables them, then looks once more, since a chain made available before
    // the driver saw them on would otherwise wait for the next kick. True if there is one:
    // notifications are off again and the caller goes on popping.
    bool rearm_notification();

    virtual const VirtqueueConfig& config() const = 0;
    virtual VirtqueueState state() const = 0;
};

} // namespace nemu::hw::virtio
