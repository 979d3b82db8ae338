// virtio-net over a socketpair netdev (a tap stand-in without the vnet header: frames go both
// ways deterministically) and guest RAM with split rings driven like Linux's virtio_net.
#include "hw/virtio/virtio_net.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "hw/core/device_backends.h"
#include "net/netdev.h"
#include "tests/support/virtqueue_driver.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {
namespace {

struct CountingInterrupt : VirtioInterrupt {
    void notify_queue(uint16_t q) override { queues.push_back(q); }
    void notify_config() override { ++config; }
    std::vector<uint16_t> queues;
    int config = 0;
};

class Backends : public DeviceBackends {
public:
    Backends(EventLoop& loop, net::NetdevRegistry& reg) : m_loop(loop), m_reg(reg) {}
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view, std::string_view, std::string_view,
                                                              EventLoop&) override {
        return fail("no drives");
    }
    void detach_drive(std::string_view) override {}
    Result<EventLoop*> iothread_loop(std::string_view id) override { return fail("Device '{}' not found", id); }
    EventLoop& main_loop() override { return m_loop; }
    Result<chardev::Chardev*> chardev(std::string_view, std::string_view id) override {
        return fail("no chardev '{}'", id);
    }
    Result<net::NetClient*> net_client(std::string_view prop, std::string_view id) override {
        if (auto* c = m_reg.find(id)) return c;
        return property_value_not_found(prop, id);
    }
    MacAddressPool& mac_addresses() override { return macs; }
    void nic_rx_filter_changed(std::optional<std::string_view> name, std::string_view path) override {
        rx_filter_events.emplace_back(name ? std::optional<std::string>(*name) : std::nullopt, path);
    }
    MacAddressPool macs;
    std::vector<std::pair<std::optional<std::string>, std::string>> rx_filter_events;

private:
    EventLoop& m_loop;
    net::NetdevRegistry& m_reg;
};

constexpr uint64_t kRxBuf = 0x40000, kTxBuf = 0x60000, kCtrlBuf = 0x70000;

class VirtioNetTest : public ::testing::Test {
protected:
    void SetUp() override {
        loop = std::move(*EventLoop::create());
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        far = UniqueFd(sv[1]);
        auto near = std::make_shared<UniqueFd>(sv[0]);
        auto c = reg.add({{"type", "tap"}, {"id", "n0"}, {"fd", "3"}}, true,
                         [near](std::string_view) -> Result<UniqueFd> { return std::move(*near); });
        ASSERT_TRUE(c) << c.error().msg;
        backends = std::make_unique<Backends>(*loop, reg);
    }
    void TearDown() override {
        if (dev) dev->deactivate();
        dev.reset();
    }

    void bring_up(uint64_t drop_features = 0) {
        dev = std::make_unique<VirtioNet>();
        dev->m_netdev = "n0";
        dev->m_mac_text = "52:54:00:ab:cd:ef";
        auto r = dev->realize_with(*backends);
        ASSERT_TRUE(r) << r.error().msg;
        auto sizes = dev->queue_max_sizes();
        ASSERT_EQ(sizes.size(), 3u);   // rx, tx, ctrl
        VirtioActivation act;
        act.features = (feature_bit(kFeatureVersion1) | dev->device_features()) & ~drop_features;
        for (uint16_t i = 0; i < 3; ++i) {
            test::DriverRingConfig rc{.index = i, .size = 16, .desc = 0x1000 + 0x4000ull * i,
                                      .driver = 0x2000 + 0x4000ull * i, .device = 0x3000 + 0x4000ull * i};
            drivers.push_back(std::make_unique<test::VirtqueueDriver>(mem, rc));
            rings.push_back(std::move(*Virtqueue::create(mem.space(), drivers.back()->config())));
            kicks.push_back(std::move(*EventFd::create()));
        }
        for (uint16_t i = 0; i < 3; ++i) act.queues.push_back({i, rings[i].get(), &kicks[i]});
        act.interrupt = &irq;
        act.memory = &mem.space();
        act.main_loop = loop.get();
        act.broken = [this](const std::string& why) { broken.push_back(why); };
        auto a = dev->activate(act);
        ASSERT_TRUE(a) << a.error().msg;
    }

    std::optional<test::UsedBuffer> wait_used(unsigned q) {
        for (int i = 0; i < 100; ++i) {
            if (auto u = drivers[q]->get_used()) return u;
            loop->run_once(100);
        }
        return std::nullopt;
    }

    uint8_t ctrl(std::vector<uint8_t> msg) {
        mem.write(kCtrlBuf, msg);
        mem.fill(kCtrlBuf + 0x100, 0xEE, 1);
        EXPECT_TRUE(drivers[2]->add({{kCtrlBuf, static_cast<uint32_t>(msg.size()), false}, {kCtrlBuf + 0x100, 1, true}}));
        kicks[2].signal();
        auto u = wait_used(2);
        EXPECT_TRUE(u);
        uint8_t ack = 0xEE;
        mem.read(kCtrlBuf + 0x100, {&ack, 1});
        return ack;
    }

    std::unique_ptr<EventLoop> loop;
    net::NetdevRegistry reg;
    UniqueFd far;
    std::unique_ptr<Backends> backends;
    test::GuestMemory mem{1 << 20};
    std::vector<std::unique_ptr<test::VirtqueueDriver>> drivers;
    std::vector<std::unique_ptr<Virtqueue>> rings;
    std::vector<EventFd> kicks;
    CountingInterrupt irq;
    std::vector<std::string> broken;
    std::unique_ptr<VirtioNet> dev;
};

TEST_F(VirtioNetTest, ConfigAndFeaturesFollowTheBackend) {
    bring_up();
    uint64_t f = dev->device_features();
    EXPECT_TRUE(f & feature_bit(kNetFMac));
    EXPECT_TRUE(f & feature_bit(kNetFMrgRxbuf));
    EXPECT_TRUE(f & feature_bit(kNetFCtrlVq));
    EXPECT_FALSE(f & feature_bit(kNetFMq));
    // No vnet header on this backend: no checksum or TSO offloads (QEMU clears them too).
    EXPECT_FALSE(f & feature_bit(kNetFCsum));
    EXPECT_FALSE(f & feature_bit(kNetFGuestTso4));
    uint8_t cfg[net_config::kSize];
    dev->read_config(0, cfg);
    EXPECT_EQ(std::vector<uint8_t>(cfg, cfg + 6), (std::vector<uint8_t>{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}));
    EXPECT_EQ(cfg[net_config::kStatus], kNetSLinkUp);
    EXPECT_EQ(cfg[net_config::kMaxVirtqueuePairs], 1);
    EXPECT_EQ(cfg[net_config::kDuplex], 0xFF);
}

TEST_F(VirtioNetTest, ReceivedFramesSpreadOverMergeableBuffers) {
    bring_up();
    // Three 64-byte buffers; a 150-byte frame needs 12 + 150 = 162 bytes: three buffers.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(drivers[0]->add({{kRxBuf + 0x100ull * i, 64, true}}));
    kicks[0].signal();
    std::vector<uint8_t> frame(150);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i);
    ASSERT_EQ(::write(far.get(), frame.data(), frame.size()), 150);
    std::vector<test::UsedBuffer> used;
    for (int i = 0; i < 100 && used.size() < 3; ++i) {
        while (auto u = drivers[0]->get_used()) used.push_back(*u);
        if (used.size() < 3) loop->run_once(100);
    }
    ASSERT_EQ(used.size(), 3u);
    EXPECT_EQ(used[0].len + used[1].len + used[2].len, 162u);
    EXPECT_EQ(mem.read_u16(kRxBuf + 10), 3);   // num_buffers
    EXPECT_EQ(mem.read_u16(kRxBuf), 0);        // flags/gso_type: a plain frame
    std::vector<uint8_t> got(150);
    mem.read(kRxBuf + 12, {got.data(), 52});
    mem.read(kRxBuf + 0x100, {got.data() + 52, 64});
    mem.read(kRxBuf + 0x200, {got.data() + 116, 34});
    EXPECT_EQ(got, frame);
    EXPECT_FALSE(irq.queues.empty());
    EXPECT_EQ(irq.queues.back(), 0);
    EXPECT_TRUE(broken.empty());
}

TEST_F(VirtioNetTest, AFrameWaitsForBuffersPostedLater) {
    bring_up();
    ASSERT_EQ(::write(far.get(), "0123456789abcdef", 16), 16);
    loop->run_once(10);
    EXPECT_FALSE(drivers[0]->get_used());
    ASSERT_TRUE(drivers[0]->add({{kRxBuf, 2048, true}}));
    kicks[0].signal();
    auto u = wait_used(0);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->len, 28u);
    EXPECT_EQ(mem.read_u16(kRxBuf + 10), 1);
}

TEST_F(VirtioNetTest, TransmittedChainsReachTheNetdevWithoutTheHeader) {
    bring_up();
    std::vector<uint8_t> hdr(12, 0), data = {'p', 'i', 'n', 'g'};
    mem.write(kTxBuf, hdr);
    mem.write(kTxBuf + 0x100, data);
    ASSERT_TRUE(drivers[1]->add({{kTxBuf, 12, false}, {kTxBuf + 0x100, 4, false}}));
    kicks[1].signal();
    auto u = wait_used(1);
    ASSERT_TRUE(u);
    uint8_t got[64];
    ASSERT_EQ(::read(far.get(), got, sizeof got), 4);
    EXPECT_EQ(std::memcmp(got, "ping", 4), 0);
    // The pass ends with kicks enabled again (2.7.10: used->flags without NO_NOTIFY), or the
    // driver's next frame would wait forever.
    EXPECT_EQ(drivers[1]->used_flags(), 0);
    // A chain shorter than the header breaks the device (5.1.6.2).
    ASSERT_TRUE(drivers[1]->add({{kTxBuf, 6, false}}));
    kicks[1].signal();
    for (int i = 0; i < 10 && broken.empty(); ++i) loop->run_once(100);
    ASSERT_EQ(broken.size(), 1u);
    EXPECT_NE(broken[0].find("header"), std::string::npos);
}

TEST_F(VirtioNetTest, ControlQueueUpdatesTheRxFilter) {
    bring_up();
    EXPECT_EQ(ctrl({kNetCtrlRx, 0, 0}), kNetOk);   // PROMISC off
    EXPECT_EQ(ctrl({kNetCtrlRx, 1, 1}), kNetOk);   // ALLMULTI on
    // MAC_TABLE_SET: one unicast address, no multicast.
    EXPECT_EQ(ctrl({kNetCtrlMac, 0, 1, 0, 0, 0, 0x02, 0, 0, 0, 0, 1, 0, 0, 0, 0}), kNetOk);
    EXPECT_EQ(ctrl({kNetCtrlMac, 0, 9, 0, 0, 0}), kNetErr);   // entries beyond the message
    EXPECT_EQ(ctrl({kNetCtrlMq, 0, 2, 0}), kNetErr);           // MQ not offered
    EXPECT_EQ(ctrl({kNetCtrlVlan, 0, 5, 0}), kNetOk);
    net::RxFilter f = dev->rx_filter();
    EXPECT_FALSE(f.promiscuous);
    EXPECT_EQ(f.multicast, net::RxFilter::Mode::All);
    ASSERT_EQ(f.unicast_table.size(), 1u);
    EXPECT_EQ(net::format_mac(f.unicast_table[0]), "02:00:00:00:00:01");
    EXPECT_EQ(f.vlan_table, std::vector<int64_t>{5});
    EXPECT_EQ(net::format_mac(f.main_mac), "52:54:00:ab:cd:ef");
    EXPECT_TRUE(broken.empty());
}

TEST_F(VirtioNetTest, RxFilterChangedOnceUntilQueried) {
    bring_up();
    dev->m_id = "net0";
    auto& events = backends->rx_filter_events;
    EXPECT_EQ(ctrl({kNetCtrlRx, 0, 0}), kNetOk);   // PROMISC off: the event
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].first, std::optional<std::string>("net0"));
    EXPECT_EQ(events[0].second, dev->canonical_path());
    EXPECT_EQ(ctrl({kNetCtrlVlan, 0, 5, 0}), kNetOk);   // not again before query-rx-filter
    EXPECT_EQ(events.size(), 1u);
    (void)dev->rx_filter();                               // query-rx-filter re-arms it
    EXPECT_EQ(ctrl({kNetCtrlMq, 0, 2, 0}), kNetErr);      // not an RX filter command
    EXPECT_EQ(ctrl({kNetCtrlRx, 9, 1}), kNetErr);         // failed: no event
    EXPECT_EQ(events.size(), 1u);
    EXPECT_EQ(ctrl({kNetCtrlMac, 1, 0x52, 0x54, 0, 1, 2, 3}), kNetOk);   // MAC_ADDR_SET
    EXPECT_EQ(events.size(), 2u);
    (void)dev->rx_filter();
    EXPECT_EQ(ctrl({kNetCtrlVlan, 1, 5, 0}), kNetOk);
    EXPECT_EQ(events.size(), 3u);
}

TEST_F(VirtioNetTest, SetLinkChangesStatusAndRaisesAConfigInterrupt) {
    bring_up();
    reg.find("n0")->set_link_up(false);
    uint8_t st[2];
    dev->read_config(net_config::kStatus, st);
    EXPECT_EQ(st[0], 0);
    EXPECT_EQ(irq.config, 1);
    // Frames that arrive while the link is down are dropped, not queued.
    ASSERT_TRUE(drivers[0]->add({{kRxBuf, 2048, true}}));
    ASSERT_EQ(::write(far.get(), "x-dropped-x", 11), 11);
    kicks[0].signal();
    loop->run_once(10);
    loop->run_once(10);
    EXPECT_FALSE(drivers[0]->get_used());
    reg.find("n0")->set_link_up(true);
    dev->read_config(net_config::kStatus, st);
    EXPECT_EQ(st[0], kNetSLinkUp);
    EXPECT_EQ(irq.config, 2);
}

TEST(VirtioNetRealize, QemuMessages) {
    auto loop = std::move(*EventLoop::create());
    net::NetdevRegistry reg;
    Backends b(*loop, reg);
    VirtioNet d;
    d.m_rx_queue_size = 100;
    EXPECT_EQ(d.realize_with(b).error().msg, "Invalid rx_queue_size (= 100), must be a power of 2 between 256 and 1024.");
    VirtioNet e;
    e.m_tx_queue_size = 2048;
    EXPECT_EQ(e.realize_with(b).error().msg, "Invalid tx_queue_size (= 2048), must be a power of 2 between 256 and 1024");
    VirtioNet g;
    g.m_netdev = "zz";
    EXPECT_EQ(g.realize_with(b).error().msg, "Property 'virtio-net-device.netdev' can't find value 'zz'");
    VirtioNet h;   // no netdev: a NIC with nothing behind it (QEMU allows it)
    ASSERT_TRUE(h.realize_with(b));
    EXPECT_EQ(h.queue_max_sizes(), (std::vector<uint16_t>{256, 256, 64}));
}

TEST(VirtioNetRealize, DefaultMacAddressesCountTheVmsNics) {
    // As QEMU 7.2 with -device virtio-net-pci,mac=52:54:00:12:34:56 then b, c(mac=...:58), d, e:
    // 56, 57, 58, 59, 5a; an address outside 52:54:00:12:34:xx holds nothing.
    auto loop = std::move(*EventLoop::create());
    net::NetdevRegistry reg;
    Backends b(*loop, reg);
    const char* given[] = {"52:54:00:12:34:56", "", "52:54:00:12:34:58", "", "02:00:00:00:00:57", ""};
    std::vector<std::string> got;
    std::vector<std::unique_ptr<VirtioNet>> nics;
    for (const char* mac : given) {
        nics.push_back(std::make_unique<VirtioNet>());
        nics.back()->m_mac_text = mac;
        ASSERT_TRUE(nics.back()->realize_with(b));
        got.push_back(net::format_mac(nics.back()->mac()));
    }
    EXPECT_EQ(got, (std::vector<std::string>{"52:54:00:12:34:56", "52:54:00:12:34:57", "52:54:00:12:34:58",
                                             "52:54:00:12:34:59", "02:00:00:00:00:57", "52:54:00:12:34:5a"}));
    // Another VM counts from the start; a full pool hands out 0xff (QEMU's -1).
    MacAddressPool other;
    EXPECT_EQ(other.claim(std::nullopt)[5], 0x56);
    for (unsigned i = 0x57; i < 0xff; ++i) EXPECT_EQ(other.claim(std::nullopt)[5], i);
    EXPECT_EQ(other.claim(std::nullopt)[5], 0xff);
}

} // namespace
} // namespace nemu::hw::virtio
