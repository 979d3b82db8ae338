#pragma once
// QEMU_CLOCK_VIRTUAL: guest time in nanoseconds, and timers on it.
// Mode::Manual (qtest): time moves only through step()/set(), which fire due timers in
// deadline order with now() equal to each timer's deadline, as QEMU's qtest_clock_warp does.
// Mode::Host (KVM): now() follows CLOCK_MONOTONIC from construction; the main loop asks
// next_deadline() for its timeout and calls run_due() when it wakes.
// Thread: main loop only.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>

namespace nemu::hw {

class Timer;

class VirtualClock {
public:
    enum class Mode { Manual, Host };
    explicit VirtualClock(Mode mode = Mode::Manual);
    VirtualClock(const VirtualClock&) = delete;
    VirtualClock& operator=(const VirtualClock&) = delete;
    ~VirtualClock();

    // One step/set fires at most this many timers; a periodic timer must not turn
    // "clock_step 9223372036854775807" into a hang. The clock then stops at the last
    // deadline it reached, which the caller sees in the returned now().
    static constexpr uint64_t kMaxFiringsPerAdvance = 1000000;

    Mode mode() const { return m_mode; }
    int64_t now() const;
    std::optional<int64_t> next_deadline() const;

    // Manual mode: advance by ns (<= 0 does nothing) / to ns (never backwards) / to the
    // earliest deadline (nothing if no timer is armed). Each returns now(). In Host mode
    // they only run due timers.
    int64_t step(int64_t ns);
    int64_t set(int64_t ns);
    int64_t step_to_next_deadline();
    // Fire every timer whose deadline is <= now().
    void run_due();

private:
    friend class Timer;
    using Key = std::pair<int64_t, uint64_t>;   // deadline, arming sequence (FIFO on ties)
    void advance_to(int64_t target);
    Key insert(Timer* t, int64_t deadline);
    void erase(const Key& k) { m_timers.erase(k); }

    Mode m_mode;
    int64_t m_now = 0;
    int64_t m_host_base = 0;
    uint64_t m_seq = 0;
    std::map<Key, Timer*> m_timers;
};

// A one-shot timer; re-arm from the callback for periodic behaviour. Cancelled on destruction.
class Timer {
public:
    Timer(VirtualClock& clock, std::function<void()> callback)
        : m_clock(&clock), m_callback(std::move(callback)) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer() { cancel(); }

    void arm(int64_t deadline_ns);            // absolute virtual time; re-arming moves it
    void arm_in(int64_t delta_ns) { arm(m_clock->now() + delta_ns); }
    void cancel();
    bool armed() const { return m_armed; }
    int64_t deadline() const { return m_key.first; }

private:
    friend class VirtualClock;
    VirtualClock* m_clock;
    std::function<void()> m_callback;
    VirtualClock::Key m_key{0, 0};
    bool m_armed = false;
};

} // namespace nemu::hw
