#include "accel/kvm/x86/x86_cpuid.h"

#include <gtest/gtest.h>

namespace nemu::kvm::x86 {
namespace {

kvm_cpuid_entry2 entry(uint32_t leaf, uint32_t index, uint32_t a, uint32_t b, uint32_t c, uint32_t d, bool indexed = false) {
    kvm_cpuid_entry2 e{};
    e.function = leaf;
    e.index = index;
    e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
    e.eax = a;
    e.ebx = b;
    e.ecx = c;
    e.edx = d;
    return e;
}

// A small AMD-like "supported" list as KVM_GET_SUPPORTED_CPUID reports it.
std::vector<kvm_cpuid_entry2> amd_host() {
    return {
        entry(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65),                  // AuthenticAMD
        entry(1, 0, 0x00a00f11, 0, (1u << 21) | (1u << 0), (1u << 0) | (1u << 25)),
        entry(7, 0, 0, (1u << 5), 0, 0, true),
        entry(0xb, 0, 0, 0, 0, 0, true), entry(0xb, 1, 0, 0, 0, 0, true), entry(0xb, 2, 0, 0, 0, 0, true),
        entry(0x1f, 0, 0, 0, 0, 0, true),
        entry(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
        entry(0x40000001, 0, 0x1, 0, 0, 0),
        entry(0x80000001, 0, 0, 0, (1u << 2), (1u << 29)),
        entry(0x80000008, 0, 0x3030, 0, 0, 0),
        entry(0x8000001e, 0, 0, 0, 0, 0),
    };
}

TEST(Topology, ApicIdsPackFieldsAtPowerOfTwoWidths) {
    CpuTopology t{2, 1, 3, 2};   // 2 sockets x 3 cores x 2 threads
    EXPECT_EQ(x86_apic_id(t, 0), 0u);
    EXPECT_EQ(x86_apic_id(t, 1), 1u);    // thread 1
    EXPECT_EQ(x86_apic_id(t, 2), 2u);    // core 1
    EXPECT_EQ(x86_apic_id(t, 5), 5u);    // core 2 thread 1
    EXPECT_EQ(x86_apic_id(t, 6), 8u);    // socket 1: 1 thread bit + 2 core bits
    auto p = cpu_position(t, 11);
    EXPECT_EQ(p.socket, 1u);
    EXPECT_EQ(p.core, 2u);
    EXPECT_EQ(p.thread, 1u);
}

TEST(Cpuid, TopologyLeavesDescribeTheSmpLayout) {
    CpuTopology t{2, 1, 2, 1};
    auto r = build_guest_cpuid(amd_host(), t, 3, {});
    const auto* l1 = find_cpuid(r.entries, 1);
    ASSERT_TRUE(l1);
    EXPECT_EQ(l1->ebx >> 24, x86_apic_id(t, 3));
    EXPECT_EQ((l1->ebx >> 16) & 0xff, 2u);
    EXPECT_TRUE(l1->edx & (1u << 28));
    EXPECT_TRUE(l1->ecx & (1u << 31)) << "hypervisor bit";
    const auto* b0 = find_cpuid(r.entries, 0xb, 0);
    const auto* b1 = find_cpuid(r.entries, 0xb, 1);
    ASSERT_TRUE(b0 && b1);
    EXPECT_EQ(b0->ebx, 1u);
    EXPECT_EQ(b1->ebx, 2u);
    EXPECT_EQ(b1->eax, 1u);
    EXPECT_EQ(b1->edx, x86_apic_id(t, 3));
    EXPECT_EQ(find_cpuid(r.entries, 0x1f), nullptr);
    EXPECT_EQ(find_cpuid(r.entries, 0x80000008)->ecx & 0xff, 1u);
    EXPECT_TRUE(find_cpuid(r.entries, 0x80000001)->ecx & 2u) << "CmpLegacy";
}

TEST(Cpuid, SingleCpuHasNoHtt) {
    auto r = build_guest_cpuid(amd_host(), CpuTopology{}, 0, {});
    EXPECT_FALSE(find_cpuid(r.entries, 1)->edx & (1u << 28));
}

TEST(Cpuid, TogglesClearAndWarnLikeQemu) {
    auto r = build_guest_cpuid(amd_host(), CpuTopology{}, 0, {{"x2apic", false}, {"avx512f", true}, {"avx2", true}});
    EXPECT_FALSE(find_cpuid(r.entries, 1)->ecx & (1u << 21));
    EXPECT_TRUE(find_cpuid(r.entries, 7)->ebx & (1u << 5));
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0], "host doesn't support requested feature: CPUID.07H:EBX.avx512f [bit 16]");
}

// QEMU 7.2 kvm_arch_get_supported_cpuid: with KVM_CAP_TSC_DEADLINE_TIMER the guest is offered
// the TSC-deadline timer, which KVM_GET_SUPPORTED_CPUID itself never lists; -tsc-deadline
// still takes it away.
TEST(Cpuid, TscDeadlineOfferedWhenKvmEmulatesIt) {
    std::vector<kvm_cpuid_entry2> without(1), with(1);
    without[0].function = with[0].function = 1;
    add_kvm_emulated_features(without, false);
    add_kvm_emulated_features(with, true);
    EXPECT_EQ(without[0].ecx & (1u << 24), 0u);
    EXPECT_NE(with[0].ecx & (1u << 24), 0u);
    const CpuTopology one{1, 1, 1, 1};
    auto offered = build_guest_cpuid(with, one, 0, {});
    EXPECT_NE(find_cpuid(offered.entries, 1)->ecx & (1u << 24), 0u);
    auto removed = build_guest_cpuid(with, one, 0, {FeatureToggle{"tsc-deadline", false}});
    EXPECT_EQ(find_cpuid(removed.entries, 1)->ecx & (1u << 24), 0u);
}

TEST(CpuModel, ParsesHostAndMaxWithToggles) {
    auto s = parse_cpu_model("host,+avx2,-x2apic,migratable=on,pmu=off,kvm-pv-eoi=on");
    ASSERT_TRUE(s) << s.error().msg;
    EXPECT_EQ(s->model, "host");
    ASSERT_EQ(s->toggles.size(), 3u);
    EXPECT_FALSE(s->toggles[1].on);
    EXPECT_TRUE(parse_cpu_model("max"));
}

TEST(CpuModel, UnknownModelAndFeatureAreErrors) {
    EXPECT_EQ(parse_cpu_model("qemu64").error().msg, "unable to find CPU model 'qemu64'");
    EXPECT_EQ(parse_cpu_model("host,+bogus").error().msg,
              "can't apply global host-x86_64-cpu.bogus=on: Property 'host-x86_64-cpu.bogus' not found");
}

} // namespace
} // namespace nemu::kvm::x86
