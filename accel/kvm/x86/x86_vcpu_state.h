#pragma once
// x86 vCPU state for a direct kernel boot and for reset:
// - the 64-bit Linux entry (Documentation/arch/x86/boot.rst, "64-bit BOOT PROTOCOL": long
//   mode, identity-mapped paging, __BOOT_CS=0x10 / __BOOT_DS=0x18 flat, rsi = boot_params);
// - the PVH entry (xen/include/public/arch-x86/hvm/start_info.h: 32-bit protected mode, paging
//   off, flat cs/ds/es/ss, ebx = hvm_start_info);
// - the MSR values a firmware would leave (fast strings, MTRRs on with write-back default);
// - LAPIC LINT0 = ExtINT, LINT1 = NMI (the MP spec's virtual-wire setup);
// - a power-on snapshot restored on every machine reset.
// Thread: the main thread while the vCPU is parked (creation, reset).

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "accel/kvm/kvm_vcpu.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::kvm::x86 {

// Guest-physical places the vCPU setup writes (docs/x86-virt-machine.md).
inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x520;
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xA000;
inline constexpr uint64_t kPdAddr = 0xB000;      // 4 page directories: the first 4 GiB
inline constexpr uint64_t kBootStackTop = 0x8ff0;

enum class BootMode { Long64, Protected32 };
struct BootRegs {
    BootMode mode = BootMode::Long64;
    uint64_t entry = 0;
    uint64_t params = 0;   // rsi (Long64) or ebx (Protected32)
};

// GDT (and, for Long64, the identity page tables) in guest RAM.
Result<> write_boot_tables(const memory::AddressSpace& mem, BootMode mode);
// Registers, segments and control registers of the boot vCPU.
Result<> set_boot_registers(KvmVcpu& vcpu, const BootRegs& regs);
// Power-on MSRs and LAPIC wiring, for every vCPU.
Result<> set_power_on_state(KvmVcpu& vcpu, bool bsp);

// Everything KVM_RUN can change that a reset must undo (general, segment, FPU, XCR0, LAPIC,
// MP state, pending events, and the MSRs that carry guest-set state such as kvm-clock).
class VcpuResetState {
public:
    static Result<VcpuResetState> capture(KvmVcpu& vcpu);
    Result<> restore(KvmVcpu& vcpu) const;

private:
    kvm_regs m_regs{};
    kvm_sregs m_sregs{};
    kvm_fpu m_fpu{};
    kvm_lapic_state m_lapic{};
    kvm_mp_state m_mp{};
    kvm_vcpu_events m_events{};
    std::vector<std::pair<uint32_t, uint64_t>> m_msrs;
};

// QEMU's register dump layout ("RAX=... RBX=..."), printed on internal errors.
std::string format_registers(KvmVcpu& vcpu);

} // namespace nemu::kvm::x86
