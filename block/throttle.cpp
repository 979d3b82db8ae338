#include "block/throttle.h"

#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>

namespace nemu::block {

namespace {

constexpr double kNsPerSecond = 1e9;

struct BucketConfig {
    uint64_t avg, max, burst_length;
};

// The six buckets in ThrottleState::Bucket order, from the QAPI members.
std::array<BucketConfig, ThrottleState::kBucketCount> bucket_configs(const ThrottleLimits& l) {
    return {{
        {l.bps, l.bps_max, l.bps_max_length},
        {l.bps_rd, l.bps_rd_max, l.bps_rd_max_length},
        {l.bps_wr, l.bps_wr_max, l.bps_wr_max_length},
        {l.iops, l.iops_max, l.iops_max_length},
        {l.iops_rd, l.iops_rd_max, l.iops_rd_max_length},
        {l.iops_wr, l.iops_wr_max, l.iops_wr_max_length},
    }};
}

} // namespace

uint64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

bool ThrottleLimits::enabled() const {
    return bps || bps_rd || bps_wr || iops || iops_rd || iops_wr;
}

// The checks and messages of QEMU 7.2's throttle_is_valid() (util/throttle.c), verified
// against qemu-system-x86_64 -drive throttling.* errors.
Result<> validate_throttle(const ThrottleLimits& l) {
    const bool bps_mix = l.bps && (l.bps_rd || l.bps_wr);
    const bool iops_mix = l.iops && (l.iops_rd || l.iops_wr);
    const bool bps_max_mix = l.bps_max && (l.bps_rd_max || l.bps_wr_max);
    const bool iops_max_mix = l.iops_max && (l.iops_rd_max || l.iops_wr_max);
    if (bps_mix || iops_mix || bps_max_mix || iops_max_mix)
        return fail("bps/iops/max total values and read/write values cannot be used at the same time");
    if (l.iops_size && !l.iops && !l.iops_rd && !l.iops_wr)
        return fail("iops size requires an iops value to be set");
    for (const BucketConfig& b : bucket_configs(l)) {
        if (b.avg > kThrottleValueMax || b.max > kThrottleValueMax)
            return fail("bps/iops/max values must be within [0, {}]", kThrottleValueMax);
        if (b.burst_length == 0) return fail("the burst length cannot be 0");
        if (b.burst_length > 1 && !b.max) return fail("burst length set without burst rate");
        if (b.max && b.burst_length > kThrottleValueMax / b.max)
            return fail("burst length too high for this burst rate");
        if (b.max && !b.avg) return fail("bps_max/iops_max require corresponding bps/iops values");
        if (b.max && b.max < b.avg) return fail("bps_max/iops_max cannot be lower than bps/iops");
    }
    return {};
}

void LeakyBucket::leak(uint64_t delta_ns) {
    const double secs = static_cast<double>(delta_ns) / kNsPerSecond;
    level = std::max(level - avg * secs, 0.0);
    if (burst_length > 1) burst_level = std::max(burst_level - max * secs, 0.0);
}

uint64_t LeakyBucket::wait_ns() const {
    if (avg == 0) return 0;
    // Without a burst rate the bucket still holds a tenth of a second's worth, so that
    // short bursts from the guest are not throttled one by one (QEMU's rule). With one, the
    // bucket holds max * burst_length and the burst bucket a tenth of a second at max.
    const double size = max > 0 ? max * static_cast<double>(burst_length) : avg / 10;
    double extra = level - size;
    if (extra > 0) return static_cast<uint64_t>(std::ceil(extra / avg * kNsPerSecond));
    if (burst_length > 1) {
        extra = burst_level - max / 10;
        if (extra > 0) return static_cast<uint64_t>(std::ceil(extra / max * kNsPerSecond));
    }
    return 0;
}

void LeakyBucket::account(double units) {
    if (avg == 0) return;
    level += units;
    if (burst_length > 1) burst_level += units;
}

void ThrottleState::configure(const ThrottleLimits& limits, uint64_t now_ns) {
    const auto cfg = bucket_configs(limits);
    for (size_t i = 0; i < cfg.size(); i++) {
        m_buckets[i] = LeakyBucket{};
        m_buckets[i].avg = static_cast<double>(cfg[i].avg);
        m_buckets[i].max = static_cast<double>(cfg[i].max);
        m_buckets[i].burst_length = std::max<uint64_t>(cfg[i].burst_length, 1);
    }
    m_iops_size = limits.iops_size;
    m_last_leak_ns = now_ns;
}

bool ThrottleState::enabled() const {
    return std::any_of(m_buckets.begin(), m_buckets.end(), [](const LeakyBucket& b) { return b.avg > 0; });
}

uint64_t ThrottleState::wait_ns(bool is_write, uint64_t now_ns) {
    if (now_ns > m_last_leak_ns) {
        for (auto& b : m_buckets) b.leak(now_ns - m_last_leak_ns);
        m_last_leak_ns = now_ns;
    }
    const Bucket dir_bps = is_write ? kBpsWrite : kBpsRead;
    const Bucket dir_ops = is_write ? kOpsWrite : kOpsRead;
    uint64_t wait = 0;
    for (Bucket b : {kBpsTotal, dir_bps, kOpsTotal, dir_ops}) wait = std::max(wait, m_buckets[b].wait_ns());
    return wait;
}

void ThrottleState::account(bool is_write, uint64_t bytes) {
    uint64_t ops = 1;
    if (m_iops_size && bytes > m_iops_size) ops = bytes / m_iops_size + (bytes % m_iops_size != 0);
    const auto units = static_cast<double>(bytes);
    m_buckets[kBpsTotal].account(units);
    m_buckets[is_write ? kBpsWrite : kBpsRead].account(units);
    m_buckets[kOpsTotal].account(static_cast<double>(ops));
    m_buckets[is_write ? kOpsWrite : kOpsRead].account(static_cast<double>(ops));
}

Result<std::unique_ptr<Throttler>> Throttler::create(EventLoop& home) {
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer) return fail_errno("timerfd_create", errno);
    const int fd = timer.get();
    auto t = std::unique_ptr<Throttler>(new Throttler(home, std::move(timer)));
    Throttler* self = t.get();
    TRY(home.add_fd(fd, EPOLLIN, [self](uint32_t) {
        uint64_t expirations;
        [[maybe_unused]] auto n = ::read(self->m_timer.get(), &expirations, sizeof expirations);
        self->dispatch();
    }));
    return t;
}

Throttler::Throttler(EventLoop& home, UniqueFd timer) : m_home(home), m_timer(std::move(timer)) {}

Throttler::~Throttler() { m_home.remove_fd(m_timer.get()); }

void Throttler::set_limits(const ThrottleLimits& limits) {
    m_state.configure(limits, monotonic_ns());
    dispatch();
}

void Throttler::submit(bool is_write, uint64_t bytes, std::function<void()> go) {
    auto& q = m_queue[is_write];
    if (q.empty() && m_state.wait_ns(is_write, monotonic_ns()) == 0) {
        m_state.account(is_write, bytes);
        go();
        return;
    }
    q.push_back(Waiting{bytes, std::move(go)});
    if (q.size() == 1) dispatch(); // arms the timer for the new head
}

void Throttler::dispatch() {
    uint64_t next = 0; // the shortest wait of a non-empty queue, 0: none waits
    for (bool is_write : {false, true}) {
        auto& q = m_queue[is_write];
        while (!q.empty()) {
            const uint64_t wait = m_state.wait_ns(is_write, monotonic_ns());
            if (wait) {
                next = next ? std::min(next, wait) : wait;
                break;
            }
            Waiting w = std::move(q.front());
            q.pop_front();
            m_state.account(is_write, w.bytes);
            w.go();
        }
    }
    arm(next);
}

void Throttler::arm(uint64_t delay_ns) {
    itimerspec its{};
    if (delay_ns) {
        its.it_value.tv_sec = static_cast<time_t>(delay_ns / 1000000000ULL);
        its.it_value.tv_nsec = static_cast<long>(delay_ns % 1000000000ULL);
    }
    ::timerfd_settime(m_timer.get(), 0, &its, nullptr);
}

void Throttler::release_all() {
    for (bool is_write : {false, true}) {
        auto& q = m_queue[is_write];
        while (!q.empty()) {
            Waiting w = std::move(q.front());
            q.pop_front();
            m_state.account(is_write, w.bytes);
            w.go();
        }
    }
    arm(0);
}

} // namespace nemu::block
