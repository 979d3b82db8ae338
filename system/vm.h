#pragma once
// The one VM: the QOM root and its well-known containers, the machine, the run state, the
// monitors and the user-created objects. Everything hangs off it (STYLE.md rule 6); main()
// owns it and QMP handlers reach it through CommandContext::vm().
// Thread: main loop.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/block_graph.h"
#include "chardev/chardev.h"
#include "hw/core/machine.h"
#include "hw/core/virtual_clock.h"
#include "monitor/command_context.h"
#include "monitor/qmp_monitor.h"
#include "net/netdev.h"
#include "qapi/qapi-types.h"
#include "qom/object.h"
#include "qom/type_registry.h"
#include "system/runstate.h"
#include "util/event_loop.h"

namespace nemu {

class VmDeviceBackends;

// A -global driver.property=value default, applied to every new object of that type
// (or a subtype) before its own properties.
struct GlobalProperty {
    std::string driver, property, value;
};

// add-fd's file descriptor sets (QEMU monitor/fds.c): descriptors passed over a monitor and
// later opened by name "/dev/fdset/N" (block and net backends will use them).
struct FdSetEntry {
    UniqueFd fd;
    std::optional<std::string> opaque;
};
struct FdSet {
    int64_t id;
    std::vector<FdSetEntry> fds;
};

class Vm final : public monitor::MonitorHost, public hw::MachineHost {
public:
    Vm(const qom::TypeRegistry& types, EventLoop& loop);
    ~Vm() override;

    const qom::TypeRegistry& types() const { return m_types; }
    EventLoop& loop() { return m_loop; }
    qom::Object& root() { return *m_root; }
    qom::Object& objects() { return m_root->container("objects"); }
    qom::Object& chardevs() { return m_root->container("chardevs"); }
    hw::Machine* machine() { return m_machine; }
    RunStateMachine& runstate() { return m_runstate; }
    monitor::EventBroadcaster& events() { return m_events; }
    // QEMU_CLOCK_VIRTUAL: driven by qtest's clock_step under -accel qtest.
    hw::VirtualClock& clock() { return m_clock; }
    // Nodes and drives (-blockdev, -drive, blockdev-add): main loop only.
    block::BlockGraph& block_graph() { return m_block_graph; }
    // Netdevs (-netdev, netdev_add): main loop only.
    net::NetdevRegistry& netdevs() { return m_netdevs; }

    // Identity (-name, -uuid).
    std::optional<std::string> m_name;
    std::string m_uuid = "00000000-0000-0000-0000-000000000000";
    std::string m_accel = "kvm";
    bool m_no_shutdown = false;
    bool m_no_reboot = false;
    std::vector<GlobalProperty> m_globals;
    std::vector<FdSet> m_fdsets;   // newest first, as query-fdsets lists them

    // -machine TYPE: create /machine (not yet initialised).
    Result<hw::Machine*> create_machine(std::string_view name);
    Result<> init_machine(const hw::MachineConfig& config);

    // -object / object-add. `props` holds qom-type, id and properties; with from_text the
    // values are command-line strings converted by each property's type.
    Result<qom::Object*> add_user_object(const Json& props, bool from_text);
    Result<> delete_user_object(std::string_view id);
    void apply_globals(qom::Object& obj);

    // Chardevs (-chardev, and the implicit ones behind -qmp/-serial/-monitor).
    Result<chardev::Chardev*> add_chardev(std::string id, const chardev::ChardevOptions& opts);
    chardev::Chardev* find_chardev(std::string_view id);
    Result<> add_qmp_monitor(chardev::Chardev& chr, bool pretty);

    // Life cycle. Shutdown requests are queued to the main loop as in QEMU, so a QMP reply
    // (quit's "return") is sent before the process goes.
    void request_shutdown(qapi::ShutdownCause reason, bool guest);
    void stop_vm(RunState to = RunState::Paused);
    Result<> cont_vm();
    // The first start (no -S, or x-exit-preconfig): runstate running and vCPUs released.
    void start_vm();
    // system_reset / guest reboot: RESET event and a machine reset, or, with -no-reboot,
    // a shutdown (QEMU's qemu_system_reset_request).
    void reset_machine(qapi::ShutdownCause reason, bool guest);
    // --preconfig: the machine is initialised and started by x-exit-preconfig.
    void set_preconfig_continuation(std::function<Result<>()> finish) { m_finish_preconfig = std::move(finish); }
    Result<> exit_preconfig();
    int exit_status() const { return m_exit_status; }

    // MachineHost: guest events from vCPU threads, queued on the main loop.
    void guest_poweroff() override;
    void guest_reset() override;
    void guest_internal_error(const std::string& report) override;

    // MonitorHost
    std::span<const qapi::CommandEntry> commands() const override;
    monitor::DispatchPhase phase() const override;
    Json greeting_version() const override;
    CommandContext make_context(monitor::QmpMonitor& monitor) override;

private:
    const qom::TypeRegistry& m_types;
    EventLoop& m_loop;
    std::unique_ptr<qom::Object> m_root;
    hw::Machine* m_machine = nullptr;
    RunStateMachine m_runstate;
    monitor::EventBroadcaster m_events;
    hw::VirtualClock m_clock;
    block::BlockGraph m_block_graph;
    net::NetdevRegistry m_netdevs;
    std::function<Result<>()> m_finish_preconfig;
    std::unique_ptr<VmDeviceBackends> m_device_backends;
    std::vector<std::unique_ptr<monitor::QmpMonitor>> m_monitors;
    int m_exit_status = 0;
};

} // namespace nemu
