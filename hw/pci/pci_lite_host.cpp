#include "hw/pci/pci_lite_host.h"

#include <charconv>

#include "hw/pci/msix.h"

namespace nemu::hw::pci {

// QEMU's gpex-root (hw/pci-host/gpex.c): Red Hat's PCI ids, "PCIe host bridge", class Host
// bridge; subsystem 1af4:1100 as QEMU's default subsystem ids (query-pci on microvm,pcie=on).
Result<> PciHostBridgeFunction::realize() {
    set_ids(0x1b36, 0x0008, 0x1af4, 0x1100, 0x060000, 0);
    return {};
}

uint64_t EcamHandler::read(uint64_t offset, unsigned size) {
    if (offset >> kEcamBusShift != 0) return size >= 4 ? UINT32_MAX : (uint64_t{1} << (8 * size)) - 1;
    auto devfn = static_cast<uint8_t>(offset >> 12);
    return m_bus.config_read(devfn, static_cast<uint32_t>(offset & 0xfff), size);
}

void EcamHandler::write(uint64_t offset, uint64_t value, unsigned size) {
    if (offset >> kEcamBusShift != 0) return;   // no other bus: dropped
    auto devfn = static_cast<uint8_t>(offset >> 12);
    m_bus.config_write(devfn, static_cast<uint32_t>(offset & 0xfff), static_cast<uint32_t>(value), size);
}

PciLiteHost::PciLiteHost() = default;

PciLiteHost::~PciLiteHost() {
    if (m_ecam && m_ecam->parent()) const_cast<memory::MemoryRegion*>(m_ecam->parent())->remove_subregion(*m_ecam);
    // The children (gpex_root, -device functions) are QOM children of other objects and are
    // detached by the bus's destructor if still plugged.
}

Result<> PciLiteHost::setup(memory::MemoryRegion& system_memory, PciPlatform& platform, BarWindow mmio32,
                            BarWindow mmio64, uint64_t ecam_size) {
    if (m_bus) return fail("gpex-pcihost: already set up");
    if (ecam_size == 0 || ecam_size % kEcamBusSize) return fail("gpex-pcihost: ECAM size {:#x} is not whole buses", ecam_size);
    m_bus = std::make_unique<PciBus>("pcie.0", system_memory, platform, mmio32, mmio64);
    auto root = TRY(registry().create("gpex-root"));
    auto* fn = static_cast<PciDevice*>(TRY(add_child("gpex_root", std::move(root))));
    fn->m_addr = 0;
    TRY(m_bus->plug(*fn));
    m_ecam_handler = std::make_unique<EcamHandler>(*m_bus);
    // ECAM accesses are 1, 2 or 4 bytes, naturally aligned (PCIe 4.0, 7.2.2.1); an 8-byte
    // access is split into two DWORDs by the memory layer.
    m_ecam = memory::MemoryRegion::mmio("pcie-mmcfg-mmio", ecam_size, *m_ecam_handler, {1, 4, false});
    return {};
}

std::optional<uint8_t> parse_devfn(std::string_view text) {
    // QEMU's set_pci_devfn: strtoul(..., 16) for the slot, then optionally "." and the function.
    auto hex = [](std::string_view s, unsigned& out) {
        if (s.empty() || s[0] == '-' || s[0] == '+') return false;
        if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
        return ec == std::errc() && end == s.data() + s.size();
    };
    unsigned slot = 0, fn = 0;
    size_t dot = text.find('.');
    if (!hex(text.substr(0, dot), slot) || slot >= kSlots) return std::nullopt;
    if (dot != std::string_view::npos && (!hex(text.substr(dot + 1), fn) || fn >= kFunctions)) return std::nullopt;
    return make_devfn(slot, fn);
}

namespace {

qom::PropertyDef addr_property() {
    qom::PropertyDef d;
    d.name = "addr";
    d.type = "int32";
    d.text_type = "str";   // "-device ...,addr=03.0": parsed here, not as an integer
    d.description = "Slot and optional function number, example: 06.0 or 06";
    d.default_value = Json(-1);
    d.get = [](const qom::Object& o) -> Result<Json> { return Json(static_cast<const PciDevice&>(o).m_addr); };
    d.set = [](qom::Object& o, const Json& v) -> Result<> {
        auto& dev = static_cast<PciDevice&>(o);
        if (v.is_string()) {
            const std::string& text = v.get_ref<const std::string&>();
            auto devfn = parse_devfn(text);
            if (!devfn) return fail("Property '{}.addr' doesn't take value '{}'", o.type_name(), text);
            dev.m_addr = *devfn;
            return {};
        }
        TRY(qom::check_property_value("int32", "addr", v));
        auto n = v.get<int64_t>();
        if (n < -1 || n > 255) return fail("Parameter 'addr' expects a value between -1 and 255");
        dev.m_addr = static_cast<int32_t>(n);
        return {};
    };
    return d;
}

} // namespace

void register_pci_device_type(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "pci-express-device", .parent = "interface", .interface = true});
    registry.add(qom::TypeInfo{.name = "conventional-pci-device", .parent = "interface", .interface = true});
    registry.add(qom::TypeInfo{
        .name = "pci-device",
        .parent = "device",
        .abstract = true,
        .bus_type = "PCI",
        .properties = {
            addr_property(),
            qom::prop("multifunction", &PciDevice::m_multifunction, std::optional<bool>(false), "on/off"),
        }});
}

void register_pci_lite_types(qom::TypeRegistry& registry) {
    register_pci_device_type(registry);
    registry.add(qom::TypeInfo{.name = "gpex-root",
                               .parent = "pci-device",
                               .interfaces = {"conventional-pci-device"},
                               .description = "Host bridge",
                               .user_creatable_device = false,
                               .create = [] { return std::make_unique<PciHostBridgeFunction>(); }});
    registry.add(qom::TypeInfo{.name = "gpex-pcihost",
                               .parent = "device",
                               .user_creatable_device = false,
                               .create = [] { return std::make_unique<PciLiteHost>(); }});
}

} // namespace nemu::hw::pci
