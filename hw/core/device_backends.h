#pragma once
// What a device resolves by name when it is realized: its drive (drive=), its iothread
// (iothread=) and its chardev (chardev=). Implemented by the VM, which owns the block graph,
// the -object tree and the chardevs; a device reaches it through Machine::backends().
// Thread: main loop (realize/unrealize).

#include <memory>
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

struct DeviceBackends {
    virtual ~DeviceBackends() = default;
    // drive=NAME: a -drive id (its backend) or a -blockdev/blockdev-add node name (a new
    // anonymous backend on it), homed on `home` (the main loop or the device's iothread),
    // marked as used by `qdev` (the device's id or QOM path, for query-block). QEMU's errors:
    // "Drive 'x' is already in use by y", "Property 'virtio-blk-device.drive' can't find value 'x'".
    virtual Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view name, std::string_view qdev,
                                                                      EventLoop& home) = 0;
    virtual void detach_drive(std::string_view name) = 0;
    // iothread=ID: the IOThread object's loop; error "Device 'x' not found"-style as QEMU.
    virtual Result<EventLoop*> iothread_loop(std::string_view id) = 0;
    virtual EventLoop& main_loop() = 0;
    // chardev=ID
    virtual Result<chardev::Chardev*> chardev(std::string_view id) = 0;
    // netdev=ID: a -netdev/netdev_add backend (net/net_client.h). QEMU's message when absent:
    // "Property 'virtio-net-device.netdev' can't find value 'x'".
    virtual Result<net::NetClient*> net_client(std::string_view id) {
        return fail("Property 'virtio-net-device.netdev' can't find value '{}'", id);
    }
};

// The backends of the machine `dev` belongs to (walking up the QOM tree to /machine);
// nullptr when the device is not in a machine's tree yet or the VM set none.
DeviceBackends* device_backends(const qom::Object& dev);

} // namespace nemu::hw
