#include "system/device_setup.h"

#include <fmt/format.h>

#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "nemu-config.h"
#ifdef CONFIG_VIRTIO_SERIAL
#include "hw/virtio/virtio_serial.h"
#endif
#include "system/keyval.h"
#include "system/vm.h"

namespace nemu {

namespace {

struct DeviceAlias {
    std::string_view type, alias;
};
constexpr DeviceAlias kAliases[] = {
    {"virtio-blk-pci", "virtio-blk"},
    {"virtio-net-pci", "virtio-net"},
    {"virtio-serial-pci", "virtio-serial"},
    {"virtio-rng-pci", "virtio-rng"},
};

// The bus a device goes on: bus=NAME, or the machine's root PCI bus for a PCI device.
Result<hw::pci::PciBus*> choose_bus(Vm& vm, const Json& props, std::string_view driver) {
    hw::pci::PciBus* root = vm.machine() ? vm.machine()->pci_root_bus() : nullptr;
    if (props.contains("bus")) {
        if (!props["bus"].is_string()) return fail("Invalid parameter type for 'bus', expected: string");
        const std::string& name = props["bus"].get_ref<const std::string&>();
        if (!root || root->name() != name) return fail("Bus '{}' not found", name);
        return root;
    }
    if (!root) return fail("No 'PCI' bus found for device '{}'", driver);
    return root;
}

#ifdef CONFIG_VIRTIO_SERIAL
// virtconsole/virtserialport ride on a virtio-serial bus: bus=NAME ("<serial id>.0") or the
// first virtio-serial device on the PCI root bus (QEMU: -device order matters, the bus first).
Result<hw::virtio::VirtioSerial*> choose_serial_bus(Vm& vm, const Json& props, std::string_view driver) {
    hw::pci::PciBus* root = vm.machine() ? vm.machine()->pci_root_bus() : nullptr;
    std::string name;
    if (props.contains("bus")) {
        if (!props["bus"].is_string()) return fail("Invalid parameter type for 'bus', expected: string");
        name = props["bus"].get<std::string>();
        if (root && root->name() == name) return fail("Device '{}' can't go on PCIE bus", driver);
    }
    hw::virtio::VirtioSerial* serial = root ? hw::virtio::find_virtio_serial_bus(*root, name) : nullptr;
    if (!serial && !name.empty()) return fail("Bus '{}' not found", name);
    if (!serial) return fail("No 'virtio-serial-bus' bus found for device '{}'", driver);
    return serial;
}
#endif

} // namespace

std::optional<std::string> device_alias_of(std::string_view type) {
    for (const auto& a : kAliases)
        if (a.type == type) return std::string(a.alias);
    return std::nullopt;
}

std::string_view resolve_device_alias(std::string_view driver) {
    for (const auto& a : kAliases)
        if (a.alias == driver) return a.type;
    return driver;
}

Result<hw::Device*> add_device(Vm& vm, const Json& props, bool from_text) {
    if (!props.is_object()) return fail("Invalid parameter type for 'device', expected: object");
    if (!props.contains("driver")) return fail("Parameter 'driver' is missing");
    if (!props["driver"].is_string()) return fail("Invalid parameter type for 'driver', expected: string");
    const std::string driver(resolve_device_alias(props["driver"].get_ref<const std::string&>()));
    const qom::TypeInfo* t = vm.types().find(driver);
    if (!t || t->abstract || !vm.types().is_a(driver, "device"))
        return fail("'{}' is not a valid device model name", driver);
    if (!t->user_creatable_device) return fail("Parameter 'driver' expects a pluggable device type");

    std::string id;
    if (props.contains("id")) {
        if (!props["id"].is_string()) return fail("Invalid parameter type for 'id', expected: string");
        id = props["id"].get_ref<const std::string&>();
        if (!cmdline::id_wellformed(id))
            return fail("Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
    }
    hw::pci::PciBus* bus = nullptr;
#ifdef CONFIG_VIRTIO_SERIAL
    hw::virtio::VirtioSerial* serial = nullptr;
    if (vm.types().is_a(driver, "virtio-serial-port")) serial = TRY(choose_serial_bus(vm, props, driver));
    else
#endif
    if (!vm.types().is_a(driver, "pci-device")) return fail("No bus found for device '{}'", driver);
    else bus = TRY(choose_bus(vm, props, driver));

    qom::Object& machine = *vm.machine();
    qom::Object& peripheral = machine.container("peripheral");
    if (!id.empty() && peripheral.child(id)) return fail("Duplicate ID '{}' for device", id);

    auto obj = TRY(vm.types().create(driver));
    vm.apply_globals(*obj);
    for (const auto& [key, value] : props.items()) {
        if (key == "driver" || key == "id" || key == "bus") continue;
        if (!obj->find_property(key)) return fail("Property '{}.{}' not found", driver, key);
        if (from_text && value.is_string()) TRY(obj->set_property_string(key, value.get_ref<const std::string&>()));
        else TRY(obj->set_property(key, value));
    }
    auto* dev = static_cast<hw::Device*>(obj.get());
    dev->m_id = id;

    // QEMU names anonymous devices device[N] under /machine/peripheral-anon.
    qom::Object& parent = id.empty() ? machine.container("peripheral-anon") : peripheral;
    std::string name = id.empty() ? fmt::format("device[{}]", parent.children().size()) : id;
    TRY(parent.add_child(name, std::move(obj)));
#ifdef CONFIG_VIRTIO_SERIAL
    if (serial) {
        if (auto r = serial->plug(static_cast<hw::virtio::VirtioSerialPort&>(*dev)); !r) {
            parent.remove_child(name);
            return make_error(std::move(r).error());
        }
        return dev;
    }
#endif
    if (auto r = bus->plug(static_cast<hw::pci::PciDevice&>(*dev)); !r) {
        parent.remove_child(name);
        return make_error(std::move(r).error());
    }
    return dev;
}

} // namespace nemu
