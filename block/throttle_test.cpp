#include "block/throttle.h"

#include <gtest/gtest.h>

#include <vector>

namespace nemu::block {
namespace {

constexpr uint64_t kMs = 1000000;

// Waits are computed in floating point, like QEMU's: compare to within a microsecond.
#define EXPECT_WAIT(actual, expected) EXPECT_NEAR(static_cast<double>(actual), static_cast<double>(expected), 1000.0)

TEST(ValidateThrottle, QemuMessages) {
    auto msg = [](ThrottleLimits l) {
        auto r = validate_throttle(l);
        return r ? std::string("ok") : r.error().msg;
    };
    EXPECT_EQ(msg({}), "ok");
    EXPECT_EQ(msg({.bps = 1, .bps_rd = 1}), "bps/iops/max total values and read/write values cannot be used at the same time");
    EXPECT_EQ(msg({.iops = 1, .iops_wr = 1}), "bps/iops/max total values and read/write values cannot be used at the same time");
    EXPECT_EQ(msg({.bps_max = 5}), "bps_max/iops_max require corresponding bps/iops values");
    EXPECT_EQ(msg({.bps = 1, .bps_max_length = 5}), "burst length set without burst rate");
    EXPECT_EQ(msg({.bps = 10, .bps_max = 20, .bps_max_length = 0}), "the burst length cannot be 0");
    EXPECT_EQ(msg({.iops_size = 4096}), "iops size requires an iops value to be set");
    EXPECT_EQ(msg({.bps = 1000000000000001ULL}), "bps/iops/max values must be within [0, 1000000000000000]");
    EXPECT_EQ(msg({.bps = 10, .bps_max = 5}), "bps_max/iops_max cannot be lower than bps/iops");
    EXPECT_EQ(msg({.bps = 10, .bps_max = 1000000000000000ULL, .bps_max_length = 2}),
              "burst length too high for this burst rate");
    EXPECT_EQ(msg({.iops = 10, .iops_max = 20, .iops_max_length = 100000}), "ok");
    EXPECT_TRUE(ThrottleLimits{.iops_wr = 1}.enabled());
    EXPECT_FALSE(ThrottleLimits{.iops_size = 1}.enabled());
}

// iops=10 without burst: the bucket holds a tenth of a second (1 op), so two requests start
// at once, then one every 100 ms.
TEST(ThrottleState, IopsWithoutBurst) {
    ThrottleState s;
    s.configure({.iops = 10}, 0);
    EXPECT_TRUE(s.enabled());
    EXPECT_WAIT(s.wait_ns(false, 0), 0u);
    s.account(false, 512);
    EXPECT_WAIT(s.wait_ns(true, 0), 0u);
    s.account(true, 512);
    EXPECT_WAIT(s.wait_ns(false, 0), 100 * kMs);
    EXPECT_WAIT(s.wait_ns(false, 50 * kMs), 50 * kMs);
    EXPECT_WAIT(s.wait_ns(false, 100 * kMs), 0u);
    s.account(false, 512);
    EXPECT_WAIT(s.wait_ns(false, 100 * kMs), 100 * kMs);
}

TEST(ThrottleState, DirectionsAreIndependent) {
    ThrottleState s;
    s.configure({.bps_rd = 1000}, 0);
    s.account(false, 300); // level 300 > 100 (a tenth of a second)
    EXPECT_WAIT(s.wait_ns(false, 0), 200 * kMs);
    EXPECT_WAIT(s.wait_ns(true, 0), 0u);
}

// bps=1000, bps_max=2000 for 2 s: 4000 bytes go before throttling to the average, but at
// most 200 bytes (a tenth of a second at the burst rate) at a time.
TEST(ThrottleState, BurstBucket) {
    ThrottleState s;
    s.configure({.bps = 1000, .bps_max = 2000, .bps_max_length = 2}, 0);
    s.account(false, 300);
    // Main bucket (size 4000) has room; the burst bucket (size 200) is 100 over: 50 ms at 2000.
    EXPECT_WAIT(s.wait_ns(false, 0), 50 * kMs);
    EXPECT_WAIT(s.wait_ns(false, 50 * kMs), 0u);
    // Fill the main bucket: 4200 bytes in (minus 50 leaked) leaves 150 over the 4000 size.
    s.account(false, 3900);
    // The main bucket is 150 over (300 - 50 + 3900 - 4000): 150 ms at the average rate; the
    // burst bucket is only looked at while the main one has room.
    EXPECT_WAIT(s.wait_ns(false, 50 * kMs), 150 * kMs);
    // At 200 ms the main bucket holds exactly 4000; the burst bucket (4100 - 300 = 3800) is
    // 3600 over its 200: 1.8 s at 2000/s.
    EXPECT_WAIT(s.wait_ns(false, 200 * kMs), 1800 * kMs);
}

TEST(ThrottleState, IopsSizeCountsLargeRequestsAsSeveral) {
    ThrottleState s;
    s.configure({.iops = 100, .iops_size = 4096}, 0);
    s.account(true, 4096 * 3 + 1); // 4 operations
    EXPECT_DOUBLE_EQ(s.bucket(ThrottleState::kOpsTotal).level, 4.0);
    s.account(true, 100); // small: 1 operation
    EXPECT_DOUBLE_EQ(s.bucket(ThrottleState::kOpsTotal).level, 5.0);
    EXPECT_WAIT(s.wait_ns(true, 0), 0u); // 5 ≤ 10
    s.account(true, 4096 * 10);
    EXPECT_WAIT(s.wait_ns(true, 0), 50 * kMs); // 15 - 10 = 5 ops at 100/s
}

TEST(ThrottleState, ReconfigureEmptiesTheBuckets) {
    ThrottleState s;
    s.configure({.iops = 1}, 0);
    s.account(false, 1);
    s.account(false, 1);
    EXPECT_GT(s.wait_ns(false, 0), 0u);
    s.configure({.iops = 1}, 0);
    EXPECT_WAIT(s.wait_ns(false, 0), 0u);
    s.configure({}, 0);
    EXPECT_FALSE(s.enabled());
}

// The queueing half on a real loop: waiting requests start in FIFO order as the timer fires.
TEST(Throttler, QueuesInOrderAndTheTimerReleases) {
    auto loop = std::move(*EventLoop::create());
    auto t = std::move(*Throttler::create(*loop));
    t->set_limits({.iops = 50}); // 6 at once (level 0..5), then one per 20 ms
    std::vector<int> started;
    for (int i = 0; i < 10; i++) t->submit(false, 512, [&started, i] { started.push_back(i); });
    EXPECT_LT(started.size(), 10u);
    EXPECT_GT(t->queued(), 0u);
    while (started.size() < 10) loop->run_once(-1);
    EXPECT_EQ(started, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(t->queued(), 0u);
}

TEST(Throttler, ReleaseAllStartsEverything) {
    auto loop = std::move(*EventLoop::create());
    auto t = std::move(*Throttler::create(*loop));
    t->set_limits({.iops = 1});
    int started = 0;
    for (int i = 0; i < 10; i++) t->submit(true, 512, [&started] { ++started; });
    EXPECT_LT(started, 10);
    t->release_all();
    EXPECT_EQ(started, 10);
    EXPECT_EQ(t->queued(), 0u);
}

} // namespace
} // namespace nemu::block
