#include "system/hmp.h"

#include "system/device_setup.h"

#include <map>
#include <sstream>
#include <vector>

#include "hw/memory/mtree.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "nemu-config.h"
#include "system/iothread.h"
#include "system/vm.h"

namespace nemu {

namespace {

struct HmpInfo {
    std::string_view name;
    std::string_view help;
    std::string (*run)(Vm&);
};

// QEMU prints the version and the package string back to back.
std::string info_version(Vm&) { return QEMU_COMPAT_VERSION "nemu " NEMU_VERSION "\n"; }

std::string info_status(Vm& vm) {
    RunState s = vm.runstate().state();
    if (s == RunState::Running) return "VM status: running\n";
    if (s == RunState::Paused) return "VM status: paused\n";
    return fmt::format("VM status: paused ({})\n", runstate_name(s));
}

std::string info_name(Vm& vm) { return vm.m_name ? *vm.m_name + "\n" : ""; }
std::string info_uuid(Vm& vm) { return vm.m_uuid + "\n"; }

std::string info_kvm(Vm& vm) {
    if (vm.m_accel != "kvm") return "kvm support: disabled\n";
    return "kvm support: enabled\n";
}

void qom_tree(const qom::Object& obj, int depth, std::string& out) {
    out += fmt::format("{:{}}/{} ({})\n", "", depth * 2, obj.name(), obj.type_name());
    for (const auto& [name, child] : obj.children()) qom_tree(*child, depth + 1, out);
}

std::string info_qom_tree(Vm& vm) {
    std::string out;
    if (vm.machine()) qom_tree(*vm.machine(), 0, out);
    return out;
}

// QEMU's hmp_info_pci layout (monitor/hmp-cmds.c), from the same data as query-pci.
std::string info_pci(Vm& vm) {
    CommandContext ctx(vm, nullptr);
    auto buses = qapi::qmp_query_pci(ctx);
    if (!buses) return buses.error().msg + "\n";
    std::string out;
    for (const auto& bus : *buses)
        for (const auto& d : bus.devices) {
            out += fmt::format("  Bus {:2}, device {:3}, function {}:\n", d.bus, d.slot, d.function);
            out += "    " + (d.class_info.desc ? *d.class_info.desc : fmt::format("Class {:04}", d.class_info.class_));
            out += fmt::format(": PCI device {:04x}:{:04x}\n", d.id.vendor, d.id.device);
            if (d.id.subsystem_vendor && d.id.subsystem)
                out += fmt::format("      PCI subsystem {:04x}:{:04x}\n", *d.id.subsystem_vendor, *d.id.subsystem);
            if (d.irq) out += fmt::format("      IRQ {}, pin {}\n", *d.irq, char('A' + d.irq_pin - 1));
            for (const auto& r : d.regions) {
                uint64_t addr = static_cast<uint64_t>(r.address), size = static_cast<uint64_t>(r.size);
                out += fmt::format("      BAR{}: ", r.bar);
                if (r.type == "io")
                    out += fmt::format("I/O at 0x{:04x} [0x{:04x}].\n", addr, addr + size - 1);
                else
                    out += fmt::format("{} bit{} memory at 0x{:08x} [0x{:08x}].\n", r.mem_type_64.value_or(false) ? 64 : 32,
                                       r.prefetch.value_or(false) ? " prefetchable" : "", addr, addr + size - 1);
            }
            out += fmt::format("      id \"{}\"\n", d.qdev_id);
        }
    return out;
}

std::string info_qtree(Vm&) {
    // Devices and buses arrive with the virt machine; the root bus is always there.
    return "bus: main-system-bus\n  type System\n";
}

std::string info_mtree(Vm& vm) {
    if (!vm.machine()) return "";
    // QEMU lists address spaces in creation order: memory, then I/O.
    const memory::AddressSpace* spaces[] = {&vm.machine()->address_space_memory(), &vm.machine()->address_space_io()};
    return memory::format_mtree(spaces);
}

std::string info_iothreads(Vm& vm) {
    std::string out;
    for (const auto& [name, obj] : vm.objects().children()) {
        auto* io = dynamic_cast<const IoThread*>(obj.get());
        if (!io) continue;
        out += fmt::format("{}:\n  thread_id={}\n  poll-max-ns={}\n  poll-grow={}\n  poll-shrink={}\n  aio-max-batch={}\n",
                           name, io->thread_id(), io->m_poll_max_ns, io->m_poll_grow, io->m_poll_shrink,
                           io->m_aio_max_batch);
    }
    return out;
}

std::string info_chardev(Vm& vm) {
    std::string out;
    for (const auto& [name, obj] : vm.chardevs().children()) {
        auto* chr = static_cast<const chardev::Chardev*>(obj.get());
        out += fmt::format("{}: filename={}\n", name, chr->filename());
    }
    return out;
}

constexpr HmpInfo kInfoCommands[] = {
    {"chardev", "show the character devices", info_chardev},
    {"iothreads", "show iothreads", info_iothreads},
    {"kvm", "show KVM information", info_kvm},
    {"mtree", "show memory tree", info_mtree},
    {"name", "show the current VM name", info_name},
    {"pci", "show PCI info", info_pci},
    {"qom-tree", "show QOM composition tree", info_qom_tree},
    {"qtree", "show device tree", info_qtree},
    {"status", "show the current VM status (running|paused)", info_status},
    {"uuid", "show the current VM UUID", info_uuid},
    {"version", "show the version of QEMU", info_version},
};

// HMP commands that are their QMP twin without arguments (QEMU hmp-commands.hx).
struct HmpSimple {
    std::string_view names;   // "quit|q"
    std::string_view help;
    Result<> (*run)(CommandContext&);
};

constexpr HmpSimple kSimpleCommands[] = {
    {"cont|c", "resume emulation", qapi::qmp_cont},
    {"quit|q", "quit the emulator", qapi::qmp_quit},
    {"stop|s", "stop emulation", qapi::qmp_stop},
    {"system_powerdown", "send system power down event", qapi::qmp_system_powerdown},
    {"system_reset", "reset the system", qapi::qmp_system_reset},
};

bool name_matches(std::string_view names, std::string_view word) {
    while (!names.empty()) {
        size_t bar = names.find('|');
        if (names.substr(0, bar) == word) return true;
        if (bar == std::string_view::npos) break;
        names.remove_prefix(bar + 1);
    }
    return false;
}

std::string help_text(std::string_view topic) {
    std::string out;
    if (topic.empty()) {
        out += "cont|c  -- resume emulation\n";
        out += "device_add driver[,prop=value][,...] -- add device, like -device on the command line\n";
        out += "help|? [cmd] -- show the help\n";
        out += "info [subcommand] -- show various information about the system state\n";
        for (const auto& c : kSimpleCommands)
            if (!name_matches(c.names, "c")) out += fmt::format("{}  -- {}\n", c.names, c.help);
    }
    if (topic == "info")
        for (const auto& c : kInfoCommands) out += fmt::format("info {}  -- {}\n", c.name, c.help);
    return out;
}

// QEMU's monitor prints "\r\n" line endings.
std::string crlf(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') i++;
        size_t start = i;
        while (i < line.size() && line[i] != ' ') i++;
        if (i > start) words.push_back(line.substr(start, i - start));
    }
    return words;
}

} // namespace

std::string format_device_help(const qom::TypeRegistry& types) {
    // Group user-creatable devices by category, as QEMU's qdev_device_help does.
    std::map<std::string, std::vector<const qom::TypeInfo*>> by_category;
    for (const qom::TypeInfo* t : types.list("device"))
        if (t->user_creatable_device) by_category[t->category.empty() ? "Uncategorized devices" : t->category].push_back(t);
    std::string out;
    for (const auto& [category, members] : by_category) {
        out += category + ":\n";
        for (const qom::TypeInfo* t : members) {
            out += fmt::format("name \"{}\"", t->name);
            if (std::string bus = types.bus_type(t->name); !bus.empty()) out += fmt::format(", bus {}", bus);
            if (auto alias = device_alias_of(t->name)) out += fmt::format(", alias \"{}\"", *alias);
            if (!t->description.empty()) out += fmt::format(", desc \"{}\"", t->description);
            out += "\n";
        }
        out += "\n";
    }
    return out;
}

std::string run_hmp_command(Vm& vm, std::string_view command_line) {
    auto words = split_words(command_line);
    if (words.empty()) return "";
    std::string_view cmd = words[0];
    if (cmd == "help" || cmd == "?") return crlf(help_text(words.size() > 1 ? words[1] : ""));
    if (cmd == "info") {
        if (words.size() < 2) return crlf(help_text("info"));
        for (const auto& c : kInfoCommands)
            if (c.name == words[1]) return crlf(c.run(vm));
        return crlf(fmt::format("unknown command: 'info {}'\n", words[1]));
    }
    for (const auto& c : kSimpleCommands) {
        if (!name_matches(c.names, cmd)) continue;
        CommandContext ctx(vm, nullptr);
        auto r = c.run(ctx);
        return r ? std::string() : crlf("Error: " + r.error().msg + "\n");
    }
    if (cmd == "device_add") {
        if (words.size() > 1 && (words[1] == "help" || words[1] == "?")) return crlf(format_device_help(vm.types()));
        return crlf("device_add: hotplug lands with the PCI hotplug work; not supported yet\n");
    }
    return crlf(fmt::format("unknown command: '{}'\n", cmd));
}

} // namespace nemu
