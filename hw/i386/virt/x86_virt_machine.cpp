#include "hw/i386/virt/x86_virt_machine.h"

#include <algorithm>

#include <fmt/format.h>

#include "accel/kvm/kvm_pci_platform.h"
#include "accel/kvm/kvm_system.h"
#include "accel/kvm/kvm_vcpu.h"
#include "accel/kvm/kvm_vm.h"
#include "accel/kvm/vcpu_runner.h"
#include "accel/kvm/x86/x86_cpuid.h"
#include "accel/kvm/x86/x86_vcpu_state.h"
#include "hw/acpi/ged.h"
#include "hw/acpi/x86_virt_acpi.h"
#include "hw/char/serial_16550.h"
#include "hw/core/loader/linux_loader.h"
#include "hw/i386/virt/x86_cpu.h"
#include "hw/misc/boot_timeline.h"
#include "hw/misc/debug_port.h"
#include "hw/acpi/pci_host_acpi.h"
#include "hw/pci/pci_lite_host.h"
#include "hw/pci/qtest_pci_platform.h"

namespace nemu::hw::x86 {

// vCPU threads report here; everything is forwarded to the VM, which queues it on the main loop.
class X86VirtMachine::Events final : public kvm::VcpuEvents {
public:
    Events(MachineHost* host, BootTimeline& timeline) : m_host(host), m_timeline(timeline) {}
    void first_entry() override { m_timeline.mark("first-vcpu-entry"); }
    void guest_poweroff(unsigned) override {
        if (m_host) m_host->guest_poweroff();
    }
    void guest_reset(unsigned) override {
        if (m_host) m_host->guest_reset();
    }
    void internal_error(unsigned cpu, const std::string& report) override {
        if (m_host) m_host->guest_internal_error(fmt::format("vCPU {}: {}", cpu, report));
    }

private:
    MachineHost* m_host;
    BootTimeline& m_timeline;
};

X86VirtMachine::X86VirtMachine() : m_timeline(std::make_unique<BootTimeline>(process_start_ns())) {}

IrqLine& X86VirtMachine::gsi(unsigned n) { return *m_ioapic->m_gpios.in("", n); }

X86VirtMachine::~X86VirtMachine() {
    m_runner.reset();   // stop and join vCPU threads first
    tear_down_pci();
    if (m_slots) address_space_memory().remove_listener(*m_slots);
    for (auto& r : m_device_regions)
        if (r->parent()) const_cast<memory::MemoryRegion*>(r->parent())->remove_subregion(*r);
    if (m_ram_above_4g) system_memory().remove_subregion(*m_ram_above_4g);
    if (m_ram_below_4g) system_memory().remove_subregion(*m_ram_below_4g);
}

void X86VirtMachine::set_gsi(unsigned gsi, bool level) {
    // Called from vCPU threads (device registers) and the main loop (chardev input).
    if (m_vm) (void)m_vm->set_irq_line(gsi, level);
}

Result<> X86VirtMachine::build_ram(const MachineConfig& config) {
    m_ram_size = config.ram_size_given ? config.ram_size : class_data().default_ram_size;
    if (config.ram_backing) {
        m_ram = memory::MemoryRegion::ram_from_host(config.ram_backing->id, config.ram_backing->host, config.ram_backing->size);
        m_ram_size = config.ram_backing->size;
    } else {
        m_ram = TRY(memory::MemoryRegion::ram(class_data().default_ram_id, m_ram_size));
    }
    if (m_ram_size < 16 * 1024 * 1024) return fail("the x86 virt machine needs at least 16 MiB of RAM");
    m_low_ram = std::min(m_ram_size, kLowRamLimit);
    m_high_ram = m_ram_size - m_low_ram;
    // QEMU's names for the two windows onto the one RAM block (info mtree).
    m_ram_below_4g = memory::MemoryRegion::alias("ram-below-4g", *m_ram, 0, m_low_ram);
    system_memory().add_subregion(0, *m_ram_below_4g);
    if (m_high_ram) {
        m_ram_above_4g = memory::MemoryRegion::alias("ram-above-4g", *m_ram, m_low_ram, m_high_ram);
        system_memory().add_subregion(kHighRamBase, *m_ram_above_4g);
    }
    return {};
}

Result<> X86VirtMachine::build_devices(const MachineConfig& config) {
    m_serial = std::make_unique<Serial16550>(gsi(kSerialGsi));
    chardev::Chardev* serial0 = config.serials.empty() ? nullptr : config.serials[0];
    if (serial0) TRY(m_serial->attach(serial0, config.post_to_main_loop));
    auto serial_region = memory::MemoryRegion::mmio("serial", Serial16550::kRegCount, *m_serial, Serial16550::kAccessRules);
    system_io().add_subregion(kSerialPort, *serial_region);
    m_device_regions.push_back(std::move(serial_region));

    m_debug_port = std::make_unique<DebugPort>(*m_timeline);
    auto debug_region = memory::MemoryRegion::mmio("boot-timeline-port", 1, *m_debug_port, {1, 1, false});
    system_io().add_subregion(kDebugPort, *debug_region);
    m_device_regions.push_back(std::move(debug_region));

    MachineHost* host = m_host;
    m_ged = std::make_unique<acpi::Ged>(gsi(kGedGsi), [host] { if (host) host->guest_poweroff(); },
                                  [host] { if (host) host->guest_reset(); });
    auto ged_region = memory::MemoryRegion::mmio("acpi-ged", 4, m_ged->event_handler(), {4, 4, false});
    system_memory().add_subregion(kGedBase, *ged_region);
    m_device_regions.push_back(std::move(ged_region));
    auto regs_region = memory::MemoryRegion::mmio("acpi-ged-regs", 3, m_ged->regs_handler(), {1, 1, false});
    system_memory().add_subregion(kAcpiRegsBase, *regs_region);
    m_device_regions.push_back(std::move(regs_region));
    return {};
}

uint64_t X86VirtMachine::pci_mmio64_base() const {
    uint64_t top = kHighRamBase + m_high_ram;
    if (m_maxmem > m_ram_size) top += m_maxmem - m_ram_size;   // room for memory hotplug
    constexpr uint64_t kGiB = uint64_t{1} << 30;
    return std::max(kPciMmio64MinBase, (top + kGiB - 1) & ~(kGiB - 1));
}

Result<> X86VirtMachine::build_pci(const MachineConfig& config) {
    if (!config.main_loop) return {};   // a board built without a VM loop (unit tests): no PCI
    // KVM: MSI-X vectors are GSI routes + irqfds, doorbells ioeventfds. qtest: an MSI is a
    // memory write, as qtest drivers expect, and doorbells go through the MMIO handlers.
    if (m_vm) m_pci_platform = TRY(kvm::KvmPciPlatform::create(*m_vm, address_space_memory(), *config.main_loop));
    else m_pci_platform = std::make_unique<pci::QtestPciPlatform>(address_space_memory(), *config.main_loop);
    Object& unattached = container("unattached");
    auto obj = TRY(registry().create("gpex-pcihost"));
    // QEMU numbers anonymous devices under /machine/unattached as device[N] (after the CPUs).
    std::string name = fmt::format("device[{}]", unattached.children().size());
    auto* host = static_cast<pci::PciLiteHost*>(TRY(unattached.add_child(name, std::move(obj))));
    TRY(host->complete());
    m_pci_host = host;
    TRY(host->setup(system_memory(), *m_pci_platform, {kPciMmio32Base, kPciMmio32Size},
                    {pci_mmio64_base(), kPciMmio64Size}, kEcamSize));
    system_memory().add_subregion(kEcamBase, host->ecam());
    return {};
}

// PCI devices (QOM children of /machine/peripheral*, and the host bridge) go before the
// platform, the KVM VM and system memory they use: the QOM tree itself is destroyed only after
// every member of the board.
void X86VirtMachine::tear_down_pci() {
    if (!m_pci_host) return;
    remove_child("peripheral");
    remove_child("peripheral-anon");
    if (Object* parent = m_pci_host->parent())
        (void)parent->remove_child(m_pci_host->name());   // destroys the host and gpex_root
    m_pci_host = nullptr;
}

pci::PciBus* X86VirtMachine::pci_root_bus() { return m_pci_host ? &m_pci_host->bus() : nullptr; }

Result<> X86VirtMachine::create_vcpus(const MachineConfig& config) {
    auto model = TRY(kvm::x86::parse_cpu_model(config.cpu_model));
    kvm::x86::CpuTopology topo{m_smp.sockets, m_smp.dies, m_smp.cores, m_smp.threads};
    unsigned count = m_smp.cpus ? m_smp.cpus : 1;
    if (count > m_kvm->max_vcpus())
        return fail("Number of SMP cpus requested ({}) exceeds the recommended cpus supported by KVM ({})", count, m_kvm->max_vcpus());
    Object& unattached = container("unattached");
    for (unsigned i = 0; i < count; ++i) {
        uint32_t apic_id = kvm::x86::x86_apic_id(topo, i);
        // The in-kernel LAPIC takes its APIC ID from the vCPU id.
        auto vcpu = TRY(kvm::KvmVcpu::create(*m_vm, apic_id));
        auto cpuid = kvm::x86::build_guest_cpuid(m_kvm->supported_cpuid(), topo, i, model.toggles);
        if (i == 0)
            for (const auto& w : cpuid.warnings) std::fprintf(stderr, "nemu-system-x86_64: warning: %s\n", w.c_str());
        TRY(vcpu->set_cpuid(cpuid.entries));
        TRY(kvm::x86::set_power_on_state(*vcpu, i == 0));
        m_vcpu_reset.push_back(TRY(kvm::x86::VcpuResetState::capture(*vcpu)));
        m_vcpus.push_back(std::move(vcpu));

        auto obj = TRY(registry().create(model.model + "-x86_64-cpu"));
        auto* cpu = static_cast<X86Cpu*>(obj.get());
        auto pos = kvm::x86::cpu_position(topo, i);
        cpu->m_apic_id = apic_id;
        cpu->m_socket_id = static_cast<int32_t>(pos.socket);
        cpu->m_die_id = static_cast<int32_t>(pos.die);
        cpu->m_core_id = static_cast<int32_t>(pos.core);
        cpu->m_thread_id = static_cast<int32_t>(pos.thread);
        // QEMU numbers anonymous devices under /machine/unattached as device[N].
        size_t n = unattached.children().size();
        Object* added = TRY(unattached.add_child(fmt::format("device[{}]", n), std::move(obj)));
        TRY(added->complete());
        m_cpu_objects.push_back(added);
    }
    return {};
}

namespace {

// What sits at the x86 reset vector (F000:FFF0). There is no firmware, but Linux on a
// hardware-reduced ACPI machine without EFI reboots through it: reboot_init() picks
// BOOT_EFI (efi_reboot_required() is true for HW_REDUCED_ACPI), which falls back to
// BOOT_BIOS, i.e. machine_real_restart() jumping to F000:FFF0 in real mode. The stub loads an
// empty IDT and raises int3: a triple fault, which KVM reports as a shutdown and the machine
// turns into a reset. Without it the vCPU executed zeros there forever.
constexpr uint64_t kResetVector = 0xFFFF0;
constexpr uint64_t kEmptyIdtDescriptor = 0xFFFE0;   // limit 0, base 0 (6 bytes)
constexpr uint8_t kResetStub[] = {
    0xFA,                               // cli
    0x2E, 0x0F, 0x01, 0x1E, 0xE0, 0xFF, // lidt cs:[0xFFE0]
    0xCC,                               // int3 -> #GP -> #DF -> triple fault
    0xF4,                               // hlt (not reached)
};

} // namespace

Result<> X86VirtMachine::load_boot_state() {
    const memory::AddressSpace& mem = address_space_memory();
    uint8_t empty_idt[6] = {};
    if (mem.write(kEmptyIdtDescriptor, empty_idt) != memory::MemTxResult::Ok ||
        mem.write(kResetVector, kResetStub) != memory::MemTxResult::Ok)
        return fail("cannot place the reset vector stub in guest RAM");
    acpi::X86VirtAcpiConfig acpi_cfg;
    kvm::x86::CpuTopology topo{m_smp.sockets, m_smp.dies, m_smp.cores, m_smp.threads};
    unsigned possible = std::max(m_smp.maxcpus, m_smp.cpus ? m_smp.cpus : 1);
    for (unsigned i = 0; i < possible; ++i) acpi_cfg.apic_ids.push_back(kvm::x86::x86_apic_id(topo, i));
    acpi_cfg.present_cpus = m_smp.cpus ? m_smp.cpus : 1;
    acpi_cfg.uart_io = kSerialPort;
    acpi_cfg.uart_gsi = kSerialGsi;
    acpi_cfg.ged_base = kGedBase;
    acpi_cfg.ged_gsi = kGedGsi;
    acpi_cfg.acpi_regs_base = kAcpiRegsBase;
    if (m_pci_host) {
        // MCFG and _CRS describe bus 0 only, the one bus pci-lite has (the ECAM window still
        // decodes 256 buses, the others as absent, and e820 reserves all of it). With 256
        // buses described, Linux sets pcibios_last_bus to 255 and its peer-bridge fixup reads
        // a vendor ID at every slot of buses 1-255 (arch/x86/pci/legacy.c): ~8000 ECAM exits,
        // 0.7 s of a nested-KVM boot.
        acpi::PciHostAcpiConfig pci{.ecam_base = kEcamBase, .bus_start = 0, .bus_end = kPciLastBus,
                                    .mmio32_base = kPciMmio32Base, .mmio32_size = kPciMmio32Size,
                                    .mmio64_base = pci_mmio64_base(), .mmio64_size = kPciMmio64Size};
        acpi_cfg.extra_sb_devices.push_back(TRY(acpi::build_pci0_device(pci)));
        acpi_cfg.extra_tables.push_back(TRY(acpi::build_mcfg(pci)));
    }
    for (const auto& blob : TRY(acpi::build_x86_virt_acpi(acpi_cfg)))
        if (mem.write(blob.gpa, blob.bytes) != memory::MemTxResult::Ok) return fail("cannot place the ACPI tables in guest RAM");

    loader::BootRequest req;
    req.kernel = m_kernel_path;
    req.initrd = m_initrd_path;
    req.cmdline = m_cmdline;
    req.low_ram_end = m_low_ram;
    req.e820 = loader::x86_virt_e820(m_low_ram, m_high_ram);
    if (m_pci_host) {
        // ECAM reserved in e820 as well as in ACPI (RES0): Linux's early MMCONFIG check
        // (pci_mmcfg_reserved with early=1, arch/x86/pci/mmconfig-shared.c) looks at e820.
        loader::E820Entry ecam{kEcamBase, kEcamSize, loader::kE820Reserved};
        auto at = std::find_if(req.e820.begin(), req.e820.end(), [](const auto& e) { return e.addr > kEcamBase; });
        req.e820.insert(at, ecam);
    }
    req.rsdp_gpa = acpi_cfg.rsdp_gpa;
    auto entry = TRY(loader::load_linux(req, address_space_memory()));
    auto mode = entry.mode == loader::EntryMode::Long64 ? kvm::x86::BootMode::Long64 : kvm::x86::BootMode::Protected32;
    TRY(kvm::x86::write_boot_tables(mem, mode));
    if (!m_vcpus.empty()) TRY(kvm::x86::set_boot_registers(*m_vcpus[0], {mode, entry.entry, entry.params_gpa}));
    m_timeline->mark("kernel-loaded");
    return {};
}

Result<> X86VirtMachine::init(const MachineConfig& config) {
    m_host = config.host;
    m_kernel_path = config.kernel;
    m_initrd_path = config.initrd;
    m_cmdline = config.append;
    TRY(build_ram(config));
    auto ioapic = TRY(registry().create("kvm-ioapic"));
    m_ioapic = static_cast<Device*>(TRY(add_child("ioapic", std::move(ioapic))));
    m_ioapic->m_gpios.add_in("", kIoapicPins, [this](unsigned n, bool level) { set_gsi(n, level); });
    TRY(m_ioapic->complete());
    TRY(build_devices(config));
    if (config.accel != "kvm") {
        TRY(build_pci(config));
        m_timeline->mark("machine-ready");
        return {};   // qtest: the device map without vCPUs
    }
    if (m_kernel_path.empty())
        return fail("the x86 virt machine boots Linux directly: -kernel is required (there is no firmware)");

    m_kvm = TRY(kvm::KvmSystem::open());
    m_vm = TRY(kvm::KvmVm::create(*m_kvm));
    TRY(m_vm->create_irqchip());
    TRY(m_vm->set_ioapic_routing(kIoapicPins));
    TRY(m_vm->save_irqchip_reset_state());
    m_slots = std::make_unique<kvm::KvmMemoryListener>(*m_vm);
    address_space_memory().add_listener(*m_slots);
    if (m_slots->error()) return make_error(*m_slots->error());
    TRY(create_vcpus(config));
    TRY(build_pci(config));   // after the CPUs: they are device[0..] under /machine/unattached
    TRY(load_boot_state());

    std::vector<kvm::KvmVcpu*> raw;
    for (auto& v : m_vcpus) raw.push_back(v.get());
    m_events = std::make_unique<Events>(m_host, *m_timeline);
    m_runner = std::make_unique<kvm::VcpuRunner>(raw, address_space_memory(), address_space_io(), *m_events,
                                                 [](kvm::KvmVcpu& v) { return kvm::x86::format_registers(v); });
    m_runner->start();
    m_timeline->mark("machine-ready");
    return {};
}

void X86VirtMachine::set_running(bool running) {
    if (!m_runner) return;
    if (running) m_runner->resume();
    else m_runner->pause();
}

Result<> X86VirtMachine::reset() {
    bool was_running = m_runner && m_runner->running();
    if (m_runner) m_runner->pause();
    m_serial->reset();
    m_ged->reset();
    if (m_pci_host) m_pci_host->bus().reset();
    if (m_vm) {
        TRY(m_vm->restore_irqchip_reset_state());
        for (size_t i = 0; i < m_vcpus.size(); ++i) TRY(m_vcpu_reset[i].restore(*m_vcpus[i]));
        // QEMU re-copies the kernel, initrd and tables on reset (rom_reset): the guest may
        // have overwritten them.
        TRY(load_boot_state());
    }
    if (was_running) m_runner->resume();
    return {};
}

bool X86VirtMachine::press_power_button() {
    m_ged->power_button();
    return true;
}

std::vector<CpuSlot> X86VirtMachine::cpu_slots() const {
    std::vector<CpuSlot> out;
    std::vector<pid_t> tids = m_runner ? m_runner->thread_ids() : std::vector<pid_t>{};
    for (size_t i = 0; i < m_cpu_objects.size(); ++i) {
        const auto* cpu = static_cast<const X86Cpu*>(m_cpu_objects[i]);
        CpuSlot s;
        s.index = static_cast<unsigned>(i);
        s.qom_path = cpu->canonical_path();
        s.thread_id = i < tids.size() ? tids[i] : 0;
        s.socket_id = static_cast<unsigned>(cpu->m_socket_id);
        if (m_smp.dies > 1) s.die_id = static_cast<unsigned>(cpu->m_die_id);
        s.core_id = static_cast<unsigned>(cpu->m_core_id);
        s.thread_in_core = static_cast<unsigned>(cpu->m_thread_id);
        out.push_back(s);
    }
    return out;
}

std::vector<TimelineMark> X86VirtMachine::boot_timeline() const {
    std::vector<TimelineMark> out;
    for (const auto& m : m_timeline->marks()) out.push_back({m.name, m.ns_since_start});
    return out;
}

void register_x86_virt_machine(qom::TypeRegistry& registry) {
    register_x86_cpu_types(registry);
    pci::register_pci_lite_types(registry);   // pci-device, gpex-pcihost, gpex-root
    registry.add(qom::TypeInfo{.name = "kvm-ioapic", .parent = "device",
                               .create = [] { return std::make_unique<Device>(); }});
    register_machine(registry,
                     MachineClassData{.name = "virt",
                                      .desc = "nemu x86-64 virtual machine (KVM, hardware-reduced ACPI)",
                                      .max_cpus = 288,
                                      .default_cpu_type = "host-x86_64-cpu",
                                      .default_ram_id = "virt.ram",
                                      .default_ram_size = 128ull << 20,
                                      .acpi = true},
                     [] { return std::make_unique<X86VirtMachine>(); });
}

} // namespace nemu::hw::x86
