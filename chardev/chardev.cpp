#include "chardev/chardev.h"

#include "chardev/backends.h"
#include "chardev/mux.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev {

Chardev::~Chardev() = default;

Result<> Chardev::open(EventLoop& loop, const ChardevOptions& options) {
    m_loop = &loop;
    return open_backend(options);
}

Result<> Chardev::attach(CharFrontend& frontend) {
    // QEMU's qemu_chr_fe_init: QERR_DEVICE_IN_USE.
    if (m_frontend && m_frontend != &frontend) return fail("Device '{}' is in use", m_label);
    m_frontend = &frontend;
    m_frontend_open = true;
    if (m_connected) frontend.on_event(ChardevEvent::Opened);
    update_input();
    return {};
}

void Chardev::detach(CharFrontend& frontend) {
    if (m_frontend != &frontend) return;
    m_frontend = nullptr;
    m_frontend_open = false;
    update_input();
}

void Chardev::accept_input() { update_input(); }

Result<> Chardev::check_can_remove() const {
    // qmp_chardev_remove (chardev/char.c).
    if (m_frontend) return fail("Chardev '{}' is busy", m_label);
    return {};
}

void Chardev::set_connected(bool connected) {
    if (connected == m_connected) return;
    m_connected = connected;
    if (m_frontend) m_frontend->on_event(connected ? ChardevEvent::Opened : ChardevEvent::Closed);
}

size_t Chardev::frontend_can_receive() { return m_frontend ? m_frontend->can_receive() : 0; }

void Chardev::deliver(std::span<const uint8_t> data) {
    if (m_frontend && !data.empty()) m_frontend->receive(data);
}

void register_chardev_types(qom::TypeRegistry& registry) {
    qom::TypeInfo base;
    base.name = "chardev";
    base.parent = std::string(qom::kTypeObject);
    base.abstract = true;
    registry.add(std::move(base));
    register_socket_type(registry);
    register_stdio_type(registry);
    register_null_type(registry);
    register_file_type(registry);
    register_pty_type(registry);
    register_ringbuf_types(registry);
    register_mux_type(registry);
}

namespace {
Result<std::unique_ptr<Chardev>> create_one(const qom::TypeRegistry& registry, EventLoop& loop, std::string_view id,
                                            const ChardevOptions& options, std::string_view backend) {
    std::string type = "chardev-" + std::string(backend);
    if (!registry.find(type) || backend == "mux") return fail("'{}' is not a valid char driver name", backend);
    std::unique_ptr<qom::Object> obj = TRY(registry.create(type));
    auto* dev = dynamic_cast<Chardev*>(obj.get());
    if (!dev) return fail("'{}' is not a valid char driver name", backend);
    obj.release();
    std::unique_ptr<Chardev> chr(dev);
    chr->set_label(std::string(id));
    TRY(chr->open(loop, options));
    return chr;
}
} // namespace

Result<std::unique_ptr<Chardev>> create_chardev(const qom::TypeRegistry& registry, EventLoop& loop,
                                                std::string_view id, const ChardevOptions& options) {
    if (!options.mux) return create_one(registry, loop, id, options, options.backend);
    // QEMU (chardev/char.c qemu_chr_new_from_opts): the backend is "<id>-base", the mux "<id>".
    std::unique_ptr<Chardev> base = TRY(create_one(registry, loop, std::string(id) + "-base", options, options.backend));
    std::unique_ptr<qom::Object> obj = TRY(registry.create("chardev-mux"));
    auto* mux = dynamic_cast<MuxChardev*>(obj.get());
    if (!mux) return fail("'mux' is not a valid char driver name");
    obj.release();
    std::unique_ptr<Chardev> chr(mux);
    chr->set_label(std::string(id));
    mux->set_base(std::move(base));
    TRY(chr->open(loop, options));
    return chr;
}

} // namespace nemu::chardev
