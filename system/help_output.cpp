#include "system/help_output.h"

#include <algorithm>
#include <vector>

#include "hw/core/device.h"
#include "hw/core/machine.h"
#include "nemu-config.h"
#include "qom/type_registry.h"

namespace nemu {

std::string version_text() {
    // QEMU's first line names the interface version; nemu's own version is the package.
    return "QEMU emulator version " QEMU_COMPAT_VERSION " (nemu " NEMU_VERSION ")\n"
           "nemu: a KVM-only virtual machine monitor following QEMU's interfaces\n";
}

std::string machine_help(const qom::TypeRegistry& types) {
    std::string out = "Supported machines are:\n";
    std::vector<const hw::MachineClassData*> machines;
    for (const qom::TypeInfo* t : types.list("machine"))
        machines.push_back(&std::any_cast<const hw::MachineClassData&>(t->class_data));
    std::sort(machines.begin(), machines.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const auto* m : machines) {
        if (m->alias) out += fmt::format("{:<20} {} (alias of {})\n", *m->alias, m->desc, m->name);
        out += fmt::format("{:<20} {}{}\n", m->name, m->desc, m->is_default ? " (default)" : "");
    }
    return out;
}

std::string accel_help() { return "Accelerators supported in QEMU binary:\nkvm\nqtest\n"; }

std::string object_types_help(const qom::TypeRegistry& types) {
    std::vector<std::string> names;
    for (const qom::TypeInfo* t : types.list(qom::kTypeUserCreatable)) names.push_back(t->name);
    std::sort(names.begin(), names.end());
    std::string out = "List of user creatable objects:\n";
    for (const auto& n : names) out += "  " + n + "\n";
    return out;
}

namespace {

// QEMU shows defaults for qdev (device) properties only.
std::string properties_help(const qom::TypeRegistry& types, std::string_view type, bool with_defaults) {
    // QEMU sorts the "name=<type>" heads and omits " - " when there is no description.
    std::vector<std::pair<std::string, const qom::PropertyDef*>> rows;
    for (const qom::PropertyDef* p : types.class_properties(type)) {
        if (hw::is_qdev_plumbing_property(p->name)) continue;
        rows.emplace_back(fmt::format("{}=<{}>", p->name, p->type), p);
    }
    std::sort(rows.begin(), rows.end());
    std::string out = fmt::format("{} options:\n", type);
    for (const auto& [head, p] : rows) {
        std::string line = "  " + head;
        std::string tail = p->description;
        if (with_defaults && p->default_value) {
            const Json& d = *p->default_value;
            tail += fmt::format(" (default: {})", d.is_string() ? d.get<std::string>() : d.dump());
        }
        if (!tail.empty()) line = fmt::format("  {:<22} - {}", head, tail);
        out += line + "\n";
    }
    return out;
}

} // namespace

Result<std::string> object_properties_help(const qom::TypeRegistry& types, std::string_view type) {
    const qom::TypeInfo* t = types.find(type);
    if (!t || t->abstract || !types.is_a(type, qom::kTypeUserCreatable))
        return fail("Parameter 'qom-type' does not accept value '{}'", type);
    return properties_help(types, type, false);
}

Result<std::string> device_properties_help(const qom::TypeRegistry& types, std::string_view type) {
    const qom::TypeInfo* t = types.find(type);
    if (!t || t->abstract || !types.is_a(type, "device")) return fail("Device '{}' not found", type);
    return properties_help(types, type, true);
}

} // namespace nemu
