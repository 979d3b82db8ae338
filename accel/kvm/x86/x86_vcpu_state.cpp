#include "accel/kvm/x86/x86_vcpu_state.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "hw/memory/address_space.h"

namespace nemu::kvm::x86 {

namespace {

// Descriptor = base/limit/flags packed as in the SDM vol. 3A 3.4.5.
constexpr uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
    return ((uint64_t(base) & 0xff000000) << 32) | ((uint64_t(flags) & 0xf0ff) << 40) |
           ((uint64_t(limit) & 0xf0000) << 32) | ((uint64_t(base) & 0x00ffffff) << 16) | (uint64_t(limit) & 0xffff);
}
constexpr uint64_t kCode64 = gdt_entry(0xa09b, 0, 0xfffff);   // L=1, present, exec/read
constexpr uint64_t kCode32 = gdt_entry(0xc09b, 0, 0xfffff);   // D=1, present, exec/read
constexpr uint64_t kData = gdt_entry(0xc093, 0, 0xfffff);     // D=1, present, read/write
constexpr uint64_t kTss = gdt_entry(0x008b, 0, 0xfff);        // busy TSS
constexpr uint16_t kCodeSel = 0x10, kDataSel = 0x18, kTssSel = 0x20;

// MSR numbers (SDM vol. 4; Linux's arch/x86/include/asm/msr-index.h; KVM's kvm_para.h).
// IA32_TSC is left alone: KVM starts every vCPU's TSC in sync, and writing 0 to each one at
// a slightly different time makes Linux mark the TSCs unsynchronized.
constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrMiscEnable = 0x1a0, kMsrMtrrDefType = 0x2ff, kMsrPat = 0x277;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083, kMsrSfmask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrKvmWallClock = 0x4b564d00, kMsrKvmSystemTime = 0x4b564d01, kMsrKvmAsyncPf = 0x4b564d02;
constexpr uint32_t kMsrKvmStealTime = 0x4b564d03, kMsrKvmPvEoi = 0x4b564d04, kMsrKvmPollControl = 0x4b564d05;

std::vector<std::pair<uint32_t, uint64_t>> power_on_msrs() {
    return {
        {kMsrSysenterCs, 0}, {kMsrSysenterEsp, 0}, {kMsrSysenterEip, 0},
        {kMsrStar, 0}, {kMsrLstar, 0}, {kMsrCstar, 0}, {kMsrSfmask, 0}, {kMsrKernelGsBase, 0},
        {kMsrMiscEnable, 1},                       // fast string operations enabled
        {kMsrMtrrDefType, (1u << 11) | 6},         // MTRRs enabled, default type write-back
        {kMsrPat, 0x0007040600070406ull},          // the architectural power-on PAT
        {kMsrKvmWallClock, 0}, {kMsrKvmSystemTime, 0}, {kMsrKvmAsyncPf, 0}, {kMsrKvmStealTime, 0},
        {kMsrKvmPvEoi, 0}, {kMsrKvmPollControl, 1},
    };
}

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64, bool db) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = db ? 1 : 0;
    s.s = 1;
    s.l = code64 ? 1 : 0;
    s.g = 1;
    return s;
}

} // namespace

Result<> write_boot_tables(const memory::AddressSpace& mem, BootMode mode) {
    std::array<uint64_t, 6> gdt{0, 0, mode == BootMode::Long64 ? kCode64 : kCode32, kData, kTss, 0};
    for (size_t i = 0; i < gdt.size(); ++i)
        if (mem.write_u64(kGdtAddr + i * 8, gdt[i]) != memory::MemTxResult::Ok) return fail("guest RAM too small for the boot GDT");
    (void)mem.write_u64(kIdtAddr, 0);
    if (mode != BootMode::Long64) return {};
    // PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories of 2 MiB pages: identity map of 4 GiB.
    constexpr uint64_t kPresentRw = 0x3, kHuge = 0x80;
    if (mem.write_u64(kPml4Addr, kPdptAddr | kPresentRw) != memory::MemTxResult::Ok)
        return fail("guest RAM too small for the boot page tables");
    for (uint64_t i = 1; i < 512; ++i) (void)mem.write_u64(kPml4Addr + i * 8, 0);
    for (uint64_t i = 0; i < 512; ++i) (void)mem.write_u64(kPdptAddr + i * 8, i < 4 ? (kPdAddr + i * 0x1000) | kPresentRw : 0);
    for (uint64_t i = 0; i < 4 * 512; ++i) (void)mem.write_u64(kPdAddr + i * 8, (i << 21) | kPresentRw | kHuge);
    return {};
}

Result<> set_boot_registers(KvmVcpu& vcpu, const BootRegs& b) {
    kvm_sregs sregs{};
    TRY(vcpu.get(KVM_GET_SREGS, sregs, "KVM_GET_SREGS failed"));
    const bool lm = b.mode == BootMode::Long64;
    sregs.cs = flat_segment(kCodeSel, 0xb, lm, !lm);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(kDataSel, 0x3, false, true);
    sregs.tr = kvm_segment{};
    sregs.tr.selector = kTssSel;
    sregs.tr.limit = 0xfff;
    sregs.tr.type = 0xb;
    sregs.tr.present = 1;
    sregs.gdt.base = kGdtAddr;
    sregs.gdt.limit = 6 * 8 - 1;
    sregs.idt.base = kIdtAddr;
    sregs.idt.limit = 0;
    if (lm) {
        sregs.cr0 = 0x80000031;   // PG | NE | ET | PE
        sregs.cr3 = kPml4Addr;
        sregs.cr4 = 0x20;         // PAE
        sregs.efer = 0x500;       // LMA | LME
    } else {
        sregs.cr0 = 0x11;         // ET | PE, paging off
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }
    TRY(vcpu.set(KVM_SET_SREGS, sregs, "KVM_SET_SREGS failed"));

    kvm_regs regs{};
    regs.rflags = 0x2;
    regs.rip = b.entry;
    if (lm) {
        regs.rsi = b.params;
        regs.rsp = regs.rbp = kBootStackTop;
    } else {
        regs.rbx = b.params;
    }
    TRY(vcpu.set(KVM_SET_REGS, regs, "KVM_SET_REGS failed"));
    return {};
}

Result<> set_power_on_state(KvmVcpu& vcpu, bool) {
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;      // x87 power-on control word
    fpu.mxcsr = 0x1f80;   // SSE: all exceptions masked
    TRY(vcpu.set(KVM_SET_FPU, fpu, "KVM_SET_FPU failed"));
    TRY(vcpu.set_msrs(power_on_msrs()));

    // LVT LINT0 = ExtINT masked (there is no 8259 behind it on this machine), LINT1 = NMI
    // (delivery mode in bits 8..10 of the LVT registers, mask in bit 16).
    kvm_lapic_state lapic{};
    TRY(vcpu.get(KVM_GET_LAPIC, lapic, "KVM_GET_LAPIC failed"));
    auto lvt = [&](size_t off, uint32_t mode) {
        uint32_t v;
        std::memcpy(&v, lapic.regs + off, 4);
        v = (v & ~0x700u) | (mode << 8);
        std::memcpy(lapic.regs + off, &v, 4);
    };
    lvt(0x350, 7);   // LINT0: ExtINT ...
    uint32_t lint0;
    std::memcpy(&lint0, lapic.regs + 0x350, 4);
    lint0 |= 1u << 16;   // ... masked
    std::memcpy(lapic.regs + 0x350, &lint0, 4);
    lvt(0x360, 4);   // LINT1: NMI
    TRY(vcpu.set(KVM_SET_LAPIC, lapic, "KVM_SET_LAPIC failed"));
    return {};
}

Result<VcpuResetState> VcpuResetState::capture(KvmVcpu& vcpu) {
    VcpuResetState s;
    TRY(vcpu.get(KVM_GET_REGS, s.m_regs, "KVM_GET_REGS failed"));
    TRY(vcpu.get(KVM_GET_SREGS, s.m_sregs, "KVM_GET_SREGS failed"));
    TRY(vcpu.get(KVM_GET_FPU, s.m_fpu, "KVM_GET_FPU failed"));
    TRY(vcpu.get(KVM_GET_LAPIC, s.m_lapic, "KVM_GET_LAPIC failed"));
    TRY(vcpu.get(KVM_GET_MP_STATE, s.m_mp, "KVM_GET_MP_STATE failed"));
    TRY(vcpu.get(KVM_GET_VCPU_EVENTS, s.m_events, "KVM_GET_VCPU_EVENTS failed"));
    s.m_msrs = power_on_msrs();
    return s;
}

Result<> VcpuResetState::restore(KvmVcpu& vcpu) const {
    TRY(vcpu.set(KVM_SET_SREGS, m_sregs, "KVM_SET_SREGS failed"));
    TRY(vcpu.set(KVM_SET_REGS, m_regs, "KVM_SET_REGS failed"));
    TRY(vcpu.set(KVM_SET_FPU, m_fpu, "KVM_SET_FPU failed"));
    TRY(vcpu.set_msrs(m_msrs));
    TRY(vcpu.set(KVM_SET_LAPIC, m_lapic, "KVM_SET_LAPIC failed"));
    TRY(vcpu.set(KVM_SET_VCPU_EVENTS, m_events, "KVM_SET_VCPU_EVENTS failed"));
    TRY(vcpu.set(KVM_SET_MP_STATE, m_mp, "KVM_SET_MP_STATE failed"));
    return {};
}

std::string format_registers(KvmVcpu& vcpu) {
    kvm_regs r{};
    kvm_sregs s{};
    if (!vcpu.get(KVM_GET_REGS, r, "") || !vcpu.get(KVM_GET_SREGS, s, "")) return "(registers unavailable)\n";
    auto seg = [](const char* n, const kvm_segment& g) {
        return fmt::format("{}={:04x} {:016x} {:08x} {:02x}{}{}{}\n", n, g.selector, g.base, g.limit, g.type,
                           g.present ? " P" : "", g.l ? " L" : "", g.db ? " DB" : "");
    };
    std::string out = fmt::format(
        "RAX={:016x} RBX={:016x} RCX={:016x} RDX={:016x}\n"
        "RSI={:016x} RDI={:016x} RBP={:016x} RSP={:016x}\n"
        "R8 ={:016x} R9 ={:016x} R10={:016x} R11={:016x}\n"
        "R12={:016x} R13={:016x} R14={:016x} R15={:016x}\n"
        "RIP={:016x} RFL={:08x}\n",
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
        r.r15, r.rip, r.rflags);
    out += seg("ES ", s.es) + seg("CS ", s.cs) + seg("SS ", s.ss) + seg("DS ", s.ds) + seg("FS ", s.fs) +
           seg("GS ", s.gs) + seg("TR ", s.tr);
    out += fmt::format("GDT=     {:016x} {:08x}\nIDT=     {:016x} {:08x}\n", s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
    out += fmt::format("CR0={:08x} CR2={:016x} CR3={:016x} CR4={:08x}\nEFER={:016x}\n", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
    return out;
}

} // namespace nemu::kvm::x86
