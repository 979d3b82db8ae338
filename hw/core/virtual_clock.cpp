#include "hw/core/virtual_clock.h"

#include <time.h>

namespace nemu::hw {

namespace {
int64_t host_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
} // namespace

VirtualClock::VirtualClock(Mode mode) : m_mode(mode) {
    if (mode == Mode::Host) m_host_base = host_ns();
}

VirtualClock::~VirtualClock() {
    for (auto& [key, t] : m_timers) t->m_armed = false;
}

int64_t VirtualClock::now() const {
    return m_mode == Mode::Host ? host_ns() - m_host_base : m_now;
}

std::optional<int64_t> VirtualClock::next_deadline() const {
    if (m_timers.empty()) return std::nullopt;
    return m_timers.begin()->first.first;
}

VirtualClock::Key VirtualClock::insert(Timer* t, int64_t deadline) {
    Key k{deadline, m_seq++};
    m_timers.emplace(k, t);
    return k;
}

// QEMU qtest_clock_warp(): jump to each deadline in turn and run what is due there, so a
// timer armed by a callback inside the window also fires before we reach the target.
void VirtualClock::advance_to(int64_t target) {
    uint64_t fired = 0;
    while (!m_timers.empty() && m_timers.begin()->first.first <= target) {
        if (++fired > kMaxFiringsPerAdvance) return;
        auto it = m_timers.begin();
        Timer* t = it->second;
        if (m_mode == Mode::Manual && it->first.first > m_now) m_now = it->first.first;
        m_timers.erase(it);
        t->m_armed = false;
        if (t->m_callback) t->m_callback();
    }
    if (m_mode == Mode::Manual && target > m_now) m_now = target;
}

int64_t VirtualClock::step(int64_t ns) {
    if (m_mode == Mode::Host || ns <= 0) {
        run_due();
        return now();
    }
    int64_t target = ns > INT64_MAX - m_now ? INT64_MAX : m_now + ns;
    advance_to(target);
    return now();
}

int64_t VirtualClock::set(int64_t ns) {
    if (m_mode == Mode::Host || ns <= m_now) {
        run_due();
        return now();
    }
    advance_to(ns);
    return now();
}

int64_t VirtualClock::step_to_next_deadline() {
    auto d = next_deadline();
    if (!d) return now();
    return set(*d);
}

void VirtualClock::run_due() { advance_to(now()); }

void Timer::arm(int64_t deadline_ns) {
    cancel();
    m_key = m_clock->insert(this, deadline_ns);
    m_armed = true;
}

void Timer::cancel() {
    if (!m_armed) return;
    m_clock->erase(m_key);
    m_armed = false;
}

} // namespace nemu::hw
