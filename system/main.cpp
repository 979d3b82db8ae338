// nemu-system-x86_64: start-up in QEMU's order (softmmu/vl.c qemu_init): parse the whole
// command line, answer help requests, daemonize, create chardevs and monitors, objects, the
// machine, then run the main loop. Every error before the loop runs is printed as
// "nemu-system-x86_64: <location>: <message>" and exits 1.

#include <cstdio>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "accel/accel_types.h"
#include "backends/host_memory_backend.h"
#include "backends/machine_ram.h"
#include "system/cmdline.h"
#include "system/device_setup.h"
#include "system/cmdline_memory.h"
#include "system/cmdline_smp.h"
#include "system/hmp.h"
#include "system/keyval.h"
#include "util/size_parse.h"
#include "system/os_process.h"
#include "system/process_memory.h"
#include "system/qtest_frontend.h"
#include "system/register_types.h"
#include "system/startup_config.h"
#include "system/block_setup.h"
#include "system/cmdline_net.h"
#include "system/vm.h"

namespace nemu {
namespace {

constexpr const char* kProg = "nemu-system-x86_64";

struct Runtime {
    std::unique_ptr<EventLoop> loop;
    qom::TypeRegistry types;
    std::unique_ptr<Vm> vm;
    std::vector<std::unique_ptr<QtestFrontend>> qtest;
    std::unique_ptr<TerminationSignals> signals;
    PidFile pidfile;
};

// A chardev from a parsed -chardev/-serial/-qmp/-qtest spec. "none" yields no chardev;
// "chardev:ID" an existing one; otherwise a new one named by the spec's id or `default_id`.
Result<chardev::Chardev*> chardev_from_spec(Vm& vm, const cmdline::ChardevSpec& spec, const std::string& default_id) {
    if (spec.none) return static_cast<chardev::Chardev*>(nullptr);
    if (spec.chardev_ref) {
        chardev::Chardev* chr = vm.find_chardev(*spec.chardev_ref);
        if (!chr) return fail("chardev '{}' not found", *spec.chardev_ref);
        return chr;
    }
    chardev::KeyVals kv;
    for (const auto& item : spec.options.items)
        if (item.key != "id" && item.key != "backend") kv.emplace_back(item.key, item.value);
    auto opts = TRY(chardev::chardev_options_from_keyvals(spec.backend, kv));
    return vm.add_chardev(spec.id.value_or(default_id), opts);
}

Result<chardev::Chardev*> located_chardev(Vm& vm, const StartupConfig::Chr& c, const std::string& default_id) {
    auto chr = chardev_from_spec(vm, c.spec, default_id);
    if (!chr) return fail("{}: {}", c.where, chr.error().msg);
    return chr;
}

// Returns the -serial chardevs in order (nullptr for "-serial none"): the board's UARTs.
Result<std::vector<chardev::Chardev*>> create_chardevs(Vm& vm, const StartupConfig& c) {
    for (const auto& chr : c.chardevs) TRY(located_chardev(vm, chr, ""));
    std::vector<chardev::Chardev*> serials;
    int n = 0;
    for (const auto& chr : c.serials) serials.push_back(TRY(located_chardev(vm, chr, "serial" + std::to_string(n++))));
    return serials;
}

Result<> create_monitors(Vm& vm, const StartupConfig& c) {
    int n = 0;
    for (const auto* list : {&c.qmps, &c.qmp_prettys}) {
        for (const auto& spec : *list) {
            chardev::Chardev* chr = TRY(located_chardev(vm, spec, "compat_monitor" + std::to_string(n++)));
            if (chr) TRY(vm.add_qmp_monitor(*chr, list == &c.qmp_prettys));
        }
    }
    for (const auto& spec : c.monitor_specs)
        if (spec != "none") return fail("-monitor {}: the human monitor on a chardev is not supported yet; use -qmp", spec);
    for (const auto& text : c.mon_specs) {
        auto kv = TRY(cmdline::parse_opts(text, "chardev"));
        auto mode = kv.get("mode").value_or("readline");
        if (mode != "control") return fail("-mon {}: mode={} is not supported yet; use mode=control", text, mode);
        auto id = kv.get("chardev");
        if (!id) return fail("-mon {}: Parameter 'chardev' is missing", text);
        chardev::Chardev* chr = vm.find_chardev(*id);
        if (!chr) return fail("-mon {}: chardev \"{}\" not found", text, *id);
        bool pretty = TRY(cmdline::parse_bool(kv.get("pretty").value_or("off"), "pretty"));
        TRY(vm.add_qmp_monitor(*chr, pretty));
    }
    return {};
}

Result<> create_objects(Vm& vm, const StartupConfig& c) {
    for (const auto& text : c.objects) {
        auto props = cmdline::parse_json_or_opts(text, "qom-type");
        if (!props) return fail("-object {}: {}", text, props.error().msg);
        if (auto r = vm.add_user_object(*props, !text.starts_with('{')); !r)
            return fail("-object {}: {}", text, r.error().msg);
    }
    for (const auto& text : c.devices) {
        auto props = cmdline::parse_json_or_opts(text, "driver");
        if (!props) return fail("-device {}: {}", text, props.error().msg);
        std::string driver(resolve_device_alias(props->value("driver", "")));
        const qom::TypeInfo* t = vm.types().find(driver);
        if (!t || t->abstract || !vm.types().is_a(driver, "device"))
            return fail("-device {}: '{}' is not a valid device model name", text, driver);
    }
    return {};
}

Result<std::string> choose_accel(const StartupConfig& c, bool machine_runs_guest_code) {
    std::vector<std::string> wanted = c.accels;
    if (c.qtest && wanted.empty()) wanted = {"qtest"};
    if (wanted.empty()) wanted = {"kvm"};
    for (const auto& a : wanted) {
        if (a != "kvm" && a != "qtest") continue;  // tcg and friends do not exist in nemu
        if (accel::accel_available(a)) return a;
        // Machine "none" never runs guest code, so a missing /dev/kvm does not stop it
        // (libvirt probes with -machine none,accel=kvm:tcg on hosts without KVM).
        if (a == "kvm" && !machine_runs_guest_code) return a;
        if (a == "kvm" && wanted.size() == 1) return fail("failed to initialize kvm: {}", std::strerror(ENOENT));
    }
    return fail("-accel {}: invalid accelerator {}", wanted.front(), wanted.front());
}

// -machine memory-backend=ID: the backend's memory becomes the machine's RAM (QEMU
// create_default_memdev / machine_run_board_init checks).
// Otherwise the board's default RAM becomes a backend named after the board's RAM id
// ("ram", "virt.ram"), a memory-backend-file with -mem-path (QEMU create_default_memdev).
Result<std::optional<hw::MachineConfig::RamBacking>> machine_ram_backing(Vm& vm, const StartupConfig& c, const std::string& id,
                                                                          const cmdline::MemoryOptions& mem, bool size_given) {
    backends::LegacyRamOptions legacy{c.mem_path, c.mem_prealloc};
    TRY(backends::check_legacy_ram_options(legacy, id));
    if (id.empty()) {
        const auto& d = vm.machine()->class_data();
        uint64_t size = size_given ? mem.size : d.default_ram_size;
        if (d.default_ram_id.empty() || size == 0) return std::optional<hw::MachineConfig::RamBacking>{};
        auto* b = TRY(backends::create_machine_ram_backend(vm.types(), vm.objects(), d.default_ram_id, size, legacy,
                                                           [&vm](qom::Object& o) { vm.apply_globals(o); }));
        b->set_used(true);
        return std::optional<hw::MachineConfig::RamBacking>(hw::MachineConfig::RamBacking{d.default_ram_id, b->host(), b->size()});
    }
    auto* backend = dynamic_cast<backends::HostMemoryBackend*>(vm.objects().child(id));
    if (!backend) return fail("Memory backend '{}' not found", id);
    if (backend->used()) return fail("memory backend {} can't be used multiple times.", id);
    if (size_given && backend->size() != mem.size)
        return fail("Machine memory size does not match the size of the memory backend");
    backend->set_used(true);
    return std::optional<hw::MachineConfig::RamBacking>(hw::MachineConfig::RamBacking{id, backend->host(), backend->size()});
}

Result<> finish_machine(Vm& vm, const StartupConfig& c, const cmdline::MemoryOptions& mem,
                        const std::vector<chardev::Chardev*>& serials) {
    hw::MachineConfig mc;
    mc.ram_size = mem.size;
    mc.ram_size_given = !c.m_args.empty();
    mc.memory_backend_id = vm.machine()->m_memory_backend;
    mc.ram_backing = TRY(machine_ram_backing(vm, c, mc.memory_backend_id, mem, mc.ram_size_given));
    mc.accel = vm.m_accel;
    mc.host = &vm;
    mc.serials = serials;
    mc.cpu_model = c.cpu_model;
    mc.kernel = c.kernel.value_or("");
    mc.initrd = c.initrd.value_or("");
    mc.append = c.append.value_or("");
    EventLoop* loop = &vm.loop();
    mc.post_to_main_loop = [loop](std::function<void()> fn) { loop->post(std::move(fn)); };
    mc.main_loop = loop;
    TRY(vm.init_machine(mc));
    // QEMU's qemu_create_cli_devices: after the board, before machine-done and the first run.
    for (const auto& text : c.devices) {
        auto props = TRY(cmdline::parse_json_or_opts(text, "driver"));
        if (auto r = add_device(vm, props, !text.starts_with('{')); !r) return fail("-device {}: {}", text, r.error().msg);
    }
    TRY(vm.machine()->complete());
    if (!c.start_paused) vm.start_vm();
    return {};
}

// Everything that can fail returns its error here, so that the Runtime's destructors run
// (pid file removed, server sockets unlinked) before main() exits 1.
Result<int> start(Runtime& rt, int argc, char** argv) {
    auto options = TRY(cmdline::parse_argv(argc, argv));
    register_all_types(rt.types);
    StartupConfig cfg = TRY(gather_config(options, rt.types));
    if (cfg.print_and_exit) {
        std::fputs(cfg.print_and_exit->c_str(), stdout);
        return 0;
    }

    Daemonizer daemon;
    if (cfg.daemonize) daemon = TRY(Daemonizer::fork_and_wait());
    // Locked before anything else is created (QEMU's order): a second instance with the same
    // pid file fails before it touches sockets. A failed start removes it again.
    if (cfg.pidfile) {
        auto pf = PidFile::create(*cfg.pidfile);
        if (!pf) return fail("cannot create PID file: {}", pf.error().msg);
        rt.pidfile = std::move(*pf);
    }

    rt.loop = TRY(EventLoop::create());
    rt.vm = std::make_unique<Vm>(rt.types, *rt.loop);
    Vm& vm = *rt.vm;
    Vm* vmp = &vm;
    rt.signals = TRY(TerminationSignals::create(*rt.loop, [vmp](int signo, pid_t pid) {
        if (pid) std::fprintf(stderr, "%s: terminating on signal %d from pid %d (%s)\n", kProg, signo, pid, process_name(pid).c_str());
        else std::fprintf(stderr, "%s: terminating on signal %d\n", kProg, signo);
        vmp->request_shutdown(qapi::ShutdownCause::HostSignal, false);
    }));

    if (cfg.name && !cfg.name->empty()) vm.m_name = *cfg.name;
    if (cfg.uuid) vm.m_uuid = *cfg.uuid;
    vm.m_no_shutdown = cfg.no_shutdown;
    vm.m_no_reboot = cfg.no_reboot;
    for (const auto& g : cfg.globals) vm.m_globals.push_back(GlobalProperty{g.driver, g.property, g.value});

    hw::Machine* machine = TRY(vm.create_machine(cfg.machine));
    for (const auto& [k, v] : cfg.machine_props)
        if (auto r = machine->set_property_string(k, v); !r) return fail("-machine: {}", r.error().msg);
    const auto& mdata = machine->class_data();
    vm.m_accel = TRY(choose_accel(cfg, /*machine_runs_guest_code=*/mdata.name != "none"));

    auto mem = TRY(cmdline::parse_memory_options(cfg.m_args, mdata.default_ram_size));
    cmdline::SmpMachineProps smp_props;
    smp_props.machine_name = mdata.name;
    smp_props.max_cpus = mdata.max_cpus;
    auto smp = TRY(cmdline::parse_smp_options(cfg.smp_args, smp_props));
    machine->m_smp = hw::SmpTopology{smp.cpus, smp.maxcpus, smp.sockets, smp.dies, smp.clusters, smp.cores, smp.threads};
    machine->m_maxmem = mem.maxmem;
    machine->m_memory_slots = mem.slots;

    auto serials = TRY(create_chardevs(vm, cfg));
    TRY(create_monitors(vm, cfg));
    // -overcommit mem-lock=on: keep every page of the VMM and the guest resident (QEMU
    // os_mlock, after the monitors exist), so guest memory is never swapped out.
    if (cfg.mem_lock) {
        if (auto r = backends::lock_all_memory(); !r) {
            std::fprintf(stderr, "%s: %s\n", kProg, r.error().msg.c_str());
            return fail("locking memory failed");
        }
    }
    // -mem-prealloc: every memory backend preallocates, with one thread per vCPU.
    for (const auto& g : backends::mem_prealloc_globals({cfg.mem_path, cfg.mem_prealloc}, smp.cpus))
        vm.m_globals.push_back(GlobalProperty{g.driver, g.property, g.value});
    if (cfg.qtest) {
        if (vm.m_accel != "qtest") return fail("-qtest needs -accel qtest");
        auto chr = TRY(located_chardev(vm, *cfg.qtest, "qtest"));
        if (!chr) return fail("{}: a qtest chardev is required", cfg.qtest->where);
        rt.qtest.push_back(TRY(QtestFrontend::create(vm, *chr, cfg.qtest_log)));
        vm.clock().set(0);
    }
    TRY(create_objects(vm, cfg));
    TRY(create_block_devices(vm, cfg));
    TRY(create_netdevs(vm, cfg));

    if (cfg.preconfig) {
        vm.set_preconfig_continuation([&vm, cfg, mem, serials] { return finish_machine(vm, cfg, mem, serials); });
    } else {
        TRY(finish_machine(vm, cfg, mem, serials));
    }

    if (cfg.daemonize) TRY(daemon.ready());
    return rt.loop->run();
}

int run(int argc, char** argv) {
    // Before any thread exists (std::thread takes the default stack size when it starts).
    if (auto r = tune_process_memory(); !r) {
        std::fprintf(stderr, "%s: %s\n", kProg, r.error().msg.c_str());
        return 1;
    }
    Runtime rt;
    auto status = start(rt, argc, argv);
    if (!status) {
        std::fprintf(stderr, "%s: %s\n", kProg, status.error().msg.c_str());
        return 1;
    }
    return *status;
}

} // namespace
} // namespace nemu

int main(int argc, char** argv) { return nemu::run(argc, argv); }
