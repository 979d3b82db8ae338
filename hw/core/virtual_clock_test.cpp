#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "hw/core/virtual_clock.h"

namespace nemu::hw {
namespace {

TEST(VirtualClock, StepFiresInDeadlineOrderAtTheirDeadline) {
    VirtualClock clock;
    std::vector<std::pair<std::string, int64_t>> fired;
    Timer a(clock, [&] { fired.push_back({"a", clock.now()}); });
    Timer b(clock, [&] { fired.push_back({"b", clock.now()}); });
    Timer c(clock, [&] { fired.push_back({"c", clock.now()}); });
    a.arm(300);
    b.arm(100);
    c.arm(1000);
    EXPECT_EQ(clock.next_deadline(), 100);
    EXPECT_EQ(clock.step(500), 500);
    EXPECT_EQ(fired, (std::vector<std::pair<std::string, int64_t>>{{"b", 100}, {"a", 300}}));
    EXPECT_TRUE(c.armed());
    EXPECT_FALSE(a.armed());
    c.cancel();
    EXPECT_EQ(clock.step_to_next_deadline(), 500);   // nothing armed: no move
    EXPECT_EQ(clock.set(400), 500);                   // never backwards
    EXPECT_EQ(clock.step(-5), 500);
}

TEST(VirtualClock, PeriodicRearmInsideWindow) {
    VirtualClock clock;
    std::vector<int64_t> ticks;
    std::unique_ptr<Timer> t;
    t = std::make_unique<Timer>(clock, [&] {
        ticks.push_back(clock.now());
        t->arm_in(10);
    });
    t->arm(5);
    EXPECT_EQ(clock.step(30), 30);
    EXPECT_EQ(ticks, (std::vector<int64_t>{5, 15, 25}));
    EXPECT_EQ(clock.step_to_next_deadline(), 35);
    EXPECT_EQ(ticks.back(), 35);
    t.reset();   // destroying an armed timer cancels it
    EXPECT_FALSE(clock.next_deadline().has_value());
}

TEST(VirtualClock, RunawayPeriodicTimerIsBounded) {
    VirtualClock clock;
    uint64_t ticks = 0;
    std::unique_ptr<Timer> t;
    t = std::make_unique<Timer>(clock, [&] {
        ticks++;
        t->arm_in(1);
    });
    t->arm(1);
    int64_t now = clock.step(INT64_MAX);
    EXPECT_EQ(ticks, VirtualClock::kMaxFiringsPerAdvance);
    EXPECT_EQ(now, int64_t(VirtualClock::kMaxFiringsPerAdvance));
}

TEST(VirtualClock, EqualDeadlinesFireInArmingOrder) {
    VirtualClock clock;
    std::string order;
    Timer x(clock, [&] { order += 'x'; });
    Timer y(clock, [&] { order += 'y'; });
    y.arm(50);
    x.arm(50);
    clock.set(50);
    EXPECT_EQ(order, "yx");
}

TEST(VirtualClock, HostModeFollowsMonotonicTime) {
    VirtualClock clock(VirtualClock::Mode::Host);
    int64_t a = clock.now();
    int64_t b = clock.now();
    EXPECT_GE(b, a);
    bool fired = false;
    Timer t(clock, [&] { fired = true; });
    t.arm(clock.now() - 1);
    clock.run_due();
    EXPECT_TRUE(fired);
}

} // namespace
} // namespace nemu::hw
