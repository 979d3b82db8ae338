#include "system/vm.h"

#include "system/vm_device_backends.h"

#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "nemu-config.h"
#include "system/keyval.h"

#include <cstdio>

namespace nemu {

Vm::Vm(const qom::TypeRegistry& types, EventLoop& loop)
    : m_types(types), m_loop(loop), m_root(std::move(types.create(qom::kTypeContainer)).value()) {
    // /objects and /chardevs are created on first use, as QEMU's container_get() does.
}

Vm::~Vm() {
    // Monitors observe chardevs: drop them first.
    m_monitors.clear();
}

Result<hw::Machine*> Vm::create_machine(std::string_view name) {
    std::string type = std::string(name) + std::string(hw::Machine::kTypeSuffix);
    const qom::TypeInfo* info = m_types.find(type);
    if (!info || info->abstract || !m_types.is_a(type, "machine"))
        return fail("unsupported machine type\nUse -machine help to list supported machines");
    auto obj = TRY(m_types.create(type));
    apply_globals(*obj);
    auto* machine = static_cast<hw::Machine*>(TRY(m_root->add_child("machine", std::move(obj))));
    machine->container("peripheral");
    machine->container("peripheral-anon");
    machine->container("unattached");
    m_machine = machine;
    return machine;
}

Result<> Vm::init_machine(const hw::MachineConfig& config) {
    if (!m_machine) return fail("no machine");
    m_device_backends = std::make_unique<VmDeviceBackends>(*this);
    m_machine->set_backends(m_device_backends.get());
    return m_machine->init(config);
}

void Vm::apply_globals(qom::Object& obj) {
    for (const auto& g : m_globals)
        if (obj.is_a(g.driver) && obj.find_property(g.property))
            // QEMU reports a bad global value when the object is created; so do we, but a
            // failed global never blocks creation of an unrelated object.
            (void)obj.set_property_string(g.property, g.value);
}

Result<qom::Object*> Vm::add_user_object(const Json& props, bool from_text) {
    if (!props.is_object()) return fail("Invalid parameter type for 'object', expected: object");
    if (!props.contains("qom-type")) return fail("Parameter 'qom-type' is missing");
    if (!props["qom-type"].is_string()) return fail("Invalid parameter type for 'qom-type', expected: string");
    const std::string& type = props["qom-type"].get_ref<const std::string&>();
    const qom::TypeInfo* info = m_types.find(type);
    if (!info || !m_types.is_a(type, qom::kTypeUserCreatable) || info->abstract)
        return fail("Parameter 'qom-type' does not accept value '{}'", type);
    if (!props.contains("id")) return fail("Parameter 'id' is missing");
    if (!props["id"].is_string()) return fail("Invalid parameter type for 'id', expected: string");
    const std::string& id = props["id"].get_ref<const std::string&>();
    if (!cmdline::id_wellformed(id)) return fail("Parameter 'id' expects an identifier");

    auto obj = TRY(m_types.create(type));
    // -global and -mem-prealloc's defaults come first; the object's own properties override.
    apply_globals(*obj);
    for (const auto& [key, value] : props.items()) {
        if (key == "qom-type" || key == "id") continue;
        if (!obj->find_property(key)) return fail("Parameter '{}' is unexpected", key);
        if (from_text && value.is_string()) TRY(obj->set_property_string(key, value.get_ref<const std::string&>()));
        else TRY(obj->set_property(key, value));
    }
    for (const qom::PropertyDef* p : obj->properties())
        if (p->required && !props.contains(p->name)) return fail("Parameter '{}' is missing", p->name);
    // The name is needed by on_complete() (thread names, error messages), so the object joins
    // the tree first and leaves it again if completion fails.
    qom::Object* added = TRY(objects().add_child(id, std::move(obj)));
    if (auto done = added->complete(); !done) {
        objects().remove_child(id);
        return make_error(std::move(done).error());
    }
    return added;
}

Result<> Vm::delete_user_object(std::string_view id) {
    qom::Object* obj = objects().child(id);
    if (!obj) return fail("object '{}' not found", id);
    TRY(obj->check_can_remove());
    objects().remove_child(id);
    return {};
}

Result<chardev::Chardev*> Vm::add_chardev(std::string id, const chardev::ChardevOptions& opts) {
    if (chardevs().child(id)) return fail("attempt to add duplicate property '{}' to object (type 'container')", id);
    auto chr = TRY(chardev::create_chardev(m_types, m_loop, id, opts));
    auto* raw = chr.get();
    TRY(chardevs().add_child(std::move(id), std::move(chr)));
    return raw;
}

chardev::Chardev* Vm::find_chardev(std::string_view id) {
    return static_cast<chardev::Chardev*>(chardevs().child(id));
}

Result<> Vm::add_qmp_monitor(chardev::Chardev& chr, bool pretty) {
    auto mon = std::make_unique<monitor::QmpMonitor>(chr, *this, pretty);
    m_events.add(*mon);
    m_monitors.push_back(std::move(mon));
    return {};
}

void Vm::request_shutdown(qapi::ShutdownCause reason, bool guest) {
    qapi::qapi_event_send_shutdown(m_events, guest, reason);
    if (m_no_shutdown && guest) {
        stop_vm(RunState::Shutdown);
        return;
    }
    m_runstate.set(RunState::Shutdown);
    m_loop.quit(0);
}

void Vm::stop_vm(RunState to) {
    bool was_running = m_runstate.running();
    if (m_machine && was_running) m_machine->set_running(false);
    m_runstate.set(to);
    if (was_running) qapi::qapi_event_send_stop(m_events);
}

Result<> Vm::cont_vm() {
    if (m_runstate.running()) return {};
    // QEMU runstate_needs_reset(): after an internal error or a guest shutdown only a reset
    // (system_reset) makes the VM runnable again.
    if (m_runstate.state() == RunState::InternalError || m_runstate.state() == RunState::Shutdown)
        return fail("Resetting the Virtual Machine is required");
    if (!m_runstate.set(RunState::Running))
        return fail("Resetting the Virtual Machine is required");
    if (m_machine) m_machine->set_running(true);
    qapi::qapi_event_send_resume(m_events);
    return {};
}

void Vm::start_vm() {
    if (!m_runstate.set(RunState::Running)) return;
    if (m_machine) m_machine->set_running(true);
}

void Vm::reset_machine(qapi::ShutdownCause reason, bool guest) {
    if (m_no_reboot && guest) {
        request_shutdown(qapi::ShutdownCause::GuestReset, guest);
        return;
    }
    qapi::qapi_event_send_reset(m_events, guest, reason);
    if (m_machine) {
        if (auto r = m_machine->reset(); !r) {
            std::fprintf(stderr, "nemu-system-x86_64: machine reset failed: %s\n", r.error().msg.c_str());
            stop_vm(RunState::InternalError);
            return;
        }
    }
    // QEMU (main_loop_should_exit): a reset of a VM that is not running leaves it in
    // prelaunch, from where "cont" starts it again.
    if (!m_runstate.running() && m_runstate.state() != RunState::InMigrate && m_runstate.state() != RunState::FinishMigrate)
        m_runstate.set(RunState::Prelaunch);
}

void Vm::guest_poweroff() {
    m_loop.post([this] { request_shutdown(qapi::ShutdownCause::GuestShutdown, true); });
}

void Vm::guest_reset() {
    m_loop.post([this] { reset_machine(qapi::ShutdownCause::GuestReset, true); });
}

void Vm::guest_internal_error(const std::string& report) {
    m_loop.post([this, report] {
        // QEMU's kvm_cpu_exec: the report and the registers on stderr, then the VM stops in
        // runstate internal-error while the monitors keep answering.
        std::fprintf(stderr, "KVM internal error. %s", report.c_str());
        if (m_runstate.state() != RunState::InternalError) stop_vm(RunState::InternalError);
    });
}

Result<> Vm::exit_preconfig() {
    if (!m_finish_preconfig) return fail("The command is permitted only before machine initialization");
    auto finish = std::move(m_finish_preconfig);
    m_finish_preconfig = nullptr;
    return finish();
}

std::span<const qapi::CommandEntry> Vm::commands() const { return qapi::qapi_commands(); }

monitor::DispatchPhase Vm::phase() const {
    return m_machine && m_machine->completed() ? monitor::DispatchPhase::Running : monitor::DispatchPhase::Preconfig;
}

Json Vm::greeting_version() const {
    Json qemu = Json::object();
    qemu["micro"] = QEMU_COMPAT_MICRO;
    qemu["minor"] = QEMU_COMPAT_MINOR;
    qemu["major"] = QEMU_COMPAT_MAJOR;
    return Json{{"qemu", qemu}, {"package", "nemu " NEMU_VERSION}};
}

CommandContext Vm::make_context(monitor::QmpMonitor& monitor) { return CommandContext(*this, &monitor); }

} // namespace nemu
