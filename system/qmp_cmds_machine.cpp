// QMP handlers about the machine, its CPUs and memory (QEMU qapi/machine.json,
// qapi/machine-target.json).

#include "accel/accel_types.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/cpu_models.h"
#include "system/vm.h"

namespace nemu::qapi {

Result<std::vector<MachineInfo>> qmp_query_machines(CommandContext& ctx) {
    std::vector<MachineInfo> out;
    for (const qom::TypeInfo* t : ctx.vm().types().list("machine")) {
        const auto& data = std::any_cast<const hw::MachineClassData&>(t->class_data);
        MachineInfo m;
        m.name = data.name;
        m.alias = data.alias;
        if (data.is_default) m.is_default = true;
        m.cpu_max = data.max_cpus;
        m.hotpluggable_cpus = data.hotpluggable_cpus;
        m.numa_mem_supported = data.numa_mem_supported;
        m.deprecated = false;
        if (!data.default_cpu_type.empty()) m.default_cpu_type = data.default_cpu_type;
        if (!data.default_ram_id.empty()) m.default_ram_id = data.default_ram_id;
        out.push_back(std::move(m));
    }
    return out;
}

Result<CurrentMachineParams> qmp_query_current_machine(CommandContext&) {
    // Suspend-to-RAM wake-up needs ACPI S3; no nemu machine offers it.
    return CurrentMachineParams{false};
}

Result<TargetInfo> qmp_query_target(CommandContext&) { return TargetInfo{SysEmuTarget::X86_64}; }

Result<KvmInfo> qmp_query_kvm(CommandContext& ctx) {
    KvmInfo info;
    info.present = accel::accel_available("kvm");
    info.enabled = ctx.vm().m_accel == "kvm" && info.present;
    return info;
}

Result<std::vector<CpuInfoFast>> qmp_query_cpus_fast(CommandContext& ctx) {
    // Machine "none" and qtest have no vCPUs.
    std::vector<CpuInfoFast> out;
    hw::Machine* m = ctx.vm().machine();
    if (!m) return out;
    for (const hw::CpuSlot& s : m->cpu_slots()) {
        CpuInfoFast c;
        c.cpu_index = s.index;
        c.qom_path = s.qom_path;
        c.thread_id = s.thread_id;
        CpuInstanceProperties p;
        if (s.socket_id) p.socket_id = *s.socket_id;
        if (s.die_id) p.die_id = *s.die_id;
        if (s.core_id) p.core_id = *s.core_id;
        if (s.thread_in_core) p.thread_id = *s.thread_in_core;
        c.props = p;
        c.target = SysEmuTarget::X86_64;
        out.push_back(std::move(c));
    }
    return out;
}

Result<std::vector<HotpluggableCPU>> qmp_query_hotpluggable_cpus(CommandContext&) {
    // QEMU's answer for machines without CPU hotplug (machine "none").
    return fail("The feature 'query-hotpluggable-cpus' is not enabled");
}

Result<std::vector<MemoryDeviceInfo>> qmp_query_memory_devices(CommandContext&) {
    return std::vector<MemoryDeviceInfo>{};
}

Result<std::vector<CpuDefinitionInfo>> qmp_query_cpu_definitions(CommandContext&) {
    std::vector<CpuDefinitionInfo> out;
    for (const CpuModel& m : cpu_models()) {
        CpuDefinitionInfo d;
        d.name = std::string(m.name);
        d.typename_ = std::string(m.name) + "-x86_64-cpu";
        d.static_ = m.is_static;
        d.migration_safe = m.migration_safe;
        d.deprecated = false;
        d.unavailable_features = unavailable_features(m);
        out.push_back(std::move(d));
    }
    return out;
}

Result<CpuModelExpansionInfo> qmp_query_cpu_model_expansion(CommandContext& ctx, const QueryCpuModelExpansionArg& args) {
    const CpuModel* model = find_cpu_model(args.model.name);
    if (!model) return fail("CPU model '{}' not found", args.model.name);
    if (model->requires_kvm && !(*qmp_query_kvm(ctx)).present)
        return fail("The CPU type '{}' requires KVM", model->name);
    CpuModelExpansionInfo info;
    // QEMU's static expansion reports "base" plus every property; full keeps the name.
    info.model.name = args.type == CpuModelExpansionType::Static ? "base" : std::string(model->name);
    Json props = Json::object();
    for (const auto& [feature, on] : expand_features(*model)) props[feature] = on;
    if (args.model.props) {
        if (!args.model.props->is_object()) return fail("Invalid parameter type for 'model.props', expected: object");
        for (const auto& [k, v] : args.model.props->items()) {
            // CPU properties that are not CPUID features (libvirt passes migratable=false to
            // learn the host's full feature set); they change nothing in the expansion here.
            if (k == "migratable" || k == "check" || k == "enforce" || k == "host-phys-bits" || k == "pmu") {
                if (!v.is_boolean()) return fail("Invalid parameter type for '{}', expected: boolean", k);
                continue;
            }
            if (!props.contains(k)) return fail("Property '{}.{}' not found", model->name, k);
            if (!v.is_boolean()) return fail("Invalid parameter type for '{}', expected: boolean", k);
            props[k] = v;
        }
    }
    info.model.props = std::move(props);
    return info;
}

// nemu's downstream extension (qapi/schema/nemu.json, docs/boot-timeline.md).
Result<std::vector<__org_nemu_BootTimelineMark>> qmp___org_nemu_query_boot_timeline(CommandContext& ctx) {
    std::vector<__org_nemu_BootTimelineMark> out;
    if (hw::Machine* m = ctx.vm().machine())
        for (const auto& mark : m->boot_timeline()) out.push_back({mark.name, mark.ns});
    return out;
}

} // namespace nemu::qapi
