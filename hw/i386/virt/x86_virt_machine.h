#pragma once
// The x86-64 `virt` board (docs/x86-virt-machine.md): KVM vCPUs with the in-kernel LAPIC and
// IOAPIC, RAM below 3 GiB and above 4 GiB, a 16550A at 0x3f8, the boot-timeline debug port
// at 0x80, a Generic Event Device with the ACPI hardware-reduced sleep/reset registers, and
// hardware-reduced ACPI tables; Linux is booted directly (bzImage or PVH). No ISA, PIC, PIT,
// CMOS, PS/2 or firmware. Under -accel qtest the same map exists without vCPUs, so devices
// can be driven through qtest.
// Thread: main loop; vCPU threads reach devices only through the address spaces, and report
// guest events through MachineHost.

#include <memory>
#include <vector>

#include "hw/core/device.h"
#include "hw/core/irq.h"
#include "hw/core/machine.h"

namespace nemu::kvm {
class KvmSystem;
class KvmVm;
class KvmVcpu;
class KvmMemoryListener;
class VcpuRunner;
namespace x86 {
class VcpuResetState;
}
} // namespace nemu::kvm

namespace nemu::acpi {
class Ged;
}

namespace nemu::hw::pci {
class PciPlatform;
class PciLiteHost;
} // namespace nemu::hw::pci

namespace nemu::hw {
class Serial16550;

class BootTimeline;
class DebugPort;
} // namespace nemu::hw

namespace nemu::hw::x86 {

// The memory map (docs/x86-virt-machine.md).
inline constexpr uint64_t kLowRamLimit = 0xC000'0000;   // 3 GiB: RAM above goes to 4 GiB
inline constexpr uint64_t kHighRamBase = 0x1'0000'0000;
inline constexpr uint64_t kGedBase = 0xFEA0'0000;
inline constexpr uint64_t kAcpiRegsBase = 0xFEA0'1000;
// pci-lite (the same places as QEMU microvm,pcie=on): ECAM for buses 0-255, a 32-bit MMIO
// window between low RAM and ECAM, and a 64-bit window at 768 GiB or above RAM and maxmem.
inline constexpr uint64_t kPciMmio32Base = 0xC000'0000;
inline constexpr uint64_t kPciMmio32Size = 0x2000'0000;   // 512 MiB
inline constexpr uint64_t kEcamBase = 0xE000'0000;
inline constexpr uint64_t kEcamSize = 0x1000'0000;        // 256 buses x 1 MiB
inline constexpr uint8_t kPciLastBus = 0;                  // the buses ACPI describes: pcie.0
inline constexpr uint64_t kPciMmio64MinBase = 0xC0'0000'0000;
inline constexpr uint64_t kPciMmio64Size = 0x40'0000'0000;   // 256 GiB
inline constexpr uint16_t kSerialPort = 0x3f8;
inline constexpr uint16_t kDebugPort = 0x80;
inline constexpr unsigned kSerialGsi = 4;
inline constexpr unsigned kGedGsi = 16;
inline constexpr unsigned kIoapicPins = 24;

class X86VirtMachine final : public Machine {
public:
    X86VirtMachine();
    ~X86VirtMachine() override;

    Result<> init(const MachineConfig& config) override;
    void set_running(bool running) override;
    Result<> reset() override;
    bool press_power_button() override;
    std::vector<CpuSlot> cpu_slots() const override;
    std::vector<TimelineMark> boot_timeline() const override;
    pci::PciBus* pci_root_bus() override;
    // Where the 64-bit PCI window starts for this RAM size and maxmem.
    uint64_t pci_mmio64_base() const;

private:
    class Events;
    Result<> build_ram(const MachineConfig& config);
    Result<> build_devices(const MachineConfig& config);
    Result<> create_vcpus(const MachineConfig& config);
    Result<> build_pci(const MachineConfig& config);
    void tear_down_pci();
    Result<> load_boot_state();
    void set_gsi(unsigned gsi, bool level);

    MachineHost* m_host = nullptr;
    std::string m_kernel_path, m_initrd_path, m_cmdline;
    uint64_t m_low_ram = 0, m_high_ram = 0;
    std::unique_ptr<memory::MemoryRegion> m_ram_below_4g, m_ram_above_4g;

    std::unique_ptr<BootTimeline> m_timeline;
    // The in-kernel IOAPIC as a QOM device (/machine/ioapic, QEMU's "kvm-ioapic"): its 24
    // gpio-in lines are the GSIs, so qtest's irq_intercept_in ioapic sees device interrupts.
    Device* m_ioapic = nullptr;
    IrqLine& gsi(unsigned n);
    std::unique_ptr<Serial16550> m_serial;
    std::unique_ptr<acpi::Ged> m_ged;
    std::unique_ptr<DebugPort> m_debug_port;
    std::vector<std::unique_ptr<memory::MemoryRegion>> m_device_regions;
    // pci-lite: the host bridge is a QOM child (/machine/unattached/device[N], as on microvm);
    // the platform (MSI delivery, ioeventfds) outlives every PCI device (tear_down_pci).
    std::unique_ptr<pci::PciPlatform> m_pci_platform;
    pci::PciLiteHost* m_pci_host = nullptr;

    // KVM (absent under qtest). Declared in construction order; destroyed in reverse, so the
    // vCPU threads stop before anything they touch goes away.
    std::unique_ptr<kvm::KvmSystem> m_kvm;
    std::unique_ptr<kvm::KvmVm> m_vm;
    std::unique_ptr<kvm::KvmMemoryListener> m_slots;
    std::vector<std::unique_ptr<kvm::KvmVcpu>> m_vcpus;
    std::vector<kvm::x86::VcpuResetState> m_vcpu_reset;
    std::vector<qom::Object*> m_cpu_objects;
    std::unique_ptr<Events> m_events;
    std::unique_ptr<kvm::VcpuRunner> m_runner;
};

void register_x86_virt_machine(qom::TypeRegistry& registry);

} // namespace nemu::hw::x86
