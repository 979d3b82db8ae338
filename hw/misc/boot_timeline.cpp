#include "hw/misc/boot_timeline.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <optional>
#include <string_view>

#include "util/unique_fd.h"

namespace nemu::hw {

std::optional<uint64_t> proc_stat_starttime(std::string_view stat) {
    // Field 2, comm, is in parentheses and may itself hold spaces and ')', so fields are
    // counted after the last ')'.
    size_t close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);
    // rest starts with " S ..." : field 3 is the state; starttime is the 20th field after comm.
    int field = 2;
    size_t pos = 0;
    while (pos < rest.size()) {
        while (pos < rest.size() && rest[pos] == ' ') pos++;
        if (pos >= rest.size()) break;
        size_t end = rest.find(' ', pos);
        if (end == std::string_view::npos) end = rest.size();
        field++;
        if (field == 22) {
            uint64_t ticks = 0;
            auto [p, ec] = std::from_chars(rest.data() + pos, rest.data() + end, ticks);
            if (ec != std::errc() || p != rest.data() + end) return std::nullopt;
            return ticks;
        }
        pos = end;
    }
    return std::nullopt;
}

uint64_t boottime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t process_start_ns() {
    UniqueFd fd(::open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return boottime_ns();
    char buf[1024];
    ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
    long hz = ::sysconf(_SC_CLK_TCK);
    if (n <= 0 || hz <= 0) return boottime_ns();
    std::optional<uint64_t> parsed =
        proc_stat_starttime(std::string_view(buf, static_cast<size_t>(n)));
    if (!parsed) return boottime_ns();
    uint64_t ticks = *parsed;
    uint64_t hz64 = static_cast<uint64_t>(hz);
    return ticks / hz64 * 1000000000u + ticks % hz64 * 1000000000u / hz64;
}

BootTimeline::BootTimeline(uint64_t process_start_ns, Clock clock)
    : m_start_ns(process_start_ns), m_clock(std::move(clock)) {}

void BootTimeline::mark(std::string name) { add(std::move(name), false); }

void BootTimeline::mark_guest(uint8_t code) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string name = "guest-";
    name += kHex[code >> 4];
    name += kHex[code & 0xf];
    add(std::move(name), true);
}

void BootTimeline::add(std::string name, bool guest) {
    // The clock is read under the lock so that list order and time order agree.
    std::lock_guard guard(m_lock);
    uint64_t now = m_clock();
    // A clock earlier than the start (coarse ticks, a test clock) reads as 0.
    uint64_t since = now > m_start_ns ? now - m_start_ns : 0;
    size_t& count = guest ? m_guest_count : m_host_count;
    if (count >= (guest ? kMaxGuestMarks : kMaxHostMarks)) {
        m_dropped++;
        return;
    }
    count++;
    m_marks.push_back(Mark{std::move(name), since});
}

std::vector<BootTimeline::Mark> BootTimeline::marks() const {
    std::lock_guard guard(m_lock);
    return m_marks;
}

uint64_t BootTimeline::dropped() const {
    std::lock_guard guard(m_lock);
    return m_dropped;
}

} // namespace nemu::hw
