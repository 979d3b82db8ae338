#pragma once
// The modern virtio-pci transport (virtio 1.2, 4.1): a PCI function that wraps one
// VirtioDevice ("virtio-rng-pci" wraps "virtio-rng-device", as in QEMU) and owns everything a
// driver touches — the vendor capabilities, the common configuration structure and its status
// life cycle, the ISR, the notify doorbells, MSI-X and the virtqueues.
//
// Layout (QEMU 7.2's, so a guest sees the same function): BAR 1 (32-bit, 4 KiB) holds the
// MSI-X table at 0 and the PBA at 0x800; BAR 4 (64-bit prefetchable, 16 KiB) holds common
// config at 0x0, ISR at 0x1000, device config at 0x2000 and the notify area at 0x3000 with a
// notify_off_multiplier of 4 (queue N's doorbell is at 0x3000 + 4N). Modern only: device id
// 0x1040 + virtio id, revision 1 (4.1.2.1); there is no legacy I/O BAR and no INTx.
//
// Threads: the registers are written by vCPU threads (MMIO exits), serialized by m_lock.
// Life-cycle transitions that touch the device (activate on DRIVER_OK, deactivate on reset)
// run on the main loop; until a reset has finished there, device_status keeps reading non-zero,
// which is what a driver waits for (4.1.4.3.2). Doorbells are eventfds: KVM's ioeventfd rings
// them without an exit; a write that reaches the notify MMIO handler rings the same fd.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hw/memory/memory_region.h"
#include "hw/pci/pci_device.h"
#include "hw/virtio/virtio_device.h"
#include "util/event_fd.h"

namespace nemu::hw::virtio {

class Virtqueue;

class VirtioPciDevice : public pci::PciDevice, private VirtioInterrupt {
public:
    static constexpr uint16_t kNoVector = 0xFFFF;   // VIRTIO_MSI_NO_VECTOR (4.1.4.3)

    VirtioPciDevice();
    ~VirtioPciDevice() override;

    // Set once by the type's factory: the wrapped device, also the QOM child "virtio-backend".
    void set_backend(VirtioDevice* vdev) { m_vdev = vdev; }
    VirtioDevice& backend() const { return *m_vdev; }
    // The PCI class code of the wrapped device (QEMU's per-device choice).
    uint32_t m_class_code = 0xFF0000;

    // Properties (QEMU's virtio-pci names).
    uint32_t m_vectors = 2;          // "vectors": MSI-X table size
    bool m_ioeventfd = true;         // "ioeventfd": doorbells through KVM ioeventfds
    std::string m_disable_legacy = "auto";   // "disable-legacy": nemu is modern-only
    bool m_disable_modern = false;           // "disable-modern": must stay off
    // The ring features offered on top of the device's (QEMU's per-device "event_idx",
    // "indirect_desc", "packed" properties; packed is off by default in QEMU 7.2, as here).
    bool m_event_idx = true, m_indirect_desc = true, m_packed = false;

    // Device reset (machine reset, unplug): synchronous, main loop.
    void reset() override;
    uint32_t config_read(uint32_t offset, unsigned size) override;
    void config_write(uint32_t offset, uint32_t value, unsigned size) override;

protected:
    Result<> realize() override;
    void bar_mapped(unsigned index, uint64_t gpa) override;
    void bar_unmapped(unsigned index, uint64_t gpa) override;

private:
    class CommonCfg;
    class IsrCfg;
    class DeviceCfg;
    class NotifyCfg;
    friend class CommonCfg;
    friend class IsrCfg;
    friend class DeviceCfg;
    friend class NotifyCfg;

    struct QueueRegs {
        uint16_t size = 0;
        uint16_t max_size = 0;
        uint16_t vector = kNoVector;
        bool enabled = false;
        uint64_t desc = 0, driver = 0, device = 0;
    };

    // VirtioInterrupt (the device's serving thread).
    void notify_queue(uint16_t queue) override;
    void notify_config() override;
    const EventFd* queue_irqfd(uint16_t queue) override;
    void set_irqfd_listener(std::function<void()> on_change) override;
    void irqfd_changed();

    uint64_t read_common(uint64_t offset, unsigned size);
    void write_common(uint64_t offset, uint64_t value, unsigned size);
    void write_status(uint8_t status);
    void reset_registers_locked();
    void start_on_main_loop();
    void stop_on_main_loop();
    void deactivate_now();
    void mark_broken(const std::string& why);
    void signal_vector(uint16_t vector, uint8_t isr_bit);
    void map_doorbells(uint64_t bar_gpa);
    bool pci_cfg_access(uint32_t offset, unsigned size, uint32_t* value, bool write);
    void unmap_doorbells();

    VirtioDevice* m_vdev = nullptr;
    uint64_t m_host_features = 0;
    uint8_t m_pcicfg_cap = 0;

    std::mutex m_lock;   // the register state below
    uint32_t m_device_feature_select = 0, m_driver_feature_select = 0;
    uint64_t m_driver_features = 0;
    uint8_t m_status = 0;
    uint16_t m_config_vector = kNoVector;
    uint16_t m_queue_select = 0;
    std::vector<QueueRegs> m_queues;
    bool m_reset_pending = false;   // status 0 written; the main loop has not finished it

    std::atomic<uint8_t> m_config_generation{0};
    std::atomic<uint8_t> m_isr{0};
    std::atomic<bool> m_needs_reset{false};
    std::atomic<uint64_t> m_broken_logs{0};

    // Held while the listener runs, so removing it waits for a running call.
    std::mutex m_irqfd_lock;
    std::function<void()> m_irqfd_listener;

    // Main loop only.
    bool m_active = false;
    std::vector<std::unique_ptr<Virtqueue>> m_rings;
    std::vector<EventFd> m_kicks;   // one per queue, created at realize
    uint64_t m_doorbell_gpa = 0;    // where the ioeventfds are, 0: none
    // Posted main-loop work checks this token, so a device that is gone is never touched.
    std::shared_ptr<VirtioPciDevice*> m_alive;

    std::unique_ptr<CommonCfg> m_common_handler;
    std::unique_ptr<IsrCfg> m_isr_handler;
    std::unique_ptr<DeviceCfg> m_device_handler;
    std::unique_ptr<NotifyCfg> m_notify_handler;
    std::unique_ptr<memory::MemoryRegion> m_modern_bar, m_msix_bar;
    std::vector<std::unique_ptr<memory::MemoryRegion>> m_modern_parts;
};

// Registers "<proxy_type>" (a VirtioPciDevice wrapping a new `backend_type`), with the
// transport's properties followed by the backend type's own, as QEMU's device-list-properties
// shows them. class_code: the PCI class of the function (e.g. 0x00ff00 for rng).
void register_virtio_pci_type(qom::TypeRegistry& registry, std::string proxy_type, std::string backend_type,
                              uint32_t class_code, uint32_t default_vectors, std::string description,
                              std::string category);
// The abstract "virtio-device" and "virtio-pci" types: before any device type.
void register_virtio_pci_types(qom::TypeRegistry& registry);
// "<dev>-pci" for every "<dev>-device" type registered so far: after the device types.
void register_virtio_pci_proxies(qom::TypeRegistry& registry);

} // namespace nemu::hw::virtio
