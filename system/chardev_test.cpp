// Chardev specs; expectations from QEMU 7.2 runs noted beside each.
#include "system/cmdline_chardev.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

TEST(Chardev, Opts) {
    auto r = parse_chardev("socket,id=qmp,path=/tmp/q.sock,server=on,wait=off");
    ASSERT_TRUE(r) << r.error().msg;
    EXPECT_EQ(r->backend, "socket");
    EXPECT_EQ(*r->id, "qmp");
    EXPECT_EQ(*r->options.get("path"), "/tmp/q.sock");
    r = parse_chardev("socket,id=c,fd=3,server=on,nowait"); // libvirt's fd= form
    ASSERT_TRUE(r);
    EXPECT_EQ(*r->options.get("wait"), "off");
    EXPECT_EQ(*parse_chardev("ringbuf,id=r,size=64K")->options.get("size"), "64K");
    EXPECT_EQ(parse_chardev("help")->backend, "help");
}

TEST(Chardev, OptsErrors) {
    // qemu -chardev socket ; -chardev bogus,id=x
    EXPECT_EQ(parse_chardev("socket").error().msg, "chardev: no id specified");
    EXPECT_EQ(parse_chardev("bogus,id=x").error().msg, "'bogus' is not a valid char driver name");
    EXPECT_EQ(parse_chardev("socket,id=x,server=maybe").error().msg,
              "Parameter 'server' expects 'on' or 'off'");
}

TEST(Chardev, Compat) {
    auto r = parse_chardev_compat("unix:/tmp/m.sock,server=on,wait=off");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->backend, "socket");
    EXPECT_EQ(*r->options.get("path"), "/tmp/m.sock");
    EXPECT_EQ(*r->options.get("server"), "on");
    r = parse_chardev_compat("tcp:127.0.0.1:4444,server=on,wait=off");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r->options.get("host"), "127.0.0.1");
    EXPECT_EQ(*r->options.get("port"), "4444");
    r = parse_chardev_compat("tcp::5555");
    EXPECT_FALSE(r->options.has("host"));
    r = parse_chardev_compat("mon:stdio");
    EXPECT_EQ(r->backend, "stdio");
    EXPECT_EQ(*r->options.get("mux"), "on");
    EXPECT_EQ(*r->options.get("signal"), "off");
    EXPECT_TRUE(parse_chardev_compat("none")->none);
    EXPECT_EQ(parse_chardev_compat("null")->backend, "null");
    EXPECT_EQ(parse_chardev_compat("pty")->backend, "pty");
    EXPECT_EQ(*parse_chardev_compat("file:/tmp/log")->options.get("path"), "/tmp/log");
    EXPECT_EQ(*parse_chardev_compat("chardev:charmonitor")->chardev_ref, "charmonitor");
    // qemu -serial bogus ; -qmp none is valid for -serial/-monitor only in QEMU's callers
    EXPECT_EQ(parse_chardev_compat("bogus").error().msg, "'bogus' is not a valid char driver");
    EXPECT_FALSE(parse_chardev_compat("tcp:x"));
}

TEST(Incoming, Uris) {
    EXPECT_EQ(parse_incoming("defer")->kind, IncomingSpec::Kind::Defer);
    auto r = parse_incoming("tcp:0:4444");
    EXPECT_EQ(r->kind, IncomingSpec::Kind::Tcp);
    EXPECT_EQ(r->target, "0:4444");
    EXPECT_EQ(parse_incoming("exec:cat /x")->target, "cat /x");
    EXPECT_EQ(parse_incoming("fd:3")->kind, IncomingSpec::Kind::Fd);
    EXPECT_EQ(parse_incoming("unix:/s")->kind, IncomingSpec::Kind::Unix);
    // qemu -incoming bogus
    EXPECT_EQ(parse_incoming("bogus").error().msg, "unknown migration protocol: bogus");
}

} // namespace
} // namespace nemu::cmdline
