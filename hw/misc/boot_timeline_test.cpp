#include "hw/misc/boot_timeline.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace nemu::hw {
namespace {

// A clock the test advances by hand.
struct FakeClock {
    uint64_t now = 0;
    BootTimeline::Clock fn() {
        return [this] { return now; };
    }
};

TEST(BootTimeline, MarksInOrderRelativeToTheStart) {
    FakeClock clock;
    clock.now = 5'000;
    BootTimeline tl(1'000, clock.fn());
    EXPECT_EQ(tl.start_ns(), 1'000u);
    tl.mark("kvm-ready");
    clock.now = 7'500;
    tl.mark("vcpu0-first-run");
    clock.now = 9'000;
    tl.mark_guest(0x10);
    auto m = tl.marks();
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].name, "kvm-ready");
    EXPECT_EQ(m[0].ns_since_start, 4'000u);
    EXPECT_EQ(m[1].name, "vcpu0-first-run");
    EXPECT_EQ(m[1].ns_since_start, 6'500u);
    EXPECT_EQ(m[2].name, "guest-10");
    EXPECT_EQ(m[2].ns_since_start, 8'000u);
    EXPECT_EQ(tl.dropped(), 0u);
}

TEST(BootTimeline, ClockBeforeStartReadsAsZero) {
    FakeClock clock;
    clock.now = 10;
    BootTimeline tl(1'000, clock.fn());
    tl.mark("early");
    EXPECT_EQ(tl.marks().at(0).ns_since_start, 0u);
}

TEST(BootTimeline, GuestNamesAreTwoLowerCaseHexDigits) {
    BootTimeline tl(0);
    tl.mark_guest(0x00);
    tl.mark_guest(0x0a);
    tl.mark_guest(0xff);
    auto m = tl.marks();
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].name, "guest-00");
    EXPECT_EQ(m[1].name, "guest-0a");
    EXPECT_EQ(m[2].name, "guest-ff");
}

TEST(BootTimeline, GuestMarksAreBoundedAndCounted) {
    BootTimeline tl(0);
    tl.mark("host-before");
    for (unsigned i = 0; i < BootTimeline::kMaxGuestMarks + 44; i++)
        tl.mark_guest(static_cast<uint8_t>(i));
    tl.mark("host-after"); // the guest's flood does not crowd out VMM marks
    auto m = tl.marks();
    EXPECT_EQ(m.size(), BootTimeline::kMaxGuestMarks + 2);
    EXPECT_EQ(tl.dropped(), 44u);
    EXPECT_EQ(m.front().name, "host-before");
    EXPECT_EQ(m[BootTimeline::kMaxGuestMarks].name, "guest-ff"); // the 256th guest mark
    EXPECT_EQ(m.back().name, "host-after");
    for (unsigned i = 0; i < BootTimeline::kMaxHostMarks; i++) tl.mark("x");
    EXPECT_EQ(tl.marks().size(), BootTimeline::kMaxGuestMarks + BootTimeline::kMaxHostMarks);
    EXPECT_EQ(tl.dropped(), 46u);
}

TEST(BootTimeline, ConcurrentMarksAreAllKeptWithNonDecreasingTimes) {
    BootTimeline tl(process_start_ns());
    constexpr int kThreads = 4, kEach = 50;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&tl, t] {
            for (int i = 0; i < kEach; i++)
                tl.mark("t" + std::to_string(t) + "-" + std::to_string(i));
        });
    for (auto& th : threads) th.join();
    auto m = tl.marks();
    ASSERT_EQ(m.size(), static_cast<size_t>(kThreads * kEach));
    std::set<std::string> names;
    for (size_t i = 0; i < m.size(); i++) {
        names.insert(m[i].name);
        if (i > 0) {
            EXPECT_LE(m[i - 1].ns_since_start, m[i].ns_since_start);
        }
    }
    EXPECT_EQ(names.size(), m.size());
}

TEST(ProcessStart, ParsesStarttimeAfterTheLastParenthesis) {
    // proc(5): pid (comm) state ppid ... field 22 is starttime. comm may hold ") (" and spaces.
    std::string fields;
    for (int f = 3; f <= 52; f++)
        fields += " " + std::string(f == 3 ? "S" : f == 22 ? "123456" : "7");
    EXPECT_EQ(proc_stat_starttime("4242 (nemu)" + fields), 123456u);
    EXPECT_EQ(proc_stat_starttime("4242 (a) (b c) 9 9)" + fields), 123456u);
    EXPECT_FALSE(proc_stat_starttime("4242 nemu S 1 2 3"));
    EXPECT_FALSE(proc_stat_starttime("4242 (nemu) S 1 2 3")); // too few fields
    std::string bad = fields;
    bad.replace(bad.find("123456"), 6, "12x456");
    EXPECT_FALSE(proc_stat_starttime("1 (n)" + bad));
}

TEST(ProcessStart, ProcessStartedBeforeNow) {
    uint64_t start = process_start_ns();
    uint64_t now = boottime_ns();
    EXPECT_GT(start, 0u);
    EXPECT_LE(start, now);
}

} // namespace
} // namespace nemu::hw
