// PciBus placement and errors (QEMU 7.2's messages), the host bridge and ECAM decoding
// (PCIe 4.0, 7.2.2).
#include "hw/pci/pci_test_support.h"

namespace nemu::hw::pci::test {
namespace {

constexpr BarWindow kMmio32{0xC000'0000, 0x2000'0000};
constexpr BarWindow kMmio64{0xC0'0000'0000, 0x40'0000'0000};
constexpr uint64_t kEcam = 0xE000'0000;

class PciHostTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto obj = types->create("gpex-pcihost");
        ASSERT_TRUE(obj);
        host = static_cast<PciLiteHost*>(*root.add_child("gpex-pcihost", std::move(*obj)));
        ASSERT_TRUE(host->setup(*platform.root, platform, kMmio32, kMmio64, 256ull << 20));
        platform.root->add_subregion(kEcam, host->ecam());
    }
    void TearDown() override {
        for (auto& d : devs) host->bus().unplug(*d);
        platform.root->remove_subregion(host->ecam());
    }
    TestFunction& add(int32_t addr, bool multifunction = false) {
        devs.push_back(make_function(*types));
        devs.back()->m_addr = addr;
        devs.back()->m_multifunction = multifunction;
        return *devs.back();
    }
    uint64_t ecam(unsigned bus, unsigned slot, unsigned fn, unsigned reg) {
        return kEcam + (uint64_t{bus} << 20 | slot << 15 | fn << 12 | reg);
    }

    std::unique_ptr<qom::TypeRegistry> types = make_registry();
    RecordingPlatform platform;
    std::unique_ptr<qom::Object> root_owner = std::move(*types->create("container"));
    qom::Object& root = *root_owner;
    PciLiteHost* host = nullptr;
    std::vector<std::unique_ptr<TestFunction>> devs;
};

TEST_F(PciHostTest, HostBridgeAtZero) {
    // The values QEMU 7.2's gpex-root shows through ECAM on microvm,pcie=on.
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0)), 0x00081b36u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 4)), 0u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 8)), 0x06000000u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0xc)), 0u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0x2c)), 0x11001af4u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0x34)), 0u);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0x100)), 0xffffffffu);   // conventional: 256 bytes
    for (unsigned bar = 0; bar < 6; ++bar) {   // no BARs: sizing reads back zero
        platform.as.write_u32(ecam(0, 0, 0, 0x10 + 4 * bar), 0xffffffff);
        EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 0x10 + 4 * bar)), 0u);
    }
    ASSERT_NE(root.child("gpex-pcihost")->child("gpex_root"), nullptr);
    EXPECT_EQ(root.child("gpex-pcihost")->child("gpex_root")->type_name(), "gpex-root");
    EXPECT_EQ(host->bus().name(), "pcie.0");
}

TEST_F(PciHostTest, EcamDecode) {
    EXPECT_EQ(platform.as.read_u32(ecam(0, 1, 0, 0)), 0xffffffffu);   // empty slot
    EXPECT_EQ(platform.as.read_u16(ecam(0, 0, 1, 0)), 0xffffu);       // absent function
    EXPECT_EQ(platform.as.read_u8(ecam(1, 0, 0, 0)), 0xffu);          // no bus 1
    EXPECT_EQ(platform.as.read_u32(ecam(255, 31, 7, 0xffc)), 0xffffffffu);
    EXPECT_EQ(platform.as.read_u8(ecam(0, 0, 0, 1)), 0x1bu);
    EXPECT_EQ(platform.as.read_u16(ecam(0, 0, 0, 2)), 0x0008u);
    EXPECT_EQ(platform.as.read_u64(ecam(0, 0, 0, 0)), 0x00081b36u);   // split into two dwords
    platform.as.write_u32(ecam(0, 1, 0, 4), 0xffffffff);             // dropped
    platform.as.write_u32(ecam(1, 0, 0, 4), 0xffffffff);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 0, 0, 4)), 0u);
}

TEST_F(PciHostTest, AutoAddressIsTheFirstFreeSlot) {
    TestFunction& a = add(kDevfnAuto);
    TestFunction& b = add(kDevfnAuto);
    ASSERT_TRUE(host->bus().plug(a));
    ASSERT_TRUE(host->bus().plug(b));
    EXPECT_EQ(a.devfn(), make_devfn(1, 0));
    EXPECT_EQ(b.devfn(), make_devfn(2, 0));
    EXPECT_EQ(*a.get_property("addr"), Json(8));
    EXPECT_EQ(platform.as.read_u32(ecam(0, 2, 0, 0)), 0x10441af4u);
    // Each got its own naturally aligned BARs.
    EXPECT_EQ(a.bar_address(0), 0xC000'0000u);
    EXPECT_EQ(b.bar_address(0), 0xC000'4000u);
    EXPECT_EQ(a.bar_address(2), 0xC0'0000'0000u);
    EXPECT_EQ(b.bar_address(2), 0xC0'0001'0000u);
    EXPECT_EQ(host->bus().devices().size(), 3u);
    EXPECT_EQ(host->bus().find(make_devfn(2, 0)), &b);
}

TEST_F(PciHostTest, TakenAddress) {
    ASSERT_TRUE(host->bus().plug(add(make_devfn(3, 0))));
    auto r = host->bus().plug(add(make_devfn(3, 0)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: slot 3 function 0 not available for test-pci, in use by test-pci,id=(null)");
    devs.back()->m_addr = 0;
    devs.front()->m_id = "x";
    r = host->bus().plug(*devs.back());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: slot 0 function 0 not available for test-pci, in use by gpex-root,id=(null)");
    EXPECT_FALSE(devs.back()->plugged());
    EXPECT_EQ(devs.back()->m_addr, 0);
}

TEST_F(PciHostTest, Multifunction) {
    ASSERT_TRUE(host->bus().plug(add(make_devfn(4, 0))));
    auto r = host->bus().plug(add(make_devfn(4, 1)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: single function device can't be populated in function 4.1");
    ASSERT_TRUE(host->bus().plug(add(make_devfn(5, 2))));   // QEMU allows it before function 0
    r = host->bus().plug(add(make_devfn(5, 0)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: 5.0 indicates single function, but 5.2 is already populated.");
    TestFunction& f0 = add(make_devfn(6, 0), true);
    ASSERT_TRUE(host->bus().plug(f0));
    EXPECT_EQ(platform.as.read_u8(ecam(0, 6, 0, 0x0e)), 0x80u);
    ASSERT_TRUE(host->bus().plug(add(make_devfn(6, 1))));
}

TEST_F(PciHostTest, FailedRealizeIsUndone) {
    TestFunction& f = add(make_devfn(7, 0));
    f.fail_realize = true;
    auto r = host->bus().plug(f);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "test: realize failed");
    EXPECT_FALSE(f.plugged());
    EXPECT_EQ(host->bus().find(make_devfn(7, 0)), nullptr);
    EXPECT_EQ(platform.as.read_u32(ecam(0, 7, 0, 0)), 0xffffffffu);
}

TEST_F(PciHostTest, WindowExhausted) {
    PciBus small("pcie.0", *platform.root, platform, BarWindow{0xC000'0000, 0x4000}, kMmio64);
    auto a = make_function(*types);
    auto b = make_function(*types);
    ASSERT_TRUE(small.plug(*a));
    auto r = small.plug(*b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: no room for a 16 KiB BAR of test-pci in the MMIO window at 0xc0000000");
    EXPECT_EQ(small.find(make_devfn(1, 0)), nullptr);
    small.unplug(*a);
}

TEST_F(PciHostTest, AllSlotsTaken) {
    for (unsigned s = 1; s < kSlots; ++s) {
        TestFunction& f = add(make_devfn(s, 0));
        f.vectors = 0;
        ASSERT_TRUE(host->bus().plug(f)) << s;
    }
    auto r = host->bus().plug(add(kDevfnAuto));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "PCI: no slot/function available for test-pci, all in use or reserved");
}

} // namespace
} // namespace nemu::hw::pci::test
