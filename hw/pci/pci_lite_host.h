#pragma once
// pci-lite's PCIe host bridge: an ECAM window (PCI Express Base 4.0, 7.2.2: address =
// bus << 20 | device << 15 | function << 12 | register) over the root bus "pcie.0", with the
// host bridge function itself at 00.0 (QEMU's "gpex-root": vendor 0x1b36 Red Hat, device
// 0x0008 "PCIe host bridge", class 0x0600). Only bus 0 exists; every other bus reads
// all-ones. No I/O window, no INTx: devices interrupt through MSI-X.
//
// QOM: "gpex-pcihost" (QEMU's generic PCIe host type; microvm,pcie=on puts it at
// /machine/unattached/device[N]) with the child "gpex_root" of type "gpex-root".
// Threads: ECAM accesses from vCPU threads (PciBus locks); construction on the main loop.

#include <cstdint>
#include <memory>

#include "hw/core/device.h"
#include "hw/memory/memory_region.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"

namespace nemu::hw::pci {

inline constexpr uint64_t kEcamBusShift = 20;
inline constexpr uint64_t kEcamBusSize = uint64_t{1} << kEcamBusShift;   // 1 MiB per bus

// The function at 00.0 (QEMU's gpex-root): identity only, no BARs.
class PciHostBridgeFunction final : public PciDevice {
public:
    PciHostBridgeFunction() = default;   // conventional, no capabilities (QEMU's gpex-root)

protected:
    Result<> realize() override;
};

// The ECAM MMIO handler over one bus (bus 0); other buses float high.
class EcamHandler final : public memory::MmioHandler {
public:
    explicit EcamHandler(PciBus& bus) : m_bus(bus) {}
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

private:
    PciBus& m_bus;
};

class PciLiteHost final : public hw::Device {
public:
    PciLiteHost();
    ~PciLiteHost() override;

    // Create the root bus over the windows, plug the host bridge function at 00.0 (created
    // through the registry as "gpex-root" and added as QOM child "gpex_root"), and build the
    // ECAM region (`ecam_size` bytes, a multiple of 1 MiB) for the board to map. Call once,
    // after this object is in the QOM tree.
    Result<> setup(memory::MemoryRegion& system_memory, PciPlatform& platform, BarWindow mmio32,
                   BarWindow mmio64, uint64_t ecam_size);

    PciBus& bus() { return *m_bus; }
    memory::MemoryRegion& ecam() { return *m_ecam; }

private:
    std::unique_ptr<PciBus> m_bus;
    std::unique_ptr<EcamHandler> m_ecam_handler;
    std::unique_ptr<memory::MemoryRegion> m_ecam;
};

// "gpex-pcihost" and "gpex-root" (plus "pci-device" through register_pci_device_type).
void register_pci_lite_types(qom::TypeRegistry& registry);

} // namespace nemu::hw::pci
