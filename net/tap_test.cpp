// Tap over the real /dev/net/tun (skipped where the test may not create interfaces).
#include "net/tap.h"
#include "net/net_test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace nemu::net {
namespace {

using test_support::tun_usable;

FdResolver no_fds() {
    return [](std::string_view n) -> Result<UniqueFd> { return fail("no fd {}", n); };
}

TEST(Tap, OpensANamedMultiQueueInterfaceWithVnetHeaders) {
    if (!tun_usable()) GTEST_SKIP() << "no usable /dev/net/tun";
    TapOptions o;
    o.id = "n0";
    o.ifname = "nemutst" + std::to_string(::getpid() % 100000);
    o.queues = 2;
    o.script = "no";
    o.downscript = "no";
    auto tap = Tap::create(o, no_fds());
    ASSERT_TRUE(tap) << tap.error().msg;
    Tap& t = **tap;
    EXPECT_EQ(t.type(), "tap");
    EXPECT_EQ(t.ifname(), *o.ifname);
    EXPECT_EQ(t.queue_count(), 2u);
    EXPECT_TRUE(t.has_vnet_hdr());
    EXPECT_GE(if_nametoindex(t.ifname().c_str()), 1u);
    // Each queue is its own fd with the 12-byte header and non-blocking I/O.
    for (unsigned q = 0; q < 2; ++q) {
        int len = 0;
        ASSERT_EQ(::ioctl(t.queue_fd(q), TUNGETVNETHDRSZ, &len), 0);
        EXPECT_EQ(len, static_cast<int>(kVnetHdrSize));
        EXPECT_TRUE(::fcntl(t.queue_fd(q), F_GETFL) & O_NONBLOCK);
        ifreq ifr{};
        ASSERT_EQ(::ioctl(t.queue_fd(q), TUNGETIFF, &ifr), 0);
        EXPECT_TRUE(ifr.ifr_flags & IFF_MULTI_QUEUE);
    }
    Offloads off;
    off.csum = off.tso4 = off.tso6 = true;
    EXPECT_TRUE(t.set_offloads(off));
    EXPECT_TRUE(t.set_queue_enabled(1, false));
    EXPECT_TRUE(t.set_queue_enabled(1, false));   // already detached: fine
    EXPECT_TRUE(t.set_queue_enabled(1, true));
    EXPECT_FALSE(t.set_queue_enabled(2, true));
    // Nothing is waiting on a fresh (down) interface.
    uint8_t buf[256];
    auto r = t.receive(0, buf);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_value());
    std::string name = t.ifname();
    tap->reset();
    EXPECT_EQ(if_nametoindex(name.c_str()), 0u);   // the interface goes with its last fd
}

TEST(Tap, VnetHdrOffIsHonouredAndOffloadsAreRefused) {
    if (!tun_usable()) GTEST_SKIP() << "no usable /dev/net/tun";
    TapOptions o;
    o.id = "n1";
    o.vnet_hdr = false;
    auto tap = Tap::create(o, no_fds());
    ASSERT_TRUE(tap) << tap.error().msg;
    EXPECT_FALSE((*tap)->has_vnet_hdr());
    EXPECT_TRUE((*tap)->set_offloads(Offloads{}));
    Offloads off;
    off.csum = true;
    EXPECT_FALSE((*tap)->set_offloads(off));
    EXPECT_EQ((*tap)->ifname().substr(0, 3), "tap");
}

TEST(Tap, FdsAndVhostfdsMustMatch) {
    TapOptions o;
    o.id = "n2";
    o.fds = "a:b";
    o.vhostfds = "c";
    auto tap = Tap::create(o, [](std::string_view) -> Result<UniqueFd> {
        return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    });
    ASSERT_FALSE(tap);
    EXPECT_EQ(tap.error().msg, "The number of fds passed does not match the number of vhostfds passed");
}

} // namespace
} // namespace nemu::net
