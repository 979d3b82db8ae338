#include "accel/vcpu_exit.h"

#include <gtest/gtest.h>

#include <array>

#include "hw/memory/address_space.h"
#include "hw/memory/memory_region.h"

namespace nemu::accel {
namespace {

struct Recorder final : memory::MmioHandler {
    std::vector<std::pair<uint64_t, uint64_t>> writes;
    uint64_t value = 0x5a;
    uint64_t read(uint64_t, unsigned) override { return value; }
    void write(uint64_t off, uint64_t v, unsigned) override { writes.emplace_back(off, v); }
};

struct Fixture : ::testing::Test {
    std::unique_ptr<memory::MemoryRegion> sys = memory::MemoryRegion::container("system", memory::kWholeSpace);
    std::unique_ptr<memory::MemoryRegion> io_root = memory::MemoryRegion::container("io", 0x10000);
    Recorder dev, port;
    std::unique_ptr<memory::MemoryRegion> mmio = memory::MemoryRegion::mmio("dev", 0x1000, dev);
    std::unique_ptr<memory::MemoryRegion> pio = memory::MemoryRegion::mmio("port", 1, port, {1, 1});
    std::unique_ptr<memory::AddressSpace> mem, io;
    void SetUp() override {
        sys->add_subregion(0xd000'0000, *mmio);
        io_root->add_subregion(0x80, *pio);
        mem = std::make_unique<memory::AddressSpace>("memory", *sys);
        io = std::make_unique<memory::AddressSpace>("I/O", *io_root);
        io->set_unassigned_byte(0xff);
    }
};

TEST_F(Fixture, PioWriteReachesThePortDevice) {
    std::array<uint8_t, 8> data{0x10};
    EXPECT_EQ(handle_exit(PioExit{0x80, 1, true, 1, data.data()}, *mem, *io), ExitAction::Continue);
    ASSERT_EQ(port.writes.size(), 1u);
    EXPECT_EQ(port.writes[0].second, 0x10u);
}

TEST_F(Fixture, StringPioServesEveryElement) {
    std::array<uint8_t, 3> data{1, 2, 3};
    handle_exit(PioExit{0x80, 1, true, 3, data.data()}, *mem, *io);
    ASSERT_EQ(port.writes.size(), 3u);
    EXPECT_EQ(port.writes[2].second, 3u);
}

TEST_F(Fixture, UnassignedPortReadsAllOnes) {
    std::array<uint8_t, 4> data{};
    handle_exit(PioExit{0x60, 4, false, 1, data.data()}, *mem, *io);
    EXPECT_EQ(data, (std::array<uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
}

TEST_F(Fixture, MmioReadFillsTheData) {
    std::array<uint8_t, 8> data{};
    dev.value = 0x11223344;
    handle_exit(MmioExit{0xd000'0010, 4, false, data.data()}, *mem, *io);
    EXPECT_EQ(data[0], 0x44);
    EXPECT_EQ(data[3], 0x11);
    EXPECT_EQ(data[4], 0);
}

TEST_F(Fixture, MmioWriteOutsideAnyRegionIsDropped) {
    std::array<uint8_t, 8> data{1};
    EXPECT_EQ(handle_exit(MmioExit{0xe000'0000, 1, true, data.data()}, *mem, *io), ExitAction::Continue);
    EXPECT_TRUE(dev.writes.empty());
}

TEST_F(Fixture, CorruptSizesAreIgnoredNotServed) {
    std::array<uint8_t, 8> data{};
    handle_exit(PioExit{0x80, 1, true, 100000, data.data()}, *mem, *io);
    handle_exit(PioExit{0x80, 0, true, 1, data.data()}, *mem, *io);
    handle_exit(MmioExit{0xd000'0000, 9, true, data.data()}, *mem, *io);
    EXPECT_TRUE(port.writes.empty());
    EXPECT_TRUE(dev.writes.empty());
}

TEST_F(Fixture, LifeCycleExitsMapToActions) {
    EXPECT_EQ(handle_exit(ShutdownExit{}, *mem, *io), ExitAction::Reset);
    EXPECT_EQ(handle_exit(InterruptedExit{}, *mem, *io), ExitAction::Interrupted);
    EXPECT_EQ(handle_exit(SystemEventExit{SystemEventExit::Kind::Shutdown}, *mem, *io), ExitAction::Poweroff);
    EXPECT_EQ(handle_exit(SystemEventExit{SystemEventExit::Kind::Reset}, *mem, *io), ExitAction::Reset);
    EXPECT_EQ(handle_exit(InternalErrorExit{1, {}}, *mem, *io), ExitAction::InternalError);
    EXPECT_EQ(handle_exit(FailEntryExit{0x80000021}, *mem, *io), ExitAction::InternalError);
    EXPECT_EQ(handle_exit(UnknownExit{99}, *mem, *io), ExitAction::InternalError);
    EXPECT_EQ(describe_exit(InternalErrorExit{1, {}}), "emulation failure");
}

} // namespace
} // namespace nemu::accel
