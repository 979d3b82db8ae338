#pragma once
// What a vCPU's run returned, as plain data, and the pure function that serves it: port and
// memory accesses go through the machine's address spaces; everything else becomes an action
// for the vCPU loop. Neither needs /dev/kvm, so both are unit-tested without it (STYLE.md:
// Firecracker's pure exit handler).
// Thread: a vCPU thread; the address spaces are read through their lock-free flat views.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::accel {

// Port I/O (KVM_EXIT_IO): `count` elements of `size` bytes for string instructions (rep ins/outs).
struct PioExit {
    uint16_t port = 0;
    uint8_t size = 1;
    bool write = false;
    uint32_t count = 1;
    uint8_t* data = nullptr;   // size * count bytes, owned by the run structure
};
// A guest access that hit no RAM slot (KVM_EXIT_MMIO).
struct MmioExit {
    uint64_t addr = 0;
    uint32_t len = 0;          // 1..8
    bool write = false;
    uint8_t* data = nullptr;   // 8 bytes
};
struct ShutdownExit {};         // triple fault (KVM_EXIT_SHUTDOWN)
struct HaltExit {};             // HLT with no in-kernel LAPIC
struct InterruptedExit {};      // KVM_RUN returned EINTR: a kick or a signal
struct SystemEventExit {
    enum class Kind { Shutdown, Reset, Crash, Other } kind = Kind::Other;
};
struct InternalErrorExit {       // KVM_EXIT_INTERNAL_ERROR
    uint32_t suberror = 0;
    std::vector<uint64_t> data;
};
struct FailEntryExit {           // KVM_EXIT_FAIL_ENTRY: hardware refused the guest state
    uint64_t reason = 0;
};
struct UnknownExit {
    uint32_t reason = 0;
};

using VcpuExit = std::variant<PioExit, MmioExit, ShutdownExit, HaltExit, InterruptedExit, SystemEventExit,
                              InternalErrorExit, FailEntryExit, UnknownExit>;

enum class ExitAction {
    Continue,        // run the vCPU again
    Interrupted,     // look at pending requests (pause, stop) before running again
    Reset,           // triple fault or a reset system event: reset the machine
    Poweroff,        // a shutdown system event
    InternalError,   // stop the VM in runstate internal-error
    Halt,            // the vCPU halted with nothing to wake it
};

ExitAction handle_exit(const VcpuExit& exit, const memory::AddressSpace& mem, const memory::AddressSpace& io);

// One line naming the exit, for error reports ("emulation failure", "unknown exit 42" ...).
std::string describe_exit(const VcpuExit& exit);

} // namespace nemu::accel
