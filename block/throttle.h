#pragma once
// I/O throttling of one BlockBackend (block_set_io_throttle, -drive throttling.*), with the
// user-visible behaviour of QEMU's util/throttle.c: six leaky buckets (bps total/read/write,
// iops total/read/write), each with an average rate, an optional burst rate and a burst length.
// A request may start when every bucket it touches is at most full; it is then accounted (so
// a bucket may overflow by one request, and the next ones wait until it has leaked enough).
//
// ThrottleState is the pure arithmetic, with "now" passed in (unit-tested without a clock);
// Throttler adds the per-direction FIFOs and a timerfd on the home loop.
// Thread: home loop only.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

#include "block/block_backend.h"
#include "util/event_loop.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::block {

// QEMU's THROTTLE_VALUE_MAX: the upper bound of every rate and of rate * burst length.
inline constexpr uint64_t kThrottleValueMax = 1000000000000000ULL;

// CLOCK_MONOTONIC in nanoseconds.
uint64_t monotonic_ns();

struct LeakyBucket {
    double avg = 0;            // units per second, 0 = unlimited
    double max = 0;            // burst rate (units per second)
    double level = 0;          // units accounted and not yet leaked at avg
    double burst_level = 0;    // the same, leaked at max (only with burst_length > 1)
    uint64_t burst_length = 1; // seconds the burst rate may be sustained

    void leak(uint64_t delta_ns);
    // Nanoseconds until the bucket admits a request (0: now).
    uint64_t wait_ns() const;
    void account(double units);
};

class ThrottleState {
public:
    enum Bucket { kBpsTotal, kBpsRead, kBpsWrite, kOpsTotal, kOpsRead, kOpsWrite, kBucketCount };

    // New limits; the buckets start empty (as QEMU's throttle_config does).
    void configure(const ThrottleLimits& limits, uint64_t now_ns);
    bool enabled() const;
    // Leaks every bucket up to now_ns, then returns how long a request of this direction has
    // to wait (0: it may go now).
    uint64_t wait_ns(bool is_write, uint64_t now_ns);
    // Charge a request that starts: bytes to the bps buckets, operations to the iops buckets
    // (ceil(bytes / iops_size) operations when iops_size is set, at least one).
    void account(bool is_write, uint64_t bytes);
    const LeakyBucket& bucket(Bucket b) const { return m_buckets[b]; }

private:
    std::array<LeakyBucket, kBucketCount> m_buckets{};
    uint64_t m_iops_size = 0;
    uint64_t m_last_leak_ns = 0;
};

// The queueing half: requests that must wait sit in a FIFO per direction; a timerfd on the
// home loop releases them when the buckets allow.
class Throttler {
public:
    static Result<std::unique_ptr<Throttler>> create(EventLoop& home);
    ~Throttler();
    Throttler(const Throttler&) = delete;
    Throttler& operator=(const Throttler&) = delete;

    // Takes effect at once; waiting requests are re-examined under the new limits.
    void set_limits(const ThrottleLimits& limits);
    // Calls go() before returning when the request may start now and no request of its
    // direction waits; otherwise queues it (FIFO) and go() runs later from the loop.
    void submit(bool is_write, uint64_t bytes, std::function<void()> go);
    // Starts every waiting request now, in order (drain: QEMU lifts the limits while a
    // backend drains).
    void release_all();
    size_t queued() const { return m_queue[0].size() + m_queue[1].size(); }

private:
    struct Waiting {
        uint64_t bytes;
        std::function<void()> go;
    };
    Throttler(EventLoop& home, UniqueFd timer);
    void dispatch();
    void arm(uint64_t delay_ns);

    EventLoop& m_home;
    UniqueFd m_timer;
    ThrottleState m_state;
    std::array<std::deque<Waiting>, 2> m_queue; // [is_write]
};

} // namespace nemu::block
