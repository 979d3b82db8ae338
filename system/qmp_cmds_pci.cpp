// query-pci (QEMU 7.2 qapi/pci.json, hw/pci/pci.c qmp_query_pci): the root bus pcie.0 of
// pci-lite with every function on it, in devfn order, with QEMU's members: BAR addresses are -1
// while a BAR does not decode; "irq" only for a function with an interrupt pin (nemu's virtio
// functions have none: MSI-X only).

#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/vm.h"

namespace nemu::qapi {

namespace {

uint16_t word(std::span<const uint8_t> c, unsigned at) { return static_cast<uint16_t>(c[at] | c[at + 1] << 8); }

// QEMU's pci_class_descriptions for the classes nemu's functions use.
std::optional<std::string> class_description(uint16_t cls) {
    switch (cls) {
    case 0x0100: return "SCSI controller";
    case 0x0200: return "Ethernet controller";
    case 0x0600: return "Host bridge";
    default: return std::nullopt;
    }
}

PciDeviceInfo describe(const hw::pci::PciDevice& dev) {
    auto c = dev.config();
    PciDeviceInfo info;
    info.bus = 0;
    info.slot = dev.slot();
    info.function = dev.function();
    uint16_t cls = word(c, 0x0a);
    info.class_info.class_ = cls;
    info.class_info.desc = class_description(cls);
    info.id.vendor = word(c, hw::pci::cfg::kVendorId);
    info.id.device = word(c, hw::pci::cfg::kDeviceId);
    info.id.subsystem = word(c, hw::pci::cfg::kSubsystemId);
    info.id.subsystem_vendor = word(c, hw::pci::cfg::kSubsystemVendorId);
    info.irq_pin = c[hw::pci::cfg::kInterruptPin];
    if (info.irq_pin) info.irq = c[hw::pci::cfg::kInterruptLine];
    info.qdev_id = dev.m_id;
    for (unsigned i = 0; i < hw::pci::kNumBars; ++i) {
        uint64_t size = dev.bar_size(i);
        if (!size) continue;
        PciMemoryRegion r;
        r.bar = i;
        r.type = "memory";
        uint64_t at = dev.bar_address(i);
        r.address = at ? static_cast<int64_t>(at) : -1;
        r.size = static_cast<int64_t>(size);
        hw::pci::BarKind kind = dev.bar_kind(i);
        r.prefetch = kind == hw::pci::BarKind::Mmio64Prefetch;
        r.mem_type_64 = kind != hw::pci::BarKind::Mmio32;
        info.regions.push_back(std::move(r));
    }
    return info;
}

} // namespace

Result<std::vector<PciInfo>> qmp_query_pci(CommandContext& ctx) {
    std::vector<PciInfo> out;
    hw::Machine* m = ctx.vm().machine();
    hw::pci::PciBus* bus = m ? m->pci_root_bus() : nullptr;
    if (!bus) return out;
    PciInfo info;
    info.bus = 0;
    for (const hw::pci::PciDevice* d : bus->devices()) info.devices.push_back(describe(*d));
    out.push_back(std::move(info));
    return out;
}

} // namespace nemu::qapi
