#pragma once
// The x86-64 CPU models nemu offers (-cpu help, query-cpu-definitions, query-cpu-model-
// expansion) and their feature flags under QEMU's names. nemu is KVM-only, so "host" and
// "max" both mean "what this host's CPU offers" (the KVM accelerator later narrows this to
// KVM_GET_SUPPORTED_CPUID); named models list fixed features as QEMU's builtin_x86_defs do.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nemu {

struct CpuModel {
    std::string_view name;
    std::string_view description;
    bool requires_kvm = false;
    bool is_static = false;
    bool migration_safe = false;
    bool from_host = false;                   // features read from the host CPU
    std::span<const std::string_view> features;   // fixed models only
};

std::span<const CpuModel> cpu_models();
const CpuModel* find_cpu_model(std::string_view name);
// Every known feature name mapped to whether the model has it.
std::map<std::string, bool> expand_features(const CpuModel& model);
// Features the model wants that this host cannot give ("kvm" when KVM is absent).
std::vector<std::string> unavailable_features(const CpuModel& model);
// The "-cpu help" text.
std::string format_cpu_help();

} // namespace nemu
