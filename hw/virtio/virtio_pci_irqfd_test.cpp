// The transport's irqfd interface (VirtioInterrupt::queue_irqfd + set_irqfd_listener), over
// the recording PCI platform with KVM-like routes (each has an irqfd): which fd a queue gets
// when its vector is unmasked, masked, function-masked, NO_VECTOR, reassigned, with MSI-X off
// and on a platform without irqfds (qtest); when the listener runs and what it sees; and the
// vhost-style holder protocol (irqfd while deliverable, a polled fd relayed to notify_queue
// while masked) keeps QEMU's masking semantics: pending while masked, delivered on unmask.
#include <gtest/gtest.h>

#include <vector>

#include "hw/pci/pci_test_support.h"
#include "hw/virtio/virtio_pci.h"

namespace nemu::hw::virtio {
namespace {

using pci::test::RecordingPlatform;

// A device with two queues that keeps its activation (the transport's VirtioInterrupt).
struct FakeDevice final : VirtioDevice {
    uint16_t device_id() const override { return kDeviceIdEntropy; }
    uint64_t device_features() const override { return 0; }
    std::vector<uint16_t> queue_max_sizes() const override { return {8, 8}; }
    Result<> activate(const VirtioActivation& a) override {
        interrupt = a.interrupt;
        return {};
    }
    void deactivate() override { interrupt = nullptr; }
    Result<> realize() override { return {}; }
    VirtioInterrupt* interrupt = nullptr;
};

constexpr uint64_t kBar32 = 0xC000'0000;
// virtio 1.2, 4.1.4.3 common configuration offsets.
constexpr uint64_t kDriverFeatureSelect = 0x08, kDriverFeature = 0x0C, kDeviceStatus = 0x14, kQueueSelect = 0x16,
                   kQueueMsixVector = 0x1A;

class VirtioPciIrqfdTest : public ::testing::Test {
protected:
    void SetUp() override {
        qom::register_base_types(types);
        hw::register_device_type(types);
        pci::register_pci_lite_types(types);
        register_virtio_pci_types(types);
        types.add(qom::TypeInfo{.name = "test-virtio-device", .parent = "virtio-device",
                                .create = [] { return std::make_unique<FakeDevice>(); }});
        register_virtio_pci_type(types, "test-virtio-pci", "test-virtio-device", 0xFF0000, 3, "", "Misc devices");
        bus = std::make_unique<pci::PciBus>("pcie.0", *platform.root, platform, pci::BarWindow{kBar32, 0x2000'0000},
                                            pci::BarWindow{0xC0'0000'0000, 0x40'0000'0000});
    }
    void TearDown() override {
        if (dev) bus->unplug(*dev);
    }
    // Plugs the function, programs queue q -> vector q and the table (all unmasked), enables
    // MSI-X and runs the driver to DRIVER_OK (no queue enabled: the device only needs the
    // interrupt).
    void start(bool with_irqfd = true) {
        platform.with_irqfd = with_irqfd;
        auto obj = types.create("test-virtio-pci");
        ASSERT_TRUE(obj);
        dev.reset(static_cast<VirtioPciDevice*>(obj->release()));
        ASSERT_TRUE(bus->plug(*dev));
        fake = static_cast<FakeDevice*>(&dev->backend());
        msix_bar = dev->bar_address(1);
        common = dev->bar_address(4);
        ASSERT_NE(msix_bar, 0u);
        ASSERT_NE(common, 0u);
        for (uint8_t at = static_cast<uint8_t>(cfg(0x34, 1)); at; at = static_cast<uint8_t>(cfg(at + 1, 1)))
            if (cfg(at, 1) == pci::cfg::kCapIdMsix) msix_cap = at;
        ASSERT_NE(msix_cap, 0u);
        for (uint16_t q = 0; q < 2; ++q) set_queue_vector(q, q);
        for (unsigned v = 0; v < 3; ++v) {
            platform.as.write_u32(msix_bar + 16 * v, 0xFEE0'0000);
            platform.as.write_u32(msix_bar + 16 * v + 8, 0x40 + v);
            mask(v, false);
        }
        msix_control(pci::Msix::kControlEnable);
        platform.as.write_u8(common + kDeviceStatus, kStatusAcknowledge | kStatusDriver);
        platform.as.write_u32(common + kDriverFeatureSelect, 1);
        platform.as.write_u32(common + kDriverFeature, 1);   // VERSION_1 (bit 32)
        platform.as.write_u8(common + kDeviceStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
        platform.as.write_u8(common + kDeviceStatus,
                             kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
        platform.loop->run_once(0);   // the transport activates on the main loop
        ASSERT_NE(fake->interrupt, nullptr);
        irq = fake->interrupt;
    }
    uint32_t cfg(uint32_t offset, unsigned size) { return bus->config_read(dev->devfn(), offset, size); }
    void msix_control(uint16_t v) { bus->config_write(dev->devfn(), msix_cap + 2, v, 2); }
    void mask(unsigned vector, bool masked) { platform.as.write_u32(msix_bar + 16 * vector + 12, masked ? 1 : 0); }
    void set_queue_vector(uint16_t q, uint16_t vector) {
        platform.as.write_u16(common + kQueueSelect, q);
        platform.as.write_u16(common + kQueueMsixVector, vector);
    }
    // The route's irqfd of a vector, as the platform created it (routes are made on first use).
    const EventFd* route_fd(unsigned vector) {
        pci::MsiMessage want{0xFEE0'0000, 0x40 + vector};
        for (auto* r : platform.routes)
            if (r->message == want) return &r->fd;
        return nullptr;
    }
    size_t fired() {
        std::lock_guard lock(platform.lock);
        return platform.fired.size();
    }

    qom::TypeRegistry types;
    RecordingPlatform platform;
    std::unique_ptr<pci::PciBus> bus;
    std::unique_ptr<VirtioPciDevice> dev;
    FakeDevice* fake = nullptr;
    VirtioInterrupt* irq = nullptr;
    uint64_t msix_bar = 0, common = 0;
    uint32_t msix_cap = 0;
};

TEST_F(VirtioPciIrqfdTest, UnmaskedVectorGivesItsRouteIrqfd) {
    start();
    const EventFd* fd0 = irq->queue_irqfd(0);
    const EventFd* fd1 = irq->queue_irqfd(1);
    ASSERT_NE(fd0, nullptr);
    ASSERT_NE(fd1, nullptr);
    EXPECT_NE(fd0, fd1);
    EXPECT_EQ(fd0, route_fd(0));
    EXPECT_EQ(fd1, route_fd(1));
    EXPECT_EQ(irq->queue_irqfd(2), nullptr);   // no such queue
    EXPECT_EQ(fired(), 0u);                    // asking fires nothing
}

TEST_F(VirtioPciIrqfdTest, MaskedVectorOrFunctionGivesNone) {
    start();
    const EventFd* fd0 = irq->queue_irqfd(0);
    mask(0, true);
    EXPECT_EQ(irq->queue_irqfd(0), nullptr);
    EXPECT_NE(irq->queue_irqfd(1), nullptr);   // the other vector is unaffected
    mask(0, false);
    EXPECT_EQ(irq->queue_irqfd(0), fd0);
    msix_control(pci::Msix::kControlEnable | pci::Msix::kControlFunctionMask);
    EXPECT_EQ(irq->queue_irqfd(0), nullptr);
    EXPECT_EQ(irq->queue_irqfd(1), nullptr);
    msix_control(pci::Msix::kControlEnable);
    EXPECT_EQ(irq->queue_irqfd(0), fd0);
    msix_control(0);   // MSI-X off: INTx territory, which nemu lacks; no irqfd either way
    EXPECT_EQ(irq->queue_irqfd(0), nullptr);
}

TEST_F(VirtioPciIrqfdTest, NoVectorAndReassignedVector) {
    start();
    const EventFd* fd0 = irq->queue_irqfd(0);
    set_queue_vector(1, VirtioPciDevice::kNoVector);
    EXPECT_EQ(irq->queue_irqfd(1), nullptr);
    set_queue_vector(1, 0);   // shares queue 0's vector now
    EXPECT_EQ(irq->queue_irqfd(1), fd0);
    set_queue_vector(1, 2);
    const EventFd* fd = irq->queue_irqfd(1);   // vector 2's route is made by this first use
    EXPECT_NE(fd, nullptr);
    EXPECT_EQ(fd, route_fd(2));
    set_queue_vector(1, 7);   // past the table: reads back NO_VECTOR (4.1.5.1.2.1)
    EXPECT_EQ(irq->queue_irqfd(1), nullptr);
}

TEST_F(VirtioPciIrqfdTest, PlatformWithoutIrqfdGivesNone) {
    start(/*with_irqfd=*/false);
    EXPECT_EQ(irq->queue_irqfd(0), nullptr);
    EXPECT_EQ(irq->queue_irqfd(1), nullptr);
}

// The listener runs after each change a holder must follow, on the changing thread (here the
// test's, standing for the vCPU), and already sees the new answer.
TEST_F(VirtioPciIrqfdTest, ListenerSeesEachChange) {
    start();
    std::vector<bool> seen;   // queue 0 has an irqfd, per call
    irq->set_irqfd_listener([&] { seen.push_back(irq->queue_irqfd(0) != nullptr); });
    mask(0, true);
    mask(0, false);
    msix_control(pci::Msix::kControlEnable | pci::Msix::kControlFunctionMask);
    msix_control(pci::Msix::kControlEnable);
    set_queue_vector(0, VirtioPciDevice::kNoVector);
    set_queue_vector(0, 1);
    msix_control(0);
    std::vector<bool> want{false, true, false, true, false, true, false};
    EXPECT_EQ(seen, want);
    irq->set_irqfd_listener({});
    mask(1, true);
    EXPECT_EQ(seen.size(), want.size());   // removed: no more calls
}

// A vhost-like holder: vhost signals `bound` (the irqfd) while the queue has one, else its
// own polled fd, which the main loop relays to notify_queue. While masked the interrupt must
// go pending, not reach the guest; the unmask delivers it exactly once.
TEST_F(VirtioPciIrqfdTest, HolderKeepsMaskingSemantics) {
    start();
    EventFd polled = std::move(*EventFd::create());
    const EventFd* bound = nullptr;
    auto rebind = [&] {
        bound = irq->queue_irqfd(0);
        if (polled.drain()) irq->notify_queue(0);   // a call made just before the switch
    };
    irq->set_irqfd_listener(rebind);
    rebind();
    ASSERT_EQ(bound, route_fd(0));
    auto vhost_call = [&] { (bound ? *bound : polled).signal(); };
    auto relay = [&] {   // the main loop's handler of the polled fd
        if (polled.drain()) irq->notify_queue(0);
    };

    vhost_call();   // unmasked: straight to the irqfd, nemu is not involved
    relay();
    EXPECT_EQ(fired(), 0u);
    EXPECT_TRUE(route_fd(0)->drain());

    mask(0, true);
    EXPECT_EQ(bound, nullptr);
    vhost_call();
    relay();
    EXPECT_EQ(fired(), 0u);
    EXPECT_TRUE(dev->msix()->pending(0));   // the PBA shows it
    EXPECT_FALSE(route_fd(0)->drain());

    vhost_call();   // another one, still unread by the main loop at the unmask
    mask(0, false);
    EXPECT_EQ(bound, route_fd(0));
    EXPECT_FALSE(dev->msix()->pending(0));
    EXPECT_EQ(fired(), 2u);   // the pending bit's and the unread call's, through the route
    relay();
    EXPECT_EQ(fired(), 2u);   // nothing left for the main loop
    irq->set_irqfd_listener({});
}

} // namespace
} // namespace nemu::hw::virtio
