// Configuration space of a PciDevice: masks, BAR sizing (PCI 3.0, 6.2.5.1), 64-bit BARs,
// capability list, decoding and reset.
#include "hw/pci/pci_test_support.h"

namespace nemu::hw::pci::test {
namespace {

constexpr BarWindow kMmio32{0xC000'0000, 0x2000'0000};
constexpr BarWindow kMmio64{0xC0'0000'0000, 0x40'0000'0000};

class PciDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        bus = std::make_unique<PciBus>("pcie.0", *platform.root, platform, kMmio32, kMmio64);
        dev = make_function(*types);
        dev->m_addr = make_devfn(3, 0);
        ASSERT_TRUE(bus->plug(*dev));
    }
    void TearDown() override { bus->unplug(*dev); }
    uint32_t rd(uint32_t off, unsigned size = 4) { return bus->config_read(dev->devfn(), off, size); }
    void wr(uint32_t off, uint32_t v, unsigned size = 4) { bus->config_write(dev->devfn(), off, v, size); }

    std::unique_ptr<qom::TypeRegistry> types = make_registry();
    RecordingPlatform platform;
    std::unique_ptr<PciBus> bus;
    std::unique_ptr<TestFunction> dev;
};

TEST_F(PciDeviceTest, IdentityIsReadOnly) {
    EXPECT_EQ(rd(0), 0x10441af4u);
    EXPECT_EQ(rd(8), 0x00ff0001u);
    EXPECT_EQ(rd(0x2c), 0x11001af4u);
    wr(0, 0xdeadbeef);
    wr(8, 0xffffffff);
    EXPECT_EQ(rd(0), 0x10441af4u);
    EXPECT_EQ(rd(8), 0x00ff0001u);
    EXPECT_EQ(rd(0x0e, 1), 0u);        // type-0 header, single function
    EXPECT_EQ(rd(0x3d, 1), 0u);        // no INTx pin
    wr(0x3c, 0x0b, 1);
    EXPECT_EQ(rd(0x3c, 1), 0x0bu);     // interrupt line is plain storage
}

TEST_F(PciDeviceTest, CommandRegisterMask) {
    EXPECT_EQ(rd(4, 2), cfg::kCommandMemory);   // laid out with memory decoding on
    wr(4, 0xffff, 2);
    EXPECT_EQ(rd(4, 2), 0x0546u);               // no I/O space bit, no reserved bits
}

TEST_F(PciDeviceTest, StatusErrorBitsAreWriteOneToClear) {
    dev->config()[cfg::kStatus + 1] |= 0xf9;   // as if errors were recorded
    EXPECT_EQ(rd(6, 2) & 0xf900, 0xf900u);
    wr(6, 0x0800, 2);
    EXPECT_EQ(rd(6, 2) & 0xf900, 0xf100u);
    EXPECT_TRUE(rd(6, 2) & cfg::kStatusCapList);   // read-only bits unchanged
    wr(6, 0xffff, 2);
    EXPECT_EQ(rd(6, 2), cfg::kStatusCapList);
}

TEST_F(PciDeviceTest, BarsAreLaidOutInTheWindows) {
    EXPECT_EQ(rd(0x10), 0xC000'0000u);                  // BAR0: 32-bit, non-prefetchable
    EXPECT_EQ(rd(0x18), 0x0000'000cu);                  // BAR2: 64-bit prefetchable, low dword
    EXPECT_EQ(rd(0x1c), 0xC0u);                         // high dword
    EXPECT_EQ(dev->bar_address(0), 0xC000'0000u);
    EXPECT_EQ(dev->bar_address(2), 0xC0'0000'0000u);
    EXPECT_EQ(dev->bar_address(1), 0u);
    std::vector<TestFunction::Event> want{{true, 0, 0xC000'0000}, {true, 2, 0xC0'0000'0000}};
    EXPECT_EQ(dev->events, want);
    // The 64-bit BAR decodes: reads reach the test handler (it returns the offset).
    EXPECT_EQ(platform.as.read_u32(0xC0'0000'0000 + 0x124), 0x124u);
}

TEST_F(PciDeviceTest, SizingProtocol32) {
    wr(4, 0, 2);   // Linux turns decoding off around sizing
    wr(0x10, 0xffffffff);
    EXPECT_EQ(rd(0x10), 0xffffc000u);   // 16 KiB, memory, 32-bit
    wr(0x10, 0xC000'4000);
    EXPECT_EQ(rd(0x10), 0xC000'4000u);
    wr(0x10, 0xC000'4abc);              // bits below the size are read-only zero
    EXPECT_EQ(rd(0x10), 0xC000'4000u);
    EXPECT_EQ(dev->bar_address(0), 0u);   // decoding still off
    wr(4, cfg::kCommandMemory, 2);
    EXPECT_EQ(dev->bar_address(0), 0xC000'4000u);
}

TEST_F(PciDeviceTest, SizingProtocol64) {
    wr(4, 0, 2);
    wr(0x18, 0xffffffff);
    wr(0x1c, 0xffffffff);
    EXPECT_EQ(rd(0x18), 0xffff000cu);   // 64 KiB, prefetchable, 64-bit
    EXPECT_EQ(rd(0x1c), 0xffffffffu);
    // All-ones never decodes, even with memory space on (the BAR would wrap).
    wr(4, cfg::kCommandMemory, 2);
    EXPECT_EQ(dev->bar_address(2), 0u);
    wr(0x18, 0x0000'0000);
    wr(0x1c, 0x0000'0010);
    EXPECT_EQ(dev->bar_address(2), 0x10'0000'0000u);
}

TEST_F(PciDeviceTest, DecodingFollowsTheCommandRegisterAndMoves) {
    dev->events.clear();
    wr(4, 0, 2);
    EXPECT_EQ(dev->bar_address(0), 0u);
    EXPECT_EQ(platform.as.read_u32(0xC0'0000'0000), 0u);   // unassigned now
    wr(0x10, 0xC010'0000);
    wr(4, cfg::kCommandMemory, 2);
    std::vector<TestFunction::Event> want{{false, 0, 0xC000'0000}, {false, 2, 0xC0'0000'0000},
                                          {true, 0, 0xC010'0000}, {true, 2, 0xC0'0000'0000}};
    EXPECT_EQ(dev->events, want);
    dev->events.clear();
    wr(0x10, 0xC020'0000);   // moved while decoding: unmapped, then mapped
    want = {{false, 0, 0xC010'0000}, {true, 0, 0xC020'0000}};
    EXPECT_EQ(dev->events, want);
    // A 32-bit BAR that would cross 4 GiB does not decode.
    wr(0x10, 0xffffc000);
    EXPECT_EQ(dev->bar_address(0), 0u);
}

TEST_F(PciDeviceTest, CapabilityListWalk) {
    EXPECT_TRUE(rd(6, 2) & cfg::kStatusCapList);
    std::vector<uint8_t> ids;
    unsigned at = rd(0x34, 1);
    for (int guard = 0; at && guard < 48; ++guard) {
        EXPECT_EQ(at % 4, 0u);
        EXPECT_GE(at, 0x40u);
        ids.push_back(static_cast<uint8_t>(rd(at, 1)));
        at = rd(at + 1, 1);
    }
    std::vector<uint8_t> want{cfg::kCapIdVendor, cfg::kCapIdMsix, cfg::kCapIdExpress};
    EXPECT_EQ(ids, want);
    EXPECT_EQ(dev->vendor_cap, 0x40u);
    wr(0x34, 0, 1);   // read-only
    EXPECT_EQ(rd(0x34, 1), 0x40u);
}

TEST_F(PciDeviceTest, ExpressCapabilityIsAnIntegratedEndpoint) {
    unsigned at = 0x40 + 8 + 12;   // after the vendor and MSI-X capabilities
    ASSERT_EQ(rd(at, 1), cfg::kCapIdExpress);
    EXPECT_EQ(rd(at + 2, 2), 0x0092u);   // version 2, type 9 (RCiEP)
    EXPECT_EQ(rd(at + 8, 2), 0x2810u);   // Device Control defaults
    wr(at + 8, 0xffff, 2);
    EXPECT_EQ(rd(at + 8, 2), 0x79ffu);
    EXPECT_EQ(rd(0x100), 0u);            // no extended capabilities
}

TEST_F(PciDeviceTest, AccessChecks) {
    EXPECT_EQ(rd(1, 2), 0xffffu);        // misaligned
    EXPECT_EQ(rd(2, 4), 0xffffffffu);
    EXPECT_EQ(rd(0xffe, 4), 0xffffffffu);
    EXPECT_EQ(rd(0x1000, 1), 0xffu);     // outside the 4 KiB
    EXPECT_EQ(rd(0, 3), 0xffffffu);      // odd size
    EXPECT_EQ(rd(0xfff, 1), 0u);
    wr(0x3e, 0x1234, 4);                 // misaligned write dropped
    EXPECT_EQ(rd(0x3c, 4), 0u);
    EXPECT_EQ(rd(2, 2), 0x1044u);
}

TEST_F(PciDeviceTest, ResetRestoresPowerOnStateAndLayout) {
    wr(4, 0, 2);
    wr(0x10, 0xD000'0000);
    wr(0x3c, 5, 1);
    wr(4, 0x0006, 2);
    EXPECT_EQ(dev->bar_address(0), 0xD000'0000u);
    dev->reset();
    EXPECT_EQ(rd(0x10), 0xC000'0000u);
    EXPECT_EQ(rd(4, 2), cfg::kCommandMemory);
    EXPECT_EQ(rd(0x3c, 1), 0u);
    EXPECT_EQ(dev->bar_address(0), 0xC000'0000u);
}

TEST(PciDevfn, ParsesQemuText) {
    EXPECT_EQ(parse_devfn("3"), make_devfn(3, 0));
    EXPECT_EQ(parse_devfn("03.0"), make_devfn(3, 0));
    EXPECT_EQ(parse_devfn("1f.7"), make_devfn(31, 7));
    EXPECT_EQ(parse_devfn("0x1f"), make_devfn(31, 0));
    EXPECT_EQ(parse_devfn("A.1"), make_devfn(10, 1));
    EXPECT_EQ(parse_devfn("20"), std::nullopt);    // hex 0x20: slot 32
    EXPECT_EQ(parse_devfn("3.8"), std::nullopt);
    EXPECT_EQ(parse_devfn("xyz"), std::nullopt);
    EXPECT_EQ(parse_devfn(""), std::nullopt);
    EXPECT_EQ(parse_devfn("3."), std::nullopt);
    EXPECT_EQ(parse_devfn("3.0x"), std::nullopt);
    EXPECT_EQ(parse_devfn("-1"), std::nullopt);
}

TEST(PciDevfn, AddrProperty) {
    auto types = make_registry();
    auto dev = make_function(*types);
    EXPECT_EQ(*dev->get_property("addr"), Json(-1));
    ASSERT_TRUE(dev->set_property_string("addr", "04.2"));
    EXPECT_EQ(dev->m_addr, make_devfn(4, 2));
    ASSERT_TRUE(dev->set_property("addr", Json(17)));
    EXPECT_EQ(*dev->get_property("addr"), Json(17));
    auto bad = dev->set_property_string("addr", "xyz");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().msg, "Property 'test-pci.addr' doesn't take value 'xyz'");
    auto range = dev->set_property("addr", Json(256));
    ASSERT_FALSE(range);
    EXPECT_EQ(range.error().msg, "Parameter 'addr' expects a value between -1 and 255");
    ASSERT_TRUE(dev->set_property_string("multifunction", "on"));
    EXPECT_TRUE(dev->m_multifunction);
}

} // namespace
} // namespace nemu::hw::pci::test
