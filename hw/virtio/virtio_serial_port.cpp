// The ports of virtio-serial (QEMU 7.2 hw/char/virtio-console.c and the port half of
// virtio-serial-bus.c): properties, plugging with QEMU's id rules and messages, the chardev
// frontend, and the QOM types.
#include <functional>

#include <fmt/format.h>

#include "hw/core/device_backends.h"
#include "hw/virtio/virtio_serial.h"
#include "qom/type_registry.h"

namespace nemu::hw::virtio {

namespace {

// QEMU's find_port_by_name looks through every virtio-serial device: here the whole QOM tree.
bool name_taken(const qom::Object& root, const VirtioSerialPort& self, const std::string& name) {
    std::function<bool(const qom::Object&)> walk = [&](const qom::Object& o) {
        auto* p = dynamic_cast<const VirtioSerialPort*>(&o);
        if (p && p != &self && p->serial() && p->m_name == name) return true;
        for (const auto& [n, child] : o.children())
            if (walk(*child)) return true;
        return false;
    };
    return walk(root);
}

} // namespace

VirtioSerialPort::~VirtioSerialPort() {
    if (m_serial && m_plugged) m_serial->unplug(*this);
    release_chardev();
}

void VirtioSerialPort::release_chardev() {
    if (m_chr) m_chr->detach(*this);
    m_chr = nullptr;
}

Result<> VirtioSerial::plug(VirtioSerialPort& port, DeviceBackends* backends) {
    port.m_serial = this;
    port.m_backends = backends ? backends : device_backends(port);
    if (auto r = port.complete(); !r) {
        port.m_serial = nullptr;
        port.release_chardev();
        return r;
    }
    return {};
}

Result<> VirtioSerialPort::realize() {
    if (!m_serial) return fail("No 'virtio-serial-bus' bus found for device '{}'", type_name());
    // QEMU resolves and claims the chardev when the property is set, before realize's checks.
    if (!m_chardev.empty()) {
        if (!m_backends) return fail("{}: not part of a machine", type_name());
        const std::string prop = fmt::format("{}.chardev", type_name());
        chardev::Chardev* chr = TRY(m_backends->chardev(prop, m_chardev));
        if (auto r = chr->attach(*this); !r)
            return fail("Property '{}' can't take value '{}': {}", prop, m_chardev, r.error().msg);
        m_chr = chr;
    }
    // virtser_port_device_realize(), in its order.
    VirtioSerial& s = *m_serial;
    if (m_nr != kSerialNoPortId && s.find_port(m_nr))
        return fail("virtio-serial-bus: A port already exists at id {}", m_nr);
    if (!m_name.empty()) {
        const qom::Object* root = this;
        while (root->parent()) root = root->parent();
        if (name_taken(*root, *this, m_name)) return fail("virtio-serial-bus: A port already exists by name {}", m_name);
    }
    if (m_nr == kSerialNoPortId) {
        if (m_console && !s.find_port(0)) {
            m_nr = 0;
        } else {
            // find_free_port_id: id 0 stays reserved for a console; the bitmap is searched in
            // 32-bit words, so the id found may lie past max_ports (caught just below).
            uint32_t limit = (s.m_max_ports + 31) / 32 * 32;
            for (uint32_t id = 1; id < limit && m_nr == kSerialNoPortId; id++)
                if (!s.find_port(id)) m_nr = id;
            if (m_nr == kSerialNoPortId) return fail("virtio-serial-bus: Maximum port limit for this device reached");
        }
    }
    if (m_nr >= s.m_max_ports)
        return fail("virtio-serial-bus: Out-of-range port id specified, max. allowed: {}", s.m_max_ports - 1);
    if (m_nr == 0 && !m_console)
        return fail("Port number 0 on virtio-serial devices reserved for virtconsole devices for backward compatibility.");

    s.m_ports[m_nr] = this;
    m_plugged = true;
    // virtconsole_realize: a console's host side is open from the start (its output goes
    // wherever the chardev sends it); a serial port follows the chardev's connection and shows
    // the guest's state as the chardev's frontend-open.
    if (m_console) m_host_connected = m_chr != nullptr;
    else if (m_chr) m_chr->set_frontend_open(false);
    s.send_control(m_nr, console_event::kDeviceAdd, 1);
    return {};
}

size_t VirtioSerialPort::can_receive() { return m_serial && m_plugged ? m_serial->port_can_receive(*this) : 0; }

void VirtioSerialPort::receive(std::span<const uint8_t> data) {
    if (m_serial && m_plugged) m_serial->port_receive(*this, data);
}

void VirtioSerialPort::on_event(chardev::ChardevEvent event) {
    bool connected;
    if (event == chardev::ChardevEvent::Opened) connected = true;
    else if (event == chardev::ChardevEvent::Closed) connected = false;
    else return;
    if (connected == m_host_connected) return;
    m_host_connected = connected;
    if (m_serial && m_plugged) m_serial->port_host_connected(*this, connected);
}

void VirtioSerialPort::set_guest_connected(bool connected) {
    m_guest_connected = connected;
    // set_guest_connected(): a console's chardev stays open whatever the guest does.
    if (!m_console && m_chr) m_chr->set_frontend_open(connected);
    // QEMU 7.2 (virtio-console.c) reports every change for a port with an id, console or not.
    if (m_backends && !m_id.empty()) m_backends->vserport_change(m_id, connected);
}

void register_virtio_serial_types(qom::TypeRegistry& registry) {
    using qom::prop;
    // QEMU's device-list-properties order: max_ports, emergency-write.
    registry.add(qom::TypeInfo{
        .name = "virtio-serial-device",
        .parent = "virtio-device",
        .category = "Input devices",
        .properties = {prop("max_ports", &VirtioSerial::m_max_ports, std::optional<uint32_t>(31)),
                       prop("emergency-write", &VirtioSerial::m_emergency_write, std::optional<bool>(true), "on/off")},
        .create = [] { return std::make_unique<VirtioSerial>(); }});
    registry.add(qom::TypeInfo{
        .name = "virtio-serial-port",
        .parent = "device",
        .abstract = true,
        .bus_type = "virtio-serial-bus",   // -device help: name "virtconsole", bus virtio-serial-bus
        .properties = {prop("nr", &VirtioSerialPort::m_nr, std::optional<uint32_t>(kSerialNoPortId))}});
    auto port_props = [] {
        return std::vector<qom::PropertyDef>{prop("name", &VirtioSerialPort::m_name, std::optional<std::string>()),
                                             prop("chardev", &VirtioSerialPort::m_chardev, std::optional<std::string>(),
                                                  "ID of a chardev to use as a backend")};
    };
    registry.add(qom::TypeInfo{.name = "virtserialport",
                               .parent = "virtio-serial-port",
                               .category = "Input devices",
                               .properties = port_props(),
                               .create = [] { return std::make_unique<VirtioSerialPort>(false); }});
    registry.add(qom::TypeInfo{.name = "virtconsole",
                               .parent = "virtserialport",
                               .category = "Input devices",
                               .create = [] { return std::make_unique<VirtioSerialPort>(true); }});
}

} // namespace nemu::hw::virtio
