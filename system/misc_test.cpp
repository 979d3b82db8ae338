// Small option parsers; QEMU 7.2 messages from the runs noted beside each.
#include "system/cmdline_misc.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

TEST(Misc, Msg) {
    EXPECT_TRUE(parse_msg("timestamp=on")->timestamp);
    EXPECT_TRUE(parse_msg("timestamp")->timestamp); // accepted with a deprecation warning
    // qemu -msg timestamp=maybe ; qemu -msg foo=on
    EXPECT_EQ(parse_msg("timestamp=maybe").error().msg, "Parameter 'timestamp' expects 'on' or 'off'");
    EXPECT_EQ(parse_msg("foo=on").error().msg, "Invalid parameter 'foo'");
}

TEST(Misc, OvercommitSandbox) {
    auto o = parse_overcommit("mem-lock=off,cpu-pm=on");
    EXPECT_FALSE(o->mem_lock);
    EXPECT_TRUE(o->cpu_pm);
    // qemu -overcommit mem-lock=x ; qemu -sandbox maybe
    EXPECT_EQ(parse_overcommit("mem-lock=x").error().msg, "Parameter 'mem-lock' expects 'on' or 'off'");
    EXPECT_EQ(parse_sandbox("maybe").error().msg, "Parameter 'enable' expects 'on' or 'off'");
    auto s = parse_sandbox("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->enable);
    EXPECT_EQ(*s->flags.get("spawn"), "deny");
}

TEST(Misc, Rtc) {
    auto r = parse_rtc("base=utc,driftfix=slew");
    EXPECT_EQ(r->driftfix, "slew");
    EXPECT_TRUE(parse_rtc("base=2006-06-17T16:01:21"));
    // qemu -rtc base=xx ; -rtc clock=foo ; -rtc driftfix=x
    EXPECT_EQ(parse_rtc("base=xx").error().msg,
              "invalid datetime format\nvalid formats: '2006-06-17T16:01:21' or '2006-06-17'");
    EXPECT_EQ(parse_rtc("clock=foo").error().msg, "invalid option value 'foo'");
    EXPECT_EQ(parse_rtc("driftfix=x").error().msg, "invalid option value 'x'");
}

TEST(Misc, BootName) {
    EXPECT_EQ(parse_boot("cd")->order, "cd");
    EXPECT_TRUE(*parse_boot("order=c,menu=on,strict=on")->menu);
    // qemu -boot order=z
    EXPECT_EQ(parse_boot("order=z").error().msg, "Invalid boot device 'z'");
    auto n = parse_name("guest=vm1,debug-threads=on");
    EXPECT_EQ(n->guest, "vm1");
    EXPECT_TRUE(n->debug_threads);
    EXPECT_EQ(parse_name("plain")->guest, "plain");
    // qemu -name g,debug-threads=x
    EXPECT_EQ(parse_name("g,debug-threads=x").error().msg,
              "Parameter 'debug-threads' expects 'on' or 'off'");
}

TEST(Misc, Uuid) {
    auto u = parse_uuid("c7a5fdbd-cdaf-9455-926a-d65c16db1809");
    ASSERT_TRUE(u);
    EXPECT_EQ((*u)[0], 0xc7);
    EXPECT_EQ((*u)[15], 0x09);
    // qemu -uuid 1234
    EXPECT_EQ(parse_uuid("1234").error().msg, "failed to parse UUID string: wrong format");
    EXPECT_FALSE(parse_uuid("c7a5fdbd-cdaf-9455-926a-d65c16db180g"));
    EXPECT_FALSE(parse_uuid("c7a5fdbdxcdaf-9455-926a-d65c16db1809"));
}

TEST(Misc, Global) {
    auto g = parse_global("kvm-pit.lost_tick_policy=delay");
    EXPECT_EQ(g->driver, "kvm-pit");
    EXPECT_EQ(g->property, "lost_tick_policy");
    EXPECT_EQ(g->value, "delay");
    g = parse_global("driver=cfi.pflash01,property=secure,value=on");
    EXPECT_EQ(g->driver, "cfi.pflash01");
    EXPECT_EQ(g->value, "on");
    // qemu -global foo ; qemu -global a.b
    EXPECT_EQ(parse_global("foo").error().msg, "Invalid parameter 'foo'");
    EXPECT_EQ(parse_global("a.b").error().msg, "Invalid parameter 'a.b'");
}

TEST(Misc, AccelMachineDisplay) {
    auto a = parse_accel("kvm,kernel-irqchip=split");
    EXPECT_EQ(a->type, "kvm");
    EXPECT_EQ(*a->props.get("kernel-irqchip"), "split");
    auto m = parse_machine("none,accel=kvm:tcg");
    EXPECT_EQ(*m->type, "none");
    EXPECT_EQ(*m->props.get("accel"), "kvm:tcg");
    EXPECT_TRUE(parse_machine("help")->help);
    // qemu -machine none,accel
    EXPECT_EQ(parse_machine("none,accel").error().msg, "Expected '=' after parameter 'accel'");
    EXPECT_EQ(parse_display("none")->type, "none");
    // qemu -display bogus ; qemu -vga bogus
    EXPECT_EQ(parse_display("bogus").error().msg, "Parameter 'type' does not accept value 'bogus'");
    EXPECT_EQ(*parse_vga("none"), "none");
    EXPECT_EQ(parse_vga("bogus").error().msg, "unknown vga type: bogus");
}

TEST(Misc, ActionTraceLog) {
    EXPECT_EQ(*parse_action("reboot=shutdown,shutdown=pause")->get("reboot"), "shutdown");
    // qemu -action reboot=x
    EXPECT_EQ(parse_action("reboot=x").error().msg, "Parameter 'reboot' does not accept value 'x'");
    EXPECT_EQ(*parse_trace("virtio_*")->enable, "virtio_*");
    EXPECT_EQ(*parse_trace("events=/e,file=/f")->file, "/f");
    auto items = split_log_items("guest_errors,,unimp");
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1], "unimp");
}

} // namespace
} // namespace nemu::cmdline
