#include "system/vm_device_backends.h"

#include "block/block_backend.h"
#include "system/iothread.h"
#include "system/vm.h"

namespace nemu {

Result<std::shared_ptr<block::BlockBackend>> VmDeviceBackends::attach_drive(std::string_view name, std::string_view qdev,
                                                                            EventLoop& home) {
    block::BlockGraph& graph = m_vm.block_graph();
    if (block::Drive* d = graph.find_drive(name)) {
        if (!d->qdev.empty()) return fail("Drive '{}' is already in use by another device", name);
        if (!d->root) return fail("Property 'virtio-blk-device.drive' can't find value '{}'", name);
        // A device on an iothread needs the backend homed there: completions return on the
        // backend's home loop (block_backend.h).
        if (!d->backend || &home != &m_vm.loop())
            d->backend = std::shared_ptr<block::BlockBackend>(TRY(block::BlockBackend::create(d->name, d->root, home, d->options)));
        d->qdev = std::string(qdev);
        return d->backend;
    }
    if (auto node = graph.find_node(name)) {
        // A -blockdev node: an anonymous backend, as QEMU's blk_new for a device's drive=node.
        // FIXME(#5): QEMU's permission system refuses a second writer on the same node.
        return std::shared_ptr<block::BlockBackend>(TRY(block::BlockBackend::create("", node, home, block::BackendOptions{})));
    }
    return fail("Property 'virtio-blk-device.drive' can't find value '{}'", name);
}

void VmDeviceBackends::detach_drive(std::string_view name) {
    if (block::Drive* d = m_vm.block_graph().find_drive(name)) d->qdev.clear();
}

Result<EventLoop*> VmDeviceBackends::iothread_loop(std::string_view id) {
    auto* t = dynamic_cast<IoThread*>(m_vm.objects().child(id));
    if (!t || !t->loop()) return fail("Device '{}' not found", id);
    return t->loop();
}

EventLoop& VmDeviceBackends::main_loop() { return m_vm.loop(); }

Result<chardev::Chardev*> VmDeviceBackends::chardev(std::string_view id) {
    chardev::Chardev* c = m_vm.find_chardev(id);
    if (!c) return fail("Property 'chardev' can't find value '{}'", id);
    return c;
}

} // namespace nemu
