// vhost-net without the kernel device: feature masking, the memory table, and the -netdev
// option rules and errors (QEMU 7.2's, checked live). The ioctls on a real /dev/vhost-net are
// covered by the lab's net-vhost scenario (tests/vm/test_virtio.py).
#include "net/vhost_net.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/netdev.h"
#include "net/tap.h"
#include "net/net_test_support.h"

namespace nemu::net {
namespace {

constexpr uint64_t bit(unsigned n) { return 1ull << n; }

TEST(VhostFeatures, KernelBitsTheKernelLacksLeaveTheOffer) {
    // A virtio-net offer: MAC, CSUM, MRG_RXBUF, STATUS, CTRL_VQ, MTU + the transport's ring bits.
    uint64_t offered = bit(5) | bit(0) | bit(15) | bit(16) | bit(17) | bit(3) | bit(28) | bit(29) | bit(32) | bit(34);
    // Linux's VHOST_NET_FEATURES: NOTIFY_ON_EMPTY, INDIRECT_DESC, EVENT_IDX, LOG_ALL, ANY_LAYOUT,
    // VERSION_1, VHOST_NET_F_VIRTIO_NET_HDR, MRG_RXBUF, ACCESS_PLATFORM (no packed rings, no MTU).
    uint64_t kernel = bit(24) | bit(28) | bit(29) | bit(26) | bit(27) | bit(32) | bit(27) | bit(15) | bit(33);
    uint64_t got = vhost_mask_features(offered, kernel);
    EXPECT_EQ(got & bit(34), 0u) << "RING_PACKED needs the kernel";
    EXPECT_EQ(got & bit(3), 0u) << "MTU needs the kernel (the NIC adds it back with x-mtu-bypass-backend)";
    EXPECT_EQ(got, offered & ~(bit(34) | bit(3)));
    // Device bits the kernel does not interpret are kept even though the kernel lacks them.
    EXPECT_NE(got & bit(17), 0u);
    // A kernel without EVENT_IDX / MRG_RXBUF: those go too.
    EXPECT_EQ(vhost_mask_features(offered, kernel & ~(bit(29) | bit(15))) & (bit(29) | bit(15)), 0u);
}

TEST(VhostFeatures, AckedFeaturesKeepOnlyWhatTheKernelInterprets) {
    uint64_t negotiated = bit(5) | bit(0) | bit(15) | bit(16) | bit(29) | bit(32) | bit(33);
    EXPECT_EQ(vhost_ack_features(negotiated, true), bit(15) | bit(29) | bit(32));
    // A tap without the vnet header: the kernel adds/strips it (VHOST_NET_F_VIRTIO_NET_HDR).
    EXPECT_EQ(vhost_ack_features(negotiated, false), bit(15) | bit(29) | bit(32) | bit(kVhostNetFVirtioNetHdr));
    EXPECT_EQ(vhost_kernel_feature_bits() & bit(5), 0u);
}

TEST(VhostMemTable, SortsDropsEmptyAndMergesContiguousPieces) {
    // Below 4 GiB split around the PCI hole, a piece that continues both addresses, and one
    // that continues the guest address but not the host's.
    std::vector<VhostMemRegion> sections = {
        {0x100000000, 0x40000000, 0x7f0080000000},
        {0x0, 0xa0000, 0x7f0000000000},
        {0xc0000, 0x0, 0x7f00000c0000},
        {0xa0000, 0x20000, 0x7f00000a0000},
        {0xc0000, 0x7ff40000, 0x7f1000000000},
    };
    auto t = build_mem_table(sections);
    ASSERT_EQ(t.size(), 3u);
    EXPECT_EQ(t[0], (VhostMemRegion{0x0, 0xc0000, 0x7f0000000000}));
    EXPECT_EQ(t[1], (VhostMemRegion{0xc0000, 0x7ff40000, 0x7f1000000000}));
    EXPECT_EQ(t[2], (VhostMemRegion{0x100000000, 0x40000000, 0x7f0080000000}));
    EXPECT_TRUE(build_mem_table({}).empty());
}

TEST(VhostNet, AFdThatIsNotVhostFailsWithQemusMessage) {
    UniqueFd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    testing::internal::CaptureStderr();
    auto v = VhostNet::create(std::move(fd), true);
    std::string err = testing::internal::GetCapturedStderr();
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().msg, "vhost-net requested but could not be initialized");
    EXPECT_EQ(err, "nemu-system-x86_64: vhost_set_owner failed: Inappropriate ioctl for device\n");
}

TEST(VhostNet, OpeningTheDeviceReportsQemusMessage) {
    auto fd = VhostNet::open_device();
    if (::access("/dev/vhost-net", F_OK) == 0) GTEST_SKIP() << "this host has /dev/vhost-net";
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().msg, "tap: open vhost char device failed: No such file or directory");
}

// --- -netdev tap options (QEMU 7.2 net_init_tap_one) -------------------------------------

TEST(TapVhostOptions, ParsedAsQemusOptsAndJsonVisitors) {
    Json text = {{"type", "tap"}, {"id", "n0"}, {"fds", "3:4"}, {"vhost", "on"}, {"vhostfds", "5:6"},
                 {"vhostforce", "off"}};
    auto o = parse_netdev_options(text, true);
    ASSERT_TRUE(o) << o.error().msg;
    EXPECT_EQ(o->vhost, true);
    EXPECT_EQ(o->vhostforce, false);
    EXPECT_EQ(o->vhostfds, "5:6");
    EXPECT_FALSE(o->vhostfd);
    text["vhost"] = "maybe";
    EXPECT_EQ(parse_netdev_options(text, true).error().msg, "Parameter 'vhost' expects 'on' or 'off'");
    // QMP netdev_add / JSON -netdev: typed members.
    Json json = {{"type", "tap"}, {"id", "n0"}, {"vhost", "on"}};
    EXPECT_EQ(parse_netdev_options(json, false).error().msg, "Invalid parameter type for 'vhost', expected: boolean");
    json = {{"type", "tap"}, {"id", "n0"}, {"vhostfd", 5}};
    EXPECT_EQ(parse_netdev_options(json, false).error().msg, "Invalid parameter type for 'vhostfd', expected: string");
    json = {{"type", "tap"}, {"id", "n0"}, {"vhost", true}, {"vhostforce", true}, {"vhostfd", "v"}};
    o = parse_netdev_options(json, false);
    ASSERT_TRUE(o) << o.error().msg;
    EXPECT_EQ(o->vhostfd, "v");
    EXPECT_EQ(o->vhostforce, true);
}

using test_support::tun_usable;

// fd names: "tap" is a fresh tap queue; anything else opens /dev/null (a fd that is not vhost).
FdResolver fds() {
    return [](std::string_view n) -> Result<UniqueFd> {
        if (n == "tap") {
            UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
            ifreq ifr{};
            ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
            if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return fail("TUNSETIFF");
            return fd;
        }
        if (n == "bad") return fail("Invalid file descriptor number '{}'", n);
        return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    };
}

TapOptions tap_fd() {
    TapOptions o;
    o.id = "n0";
    o.fd = "tap";
    return o;
}

TEST(TapVhost, VhostfdWithVhostOffIsRefused) {
    if (!tun_usable()) GTEST_SKIP() << "no usable /dev/net/tun";
    TapOptions o = tap_fd();
    o.vhostfd = "null";
    o.vhost = false;
    auto t = Tap::create(o, fds());
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().msg, "vhostfd(s)= is not valid without vhost");
}

TEST(TapVhost, AVhostfdImpliesVhostAndANonVhostFdFails) {
    if (!tun_usable()) GTEST_SKIP() << "no usable /dev/net/tun";
    TapOptions o = tap_fd();
    o.vhostfd = "null";
    testing::internal::CaptureStderr();
    auto t = Tap::create(o, fds());
    std::string err = testing::internal::GetCapturedStderr();
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().msg, "vhost-net requested but could not be initialized");
    EXPECT_NE(err.find("vhost_set_owner failed"), std::string::npos) << err;
    // vhostforce=on alone implies vhost too; an unresolvable vhostfd name is the resolver's error.
    o.vhostfd = "bad";
    o.vhostforce = true;
    t = Tap::create(o, fds());
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().msg, "Invalid file descriptor number 'bad'");
}

TEST(TapVhost, VhostOnWithoutTheDeviceIsAnError) {
    if (!tun_usable()) GTEST_SKIP() << "no usable /dev/net/tun";
    if (::access("/dev/vhost-net", F_OK) == 0) GTEST_SKIP() << "this host has /dev/vhost-net";
    TapOptions o = tap_fd();
    o.vhost = true;
    auto t = Tap::create(o, fds());
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().msg, "tap: open vhost char device failed: No such file or directory");
    // vhost=off wins over vhostforce=on (QEMU: has_vhost decides): the userspace tap.
    o.vhost = false;
    o.vhostforce = true;
    t = Tap::create(o, fds());
    ASSERT_TRUE(t) << t.error().msg;
    EXPECT_FALSE((*t)->vhost_requested());
    EXPECT_EQ((*t)->vhost(0), nullptr);
}

} // namespace
} // namespace nemu::net
