#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "hw/core/loader/boot_layout.h"
#include "hw/core/loader/linux_bzimage.h"
#include "hw/core/loader/loader_test_util.h"

namespace nemu::hw::loader {
namespace {

using test::BzOpts;
using test::Guest;
using test::make_bzimage;
using test::pattern;
using test::TempDir;

constexpr uint64_t kRam = 256 << 20;

BootRequest request(const std::string& kernel, const std::string& initrd = "",
                    std::string cmdline = "console=ttyS0 quiet", uint64_t ram = kRam) {
    return BootRequest{kernel, initrd, std::move(cmdline), ram, x86_virt_e820(ram, 0), kRsdpGpa};
}

std::string load_error(const BootRequest& req, Guest& g) {
    auto r = load_linux(req, *g.as);
    EXPECT_FALSE(r.has_value());
    return r ? std::string() : r.error().msg;
}

TEST(BzImage, BootParamsAndKernel) {
    TempDir dir;
    auto img = make_bzimage();
    auto kernel = dir.write("bzImage", img);
    auto rd = pattern(10000, 0x99);
    auto initrd = dir.write("initrd", rd);
    Guest g(kRam);
    auto r = load_linux(request(kernel, initrd), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    EXPECT_EQ(r->mode, EntryMode::Long64);
    EXPECT_EQ(r->entry, 0x100200u);
    EXPECT_EQ(r->params_gpa, 0x7000u);
    EXPECT_EQ(r->format, "bzImage");

    const uint64_t bp = 0x7000;
    // The setup header is copied, the rest of the page is zero.
    EXPECT_EQ(g.u8(bp + 0x1f1), 4);
    EXPECT_EQ(g.u16(bp + 0x1fe), 0xaa55);
    EXPECT_EQ(g.u32(bp + 0x202), 0x53726448u); // "HdrS"
    EXPECT_EQ(g.u16(bp + 0x206), 0x020f);
    EXPECT_EQ(g.u32(bp + 0x230), 0x200000u);  // kernel_alignment kept
    EXPECT_EQ(g.u64(bp + 0x258), 0x1000000u); // pref_address kept
    EXPECT_EQ(g.u8(bp + 0x26c), 0);           // past the header end: not copied
    EXPECT_EQ(g.u64(bp + 0x000), 0u);         // screen_info: zero
    // What the loader writes.
    EXPECT_EQ(g.u8(bp + 0x210), 0xff);      // type_of_loader
    EXPECT_EQ(g.u8(bp + 0x211), 0x01);      // LOADED_HIGH, CAN_USE_HEAP cleared
    EXPECT_EQ(g.u32(bp + 0x228), 0x20000u); // cmd_line_ptr
    EXPECT_EQ(g.str(0x20000), "console=ttyS0 quiet");
    EXPECT_EQ(g.u32(bp + 0x23c), 0u);       // hardware_subarch
    EXPECT_EQ(g.u64(bp + 0x250), 0u);       // setup_data cleared
    EXPECT_EQ(g.u64(bp + 0x070), 0xe0000u); // acpi_rsdp_addr
    // initrd: top of RAM (initrd_addr_max is higher), page aligned.
    uint64_t rd_gpa = (kRam - rd.size()) & ~uint64_t(0xfff);
    EXPECT_EQ(g.u32(bp + 0x218), rd_gpa);
    EXPECT_EQ(g.u32(bp + 0x21c), rd.size());
    EXPECT_EQ(g.u32(bp + 0x0c0), 0u);
    EXPECT_EQ(g.read(rd_gpa, rd.size()), rd);
    // e820
    ASSERT_EQ(g.u8(bp + 0x1e8), 3);
    auto want = x86_virt_e820(kRam, 0);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t e = bp + 0x2d0 + 20 * i;
        EXPECT_EQ(g.u64(e), want[i].addr);
        EXPECT_EQ(g.u64(e + 8), want[i].size);
        EXPECT_EQ(g.u32(e + 16), want[i].type);
    }
    EXPECT_EQ(g.u64(bp + 0x2d0 + 60), 0u);
    // Protected-mode code at 1 MiB, the setup sectors stay out.
    std::vector<uint8_t> pm(img.begin() + 5 * 512, img.end());
    EXPECT_EQ(g.read(0x100000, pm.size()), pm);
}

TEST(BzImage, InitrdBelowInitrdAddrMax) {
    TempDir dir;
    BzOpts o;
    o.initrd_addr_max = 0x7ffffff; // 128 MiB - 1, inclusive
    auto kernel = dir.write("bzImage", make_bzimage(o));
    auto rd = pattern(0x1801, 0x10);
    auto initrd = dir.write("initrd", rd);
    Guest g(kRam);
    auto r = load_linux(request(kernel, initrd), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    uint64_t gpa = g.u32(0x7000 + 0x218);
    EXPECT_EQ(gpa, (0x8000000u - 0x1801u) & ~0xfffu);
    EXPECT_EQ(gpa % 0x1000, 0u);
    EXPECT_LE(gpa + rd.size() - 1, 0x7ffffffu);
    EXPECT_EQ(g.read(gpa, rd.size()), rd);
}

TEST(BzImage, NoInitrdNoRsdpBefore214AndSetupSectsZero) {
    TempDir dir;
    BzOpts o;
    o.setup_sects = 0; // means 4
    o.version = 0x020c;
    auto img = make_bzimage(o);
    auto kernel = dir.write("bzImage", img);
    Guest g(kRam);
    auto r = load_linux(request(kernel, "", ""), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    EXPECT_EQ(g.u32(0x7000 + 0x218), 0u);
    EXPECT_EQ(g.u32(0x7000 + 0x21c), 0u);
    EXPECT_EQ(g.u64(0x7000 + 0x070), 0u);
    EXPECT_EQ(g.str(0x20000), "");
    std::vector<uint8_t> pm(img.begin() + 5 * 512, img.end());
    EXPECT_EQ(g.read(0x100000, pm.size()), pm);
}

TEST(BzImage, CmdlineLimitIsTheHeaderCmdlineSize) {
    TempDir dir;
    BzOpts o;
    o.cmdline_size = 10;
    auto kernel = dir.write("bzImage", make_bzimage(o));
    Guest g(kRam);
    EXPECT_TRUE(load_linux(request(kernel, "", "0123456789"), *g.as).has_value());
    EXPECT_EQ(g.str(0x20000), "0123456789");
    EXPECT_EQ(load_error(request(kernel, "", "0123456789a"), g),
              "kernel command line is too long for kernel '" + kernel + "' (11 bytes, max 10)");
    // The map's 64 KiB bound applies even if the kernel claims more.
    o.cmdline_size = 0xffffffff;
    kernel = dir.write("bzImage2", make_bzimage(o));
    EXPECT_NE(load_error(request(kernel, "", std::string(0x10000, 'x')), g).find("too long"),
              std::string::npos);
}

TEST(BzImage, OpenErrors) {
    TempDir dir;
    Guest g(kRam);
    std::string missing = dir.path("nope");
    EXPECT_EQ(load_error(request(missing), g),
              "could not open kernel file '" + missing + "': No such file or directory");
    std::filesystem::create_directory(dir.path("d"));
    EXPECT_EQ(load_error(request(dir.path("d")), g),
              "could not open kernel file '" + dir.path("d") + "': Is a directory");
    auto kernel = dir.write("bzImage", make_bzimage());
    EXPECT_EQ(load_error(request(kernel, missing), g),
              "error reading initrd " + missing + ": No such file or directory");
}

TEST(BzImage, NotAKernel) {
    TempDir dir;
    Guest g(kRam);
    for (auto& bytes : {std::vector<uint8_t>{}, std::vector<uint8_t>{1, 2, 3}, pattern(4096, 1),
                        std::vector<uint8_t>(0x204, 0)}) {
        auto k = dir.write("junk", bytes);
        EXPECT_EQ(load_error(request(k), g),
                  "invalid kernel header: '" + k + "' is neither a bzImage nor an ELF kernel");
    }
}

TEST(BzImage, Truncated) {
    TempDir dir;
    Guest g(kRam);
    auto img = make_bzimage();
    // Cut inside the setup sectors, and just after the HdrS signature.
    for (size_t len : {size_t(0x206), size_t(0x300), size_t(5 * 512)}) {
        auto k = dir.write("cut", std::vector<uint8_t>(img.begin(), img.begin() + len));
        auto msg = load_error(request(k), g);
        EXPECT_EQ(msg.rfind("kernel '" + k + "' is truncated", 0), 0u) << msg;
    }
}

TEST(BzImage, Only64BitKernels) {
    TempDir dir;
    Guest g(kRam);
    BzOpts o;
    o.version = 0x020b;
    auto k = dir.write("old", make_bzimage(o));
    EXPECT_EQ(load_error(request(k), g),
              "kernel '" + k +
                  "' uses boot protocol 2.11, but this machine boots 64-bit "
                  "kernels only (boot protocol 2.12 or later)");
    o = {};
    o.xloadflags = 0;
    k = dir.write("k32", make_bzimage(o));
    EXPECT_EQ(load_error(request(k), g),
              "kernel '" + k + "' is a 32-bit kernel, but this machine boots 64-bit kernels only");
}

TEST(BzImage, BadHeaderEnd) {
    TempDir dir;
    Guest g(kRam);
    for (uint8_t jump : {uint8_t(0x10), uint8_t(0x60), uint8_t(0xff)}) {
        BzOpts o;
        o.jump = jump;
        auto k = dir.write("k", make_bzimage(o));
        EXPECT_NE(load_error(request(k), g).find("invalid setup header"), std::string::npos);
    }
}

TEST(BzImage, TooLargeForRam) {
    TempDir dir;
    BzOpts o;
    o.pm_size = 0x200000;
    auto k = dir.write("big", make_bzimage(o));
    Guest g(0x200000);
    EXPECT_EQ(load_error(request(k, "", "", 0x200000), g),
              "kernel '" + k + "' is too large for guest RAM (max: 1048576, need 2097152)");

    // An initrd that fits neither below initrd_addr_max nor above the kernel.
    o = {};
    o.initrd_addr_max = 0x1fffff;
    k = dir.write("k", make_bzimage(o));
    auto rd = dir.write("rd", pattern(0x100000, 3));
    Guest g2(kRam);
    auto msg = load_error(request(k, rd), g2);
    EXPECT_EQ(msg, "initrd '" + rd + "' is too large for guest RAM (max: " +
                       std::to_string(0x200000 - 0x103000) + ", need 1048576)");
}

TEST(BzImage, TooManyE820Entries) {
    TempDir dir;
    auto k = dir.write("k", make_bzimage());
    Guest g(kRam);
    auto req = request(k);
    req.e820.assign(129, E820Entry{0x100000, 0x1000, kE820Ram});
    EXPECT_EQ(load_error(req, g), "too many e820 entries for kernel '" + k + "' (129, max 128)");
    req.e820.resize(128);
    EXPECT_TRUE(load_linux(req, *g.as).has_value());
}

TEST(BzImage, WritesOutsideRamAreErrors) {
    TempDir dir;
    auto k = dir.write("k", make_bzimage());
    // RAM only from 1 MiB: the command line and boot_params have nowhere to go.
    Guest g(kRam, 0x100000);
    EXPECT_EQ(load_error(request(k), g),
              "cannot write the kernel command line at 0x20000: outside guest RAM");
}

// A real kernel, when the machine has one: it must load as a 64-bit bzImage or PVH ELF.
TEST(BzImage, RealKernelIfPresent) {
    std::string path;
    if (const char* env = std::getenv("NEMU_TEST_KERNEL")) path = env;
    std::error_code ec;
    if (path.empty())
        for (auto& e : std::filesystem::directory_iterator("/boot", ec))
            if (e.path().filename().string().rfind("vmlinuz-", 0) == 0) path = e.path().string();
    if (path.empty() || ::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << "no kernel to try";
    Guest g(512 << 20);
    auto r = load_linux(request(path, "", "console=ttyS0", 512 << 20), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    if (r->format == "bzImage") {
        EXPECT_EQ(r->entry, 0x100200u);
        EXPECT_EQ(g.u32(0x7000 + 0x202), 0x53726448u);
        EXPECT_EQ(g.u8(0x7000 + 0x210), 0xff);
    } else {
        EXPECT_EQ(r->format, "pvh");
        EXPECT_EQ(g.u32(0x6000), 0x336ec578u);
    }
}

} // namespace
} // namespace nemu::hw::loader
