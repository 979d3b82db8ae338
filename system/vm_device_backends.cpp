#include "system/vm_device_backends.h"

#include <future>

#include "block/block_backend.h"
#include "qapi/qapi-events.h"
#include "system/block_setup.h"
#include "system/iothread.h"
#include "system/vm.h"

namespace nemu {

namespace {

// A BlockBackend registers its engine's fds with its home loop, whose watch table belongs to
// the loop's thread: an iothread's backend is created there (the main loop waits), and is
// destroyed there too when its last user lets go.
Result<std::shared_ptr<block::BlockBackend>> create_backend_on(EventLoop& home, std::string name,
                                                               std::shared_ptr<block::BlockNode> root,
                                                               block::BackendOptions options, EventLoop& main) {
    if (&home == &main)
        return std::shared_ptr<block::BlockBackend>(TRY(block::BlockBackend::create(std::move(name), root, home, options)));
    std::promise<Result<std::unique_ptr<block::BlockBackend>>> made;
    home.post([&] { made.set_value(block::BlockBackend::create(std::move(name), root, home, options)); });
    auto backend = TRY(made.get_future().get());
    EventLoop* loop = &home;
    return std::shared_ptr<block::BlockBackend>(backend.release(), [loop](block::BlockBackend* b) {
        loop->post([b] { std::unique_ptr<block::BlockBackend> owned(b); });
    });
}

} // namespace

Result<std::shared_ptr<block::BlockBackend>> VmDeviceBackends::attach_drive(std::string_view prop, std::string_view name,
                                                                            std::string_view qdev, EventLoop& home) {
    block::BlockGraph& graph = m_vm.block_graph();
    if (block::Drive* d = graph.find_drive(name)) {
        if (!d->qdev.empty()) return fail("Drive '{}' is already in use by another device", name);
        if (!d->root) return hw::property_value_not_found(prop, name);
        // A device on an iothread needs the backend homed there: completions return on the
        // backend's home loop (block_backend.h).
        if (!d->backend || &home != &m_vm.loop())
            d->backend = TRY(create_backend_on(home, d->name, d->root, d->options, m_vm.loop()));
        d->qdev = std::string(qdev);
        return d->backend;
    }
    if (auto node = graph.find_node(name)) {
        // A -blockdev node: an anonymous backend, as QEMU's blk_new for a device's drive=node.
        // FIXME(#5): QEMU's permission system refuses a second writer on the same node.
        block::BackendOptions options;
        options.error_host = block_io_error_host(m_vm);   // werror/rerror stop (block_setup.h)
        return create_backend_on(home, "", node, options, m_vm.loop());
    }
    return hw::property_value_not_found(prop, name);
}

void VmDeviceBackends::detach_drive(std::string_view name) {
    if (block::Drive* d = m_vm.block_graph().find_drive(name)) d->qdev.clear();
}

Result<EventLoop*> VmDeviceBackends::iothread_loop(std::string_view id) {
    qom::Object* obj = m_vm.objects().child(id);
    if (!obj) return fail("Device '{}' not found", id);
    auto* t = dynamic_cast<IoThread*>(obj);
    if (!t || !t->loop()) return fail("Invalid parameter type for 'iothread', expected: iothread");
    return t->loop();
}

EventLoop& VmDeviceBackends::main_loop() { return m_vm.loop(); }

Result<chardev::Chardev*> VmDeviceBackends::chardev(std::string_view prop, std::string_view id) {
    chardev::Chardev* c = m_vm.find_chardev(id);
    if (!c) return hw::property_value_not_found(prop, id);
    return c;
}

Result<net::NetClient*> VmDeviceBackends::net_client(std::string_view prop, std::string_view id) {
    net::NetClient* c = m_vm.netdevs().find(id);
    if (!c) return hw::property_value_not_found(prop, id);
    return c;
}

void VmDeviceBackends::vserport_change(std::string_view id, bool open) {
    qapi::qapi_event_send_vserport_change(m_vm.events(), std::string(id), open);
}

void VmDeviceBackends::nic_rx_filter_changed(std::optional<std::string_view> name, std::string_view path) {
    std::optional<std::string> n;
    if (name) n = std::string(*name);
    qapi::qapi_event_send_nic_rx_filter_changed(m_vm.events(), n, std::string(path));
}

} // namespace nemu
