// Virtqueue notification suppression in both directions (virtio 1.2, 2.7.7/2.7.10 for split
// rings, 2.8.10 for packed rings) and the checks Virtqueue::create() makes on the ring areas.
#include <gtest/gtest.h>

#include "hw/virtio/virtqueue.h"
#include "tests/support/virtqueue_driver.h"

namespace {

using namespace nemu::hw::virtio;
using nemu::test::DriverRingConfig;
using nemu::test::GuestMemory;
using nemu::test::VirtqueueDriver;

constexpr uint64_t kBuf = 0x10000;
constexpr uint16_t kWrap = 1u << 15;

struct Ring {
    GuestMemory mem{1 << 20};
    std::unique_ptr<VirtqueueDriver> drv;
    std::unique_ptr<Virtqueue> vq;
    explicit Ring(DriverRingConfig c) {
        drv = std::make_unique<VirtqueueDriver>(mem, c);
        vq = Virtqueue::create(mem.space(), drv->config(), drv->initial_state()).value();
    }
    // One request through the ring: add, pop, push.
    void serve_one() {
        drv->add({{kBuf, 8, true}}).value();
        auto c = vq->pop().value();
        ASSERT_TRUE(c);
        ASSERT_TRUE(vq->push(*c, 8));
        ASSERT_TRUE(drv->get_used());
    }
};

TEST(SplitEvent, NoInterruptFlag) {
    Ring r({.size = 8});
    r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());
    r.drv->set_avail_flags(1);   // VIRTQ_AVAIL_F_NO_INTERRUPT
    r.serve_one();
    EXPECT_FALSE(r.vq->should_notify());
    r.drv->set_avail_flags(0);
    EXPECT_TRUE(r.vq->should_notify());
}

TEST(SplitEvent, UsedEvent) {
    Ring r({.size = 8, .event_idx = true});
    r.drv->set_avail_flags(1);   // ignored with EVENT_IDX (2.7.10)
    r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());   // the first call always notifies
    // The driver wants an interrupt when used ring entry 2 is written: the push that moves
    // used->idx to 2 does not, the one that moves it to 3 does.
    r.drv->set_used_event(2);
    r.serve_one();
    EXPECT_FALSE(r.vq->should_notify());
    r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());
    // Several pushes between two checks: notify if the event lies anywhere in between.
    r.drv->set_used_event(4);
    for (int i = 0; i < 3; ++i) r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());
    // Nothing pushed since: no interrupt.
    EXPECT_FALSE(r.vq->should_notify());
}

TEST(SplitEvent, UsedEventAcrossTheWrap) {
    Ring r({.size = 8, .event_idx = true, .start = 65534});
    r.serve_one();                          // used idx 65535
    EXPECT_TRUE(r.vq->should_notify());
    r.drv->set_used_event(0);               // after the wrap: fires on the push to idx 1
    r.serve_one();                          // idx 0
    EXPECT_FALSE(r.vq->should_notify());
    r.serve_one();                          // idx 1
    EXPECT_TRUE(r.vq->should_notify());
}

TEST(SplitEvent, DeviceSuppressionWithoutEventIdx) {
    Ring r({.size = 8});
    EXPECT_EQ(r.drv->used_flags(), 0);
    r.vq->enable_notification(false);
    EXPECT_EQ(r.drv->used_flags(), 1);   // VIRTQ_USED_F_NO_NOTIFY
    r.vq->enable_notification(true);
    EXPECT_EQ(r.drv->used_flags(), 0);
}

TEST(SplitEvent, AvailEvent) {
    Ring r({.size = 8, .event_idx = true});
    r.serve_one();
    EXPECT_EQ(r.drv->avail_event(), 1);   // kick when the driver publishes entry 1
    r.vq->enable_notification(false);
    r.serve_one();
    EXPECT_EQ(r.drv->avail_event(), 1);   // left behind while polling
    EXPECT_EQ(r.drv->used_flags(), 0);    // the flag is not used with EVENT_IDX
    r.vq->enable_notification(true);
    EXPECT_EQ(r.drv->avail_event(), 2);
}

TEST(PackedEvent, DriverEventFlags) {
    Ring r({.size = 8, .packed = true});
    r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());   // zeroed structure: enable
    r.drv->set_driver_event(1);           // disable
    r.serve_one();
    EXPECT_FALSE(r.vq->should_notify());
    r.drv->set_driver_event(2, 0);        // desc without EVENT_IDX: treated as enable
    r.serve_one();
    EXPECT_TRUE(r.vq->should_notify());
}

TEST(PackedEvent, DriverEventDescWithWrap) {
    Ring r({.size = 4, .packed = true, .event_idx = true});
    r.serve_one();                                   // used slot 0 -> next 1
    EXPECT_TRUE(r.vq->should_notify());              // first call
    r.drv->set_driver_event(2, 2 | kWrap);           // slot 2 in this lap
    r.serve_one();                                   // writes slot 1
    EXPECT_FALSE(r.vq->should_notify());
    r.serve_one();                                   // writes slot 2
    EXPECT_TRUE(r.vq->should_notify());
    // The next lap: slot 0 with wrap counter 0. Slot 3 (this lap) is not it; slot 0 is.
    r.drv->set_driver_event(2, 0);
    r.serve_one();                                   // slot 3, next wraps to 0
    EXPECT_FALSE(r.vq->should_notify());
    r.serve_one();                                   // slot 0 of lap 2
    EXPECT_TRUE(r.vq->should_notify());
    // An offset the device passed in an earlier batch does not fire again.
    r.serve_one();
    EXPECT_FALSE(r.vq->should_notify());
    // Several slots in one batch, across the wrap: event at slot 0 of lap 3 (wrap bit 1).
    r.drv->set_driver_event(2, 0 | kWrap);
    r.serve_one();                                   // slot 2
    r.serve_one();                                   // slot 3
    r.serve_one();                                   // slot 0, lap 3
    EXPECT_TRUE(r.vq->should_notify());
}

TEST(PackedEvent, DeviceEventSuppression) {
    Ring plain({.size = 8, .packed = true});
    plain.vq->enable_notification(false);
    EXPECT_EQ(plain.drv->device_event_flags(), 1);
    plain.vq->enable_notification(true);
    EXPECT_EQ(plain.drv->device_event_flags(), 0);

    Ring r({.size = 4, .packed = true, .event_idx = true});
    r.vq->enable_notification(true);
    EXPECT_EQ(r.drv->device_event_flags(), 2);
    EXPECT_EQ(r.drv->device_event_off_wrap(), 0 | kWrap);
    for (int i = 0; i < 5; ++i) r.serve_one();
    // Five slots consumed: next is slot 1 of the second lap (wrap counter 0).
    EXPECT_EQ(r.drv->device_event_off_wrap(), 1);
    r.vq->enable_notification(false);
    EXPECT_EQ(r.drv->device_event_flags(), 1);
    r.serve_one();
    EXPECT_EQ(r.drv->device_event_off_wrap(), 1);   // not advanced while disabled
}

std::string create_error(const VirtqueueConfig& c, const VirtqueueState& s = {}) {
    GuestMemory mem(1 << 20);
    auto r = Virtqueue::create(mem.space(), c, s);
    return r ? std::string("no error") : r.error().msg;
}

TEST(VirtqueueCreate, ChecksTheRingAreas) {
    VirtqueueConfig c{.index = 2, .size = 8, .desc = 0x1000, .driver = 0x2000, .device = 0x3000};
    EXPECT_EQ(create_error(c), "no error");
    auto bad = c;
    bad.size = 6;
    EXPECT_EQ(create_error(bad), "virtqueue 2: queue size 6 is not a power of 2");
    bad.packed = true;
    EXPECT_EQ(create_error(bad), "no error");   // packed queues may have any size
    bad.size = 0;
    EXPECT_EQ(create_error(bad), "virtqueue 2: queue size 0 is not in 1..32768");
    bad = c;
    bad.desc = 0x1008;
    EXPECT_EQ(create_error(bad), "virtqueue 2: descriptor table at 0x1008 is not aligned to 16 bytes");
    bad = c;
    bad.driver = 0x2001;
    EXPECT_EQ(create_error(bad), "virtqueue 2: available ring at 0x2001 is not aligned to 2 bytes");
    bad = c;
    bad.device = 0x3002;
    EXPECT_EQ(create_error(bad), "virtqueue 2: used ring at 0x3002 is not aligned to 4 bytes");
    bad = c;
    bad.device = 0xfffc0;   // 6 + 8 * 8 bytes do not fit below 1 MiB
    EXPECT_EQ(create_error(bad), "virtqueue 2: used ring 0xfffc0+0x46 is not in guest RAM");
    bad = c;
    bad.desc = 0xfffffffffffffff0ull;
    EXPECT_EQ(create_error(bad),
              "virtqueue 2: descriptor table 0xfffffffffffffff0+0x80 is not in guest RAM");
    bad = c;
    bad.packed = true;
    bad.driver = 0x2002;
    EXPECT_EQ(create_error(bad),
              "virtqueue 2: driver event suppression at 0x2002 is not aligned to 4 bytes");
    bad.driver = 0x200000;
    EXPECT_EQ(create_error(bad),
              "virtqueue 2: driver event suppression 0x200000+0x4 is not in guest RAM");
    bad = c;
    bad.packed = true;
    EXPECT_EQ(create_error(bad, {.next_avail = 8}),
              "virtqueue 2: ring position 8/0 out of range (queue size 8)");
    EXPECT_EQ(create_error(c, {.in_flight = 1}),
              "virtqueue 2: cannot resume with 1 buffers in flight");
}

} // namespace
