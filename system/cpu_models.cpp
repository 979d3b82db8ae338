#include "system/cpu_models.h"

#include <cpuid.h>

#include <fmt/core.h>

#include "accel/accel_types.h"

namespace nemu {

namespace {

enum Reg { Eax, Ebx, Ecx, Edx };

struct FeatureBit {
    std::string_view name;
    unsigned leaf, subleaf;
    Reg reg;
    unsigned bit;
};

// QEMU's feature names (target/i386/cpu.c feature_word_info) for CPUID leaves 1, 7 and
// 0x80000001; Intel SDM vol. 2A "CPUID" gives the bit positions.
constexpr FeatureBit kFeatures[] = {
    {"fpu", 1, 0, Edx, 0},         {"vme", 1, 0, Edx, 1},        {"de", 1, 0, Edx, 2},
    {"pse", 1, 0, Edx, 3},         {"tsc", 1, 0, Edx, 4},        {"msr", 1, 0, Edx, 5},
    {"pae", 1, 0, Edx, 6},         {"mce", 1, 0, Edx, 7},        {"cx8", 1, 0, Edx, 8},
    {"apic", 1, 0, Edx, 9},        {"sep", 1, 0, Edx, 11},       {"mtrr", 1, 0, Edx, 12},
    {"pge", 1, 0, Edx, 13},        {"mca", 1, 0, Edx, 14},       {"cmov", 1, 0, Edx, 15},
    {"pat", 1, 0, Edx, 16},        {"pse36", 1, 0, Edx, 17},     {"clflush", 1, 0, Edx, 19},
    {"mmx", 1, 0, Edx, 23},        {"fxsr", 1, 0, Edx, 24},      {"sse", 1, 0, Edx, 25},
    {"sse2", 1, 0, Edx, 26},       {"ss", 1, 0, Edx, 27},        {"ht", 1, 0, Edx, 28},
    {"pni", 1, 0, Ecx, 0},         {"pclmulqdq", 1, 0, Ecx, 1},  {"ssse3", 1, 0, Ecx, 9},
    {"fma", 1, 0, Ecx, 12},        {"cx16", 1, 0, Ecx, 13},      {"pcid", 1, 0, Ecx, 17},
    {"sse4.1", 1, 0, Ecx, 19},     {"sse4.2", 1, 0, Ecx, 20},    {"x2apic", 1, 0, Ecx, 21},
    {"movbe", 1, 0, Ecx, 22},      {"popcnt", 1, 0, Ecx, 23},    {"tsc-deadline", 1, 0, Ecx, 24},
    {"aes", 1, 0, Ecx, 25},        {"xsave", 1, 0, Ecx, 26},     {"avx", 1, 0, Ecx, 28},
    {"f16c", 1, 0, Ecx, 29},       {"rdrand", 1, 0, Ecx, 30},    {"hypervisor", 1, 0, Ecx, 31},
    {"fsgsbase", 7, 0, Ebx, 0},    {"bmi1", 7, 0, Ebx, 3},       {"avx2", 7, 0, Ebx, 5},
    {"smep", 7, 0, Ebx, 7},        {"bmi2", 7, 0, Ebx, 8},       {"erms", 7, 0, Ebx, 9},
    {"invpcid", 7, 0, Ebx, 10},    {"avx512f", 7, 0, Ebx, 16},   {"rdseed", 7, 0, Ebx, 18},
    {"adx", 7, 0, Ebx, 19},        {"smap", 7, 0, Ebx, 20},      {"clflushopt", 7, 0, Ebx, 23},
    {"clwb", 7, 0, Ebx, 24},       {"sha-ni", 7, 0, Ebx, 29},    {"umip", 7, 0, Ecx, 2},
    {"pku", 7, 0, Ecx, 3},         {"vaes", 7, 0, Ecx, 9},       {"rdpid", 7, 0, Ecx, 22},
    {"md-clear", 7, 0, Edx, 10},   {"spec-ctrl", 7, 0, Edx, 26}, {"arch-capabilities", 7, 0, Edx, 29},
    {"ssbd", 7, 0, Edx, 31},       {"syscall", 0x80000001, 0, Edx, 11}, {"nx", 0x80000001, 0, Edx, 20},
    {"pdpe1gb", 0x80000001, 0, Edx, 26}, {"rdtscp", 0x80000001, 0, Edx, 27}, {"lm", 0x80000001, 0, Edx, 29},
    {"lahf-lm", 0x80000001, 0, Ecx, 0}, {"svm", 0x80000001, 0, Ecx, 2}, {"abm", 0x80000001, 0, Ecx, 5},
    {"sse4a", 0x80000001, 0, Ecx, 6}, {"3dnowprefetch", 0x80000001, 0, Ecx, 8},
};

// QEMU's qemu64 and kvm64 definitions (builtin_x86_defs), limited to the names above.
constexpr std::string_view kQemu64[] = {"fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep",
                                        "mtrr", "pge", "mca", "cmov", "pat", "pse36", "clflush", "mmx",
                                        "fxsr", "sse", "sse2", "pni", "cx16", "syscall", "nx", "lm",
                                        "lahf-lm", "sse4a", "svm", "popcnt"};
constexpr std::string_view kKvm64[] = {"fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep",
                                       "mtrr", "pge", "mca", "cmov", "pat", "pse36", "clflush", "mmx",
                                       "fxsr", "sse", "sse2", "pni", "cx16", "syscall", "nx", "lm"};

constexpr CpuModel kModels[] = {
    {"base", "base CPU model type with no features enabled", false, true, true, false, {}},
    {"host", "KVM processor with all supported host features", true, false, false, true, {}},
    {"kvm64", "Common KVM processor", false, false, true, false, kKvm64},
    {"max", "Enables all features supported by the accelerator in the current host", false, false, false, true, {}},
    {"qemu64", "QEMU Virtual CPU version 2.5+", false, false, true, false, kQemu64},
};

bool host_has(const FeatureBit& f) {
    unsigned max_leaf = __get_cpuid_max(f.leaf & 0x80000000u, nullptr);
    if (max_leaf < f.leaf) return false;
    unsigned regs[4] = {};
    __cpuid_count(f.leaf, f.subleaf, regs[Eax], regs[Ebx], regs[Ecx], regs[Edx]);
    return (regs[f.reg] >> f.bit) & 1u;
}

} // namespace

std::span<const CpuModel> cpu_models() { return kModels; }

const CpuModel* find_cpu_model(std::string_view name) {
    for (const auto& m : kModels)
        if (m.name == name) return &m;
    return nullptr;
}

std::map<std::string, bool> expand_features(const CpuModel& model) {
    std::map<std::string, bool> out;
    for (const auto& f : kFeatures) {
        bool on = false;
        if (model.from_host) {
            on = host_has(f);
        } else {
            for (auto name : model.features)
                if (name == f.name) on = true;
        }
        out[std::string(f.name)] = on;
    }
    return out;
}

std::vector<std::string> unavailable_features(const CpuModel& model) {
    std::vector<std::string> out;
    if (model.requires_kvm && !accel::accel_available("kvm")) out.push_back("kvm");
    if (model.from_host) return out;
    for (auto name : model.features)
        for (const auto& f : kFeatures)
            if (f.name == name && !host_has(f)) out.push_back(std::string(name));
    return out;
}

std::string format_cpu_help() {
    std::string out = "Available CPUs:\n";
    for (const auto& m : kModels) out += fmt::format("x86 {:<16} {}\n", m.name, m.description);
    out += "\nRecognized CPUID flags:\n";
    std::string line = " ";
    for (const auto& f : kFeatures) {
        if (line.size() + f.name.size() + 1 > 76) {
            out += line + "\n";
            line = " ";
        }
        line += " " + std::string(f.name);
    }
    out += line + "\n";
    return out;
}

} // namespace nemu
