#pragma once
// What a device resolves by name when it is realized: its drive (drive=), its iothread
// (iothread=), its chardev (chardev=) and its netdev (netdev=); a NIC's default MAC address;
// and the QMP events a device raises. Implemented by the VM, which owns the block graph, the
// -object tree, the chardevs, the netdevs and the monitors; a device reaches it through
// Machine::backends(). Thread: main loop (realize/unrealize, and the devices' main-loop work).

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "util/result.h"

namespace nemu {
class EventLoop;
}
namespace nemu::block {
class BlockBackend;
}
namespace nemu::chardev {
class Chardev;
}

namespace nemu::qom {
class Object;
}
namespace nemu::net {
class NetClient;
}

namespace nemu::hw {

// QEMU 7.2's error for a backend property naming nothing (qdev's "can't find value"), e.g.
// "Property 'virtio-net-device.netdev' can't find value 'x'"; `prop` is "<type>.<prop>".
inline Unexpected<Error> property_value_not_found(std::string_view prop, std::string_view value) {
    return fail("Property '{}' can't find value '{}'", prop, value);
}

// QEMU 7.2's default MAC addresses (net/net.c, qemu_macaddr_default_if_unset): a NIC without
// mac= gets 52:54:00:12:34:XX with the lowest XX from 0x56 up that no NIC of the VM holds
// (0xff once all are taken, QEMU's -1 in a byte); a NIC given an address of that form holds
// its XX too, whether created before or after. One pool per VM.
class MacAddressPool {
public:
    using Mac = std::array<uint8_t, 6>;   // net::MacAddress
    // The NIC's address: `mac` when given, else the first free default; either way held.
    Mac claim(std::optional<Mac> mac) {
        if (!mac) {
            mac = kBase;
            (*mac)[5] = 0xff;
            for (unsigned i = kFirst; i < 0xff; ++i)
                if (!m_held[i]) {
                    (*mac)[5] = static_cast<uint8_t>(i);
                    break;
                }
        }
        if (std::equal(kBase.begin(), kBase.end() - 1, mac->begin()) && (*mac)[5] >= kFirst && (*mac)[5] < 0xff)
            ++m_held[(*mac)[5]];
        return *mac;
    }
    // FIXME(#5): QEMU frees the address when the NIC is deleted (qemu_del_nic); nemu's
    // devices have no unrealize hook yet, so a deleted NIC keeps holding its address.

private:
    static constexpr Mac kBase = {0x52, 0x54, 0x00, 0x12, 0x34, 0x00};
    static constexpr unsigned kFirst = 0x56;
    std::array<unsigned, 256> m_held{};
};

// Every lookup by name takes the asking property's full name, "<type>.<prop>" as QEMU prints
// it ("virtio-blk-device.drive", "virtconsole.chardev"), so that an unknown name gets QEMU
// 7.2's message from one place (property_value_not_found) whatever the device.
struct DeviceBackends {
    virtual ~DeviceBackends() = default;
    // drive=NAME: a -drive id (its backend) or a -blockdev/blockdev-add node name (a new
    // anonymous backend on it), homed on `home` (the main loop or the device's iothread),
    // marked as used by `qdev` (the device's id or QOM path, for query-block). QEMU's errors:
    // "Drive 'x' is already in use by another device", else property_value_not_found(prop, x).
    virtual Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view prop, std::string_view name,
                                                                      std::string_view qdev, EventLoop& home) = 0;
    virtual void detach_drive(std::string_view name) = 0;
    // iothread=ID: the IOThread object's loop; error "Device 'x' not found"-style as QEMU.
    virtual Result<EventLoop*> iothread_loop(std::string_view id) = 0;
    virtual EventLoop& main_loop() = 0;
    // chardev=ID: a -chardev/chardev-add backend.
    virtual Result<chardev::Chardev*> chardev(std::string_view prop, std::string_view id) = 0;
    // netdev=ID: a -netdev/netdev_add backend (net/net_client.h).
    virtual Result<net::NetClient*> net_client(std::string_view prop, std::string_view id) {
        return property_value_not_found(prop, id);
    }
    // The VM's default MAC addresses (NICs without mac=).
    virtual MacAddressPool& mac_addresses() = 0;

    // QMP events (QEMU 7.2's qapi/char.json and net.json), sent to every monitor.
    // VSERPORT_CHANGE: the guest opened or closed the virtio-serial port with this id.
    virtual void vserport_change(std::string_view id, bool open) {
        (void)id;
        (void)open;
    }
    // NIC_RX_FILTER_CHANGED: the guest changed the RX filter of the NIC whose virtio device
    // is at `path`; `name` is the NIC's id, absent without one.
    virtual void nic_rx_filter_changed(std::optional<std::string_view> name, std::string_view path) {
        (void)name;
        (void)path;
    }
};

// The backends of the machine `dev` belongs to (walking up the QOM tree to /machine);
// nullptr when the device is not in a machine's tree yet or the VM set none.
DeviceBackends* device_backends(const qom::Object& dev);

} // namespace nemu::hw
