#include "hw/misc/debug_port.h"

#include <gtest/gtest.h>

#include "hw/misc/boot_timeline.h"

namespace nemu::hw {
namespace {

TEST(DebugPort, WritesBecomeGuestMarks) {
    BootTimeline tl(0);
    DebugPort port(tl);
    port.write(0, 0x31, 1);
    port.write(0, 0x1ab, 1); // only the byte counts
    auto m = tl.marks();
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].name, "guest-31");
    EXPECT_EQ(m[1].name, "guest-ab");
}

TEST(DebugPort, ReadsAreAllOnesAndLeaveNoMark) {
    BootTimeline tl(0);
    DebugPort port(tl);
    EXPECT_EQ(port.read(0, 1), 0xffu);
    EXPECT_EQ(port.read(0, 2), 0xffffu);
    EXPECT_EQ(port.read(0, 4), 0xffffffffu);
    EXPECT_EQ(port.read(0, 8), ~uint64_t{0});
    port.write(1, 0x55, 1); // outside the one-byte port
    EXPECT_TRUE(tl.marks().empty());
    EXPECT_EQ(kDebugPortAddress, 0x80);
}

} // namespace
} // namespace nemu::hw
