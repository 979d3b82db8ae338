#pragma once
// The transport-agnostic half of a virtio device (virtio 1.2, sections 2 and 3): what the
// device offers (id, features, queues, config space) and what it does once the driver set
// DRIVER_OK. The transport (virtio_pci.cpp) owns the registers, the status life cycle, the
// queues and the interrupts; a device never sees a register.
//
// Life cycle: the transport calls activate() once the driver set DRIVER_OK with every queue it
// enabled, deactivate() on a device reset (status 0, a machine reset, unplug). Between the two
// the device serves its queues on the thread it chooses (the main loop or an iothread) and
// calls `interrupt` from that thread. deactivate() returns only when the device has stopped
// touching the queues and memory: the transport destroys them right after.
//
// A driver that breaks the rules (an invalid chain, a bad request header) is reported through
// VirtioActivation::broken: the transport sets DEVICE_NEEDS_RESET and raises a configuration
// change interrupt (2.1.2); the VMM and other devices carry on.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hw/core/device.h"
#include "util/result.h"

namespace nemu {
class EventLoop;
class EventFd;
} // namespace nemu

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::virtio {

class Virtqueue;

// Device status bits (virtio 1.2, 2.1).
inline constexpr uint8_t kStatusAcknowledge = 1;
inline constexpr uint8_t kStatusDriver = 2;
inline constexpr uint8_t kStatusDriverOk = 4;
inline constexpr uint8_t kStatusFeaturesOk = 8;
inline constexpr uint8_t kStatusNeedsReset = 0x40;
inline constexpr uint8_t kStatusFailed = 0x80;

// Reserved feature bits (virtio 1.2, 6) as bit numbers.
inline constexpr unsigned kFeatureIndirectDesc = 28;
inline constexpr unsigned kFeatureEventIdx = 29;
inline constexpr unsigned kFeatureVersion1 = 32;
inline constexpr unsigned kFeatureAccessPlatform = 33;
inline constexpr unsigned kFeatureRingPacked = 34;
inline constexpr unsigned kFeatureInOrder = 35;
inline constexpr unsigned kFeatureNotificationData = 38;
inline constexpr uint64_t feature_bit(unsigned n) { return 1ull << n; }

// Device IDs (virtio 1.2, 5).
inline constexpr uint16_t kDeviceIdNet = 1;
inline constexpr uint16_t kDeviceIdBlock = 2;
inline constexpr uint16_t kDeviceIdConsole = 3;
inline constexpr uint16_t kDeviceIdEntropy = 4;

// The transport's interrupt half. Thread: the device's serving thread (any thread: MSI-X
// goes to an irqfd or a memory write).
struct VirtioInterrupt {
    virtual ~VirtioInterrupt() = default;
    virtual void notify_queue(uint16_t queue) = 0;   // used buffers on `queue`
    virtual void notify_config() = 0;                // the device config changed (2.4.2)

    // For a datapath outside nemu (vhost's call fd), QEMU's irqfd guest notifier: the eventfd
    // that raises `queue`'s interrupt without a step through nemu (KVM: the irqfd of its MSI-X
    // vector) while that interrupt may be delivered now; nullptr when there is none — no such
    // platform (qtest), NO_VECTOR, MSI-X off, the vector or the function masked. Then the
    // datapath must signal an eventfd of its own that ends in notify_queue, which sets the
    // pending bit while masked. Signalling the irqfd skips the ISR bit, which only INTx
    // drivers read (4.1.4.5). Thread: any.
    virtual const EventFd* queue_irqfd(uint16_t queue) { (void)queue; return nullptr; }
    // `on_change` runs after anything that may change a queue_irqfd answer (a vector masked or
    // unmasked, MSI-X enabled or function-masked, a queue's vector written, a reset), on the
    // thread that made the change — a vCPU's for a guest write, so the holder has switched
    // before the guest's next instruction. It may call queue_irqfd and notify_queue, not
    // set_irqfd_listener. One listener; an empty function removes it and returns only once no
    // call is running. Thread: any.
    virtual void set_irqfd_listener(std::function<void()> on_change) { (void)on_change; }
};

// One queue the driver enabled: the ring and the doorbell the transport rings on a driver
// notification (a KVM ioeventfd, or the notify register's MMIO handler under qtest).
struct ActiveQueue {
    uint16_t index = 0;
    Virtqueue* queue = nullptr;
    const EventFd* kick = nullptr;
};

struct VirtioActivation {
    uint64_t features = 0;                 // negotiated (driver-acked) features
    std::vector<ActiveQueue> queues;       // the enabled queues, in index order
    VirtioInterrupt* interrupt = nullptr;
    const memory::AddressSpace* memory = nullptr;   // guest memory for buffers
    EventLoop* main_loop = nullptr;
    // The driver broke the rules: message for the log (rate-limited by the transport).
    // Callable from the serving thread.
    std::function<void(const std::string&)> broken;
};

class VirtioDevice : public hw::Device {
public:
    virtual uint16_t device_id() const = 0;
    // Device-specific feature bits plus the reserved ones the device supports besides those
    // the transport adds itself (VERSION_1, RING_PACKED, EVENT_IDX, INDIRECT_DESC).
    virtual uint64_t device_features() const = 0;
    // The transport's whole offer (device_features() plus the ring features it adds): a device
    // whose datapath cannot serve them all drops some (vhost-net: what the kernel lacks, e.g.
    // RING_PACKED, as QEMU's vhost feature mask). VERSION_1 must stay.
    virtual uint64_t filter_features(uint64_t offered) const { return offered; }
    // One entry per queue: its maximum size.
    virtual std::vector<uint16_t> queue_max_sizes() const = 0;
    // MSI-X vectors when the transport's "vectors" is left unset (after realize): one per
    // queue plus the configuration vector, as QEMU sizes virtio-blk-pci (num-queues + 1).
    virtual uint32_t default_msix_vectors() const { return static_cast<uint32_t>(queue_max_sizes().size() + 1); }
    // Device-specific configuration space (virtio 1.2, 4.1.4.6), little-endian.
    virtual uint32_t config_size() const { return 0; }
    virtual void read_config(uint32_t /*offset*/, std::span<uint8_t> out) const { std::fill(out.begin(), out.end(), 0); }
    virtual void write_config(uint32_t offset, std::span<const uint8_t> in) { (void)offset, (void)in; }
    // The driver set FEATURES_OK with `features`: an error refuses the combination (the
    // transport then leaves FEATURES_OK clear, 3.1.1 step 6).
    virtual Result<> check_features(uint64_t features) { (void)features; return {}; }
    virtual Result<> activate(const VirtioActivation& activation) = 0;
    virtual void deactivate() = 0;
};

} // namespace nemu::hw::virtio
