#pragma once
// The built-in boot timeline: named instants measured from the process start (exec, not
// main()), marked by the VMM ("kvm-ready", "vcpu0-first-run", ...) and by the guest through the
// debug port (see debug_port.h). QMP/bench read it back to split a boot into its phases.
//
// Thread: any. mark()/mark_guest() come from the main loop and vCPU threads, marks() from the
// main loop; one mutex guards the list, nothing is called with it held.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nemu::hw {

// CLOCK_BOOTTIME now, in ns: the clock /proc/<pid>/stat's starttime counts in.
uint64_t boottime_ns();

// When this process was exec'd, in CLOCK_BOOTTIME ns: /proc/self/stat field 22 (starttime,
// clock ticks since boot; proc(5)) times 1e9 / sysconf(_SC_CLK_TCK). The tick is coarse
// (10 ms at USER_HZ 100), so the first marks carry that much slack. If the file cannot be
// read or parsed, returns boottime_ns(): the timeline then starts at the call.
uint64_t process_start_ns();
// starttime (field 22) of a /proc/<pid>/stat line, in clock ticks; nullopt if malformed.
std::optional<uint64_t> proc_stat_starttime(std::string_view stat_line);

class BootTimeline {
public:
    struct Mark {
        std::string name;
        uint64_t ns_since_start;
    };
    using Clock = std::function<uint64_t()>; // CLOCK_BOOTTIME ns

    // Guest marks kept; the port is guest-controlled, so a guest writing it in a loop must not
    // grow the VMM (STYLE.md rule 8). Later guest marks only count in dropped().
    static constexpr size_t kMaxGuestMarks = 256;
    // VMM marks come from a fixed set of call sites; bounded anyway, with the same counter.
    static constexpr size_t kMaxHostMarks = 256;

    explicit BootTimeline(uint64_t process_start_ns, Clock clock = boottime_ns);
    BootTimeline(const BootTimeline&) = delete;
    BootTimeline& operator=(const BootTimeline&) = delete;

    void mark(std::string name);
    // A guest marker code: named "guest-XX" (two lower-case hex digits).
    void mark_guest(uint8_t code);

    // In the order they were marked.
    std::vector<Mark> marks() const;
    uint64_t dropped() const;
    uint64_t start_ns() const { return m_start_ns; }

private:
    void add(std::string name, bool guest);

    const uint64_t m_start_ns;
    const Clock m_clock;
    mutable std::mutex m_lock;
    std::vector<Mark> m_marks;
    size_t m_guest_count = 0;
    size_t m_host_count = 0;
    uint64_t m_dropped = 0;
};

} // namespace nemu::hw
