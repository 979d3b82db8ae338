// MSI-X (PCI 3.0, 6.8.2/6.8.3): capability, table and PBA through the BAR, masking, pending
// bits and delivery through the platform's routes.
#include "hw/pci/pci_test_support.h"

namespace nemu::hw::pci::test {
namespace {

constexpr uint64_t kBar0 = 0xC000'0000;
constexpr unsigned kCap = 0x48;   // after the 8-byte vendor capability at 0x40

class MsixTest : public ::testing::Test {
protected:
    void SetUp() override {
        bus = std::make_unique<PciBus>("pcie.0", *platform.root, platform, BarWindow{kBar0, 0x2000'0000},
                                       BarWindow{0xC0'0000'0000, 0x40'0000'0000});
        dev = make_function(*types);
        ASSERT_TRUE(bus->plug(*dev));
        ASSERT_NE(dev->msix(), nullptr);
        ASSERT_EQ(bus->config_read(dev->devfn(), kCap, 1), cfg::kCapIdMsix);
    }
    void TearDown() override { bus->unplug(*dev); }
    void control(uint16_t v) { bus->config_write(dev->devfn(), kCap + 2, v, 2); }
    void entry(unsigned v, uint64_t addr, uint32_t data, bool masked) {
        platform.as.write_u32(kBar0 + 16 * v, static_cast<uint32_t>(addr));
        platform.as.write_u32(kBar0 + 16 * v + 4, static_cast<uint32_t>(addr >> 32));
        platform.as.write_u32(kBar0 + 16 * v + 8, data);
        platform.as.write_u32(kBar0 + 16 * v + 12, masked ? 1 : 0);
    }
    uint64_t pba() { return platform.as.read_u64(kBar0 + 0x2000); }
    std::vector<MsiMessage> fired() {
        std::lock_guard lock(platform.lock);
        return platform.fired;
    }

    std::unique_ptr<qom::TypeRegistry> types = make_registry();
    RecordingPlatform platform;
    std::unique_ptr<PciBus> bus;
    std::unique_ptr<TestFunction> dev;
};

TEST_F(MsixTest, Capability) {
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 2, 2), 3u);        // table size N-1, disabled
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 4, 4), 0x0u);      // table at 0 in BAR 0
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 8, 4), 0x2000u);   // PBA at 0x2000 in BAR 0
    control(0xffff);
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 2, 2), 0xc003u);   // only enable + mask
    EXPECT_TRUE(dev->msix()->enabled());
    EXPECT_TRUE(dev->msix()->function_masked());
    bus->config_write(dev->devfn(), kCap + 4, 0x1234, 4);
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 4, 4), 0x0u);
}

TEST_F(MsixTest, TableStartsMaskedAndStoresEntries) {
    for (unsigned v = 0; v < 4; ++v) EXPECT_EQ(platform.as.read_u32(kBar0 + 16 * v + 12), 1u);
    entry(2, 0xfee0'1000, 0x4041, false);
    EXPECT_EQ(platform.as.read_u32(kBar0 + 32), 0xfee0'1000u);
    EXPECT_EQ(platform.as.read_u32(kBar0 + 40), 0x4041u);
    EXPECT_EQ(platform.as.read_u64(kBar0 + 32), 0xfee0'1000u);
    EXPECT_EQ(platform.as.read_u32(kBar0 + 44), 0u);
    platform.as.write_u32(kBar0 + 44, 0xfffffffe);   // reserved vector-control bits stay zero
    EXPECT_EQ(platform.as.read_u32(kBar0 + 44), 0u);
    platform.as.write_u64(kBar0 + 48, 0x0000'0001'fee0'2004);   // QWORD write, low bits dropped
    EXPECT_EQ(dev->msix()->message(3).address, 0x1'fee0'2004u & ~3ull);
    EXPECT_EQ(platform.as.read_u32(kBar0 + 16 * 4), 0u);         // past the table: nothing
}

TEST_F(MsixTest, DisabledDropsEverything) {
    entry(0, 0xfee0'0000, 0x31, false);
    dev->msix()->notify(0);
    EXPECT_TRUE(fired().empty());
    EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, DeliversWithTheCurrentMessage) {
    entry(1, 0xfee0'0000, 0x31, false);
    control(Msix::kControlEnable);
    dev->msix()->notify(1);
    entry(1, 0xfee0'1000, 0x32, false);
    dev->msix()->notify(1);
    dev->msix()->notify(99);   // out of range: ignored
    std::vector<MsiMessage> want{{0xfee0'0000, 0x31}, {0xfee0'1000, 0x32}};
    EXPECT_EQ(fired(), want);
    EXPECT_EQ(platform.routes_created, 1);
}

TEST_F(MsixTest, MaskedVectorGoesPendingAndFiresOnUnmask) {
    entry(0, 0xfee0'0000, 0x40, true);
    control(Msix::kControlEnable);
    dev->msix()->notify(0);
    EXPECT_TRUE(fired().empty());
    EXPECT_EQ(pba(), 1u);
    EXPECT_TRUE(dev->msix()->pending(0));
    platform.as.write_u64(kBar0 + 0x2000, 0);   // the PBA is read-only
    EXPECT_EQ(pba(), 1u);
    platform.as.write_u32(kBar0 + 12, 0);        // unmask: fires once, pending clears
    std::vector<MsiMessage> want{{0xfee0'0000, 0x40}};
    EXPECT_EQ(fired(), want);
    EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, FunctionMask) {
    entry(3, 0xfee0'0000, 0x50, false);
    control(Msix::kControlEnable | Msix::kControlFunctionMask);
    dev->msix()->notify(3);
    EXPECT_TRUE(fired().empty());
    EXPECT_EQ(pba(), 8u);
    control(Msix::kControlEnable);
    std::vector<MsiMessage> want{{0xfee0'0000, 0x50}};
    EXPECT_EQ(fired(), want);
    EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, ResetMasksAndDisables) {
    entry(0, 0xfee0'0000, 0x40, false);
    control(Msix::kControlEnable);
    dev->reset();
    EXPECT_FALSE(dev->msix()->enabled());
    EXPECT_TRUE(dev->msix()->vector_masked(0));
    EXPECT_EQ(dev->msix()->message(0), MsiMessage{});
    EXPECT_EQ(bus->config_read(dev->devfn(), kCap + 2, 2), 3u);
}

TEST_F(MsixTest, NotifyFromManyThreads) {
    entry(0, 0xfee0'0000, 1, false);
    control(Msix::kControlEnable);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 250; ++i) dev->msix()->notify(0);
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(fired().size(), 1000u);
}

// The direct fd (MsiRoute::irqfd handed to vhost) exists exactly while the vector is
// deliverable; masking, the function mask and disabling take it away (QEMU's guest notifier
// masking), and a platform without irqfds (qtest) never has one.
TEST_F(MsixTest, DirectFdOnlyWhileDeliverable) {
    platform.with_irqfd = true;
    Msix& m = *dev->msix();
    entry(1, 0xfee0'0000, 0x41, false);
    EXPECT_EQ(m.direct_fd(1), nullptr);   // MSI-X disabled
    control(Msix::kControlEnable);
    const EventFd* fd = m.direct_fd(1);
    ASSERT_NE(fd, nullptr);
    ASSERT_EQ(platform.routes.size(), 1u);
    EXPECT_EQ(fd, &platform.routes[0]->fd);
    EXPECT_EQ(platform.routes[0]->message, (MsiMessage{0xfee0'0000, 0x41}));   // current message
    EXPECT_EQ(m.direct_fd(0), nullptr);    // vector 0 still masked
    EXPECT_EQ(m.direct_fd(99), nullptr);   // out of range
    platform.as.write_u32(kBar0 + 16 + 12, 1);   // vector masked
    EXPECT_EQ(m.direct_fd(1), nullptr);
    platform.as.write_u32(kBar0 + 16 + 12, 0);
    EXPECT_EQ(m.direct_fd(1), fd);   // the same fd again
    control(Msix::kControlEnable | Msix::kControlFunctionMask);
    EXPECT_EQ(m.direct_fd(1), nullptr);
    control(Msix::kControlEnable);
    EXPECT_EQ(m.direct_fd(1), fd);
    control(0);
    EXPECT_EQ(m.direct_fd(1), nullptr);
    control(Msix::kControlEnable);
    dev->reset();
    EXPECT_EQ(m.direct_fd(1), nullptr);
}

TEST_F(MsixTest, NoDirectFdWithoutPlatformIrqfd) {
    entry(0, 0xfee0'0000, 0x40, false);
    control(Msix::kControlEnable);
    EXPECT_EQ(dev->msix()->direct_fd(0), nullptr);
    dev->msix()->notify(0);   // the ordinary path still works
    EXPECT_EQ(fired().size(), 1u);
}

// The holder of a direct fd signals the route behind Msix's back: a message change must reach
// the route at once, not at the next notify (a vector never handed out stays lazy).
TEST_F(MsixTest, DirectVectorMessageReachesTheRouteAtOnce) {
    platform.with_irqfd = true;
    Msix& m = *dev->msix();
    entry(0, 0xfee0'0000, 0x40, false);
    entry(1, 0xfee0'0000, 0x50, false);
    control(Msix::kControlEnable);
    ASSERT_NE(m.direct_fd(0), nullptr);
    m.notify(1);   // creates vector 1's route with 0x50
    ASSERT_EQ(platform.routes.size(), 2u);
    platform.as.write_u32(kBar0 + 8, 0x42);
    platform.as.write_u32(kBar0 + 16 + 8, 0x52);
    EXPECT_EQ(platform.routes[0]->message, (MsiMessage{0xfee0'0000, 0x42}));
    EXPECT_EQ(platform.routes[1]->message, (MsiMessage{0xfee0'0000, 0x50}));   // until it fires
    m.notify(1);
    EXPECT_EQ(platform.routes[1]->message, (MsiMessage{0xfee0'0000, 0x52}));
}

// The change handler runs after each change of deliverability, sees the new state, and not
// after writes that change nothing a holder cares about.
TEST_F(MsixTest, ChangeHandlerOnEveryMaskOrEnableToggle) {
    platform.with_irqfd = true;
    Msix& m = *dev->msix();
    std::vector<bool> seen;   // direct_fd(2) != nullptr, as the handler saw it
    m.set_change_handler([&] { seen.push_back(m.direct_fd(2) != nullptr); });
    entry(2, 0xfee0'0000, 0x60, true);   // message writes and a mask that stays set: nothing
    EXPECT_TRUE(seen.empty());
    control(Msix::kControlEnable);
    control(Msix::kControlEnable);              // no toggle
    platform.as.write_u32(kBar0 + 32 + 12, 0);  // unmask
    platform.as.write_u32(kBar0 + 32 + 12, 0);  // no toggle
    platform.as.write_u32(kBar0 + 32 + 8, 0x61);   // message: the fd stays
    control(Msix::kControlEnable | Msix::kControlFunctionMask);
    control(Msix::kControlEnable);
    platform.as.write_u32(kBar0 + 32 + 12, 1);  // mask
    dev->reset();
    std::vector<bool> want{false, true, false, true, false, false};
    EXPECT_EQ(seen, want);
    m.set_change_handler({});
}

// What a holder does while the vector is masked — it notifies (its polled fd fired) — sets
// the pending bit, and the unmask delivers it once, after the handler had its say.
TEST_F(MsixTest, MaskedHolderGoesPendingAndUnmaskDelivers) {
    platform.with_irqfd = true;
    Msix& m = *dev->msix();
    entry(0, 0xfee0'0000, 0x70, false);
    control(Msix::kControlEnable);
    size_t fired_when_handler_ran = 99;
    m.set_change_handler([&] { fired_when_handler_ran = fired().size(); });
    platform.as.write_u32(kBar0 + 12, 1);
    m.notify(0);
    EXPECT_EQ(pba(), 1u);
    platform.as.write_u32(kBar0 + 12, 0);
    EXPECT_EQ(fired_when_handler_ran, 0u);
    EXPECT_EQ(fired().size(), 1u);
    EXPECT_EQ(pba(), 0u);
    m.set_change_handler({});
}

} // namespace
} // namespace nemu::hw::pci::test
