#include "hw/acpi/ged.h"

#include <gtest/gtest.h>

#include <vector>

#include "hw/core/irq.h"

namespace nemu::acpi {
namespace {

struct GedFixture : ::testing::Test {
    std::vector<bool> levels;
    hw::IrqLine irq{"ged", [this](bool level) { levels.push_back(level); }};
    int poweroffs = 0;
    int resets = 0;
    Ged ged{irq, [this] { poweroffs++; }, [this] { resets++; }};

    uint64_t esel() { return ged.event_handler().read(0, 4); }
    void reg_write(uint64_t off, uint8_t v) { ged.regs_handler().write(off, v, 1); }
    uint8_t reg_read(uint64_t off) { return static_cast<uint8_t>(ged.regs_handler().read(off, 1)); }
};

TEST_F(GedFixture, PowerButtonPulsesTheLineAndLatchesBitOne) {
    EXPECT_EQ(esel(), 0u);
    ged.power_button();
    EXPECT_EQ(levels, (std::vector<bool>{true, false})); // an edge, the line ends low
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(ged.pending_events(), kGedEventPowerButton);
    EXPECT_EQ(esel(), 0x2u);
    EXPECT_EQ(esel(), 0u); // read-to-clear
    EXPECT_EQ(ged.pending_events(), 0u);
}

TEST_F(GedFixture, EselWritesAndOtherOffsetsDoNothing) {
    ged.power_button();
    ged.event_handler().write(0, 0xffffffff, 4);
    EXPECT_EQ(ged.event_handler().read(4, 4), 0u);
    EXPECT_EQ(esel(), 0x2u);
    ged.power_button();
    ged.reset();
    EXPECT_EQ(esel(), 0u);
}

TEST_F(GedFixture, PoweroffOnlyOnSlpEnWithS5) {
    reg_write(kGedRegSleepControl, 5 << 2);        // SLP_TYP=5 without SLP_EN
    reg_write(kGedRegSleepControl, 0x20);          // SLP_EN, SLP_TYP=0 (S0)
    reg_write(kGedRegSleepControl, 0x20 | 3 << 2); // S3: not offered, ignored
    reg_write(kGedRegSleepStatus, 0x20 | 5 << 2);  // right value, wrong register
    reg_write(kGedRegReset, 0x20 | 5 << 2);
    EXPECT_EQ(poweroffs, 0);
    reg_write(kGedRegSleepControl, 0x20 | 5 << 2); // 0x34
    EXPECT_EQ(poweroffs, 1);
    reg_write(kGedRegSleepControl, 0xff & ~0x1c); // SLP_EN with SLP_TYP=0 among other bits
    EXPECT_EQ(poweroffs, 1);
    EXPECT_EQ(resets, 0);
}

TEST_F(GedFixture, ResetOnlyOnResetValue) {
    for (unsigned v : {0x00u, 0x01u, 0x41u, 0x43u, 0xffu})
        reg_write(kGedRegReset, static_cast<uint8_t>(v));
    reg_write(kGedRegSleepControl, kGedResetValue);
    EXPECT_EQ(resets, 0);
    reg_write(kGedRegReset, kGedResetValue);
    EXPECT_EQ(resets, 1);
    EXPECT_EQ(poweroffs, 0);
}

TEST_F(GedFixture, SleepRegistersReadZeroAndWakStsIsWriteOneToClear) {
    EXPECT_EQ(reg_read(kGedRegSleepControl), 0);
    EXPECT_EQ(reg_read(kGedRegSleepStatus), 0);
    EXPECT_EQ(reg_read(kGedRegReset), 0);
    reg_write(kGedRegSleepStatus, kSleepStatusWakSts); // clearing a clear bit: no effect
    EXPECT_EQ(reg_read(kGedRegSleepStatus), 0);
    EXPECT_EQ(ged.regs_handler().read(3, 1), 0u);
}

TEST_F(GedFixture, CallbacksRunWithoutTheDeviceLock) {
    // A callback that touches the device again (as a synchronous machine reset would) must
    // not deadlock: the lock is not held while it runs.
    bool reentered = false;
    hw::IrqLine line;
    Ged* self = nullptr;
    Ged dev(
        line, [&] { reentered = self->pending_events() == 0; }, [&] { self->reset(); });
    self = &dev;
    dev.regs_handler().write(kGedRegSleepControl, 0x34, 1);
    dev.regs_handler().write(kGedRegReset, kGedResetValue, 1);
    EXPECT_TRUE(reentered);
}

TEST(GedLayout, AddressesFollowTheMachineMap) {
    EXPECT_EQ(kGedEventBase, 0xfea00000u);
    EXPECT_EQ(kGedRegsBase, 0xfea01000u);
    EXPECT_EQ(kGedEventPowerButton, 2u);
    EXPECT_EQ(kGedResetValue, 0x42);
}

} // namespace
} // namespace nemu::acpi
