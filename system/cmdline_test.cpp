// argv splitting and option table. Expectations were recorded from Debian's QEMU 7.2
// (qemu-system-x86_64 7.2.22); the command that produced each is in the comment.
#include "system/cmdline.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

template <size_t N> Result<std::vector<ParsedOption>> run(const char* const (&argv)[N]) {
    return parse_argv(static_cast<int>(N), argv);
}

TEST(Cmdline, SplitsOptionsAndArguments) {
    const char* const argv[] = {"nemu", "-M", "none", "--m", "1G", "-S", "-nographic"};
    auto r = run(argv);
    ASSERT_TRUE(r) << r.error().msg;
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].def->name, "M");
    EXPECT_EQ((*r)[0].arg, "none");
    EXPECT_EQ((*r)[1].def->name, "m");
    EXPECT_EQ((*r)[1].spelling, "--m");
    EXPECT_EQ((*r)[1].argv_index, 3);
    EXPECT_EQ((*r)[2].def->name, "S");
    EXPECT_TRUE((*r)[2].arg.empty());
}

TEST(Cmdline, InvalidOption) {
    // qemu-system-x86_64 -foo  ->  "-foo: invalid option", exit 1
    const char* const a[] = {"q", "-foo"};
    EXPECT_EQ(run(a).error().msg, "-foo: invalid option");
    // qemu-system-x86_64 -m=1G
    const char* const b[] = {"q", "-m=1G"};
    EXPECT_EQ(run(b).error().msg, "-m=1G: invalid option");
    // qemu-system-x86_64 -   /   qemu-system-x86_64 --
    const char* const c[] = {"q", "-"};
    EXPECT_EQ(run(c).error().msg, "-: invalid option");
    const char* const d[] = {"q", "--"};
    EXPECT_EQ(run(d).error().msg, "--: invalid option");
    // qemu-system-x86_64 -h -zzz : the whole argv is checked first
    const char* const e[] = {"q", "-h", "-zzz"};
    EXPECT_EQ(run(e).error().msg, "-zzz: invalid option");
}

TEST(Cmdline, MissingArgument) {
    // qemu-system-x86_64 -m ; qemu-system-x86_64 --m ; qemu-system-x86_64 -accel
    const char* const a[] = {"q", "-m"};
    EXPECT_EQ(run(a).error().msg, "-m: requires an argument");
    const char* const b[] = {"q", "--m"};
    EXPECT_EQ(run(b).error().msg, "--m: requires an argument");
    const char* const c[] = {"q", "-accel"};
    EXPECT_EQ(run(c).error().msg, "-accel: requires an argument");
}

TEST(Cmdline, NotForTarget) {
    // qemu-system-x86_64 -g x ; -semihosting ; -old-param
    const char* const a[] = {"q", "-g", "x"};
    EXPECT_EQ(run(a).error().msg, "-g x: Option not supported for this target");
    const char* const b[] = {"q", "-semihosting"};
    EXPECT_EQ(run(b).error().msg, "-semihosting: Option not supported for this target");
    // qemu-system-x86_64 -g  -> the missing argument is reported first
    const char* const c[] = {"q", "-g"};
    EXPECT_EQ(run(c).error().msg, "-g: requires an argument");
}

TEST(Cmdline, DiskImageWord) {
    const char* const a[] = {"q", "disk.img", ""};
    auto r = run(a);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].def, &disk_image_option());
    EXPECT_EQ((*r)[0].arg, "disk.img");
    EXPECT_EQ((*r)[1].arg, "");
    EXPECT_EQ((*r)[0].def->support, Support::Unsupported);
}

TEST(Cmdline, OptionArgumentMayLookLikeOption) {
    const char* const a[] = {"q", "-append", "-foo", "-name", "--"};
    auto r = run(a);
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[0].arg, "-foo");
    EXPECT_EQ((*r)[1].arg, "--");
}

TEST(Cmdline, ErrorLocation) {
    const char* const a[] = {"q", "--m", "5X", "-S"};
    auto r = run(a);
    ASSERT_TRUE(r);
    EXPECT_EQ(option_error((*r)[0], "boom"), "--m 5X: boom");
    EXPECT_EQ(option_error((*r)[1], "boom"), "-S: boom");
}

TEST(OptionTable, UserFacingOptionsAreSupportedOrLater) {
    for (const char* n : {"machine", "M", "accel", "cpu", "smp", "m", "object", "device", "name",
                          "uuid", "S", "qmp", "qmp-pretty", "monitor", "mon", "chardev", "serial",
                          "nographic", "nodefaults", "no-user-config", "display", "vga",
                          "daemonize", "pidfile", "msg", "overcommit", "sandbox", "rtc",
                          "no-reboot", "no-shutdown", "boot", "kernel", "initrd", "append",
                          "drive", "blockdev", "netdev", "incoming", "preconfig", "qtest",
                          "qtest-log", "D", "d", "trace", "version", "help", "h", "global",
                          "mem-path", "mem-prealloc", "numa", "fsdev", "virtfs", "bios", "L",
                          "enable-kvm", "no-acpi", "action", "parallel", "k", "usb", "add-fd"}) {
        const OptionDef* d = find_option(n);
        ASSERT_NE(d, nullptr) << n;
        EXPECT_NE(d->support, Support::Unsupported) << n;
    }
    for (const char* n : {"fda", "hda", "icount", "singlestep", "plugin", "audiodev"}) {
        ASSERT_NE(find_option(n), nullptr) << n;
        EXPECT_EQ(find_option(n)->support, Support::Unsupported) << n;
    }
    EXPECT_EQ(find_option("soundhw"), nullptr); // removed before 7.2
    EXPECT_EQ(option_table().size(), 122u);     // QEMU 7.2 x86_64's QEMUOption table
    EXPECT_TRUE(find_option("m")->has_arg);
    EXPECT_FALSE(find_option("S")->has_arg);
}

TEST(OptionTable, Messages) {
    EXPECT_EQ(not_supported_yet(*find_option("numa")), "-numa: not supported yet");
    EXPECT_EQ(not_supported(*find_option("fda")), "-fda: not supported by nemu");
}

TEST(Help, Layout) {
    EXPECT_EQ(usage_line(), "usage: nemu-system-x86_64 [options] [disk_image]");
    std::string h = help_text();
    EXPECT_EQ(h.rfind("usage: nemu-system-x86_64 [options] [disk_image]\n\n", 0), 0u);
    EXPECT_NE(h.find("\nStandard options:\n-h or -help     display this help and exit\n"),
              std::string::npos);
    EXPECT_NE(h.find("-m [size=]megs[,slots=n,maxmem=size]\n"), std::string::npos);
    EXPECT_EQ(h.find("-fda"), std::string::npos);
    EXPECT_EQ(h.find("-icount"), std::string::npos);
}

} // namespace
} // namespace nemu::cmdline
