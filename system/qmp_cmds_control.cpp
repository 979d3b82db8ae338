// QMP handlers for the monitor protocol itself and the VM life cycle (QEMU qapi/control.json,
// qapi/run-state.json, qapi/misc.json). Handlers take generated argument structs and return
// generated types: no JSON is built by hand here.

#include <algorithm>

#include "monitor/command_context.h"
#include "monitor/qmp_monitor.h"
#include "nemu-config.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "system/hmp.h"
#include "system/vm.h"

namespace nemu::qapi {

Result<> qmp_qmp_capabilities(CommandContext& ctx, const QmpCapabilitiesArg& args) {
    bool oob = false;
    if (args.enable)
        for (QMPCapability c : *args.enable)
            if (c == QMPCapability::Oob) oob = true;
    if (ctx.monitor()) ctx.monitor()->enter_command_mode(oob);
    return {};
}

Result<VersionInfo> qmp_query_version(CommandContext&) {
    VersionInfo v;
    v.qemu = VersionTriple{QEMU_COMPAT_MAJOR, QEMU_COMPAT_MINOR, QEMU_COMPAT_MICRO};
    v.package = "nemu " NEMU_VERSION;
    return v;
}

Result<std::vector<CommandInfo>> qmp_query_commands(CommandContext& ctx) {
    std::vector<CommandInfo> out;
    for (const auto& c : ctx.vm().commands()) out.push_back(CommandInfo{std::string(c.name)});
    return out;
}

Result<> qmp_quit(CommandContext& ctx) {
    Vm& vm = ctx.vm();
    // Deferred so that this command's reply goes out first (QEMU queues the request too).
    vm.loop().defer([&vm] { vm.request_shutdown(ShutdownCause::HostQmpQuit, false); });
    return {};
}

Result<StatusInfo> qmp_query_status(CommandContext& ctx) {
    nemu::RunState state = ctx.vm().runstate().state();
    StatusInfo info;
    info.running = state == nemu::RunState::Running;
    info.singlestep = false;
    info.status = TRY(parse_RunState(runstate_name(state)));
    return info;
}

Result<> qmp_stop(CommandContext& ctx) {
    Vm& vm = ctx.vm();
    // QEMU: stop during -S start-up keeps "prelaunch" but forgets the autostart.
    if (vm.runstate().state() == nemu::RunState::Prelaunch) return {};
    vm.stop_vm();
    return {};
}

Result<> qmp_cont(CommandContext& ctx) { return ctx.vm().cont_vm(); }

Result<NameInfo> qmp_query_name(CommandContext& ctx) { return NameInfo{ctx.vm().m_name}; }

Result<UuidInfo> qmp_query_uuid(CommandContext& ctx) { return UuidInfo{ctx.vm().m_uuid}; }

Result<> qmp_system_reset(CommandContext& ctx) {
    Vm& vm = ctx.vm();
    vm.loop().defer([&vm] { vm.reset_machine(ShutdownCause::HostQmpSystemReset, false); });
    return {};
}

Result<> qmp_system_powerdown(CommandContext& ctx) {
    // The machine decides what a power button does (the virt board's is the ACPI GED power
    // button); machine "none" has none, and QEMU then only emits the event.
    qapi_event_send_powerdown(ctx.vm().events());
    if (hw::Machine* m = ctx.vm().machine()) m->press_power_button();
    return {};
}

Result<> qmp_x_exit_preconfig(CommandContext& ctx) { return ctx.vm().exit_preconfig(); }

Result<std::string> qmp_human_monitor_command(CommandContext& ctx, const HumanMonitorCommandArg& args) {
    return run_hmp_command(ctx.vm(), args.command_line);
}

Result<> qmp_getfd(CommandContext& ctx, const GetfdArg& args) {
    if (!ctx.monitor()) return fail("No file descriptor supplied via SCM_RIGHTS");
    auto fd = ctx.monitor()->chardev().take_received_fd();
    if (!fd) return fail("No file descriptor supplied via SCM_RIGHTS");
    if (!args.fdname.empty() && std::isdigit(static_cast<unsigned char>(args.fdname[0])))
        return fail("Parameter 'fdname' expects a name not starting with a digit");
    ctx.monitor()->named_fds()[args.fdname] = std::move(fd);
    return {};
}

Result<> qmp_closefd(CommandContext& ctx, const ClosefdArg& args) {
    if (!ctx.monitor() || !ctx.monitor()->named_fds().erase(args.fdname))
        return fail("File descriptor named '{}' not found", args.fdname);
    return {};
}

Result<AddfdInfo> qmp_add_fd(CommandContext& ctx, const AddFdArg& args) {
    UniqueFd fd = ctx.monitor() ? ctx.monitor()->chardev().take_received_fd() : UniqueFd();
    if (!fd) return fail("No file descriptor supplied via SCM_RIGHTS");
    auto& sets = ctx.vm().m_fdsets;
    int64_t id = 0;
    if (args.fdset_id) {
        id = *args.fdset_id;
        if (id < 0) return fail("Parameter 'fdset-id' expects a non-negative value");
    } else {
        // The lowest id no set uses (QEMU monitor_fdset_add_fd).
        auto used = [&](int64_t v) { return std::any_of(sets.begin(), sets.end(), [&](const FdSet& s) { return s.id == v; }); };
        while (used(id)) id++;
    }
    auto it = std::find_if(sets.begin(), sets.end(), [&](const FdSet& s) { return s.id == id; });
    if (it == sets.end()) it = sets.insert(sets.begin(), FdSet{id, {}});
    int raw = fd.get();
    it->fds.push_back(FdSetEntry{std::move(fd), args.opaque});
    return AddfdInfo{id, raw};
}

Result<> qmp_remove_fd(CommandContext& ctx, const RemoveFdArg& args) {
    auto& sets = ctx.vm().m_fdsets;
    auto it = std::find_if(sets.begin(), sets.end(), [&](const FdSet& s) { return s.id == args.fdset_id; });
    if (it != sets.end()) {
        if (!args.fd) {
            sets.erase(it);
            return {};
        }
        auto& fds = it->fds;
        auto e = std::find_if(fds.begin(), fds.end(), [&](const FdSetEntry& f) { return f.fd.get() == *args.fd; });
        if (e != fds.end()) {
            fds.erase(e);
            if (fds.empty()) sets.erase(it);
            return {};
        }
    }
    if (args.fd) return fail("File descriptor named 'fdset-id:{}, fd:{}' not found", args.fdset_id, *args.fd);
    return fail("File descriptor named 'fdset-id:{}' not found", args.fdset_id);
}

Result<std::vector<FdsetInfo>> qmp_query_fdsets(CommandContext& ctx) {
    std::vector<FdsetInfo> out;
    for (const FdSet& s : ctx.vm().m_fdsets) {
        FdsetInfo info{s.id, {}};
        for (const FdSetEntry& e : s.fds) info.fds.push_back(FdsetFdInfo{e.fd.get(), e.opaque});
        out.push_back(std::move(info));
    }
    return out;
}

Result<std::vector<YankInstance>> qmp_query_yank(CommandContext&) { return std::vector<YankInstance>{}; }

Result<std::vector<JobInfo>> qmp_query_jobs(CommandContext&) { return std::vector<JobInfo>{}; }

// nemu has no TPM device models yet; QEMU answers with its compiled-in lists and an empty
// device list. We compile none in, so all three lists are empty.
Result<std::vector<TpmModel>> qmp_query_tpm_models(CommandContext&) { return std::vector<TpmModel>{}; }
Result<std::vector<TpmType>> qmp_query_tpm_types(CommandContext&) { return std::vector<TpmType>{}; }
Result<std::vector<TPMInfo>> qmp_query_tpm(CommandContext&) { return std::vector<TPMInfo>{}; }

Result<std::vector<ACPIOSTInfo>> qmp_query_acpi_ospm_status(CommandContext&) {
    // QEMU's message when the machine has no ACPI device (machine "none").
    return fail("command is not supported, missing ACPI device");
}

} // namespace nemu::qapi
