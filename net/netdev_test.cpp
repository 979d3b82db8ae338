#include "net/netdev.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace nemu::net {
namespace {

std::string error_of(const Json& j, bool from_text) {
    auto r = parse_netdev_options(j, from_text);
    return r ? std::string("ok") : r.error().msg;
}

TEST(NetdevOptions, TextValuesAreTypedAsQemusOptsVisitor) {
    Json j = {{"type", "tap"}, {"id", "n0"}, {"queues", "4"}, {"vhost", "on"}, {"sndbuf", "1k"},
              {"ifname", "tap7"}, {"script", "no"}};
    auto o = parse_netdev_options(j, true);
    ASSERT_TRUE(o) << o.error().msg;
    EXPECT_EQ(o->id, "n0");
    EXPECT_EQ(o->queues, 4u);
    EXPECT_EQ(o->vhost, true);
    EXPECT_EQ(o->sndbuf, 1024u);
    EXPECT_EQ(o->ifname, "tap7");
    EXPECT_EQ(o->script, "no");
    EXPECT_FALSE(o->vnet_hdr);
}

TEST(NetdevOptions, QemuMessages) {
    EXPECT_EQ(error_of({{"id", "n0"}}, true), "Parameter 'type' is missing");
    EXPECT_EQ(error_of({{"type", "foo"}, {"id", "n0"}}, true), "Parameter 'type' does not accept value 'foo'");
    EXPECT_EQ(error_of({{"type", "tap"}}, true), "Parameter 'id' is missing");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "0bad"}}, true).substr(0, 36), "Parameter 'id' expects an identifier");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"bogus", "1"}}, true), "Invalid parameter 'bogus'");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"bogus", 1}}, false), "Parameter 'bogus' is unexpected");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"vnet_hdr", "maybe"}}, true),
              "Parameter 'vnet_hdr' expects 'on' or 'off'");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"queues", "x"}}, true), "Parameter 'queues' expects a uint64 value");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"queues", "99999999999"}}, true),
              "Parameter 'queues' expects uint32_t");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"sndbuf", "-1"}}, true), "Parameter 'sndbuf' expects a size value");
    EXPECT_EQ(error_of({{"type", "tap"}, {"id", "n0"}, {"queues", "2"}}, false),
              "Invalid parameter type for 'queues', expected: integer");
    EXPECT_EQ(error_of({{"type", "user"}, {"id", "n0"}}, true), "netdev type 'user' is not supported by nemu (only tap)");
}

TEST(TapOptions, ExclusiveGroupsAndScripts) {
    TapOptions o;
    o.id = "n0";
    o.fd = "3";
    o.ifname = "x";
    EXPECT_EQ(check_tap_options(o).error().msg,
              "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= are invalid with fd=");
    o = TapOptions{};
    o.fds = "3:4";
    o.queues = 2;
    EXPECT_EQ(check_tap_options(o).error().msg,
              "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= are invalid with fds=");
    o = TapOptions{};
    o.script = "/etc/qemu-ifup";
    EXPECT_NE(check_tap_options(o).error().msg.find("nemu runs no network scripts"), std::string::npos);
    o.script = "no";
    o.downscript = "";
    EXPECT_TRUE(check_tap_options(o));
    o.helper = "/usr/lib/qemu/qemu-bridge-helper";
    EXPECT_FALSE(check_tap_options(o));
}

// fd= names resolve through the caller (numbers or getfd names); a socketpair stands in for
// a tap the caller opened, so frames go both ways deterministically.
TEST(NetdevRegistry, FdPassedNetdevCarriesFramesAndIsDeletedOnce) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd far(sv[1]);
    UniqueFd near(sv[0]);
    NetdevRegistry reg;
    std::vector<std::string> asked;
    FdResolver resolve = [&](std::string_view name) -> Result<UniqueFd> {
        asked.emplace_back(name);
        if (name != "tapfd") return fail("File descriptor named '{}' has not been found", name);
        return std::move(near);
    };
    Json opts = {{"type", "tap"}, {"id", "n0"}, {"fd", "tapfd"}};
    auto c = reg.add(opts, false, resolve);
    ASSERT_TRUE(c) << c.error().msg;
    EXPECT_EQ(asked, std::vector<std::string>{"tapfd"});
    EXPECT_EQ((*c)->queue_count(), 1u);
    EXPECT_FALSE((*c)->has_vnet_hdr());
    EXPECT_EQ(reg.find("n0"), *c);

    uint8_t a[] = {1, 2, 3}, b[] = {4, 5};
    iovec iov[] = {{a, sizeof a}, {b, sizeof b}};
    auto sent = (*c)->send(0, iov);
    ASSERT_TRUE(sent && *sent);
    uint8_t got[16] = {};
    ASSERT_EQ(::read(far.get(), got, sizeof got), 5);
    EXPECT_EQ(got[3], 4);

    uint8_t buf[64];
    auto none = (*c)->receive(0, buf);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_EQ(::write(far.get(), "frame", 5), 5);
    auto one = (*c)->receive(0, buf);
    ASSERT_TRUE(one && one->has_value());
    EXPECT_EQ(**one, 5u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "frame");

    Json other = {{"type", "tap"}, {"id", "n0"}, {"ifname", "x"}};
    EXPECT_EQ(reg.add(other, true, resolve).error().msg, "Duplicate ID 'n0' for netdev");
    EXPECT_EQ(reg.add(other, false, resolve).error().msg, "Duplicate ID 'n0'");
    ASSERT_TRUE(reg.remove("n0"));
    auto again = reg.remove("n0");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().msg, "Device 'n0' not found");
    EXPECT_EQ(again.error().cls, ErrorClass::DeviceNotFound);
}

struct FakePeer : NetPeer {
    std::vector<bool> links;
    std::string peer_name() const override { return "nic0"; }
    void link_changed(bool up) override { links.push_back(up); }
    RxFilter rx_filter() const override { return {}; }
};

TEST(NetClient, OnePeerAndLinkChangesReachIt) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd far(sv[1]);
    UniqueFd near(sv[0]);
    NetdevRegistry reg;
    auto c = reg.add({{"type", "tap"}, {"id", "n0"}, {"fd", "3"}}, true,
                     [&](std::string_view) -> Result<UniqueFd> { return std::move(near); });
    ASSERT_TRUE(c) << c.error().msg;
    FakePeer p1, p2;
    ASSERT_TRUE((*c)->attach(p1, "virtio-net-device.netdev"));
    EXPECT_EQ((*c)->attach(p2, "virtio-net-device.netdev").error().msg,
              "Property 'virtio-net-device.netdev' can't take value 'n0', it's in use");
    EXPECT_FALSE(reg.remove("n0"));
    (*c)->set_link_up(false);
    (*c)->set_link_up(true);
    EXPECT_EQ(p1.links, (std::vector<bool>{false, true}));
    (*c)->detach(p1);
    EXPECT_TRUE(reg.remove("n0"));
}

TEST(Mac, ParseAndFormat) {
    auto m = parse_mac("52:54:00:12:34:5A");
    ASSERT_TRUE(m);
    EXPECT_EQ(format_mac(*m), "52:54:00:12:34:5a");
    EXPECT_FALSE(parse_mac("zz"));
    EXPECT_FALSE(parse_mac("52:54:00:12:34:5"));
    EXPECT_FALSE(parse_mac("52:54:00:12:34:5g"));
}

} // namespace
} // namespace nemu::net
