#include "system/device_setup.h"
#include "system/startup_config.h"

#include "system/cpu_models.h"
#include "system/help_output.h"
#include "system/hmp.h"
#include "system/keyval.h"
#include "util/size_parse.h"

namespace nemu {

namespace {

using cmdline::ParsedOption;

template <class T> Result<T> located(const ParsedOption& o, Result<T> r) {
    if (!r) return fail("{}", cmdline::option_error(o, r.error().msg));
    return r;
}

std::string where(const ParsedOption& o) { return o.spelling + " " + o.arg; }

std::string format_uuid(const std::array<uint8_t, 16>& b) {
    std::string out;
    for (size_t i = 0; i < b.size(); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += fmt::format("{:02x}", b[i]);
    }
    return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) return out;
        start = p + 1;
    }
}

// -machine TYPE[,accel=A[:B]][,prop=value...] (keyval, "type" implied).
Result<> machine_option(StartupConfig& c, const std::string& arg, const qom::TypeRegistry& types) {
    auto kv = TRY(cmdline::parse_opts(arg, "type"));
    if (kv.help || kv.get("type") == "help") {
        c.print_and_exit = machine_help(types);
        return {};
    }
    for (const auto& item : kv.items) {
        if (item.key == "type") c.machine = item.value;
        else if (item.key == "accel") c.accels = split(item.value, ':');
        else c.machine_props.emplace_back(item.key, item.value);
    }
    return {};
}

Result<> help_query(StartupConfig& c, const std::string& name, const std::string& arg, const qom::TypeRegistry& types) {
    if (name == "accel") {
        auto kv = TRY(cmdline::parse_opts(arg, "accel"));
        if (kv.help) c.print_and_exit = accel_help();
        else if (auto a = kv.get("accel")) c.accels = split(*a, ':');
        return {};
    }
    if (name == "cpu") {
        if (cmdline::is_help_option(arg)) c.print_and_exit = format_cpu_help();
        return {};
    }
    if (name == "device" && !arg.starts_with('{')) {
        auto kv = TRY(cmdline::parse_opts(arg, "driver"));
        if (kv.help) {
            auto driver = kv.get("driver");
            if (!driver || cmdline::is_help_option(*driver)) c.print_and_exit = format_device_help(types);
            else c.print_and_exit = TRY(device_properties_help(types, resolve_device_alias(*driver)));
        }
        return {};
    }
    if (name == "object" && !arg.starts_with('{')) {
        auto kv = TRY(cmdline::parse_opts(arg, "qom-type"));
        if (kv.help) {
            auto type = kv.get("qom-type");
            if (!type || cmdline::is_help_option(*type)) c.print_and_exit = object_types_help(types);
            else c.print_and_exit = TRY(object_properties_help(types, *type));
        }
    }
    return {};
}

} // namespace

Result<StartupConfig> gather_config(const std::vector<ParsedOption>& options, const qom::TypeRegistry& types) {
    StartupConfig c;
    for (const ParsedOption& o : options) {
        const std::string name(o.def->name);
        const std::string& arg = o.arg;
        if (name == "version") {
            c.print_and_exit = version_text();
            return c;
        }
        if (name == "h" || name == "help") {
            c.print_and_exit = version_text() + cmdline::help_text();
            return c;
        }
        if (o.def->support == cmdline::Support::Later) return fail("{}", cmdline::not_supported_yet(*o.def));
        if (o.def->support == cmdline::Support::Unsupported) return fail("{}", cmdline::not_supported(*o.def));

        if (name == "machine" || name == "M") TRY(located(o, machine_option(c, arg, types)));
        else if (name == "accel" || name == "cpu" || name == "device" || name == "object")
            TRY(located(o, help_query(c, name, arg, types)));
        if (c.print_and_exit) return c;

        if (name == "m") c.m_args.push_back(arg);
        else if (name == "smp") c.smp_args.push_back(arg);
        else if (name == "object") c.objects.push_back(arg);
        else if (name == "device") c.devices.push_back(arg);
        else if (name == "blockdev") c.blockdevs.push_back({TRY(located(o, cmdline::parse_blockdev(arg))), where(o)});
        else if (name == "netdev") c.netdevs.push_back({TRY(located(o, cmdline::parse_netdev(arg))), where(o)});
        else if (name == "drive") c.drives.push_back({TRY(located(o, cmdline::parse_drive(arg))), where(o)});
        else if (name == "chardev") c.chardevs.push_back({TRY(located(o, cmdline::parse_chardev(arg))), where(o)});
        else if (name == "serial") c.serials.push_back({TRY(located(o, cmdline::parse_chardev_compat(arg))), where(o)});
        else if (name == "qmp") c.qmps.push_back({TRY(located(o, cmdline::parse_chardev_compat(arg))), where(o)});
        else if (name == "qmp-pretty")
            c.qmp_prettys.push_back({TRY(located(o, cmdline::parse_chardev_compat(arg))), where(o)});
        else if (name == "qtest") c.qtest = StartupConfig::Chr{TRY(located(o, cmdline::parse_chardev_compat(arg))), where(o)};
        else if (name == "mon") c.mon_specs.push_back(arg);
        else if (name == "monitor") c.monitor_specs.push_back(arg);
        else if (name == "global") c.globals.push_back(TRY(located(o, cmdline::parse_global(arg))));
        else if (name == "qtest-log") c.qtest_log = arg;
        else if (name == "name") c.name = TRY(located(o, cmdline::parse_name(arg))).guest;
        else if (name == "uuid") c.uuid = format_uuid(TRY(located(o, cmdline::parse_uuid(arg))));
        else if (name == "pidfile") c.pidfile = arg;
        else if (name == "S") c.start_paused = true;
        else if (name == "snapshot") c.snapshot = true;
        else if (name == "daemonize") c.daemonize = true;
        else if (name == "preconfig") c.preconfig = true;
        else if (name == "no-shutdown") c.no_shutdown = true;
        else if (name == "no-reboot") c.no_reboot = true;
        else if (name == "enable-kvm") c.accels = {"kvm"};
        else if (name == "kernel") c.kernel = arg;
        else if (name == "initrd") c.initrd = arg;
        else if (name == "append") c.append = arg;
        else if (name == "cpu") c.cpu_model = arg;
        else if (name == "nographic") c.nographic = true;
        else if (name == "nodefaults") c.nodefaults = true;
        else if (name == "mem-path") c.mem_path = arg;
        else if (name == "mem-prealloc") c.mem_prealloc = true;
        else if (name == "msg") TRY(located(o, cmdline::parse_msg(arg)));
        else if (name == "rtc") TRY(located(o, cmdline::parse_rtc(arg)));
        else if (name == "boot") TRY(located(o, cmdline::parse_boot(arg)));
        else if (name == "display") TRY(located(o, cmdline::parse_display(arg)));
        else if (name == "vga") TRY(located(o, cmdline::parse_vga(arg)));
        else if (name == "trace") TRY(located(o, cmdline::parse_trace(arg)));
        else if (name == "overcommit") c.mem_lock = TRY(located(o, cmdline::parse_overcommit(arg))).mem_lock;
        else if (name == "sandbox") {
            // seccomp lands with its own work; refusing beats pretending to be confined.
            if (TRY(located(o, cmdline::parse_sandbox(arg))).enable)
                return fail("{}", cmdline::option_error(o, "seccomp sandboxing is not supported yet"));
        }
    }
    // QEMU: -nographic puts the first serial port (muxed with the monitor) on stdio unless a
    // -serial was given or -nodefaults asked for no default devices.
    if (c.nographic && c.serials.empty() && !c.nodefaults)
        c.serials.push_back({TRY(cmdline::parse_chardev_compat("mon:stdio")), "-nographic"});
    if (c.initrd && !c.kernel) return fail("-initrd only allowed with -kernel option");
    if (c.append && !c.kernel) return fail("-append only allowed with -kernel option");
    return c;
}

} // namespace nemu
