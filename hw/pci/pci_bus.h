#pragma once
// The root bus "pcie.0" (QEMU's root bus name on q35 and microvm,pcie=on): 32 slots x 8
// functions, device placement (addr=), BAR layout inside the host bridge's windows, and the
// configuration-space path from ECAM.
//
// BAR layout (direct boot, no firmware): Linux keeps every BAR that already lies inside a
// host bridge window (pci_bus_claim_resources), so plug() places each BAR itself, naturally
// aligned, 32-bit BARs in the MMIO32 window and 64-bit ones in the MMIO64 window.
//
// Threads: plug/unplug/reset on the main loop; config_read/config_write from vCPU threads.
// One mutex serializes the slot table and every configuration access (a slow path), including
// the BAR mapping changes they cause.

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "hw/pci/pci_device.h"
#include "util/result.h"

namespace nemu::memory {
class MemoryRegion;
}

namespace nemu::hw::pci {

class PciPlatform;

// [base, base + size) of guest-physical space given to BARs.
struct BarWindow {
    uint64_t base = 0;
    uint64_t size = 0;
};

class PciBus {
public:
    // BARs are mapped into `memory` (the machine's system memory) at their guest-physical
    // address; platform, memory and the devices must outlive the bus (or be unplugged).
    PciBus(std::string name, memory::MemoryRegion& memory, PciPlatform& platform,
           BarWindow mmio32, BarWindow mmio64);
    ~PciBus();
    PciBus(const PciBus&) = delete;
    PciBus& operator=(const PciBus&) = delete;

    const std::string& name() const { return m_name; }
    PciPlatform& platform() const { return m_platform; }
    memory::MemoryRegion& memory() const { return m_memory; }
    const BarWindow& mmio32() const { return m_mmio32; }
    const BarWindow& mmio64() const { return m_mmio64; }

    // Resolve dev.m_addr (auto: function 0 of the first free slot from 0), refuse a taken or
    // inconsistent address with QEMU's messages, attach, realize (dev.complete()), lay out the
    // BARs, and undo everything on failure.
    Result<> plug(PciDevice& dev);
    // Detach (BARs unmapped); the device is not destroyed.
    void unplug(PciDevice& dev);
    // Every plugged device in devfn order.
    std::vector<PciDevice*> devices() const;
    PciDevice* find(uint8_t devfn) const;
    // Machine reset: every device's reset().
    void reset();

    // Configuration access for ECAM: absent functions read all-ones, writes to them are
    // dropped. offset < 4096, size 1/2/4 naturally aligned (checked; otherwise all-ones/drop).
    uint32_t config_read(uint8_t devfn, uint32_t offset, unsigned size) const;
    void config_write(uint8_t devfn, uint32_t offset, uint32_t value, unsigned size);

private:
    friend class PciDevice;
    // ~PciDevice of a still-plugged device: clear the slot without touching its regions.
    void forget(PciDevice& dev);
    Result<uint8_t> choose_devfn(const PciDevice& dev) const;
    Result<> layout_bars(PciDevice& dev);
    Result<uint64_t> allocate(BarWindow& window, uint64_t& next, uint64_t size, const PciDevice& dev);

    std::string m_name;
    memory::MemoryRegion& m_memory;
    PciPlatform& m_platform;
    BarWindow m_mmio32, m_mmio64;
    uint64_t m_next32, m_next64;   // bump allocators (hotplug/unplug reuse: FIXME(#5))
    mutable std::recursive_mutex m_lock;
    std::array<PciDevice*, 256> m_devices{};
};

} // namespace nemu::hw::pci
