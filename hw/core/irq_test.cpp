#include <gtest/gtest.h>

#include <vector>

#include "hw/core/irq.h"

namespace nemu::hw {
namespace {

TEST(Irq, HandlerPulseAndInterceptor) {
    std::vector<bool> seen;
    IrqLine line("l", [&](bool level) { seen.push_back(level); });
    line.raise();
    EXPECT_TRUE(line.level());
    line.pulse();
    EXPECT_FALSE(line.level());
    EXPECT_EQ(seen, (std::vector<bool>{true, true, false}));
    std::vector<bool> intercepted;
    line.set_interceptor([&](bool level) { intercepted.push_back(level); });
    EXPECT_TRUE(line.intercepted());
    line.raise();
    EXPECT_EQ(seen.size(), 3u);   // replaced
    EXPECT_EQ(intercepted, (std::vector<bool>{true}));
    line.deliver(true);   // explicit forward to the owner
    EXPECT_EQ(seen.size(), 4u);
    line.set_interceptor({});
    line.lower();
    EXPECT_EQ(seen.size(), 5u);
}

TEST(Irq, GpioListNamedAndUnnamed) {
    GpioList g;
    std::vector<std::pair<unsigned, bool>> in_seen;
    g.add_in("", 2, [&](unsigned n, bool l) { in_seen.push_back({n, l}); });
    g.add_in("", 1, [&](unsigned n, bool l) { in_seen.push_back({n + 100, l}); });
    g.add_in("sysbus-irq", 1, {});
    g.add_out("", 2);
    EXPECT_EQ(g.in_count(""), 3u);
    EXPECT_EQ(g.in_count("sysbus-irq"), 1u);
    EXPECT_EQ(g.in_count("nope"), 0u);
    EXPECT_EQ(g.out_count(""), 2u);
    ASSERT_NE(g.in("", 1), nullptr);
    EXPECT_EQ(g.in("", 3), nullptr);
    EXPECT_EQ(g.in("", 1)->name(), "unnamed-gpio-in[1]");
    g.in("", 1)->raise();
    g.in("", 2)->raise();
    EXPECT_EQ(in_seen, (std::vector<std::pair<unsigned, bool>>{{1, true}, {102, true}}));
    // gpio-out forwards to the connected input.
    ASSERT_TRUE(g.connect_out("", 0, *g.in("", 0)));
    EXPECT_FALSE(g.connect_out("", 5, *g.in("", 0)));
    g.out("", 0)->raise();
    EXPECT_EQ(in_seen.back(), (std::pair<unsigned, bool>{0, true}));
    g.in("sysbus-irq", 0)->raise();   // no handler: just records the level
    EXPECT_TRUE(g.in("sysbus-irq", 0)->level());
}

} // namespace
} // namespace nemu::hw
