#pragma once
// The CPUID a guest vCPU sees under `-cpu host` / `-cpu max`: KVM_GET_SUPPORTED_CPUID, with the
// topology leaves rewritten for -smp (Intel SDM vol. 2A CPUID leaves 01H, 04H, 0BH; AMD APM
// vol. 3 leaves 8000_0008H and 8000_001EH), the hypervisor bit set, leaf 1FH dropped (we
// describe the topology through 0BH), and +feat/-feat toggles applied as QEMU applies them
// (an unsupported +feat is a warning and stays off). Pure: unit-tested without /dev/kvm.

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nemu::kvm::x86 {

struct CpuTopology {
    unsigned sockets = 1, dies = 1, cores = 1, threads = 1;
};

struct CpuPosition {
    unsigned socket = 0, die = 0, core = 0, thread = 0;
};

// The position of vCPU `index` (threads fastest, then cores, dies, sockets: QEMU's order).
CpuPosition cpu_position(const CpuTopology& topo, unsigned index);
// Its initial APIC ID: fields packed at power-of-two widths (SDM 8.9.1).
uint32_t x86_apic_id(const CpuTopology& topo, unsigned index);

enum class CpuidReg { Eax, Ebx, Ecx, Edx };
struct CpuFeature {
    std::string_view name;   // QEMU's spelling (target/i386/cpu.c feature_word_info)
    uint32_t leaf;
    uint32_t subleaf;
    CpuidReg reg;
    unsigned bit;
};
const CpuFeature* find_cpu_feature(std::string_view name);

struct FeatureToggle {
    std::string name;
    bool on;
};

// -cpu host,+avx2,-x2apic,pmu=off,...: the toggles and the properties we accept and ignore
// (migratable, check, enforce). Unknown names are QEMU's error.
struct CpuModelSpec {
    std::string model;   // "host" or "max"
    std::vector<FeatureToggle> toggles;
};
Result<CpuModelSpec> parse_cpu_model(std::string_view text);

struct CpuidResult {
    std::vector<kvm_cpuid_entry2> entries;
    std::vector<std::string> warnings;   // e.g. host doesn't support requested feature ...
};
CpuidResult build_guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported, const CpuTopology& topo,
                              unsigned index, const std::vector<FeatureToggle>& toggles);

// Features KVM emulates but leaves out of KVM_GET_SUPPORTED_CPUID, added to the supported set
// as QEMU 7.2's kvm_arch_get_supported_cpuid does with an in-kernel irqchip (nemu always has
// one): the TSC-deadline timer (CPUID.01H:ECX[24]) when KVM_CAP_TSC_DEADLINE_TIMER. Without
// it a Linux guest runs its LAPIC timer in one-shot mode and must calibrate it first, which
// on the virt board (no PIT, HPET or PM timer to calibrate against) is slow and erratic.
void add_kvm_emulated_features(std::vector<kvm_cpuid_entry2>& supported, bool tsc_deadline_timer);

// Lookup helper for tests and callers.
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& entries, uint32_t leaf, uint32_t subleaf = 0);

} // namespace nemu::kvm::x86
