#include "accel/kvm/x86/x86_cpuid.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace nemu::kvm::x86 {

namespace {

unsigned bits_for(unsigned count) { return count <= 1 ? 0 : static_cast<unsigned>(std::bit_width(count - 1)); }

struct Widths {
    unsigned thread, core, die;   // field widths
    unsigned pkg() const { return thread + core + die; }
};
Widths widths(const CpuTopology& t) { return {bits_for(t.threads), bits_for(t.cores), bits_for(t.dies)}; }

constexpr CpuFeature kFeatures[] = {
    // CPUID.01H:ECX
    {"sse3", 1, 0, CpuidReg::Ecx, 0}, {"pclmulqdq", 1, 0, CpuidReg::Ecx, 1}, {"monitor", 1, 0, CpuidReg::Ecx, 3},
    {"vmx", 1, 0, CpuidReg::Ecx, 5}, {"ssse3", 1, 0, CpuidReg::Ecx, 9}, {"fma", 1, 0, CpuidReg::Ecx, 12},
    {"cx16", 1, 0, CpuidReg::Ecx, 13}, {"pdcm", 1, 0, CpuidReg::Ecx, 15}, {"pcid", 1, 0, CpuidReg::Ecx, 17},
    {"sse4.1", 1, 0, CpuidReg::Ecx, 19}, {"sse4.2", 1, 0, CpuidReg::Ecx, 20}, {"x2apic", 1, 0, CpuidReg::Ecx, 21},
    {"movbe", 1, 0, CpuidReg::Ecx, 22}, {"popcnt", 1, 0, CpuidReg::Ecx, 23},
    {"tsc-deadline", 1, 0, CpuidReg::Ecx, 24}, {"aes", 1, 0, CpuidReg::Ecx, 25}, {"xsave", 1, 0, CpuidReg::Ecx, 26},
    {"avx", 1, 0, CpuidReg::Ecx, 28}, {"f16c", 1, 0, CpuidReg::Ecx, 29}, {"rdrand", 1, 0, CpuidReg::Ecx, 30},
    {"hypervisor", 1, 0, CpuidReg::Ecx, 31},
    // CPUID.01H:EDX
    {"fpu", 1, 0, CpuidReg::Edx, 0}, {"vme", 1, 0, CpuidReg::Edx, 1}, {"de", 1, 0, CpuidReg::Edx, 2},
    {"pse", 1, 0, CpuidReg::Edx, 3}, {"tsc", 1, 0, CpuidReg::Edx, 4}, {"msr", 1, 0, CpuidReg::Edx, 5},
    {"pae", 1, 0, CpuidReg::Edx, 6}, {"mce", 1, 0, CpuidReg::Edx, 7}, {"cx8", 1, 0, CpuidReg::Edx, 8},
    {"apic", 1, 0, CpuidReg::Edx, 9}, {"sep", 1, 0, CpuidReg::Edx, 11}, {"mtrr", 1, 0, CpuidReg::Edx, 12},
    {"pge", 1, 0, CpuidReg::Edx, 13}, {"mca", 1, 0, CpuidReg::Edx, 14}, {"cmov", 1, 0, CpuidReg::Edx, 15},
    {"pat", 1, 0, CpuidReg::Edx, 16}, {"pse36", 1, 0, CpuidReg::Edx, 17}, {"clflush", 1, 0, CpuidReg::Edx, 19},
    {"mmx", 1, 0, CpuidReg::Edx, 23}, {"fxsr", 1, 0, CpuidReg::Edx, 24}, {"sse", 1, 0, CpuidReg::Edx, 25},
    {"sse2", 1, 0, CpuidReg::Edx, 26}, {"ss", 1, 0, CpuidReg::Edx, 27}, {"ht", 1, 0, CpuidReg::Edx, 28},
    // CPUID.07H.0:EBX/ECX/EDX
    {"fsgsbase", 7, 0, CpuidReg::Ebx, 0}, {"bmi1", 7, 0, CpuidReg::Ebx, 3}, {"hle", 7, 0, CpuidReg::Ebx, 4},
    {"avx2", 7, 0, CpuidReg::Ebx, 5}, {"smep", 7, 0, CpuidReg::Ebx, 7}, {"bmi2", 7, 0, CpuidReg::Ebx, 8},
    {"erms", 7, 0, CpuidReg::Ebx, 9}, {"invpcid", 7, 0, CpuidReg::Ebx, 10}, {"rtm", 7, 0, CpuidReg::Ebx, 11},
    {"avx512f", 7, 0, CpuidReg::Ebx, 16}, {"avx512dq", 7, 0, CpuidReg::Ebx, 17}, {"rdseed", 7, 0, CpuidReg::Ebx, 18},
    {"adx", 7, 0, CpuidReg::Ebx, 19}, {"smap", 7, 0, CpuidReg::Ebx, 20}, {"clflushopt", 7, 0, CpuidReg::Ebx, 23},
    {"clwb", 7, 0, CpuidReg::Ebx, 24}, {"avx512cd", 7, 0, CpuidReg::Ebx, 28}, {"sha-ni", 7, 0, CpuidReg::Ebx, 29},
    {"avx512bw", 7, 0, CpuidReg::Ebx, 30}, {"avx512vl", 7, 0, CpuidReg::Ebx, 31},
    {"umip", 7, 0, CpuidReg::Ecx, 2}, {"pku", 7, 0, CpuidReg::Ecx, 3}, {"vaes", 7, 0, CpuidReg::Ecx, 9},
    {"vpclmulqdq", 7, 0, CpuidReg::Ecx, 10}, {"la57", 7, 0, CpuidReg::Ecx, 16}, {"rdpid", 7, 0, CpuidReg::Ecx, 22},
    {"md-clear", 7, 0, CpuidReg::Edx, 10}, {"spec-ctrl", 7, 0, CpuidReg::Edx, 26}, {"arch-capabilities", 7, 0, CpuidReg::Edx, 29},
    {"ssbd", 7, 0, CpuidReg::Edx, 31},
    // CPUID.80000001H:ECX/EDX
    {"lahf-lm", 0x80000001, 0, CpuidReg::Ecx, 0}, {"svm", 0x80000001, 0, CpuidReg::Ecx, 2},
    {"abm", 0x80000001, 0, CpuidReg::Ecx, 5}, {"sse4a", 0x80000001, 0, CpuidReg::Ecx, 6},
    {"topoext", 0x80000001, 0, CpuidReg::Ecx, 22}, {"syscall", 0x80000001, 0, CpuidReg::Edx, 11},
    {"nx", 0x80000001, 0, CpuidReg::Edx, 20}, {"pdpe1gb", 0x80000001, 0, CpuidReg::Edx, 26},
    {"rdtscp", 0x80000001, 0, CpuidReg::Edx, 27}, {"lm", 0x80000001, 0, CpuidReg::Edx, 29},
    // CPUID.80000007H:EDX, CPUID.4000_0001H:EAX (KVM paravirtual features)
    {"invtsc", 0x80000007, 0, CpuidReg::Edx, 8},
    {"kvmclock", 0x40000001, 0, CpuidReg::Eax, 0}, {"kvm-nopiodelay", 0x40000001, 0, CpuidReg::Eax, 1},
    {"kvm-mmu", 0x40000001, 0, CpuidReg::Eax, 2}, {"kvm-asyncpf", 0x40000001, 0, CpuidReg::Eax, 4},
    {"kvm-steal-time", 0x40000001, 0, CpuidReg::Eax, 5}, {"kvm-pv-eoi", 0x40000001, 0, CpuidReg::Eax, 6},
    {"kvm-pv-unhalt", 0x40000001, 0, CpuidReg::Eax, 7}, {"kvm-pv-tlb-flush", 0x40000001, 0, CpuidReg::Eax, 9},
    {"kvm-pv-ipi", 0x40000001, 0, CpuidReg::Eax, 11}, {"kvm-poll-control", 0x40000001, 0, CpuidReg::Eax, 12},
    {"kvm-pv-sched-yield", 0x40000001, 0, CpuidReg::Eax, 13}, {"kvmclock-stable-bit", 0x40000001, 0, CpuidReg::Eax, 24},
};

uint32_t& reg_of(kvm_cpuid_entry2& e, CpuidReg r) {
    switch (r) {
    case CpuidReg::Eax: return e.eax;
    case CpuidReg::Ebx: return e.ebx;
    case CpuidReg::Ecx: return e.ecx;
    default: return e.edx;
    }
}

const char* reg_name(CpuidReg r) {
    switch (r) {
    case CpuidReg::Eax: return "EAX";
    case CpuidReg::Ebx: return "EBX";
    case CpuidReg::Ecx: return "ECX";
    default: return "EDX";
    }
}

kvm_cpuid_entry2* find_mut(std::vector<kvm_cpuid_entry2>& v, uint32_t leaf, uint32_t subleaf) {
    for (auto& e : v)
        if (e.function == leaf && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == subleaf)) return &e;
    return nullptr;
}

bool is_intel(const std::vector<kvm_cpuid_entry2>& v) {
    const kvm_cpuid_entry2* e = find_cpuid(v, 0);
    return e && e->ebx == 0x756e6547;   // "Genu"
}

} // namespace

CpuPosition cpu_position(const CpuTopology& t, unsigned index) {
    CpuPosition p;
    p.thread = index % t.threads;
    p.core = (index / t.threads) % t.cores;
    p.die = (index / (t.threads * t.cores)) % t.dies;
    p.socket = index / (t.threads * t.cores * t.dies);
    return p;
}

uint32_t x86_apic_id(const CpuTopology& t, unsigned index) {
    CpuPosition p = cpu_position(t, index);
    Widths w = widths(t);
    return (p.socket << w.pkg()) | (p.die << (w.thread + w.core)) | (p.core << w.thread) | p.thread;
}

const CpuFeature* find_cpu_feature(std::string_view name) {
    std::string n(name);
    std::replace(n.begin(), n.end(), '_', '-');
    for (const auto& f : kFeatures)
        if (f.name == n) return &f;
    return nullptr;
}

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& v, uint32_t leaf, uint32_t subleaf) {
    for (const auto& e : v)
        if (e.function == leaf && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == subleaf)) return &e;
    return nullptr;
}

Result<CpuModelSpec> parse_cpu_model(std::string_view text) {
    CpuModelSpec spec;
    size_t comma = text.find(',');
    spec.model = std::string(text.substr(0, comma));
    if (spec.model != "host" && spec.model != "max")
        return fail("unable to find CPU model '{}'", spec.model);
    std::string type = spec.model + "-x86_64-cpu";
    while (comma != std::string_view::npos) {
        text = text.substr(comma + 1);
        comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        if (item.empty()) continue;
        std::string name;
        bool on = true;
        if (item[0] == '+' || item[0] == '-') {
            name = std::string(item.substr(1));
            on = item[0] == '+';
        } else {
            size_t eq = item.find('=');
            name = std::string(item.substr(0, eq));
            std::string value = eq == std::string_view::npos ? "on" : std::string(item.substr(eq + 1));
            if (name == "migratable" || name == "check" || name == "enforce" || name == "host-phys-bits" ||
                name == "l3-cache" || name == "kvm" || name == "pmu")
                continue;
            if (value == "on" || value == "true" || value == "yes") on = true;
            else if (value == "off" || value == "false" || value == "no") on = false;
            else return fail("Parameter '{}' expects 'on' or 'off'", name);
        }
        if (!find_cpu_feature(name))
            return fail("can't apply global {}.{}={}: Property '{}.{}' not found", type, name, on ? "on" : "off", type, name);
        spec.toggles.push_back({name, on});
    }
    return spec;
}

void add_kvm_emulated_features(std::vector<kvm_cpuid_entry2>& supported, bool tsc_deadline_timer) {
    if (!tsc_deadline_timer) return;
    if (auto* e = find_mut(supported, 1, 0)) e->ecx |= 1u << 24;
}

CpuidResult build_guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported, const CpuTopology& topo,
                              unsigned index, const std::vector<FeatureToggle>& toggles) {
    CpuidResult out;
    auto& v = out.entries;
    for (const auto& e : supported)
        if (e.function != 0x1f) v.push_back(e);   // topology is described by leaf 0BH only
    const uint32_t apic_id = x86_apic_id(topo, index);
    const Widths w = widths(topo);
    const unsigned per_pkg = topo.threads * topo.cores * topo.dies;

    if (auto* e = find_mut(v, 1, 0)) {
        e->ebx = (e->ebx & 0x0000ffff) | ((apic_id & 0xff) << 24);
        e->ebx = (e->ebx & ~0xff00u) | (8u << 8);   // CLFLUSH line size: 8 quadwords
        if (per_pkg > 1) {
            e->ebx |= std::min(255u, 1u << w.pkg()) << 16;
            e->edx |= 1u << 28;                      // HTT: the field above is valid
        } else {
            e->edx &= ~(1u << 28);
        }
        e->ecx |= 1u << 31;                          // running under a hypervisor
    }
    if (is_intel(supported)) {
        // Leaf 4: cores per package and threads sharing each cache level.
        for (auto& e : v) {
            if (e.function != 4 || (e.eax & 0x1f) == 0) continue;
            unsigned level = (e.eax >> 5) & 7;
            unsigned sharing = level >= 3 ? per_pkg : topo.threads;
            unsigned cores_per_pkg = std::min(64u, 1u << (w.core + w.die));
            e.eax = (e.eax & 0x3fff) | ((std::min(4096u, sharing) - 1) << 14) | ((cores_per_pkg - 1) << 26);
        }
    }
    for (auto& e : v) {
        if (e.function != 0xb) continue;
        e.edx = apic_id;
        if (e.index == 0) {
            e.eax = w.thread;
            e.ebx = topo.threads;
            e.ecx = (1u << 8) | 0;
        } else if (e.index == 1) {
            e.eax = w.pkg();
            e.ebx = per_pkg;
            e.ecx = (2u << 8) | 1;
        } else {
            e.eax = e.ebx = 0;
            e.ecx = e.index & 0xff;
        }
    }
    if (auto* e = find_mut(v, 0x80000001, 0); e && per_pkg > 1) e->ecx |= 1u << 1;   // CmpLegacy
    if (auto* e = find_mut(v, 0x80000008, 0))
        e->ecx = (e->ecx & ~0xf0ffu) | ((per_pkg - 1) & 0xff) | (w.pkg() << 12);
    if (auto* e = find_mut(v, 0x8000001e, 0)) {
        CpuPosition p = cpu_position(topo, index);
        e->eax = apic_id;
        e->ebx = ((topo.threads - 1) << 8) | ((p.die * topo.cores + p.core) & 0xff);
        e->ecx = (p.socket * topo.dies + p.die) & 0xff;
        e->edx = 0;
    }

    for (const auto& t : toggles) {
        const CpuFeature* f = find_cpu_feature(t.name);
        if (!f) continue;
        kvm_cpuid_entry2* e = find_mut(v, f->leaf, f->subleaf);
        const kvm_cpuid_entry2* s = find_cpuid(supported, f->leaf, f->subleaf);
        uint32_t mask = 1u << f->bit;
        if (!t.on) {
            if (e) reg_of(*e, f->reg) &= ~mask;
            continue;
        }
        bool host_has = s && (reg_of(const_cast<kvm_cpuid_entry2&>(*s), f->reg) & mask);
        if (f->leaf == 1 && f->reg == CpuidReg::Ecx && f->bit == 31) host_has = true;
        if (!host_has || !e) {
            out.warnings.push_back(fmt::format("host doesn't support requested feature: CPUID.{:02X}H:{}.{} [bit {}]",
                                               f->leaf, reg_name(f->reg), f->name, f->bit));
            continue;
        }
        reg_of(*e, f->reg) |= mask;
    }
    return out;
}

} // namespace nemu::kvm::x86
