#include "accel/vcpu_exit.h"

#include <fmt/format.h>

#include <span>

#include "hw/memory/address_space.h"

namespace nemu::accel {

namespace {

template <class... F> struct Overload : F... {
    using F::operator()...;
};
template <class... F> Overload(F...) -> Overload<F...>;

// KVM never reports more than a page of string I/O per exit; a larger count is a corrupt
// run structure, not something to loop over.
constexpr uint64_t kMaxPioBytes = 4096;

ExitAction serve_pio(const PioExit& e, const memory::AddressSpace& io) {
    if (!e.data || e.size == 0 || e.size > 4 || uint64_t{e.size} * e.count > kMaxPioBytes) return ExitAction::Continue;
    for (uint32_t i = 0; i < e.count; ++i) {
        std::span<uint8_t> bytes(e.data + size_t{i} * e.size, e.size);
        // Unassigned ports read as all-ones and swallow writes (x86 floating bus); the
        // address space already does that, so the result needs no check.
        if (e.write) (void)io.write(e.port, bytes);
        else (void)io.read(e.port, bytes);
    }
    return ExitAction::Continue;
}

ExitAction serve_mmio(const MmioExit& e, const memory::AddressSpace& mem) {
    if (!e.data || e.len == 0 || e.len > 8) return ExitAction::Continue;
    std::span<uint8_t> bytes(e.data, e.len);
    if (e.write) (void)mem.write(e.addr, bytes);
    else (void)mem.read(e.addr, bytes);
    return ExitAction::Continue;
}

} // namespace

ExitAction handle_exit(const VcpuExit& exit, const memory::AddressSpace& mem, const memory::AddressSpace& io) {
    return std::visit(Overload{
        [&](const PioExit& e) { return serve_pio(e, io); },
        [&](const MmioExit& e) { return serve_mmio(e, mem); },
        [](const ShutdownExit&) { return ExitAction::Reset; },
        [](const HaltExit&) { return ExitAction::Halt; },
        [](const InterruptedExit&) { return ExitAction::Interrupted; },
        [](const SystemEventExit& e) {
            switch (e.kind) {
            case SystemEventExit::Kind::Shutdown: return ExitAction::Poweroff;
            case SystemEventExit::Kind::Reset: return ExitAction::Reset;
            default: return ExitAction::InternalError;
            }
        },
        [](const InternalErrorExit&) { return ExitAction::InternalError; },
        [](const FailEntryExit&) { return ExitAction::InternalError; },
        [](const UnknownExit&) { return ExitAction::InternalError; },
    }, exit);
}

std::string describe_exit(const VcpuExit& exit) {
    return std::visit(Overload{
        [](const PioExit& e) { return fmt::format("port {} {:#x}", e.write ? "write" : "read", e.port); },
        [](const MmioExit& e) { return fmt::format("mmio {} {:#x}", e.write ? "write" : "read", e.addr); },
        [](const ShutdownExit&) { return std::string("triple fault"); },
        [](const HaltExit&) { return std::string("halt"); },
        [](const InterruptedExit&) { return std::string("interrupted"); },
        [](const SystemEventExit& e) {
            return std::string(e.kind == SystemEventExit::Kind::Crash ? "guest crash" : "system event");
        },
        [](const InternalErrorExit& e) {
            // KVM_INTERNAL_ERROR_EMULATION is 1 (QEMU prints "emulation failure" for it).
            return e.suberror == 1 ? std::string("emulation failure")
                                   : fmt::format("KVM internal error. Suberror: {}", e.suberror);
        },
        [](const FailEntryExit& e) { return fmt::format("KVM: entry failed, hardware error {:#x}", e.reason); },
        [](const UnknownExit& e) { return fmt::format("KVM: unhandled exit {}", e.reason); },
    }, exit);
}

} // namespace nemu::accel
