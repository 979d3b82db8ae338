#include <gtest/gtest.h>

#include "hw/core/loader/boot_layout.h"
#include "hw/core/loader/loader_test_util.h"
#include "hw/core/loader/pvh_elf.h"
#include "util/little_endian.h"

namespace nemu::hw::loader {
namespace {

using test::ElfOpts;
using test::ElfSeg;
using test::Guest;
using test::make_elf;
using test::pattern;
using test::TempDir;

constexpr uint64_t kRam = 128 << 20;

BootRequest request(const std::string& kernel, const std::string& initrd = "",
                    uint64_t ram = kRam) {
    return BootRequest{kernel,  initrd, "console=ttyS0 root=/dev/vda", ram, x86_virt_e820(ram, 0),
                       kRsdpGpa};
}

std::string load_error(const BootRequest& req, Guest& g) {
    auto r = load_linux(req, *g.as);
    EXPECT_FALSE(r.has_value());
    return r ? std::string() : r.error().msg;
}

std::string load_error(const ElfOpts& o, const TempDir& dir, uint64_t ram = kRam) {
    Guest g(ram);
    return load_error(request(dir.write("vmlinux", make_elf(o)), "", ram), g);
}

void fill(Guest& g, uint64_t gpa, size_t len, uint8_t v) {
    std::vector<uint8_t> b(len, v);
    ASSERT_EQ(g.as->write(gpa, b), memory::MemTxResult::Ok);
}

TEST(Pvh, Elf64WithInitrd) {
    TempDir dir;
    auto kernel = dir.write("vmlinux", make_elf());
    auto rd = pattern(0x2345, 0x77);
    auto initrd = dir.write("initrd", rd);
    Guest g(kRam);
    fill(g, 0x1000000, 0x3000, 0xaa); // the bss must be zeroed, not assumed zero
    auto r = load_linux(request(kernel, initrd), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    EXPECT_EQ(r->mode, EntryMode::Pvh32);
    EXPECT_EQ(r->entry, 0x1000100u);
    EXPECT_EQ(r->params_gpa, 0x6000u);
    EXPECT_EQ(r->format, "pvh");

    // Segments at p_paddr, bss zeroed.
    EXPECT_EQ(g.read(0x1000000, 0x2000), pattern(0x2000, 0x40));
    EXPECT_EQ(g.read(0x1002000, 0x1000), std::vector<uint8_t>(0x1000, 0));
    EXPECT_EQ(g.read(0x1400000, 0x100), pattern(0x100, 0x41));

    // hvm_start_info (start_info.h, version 1).
    EXPECT_EQ(g.u32(0x6000), 0x336ec578u);
    EXPECT_EQ(g.u32(0x6004), 1u);       // version
    EXPECT_EQ(g.u32(0x6008), 0u);       // flags
    EXPECT_EQ(g.u32(0x600c), 1u);       // nr_modules
    EXPECT_EQ(g.u64(0x6010), 0x6080u);  // modlist_paddr
    EXPECT_EQ(g.u64(0x6018), 0x20000u); // cmdline_paddr
    EXPECT_EQ(g.u64(0x6020), 0xe0000u); // rsdp_paddr
    EXPECT_EQ(g.u64(0x6028), 0x6100u);  // memmap_paddr
    EXPECT_EQ(g.u32(0x6030), 3u);       // memmap_entries
    EXPECT_EQ(g.u32(0x6034), 0u);       // reserved
    EXPECT_EQ(g.str(0x20000), "console=ttyS0 root=/dev/vda");

    // The initrd is module 0, as high as possible in low RAM, page aligned.
    uint64_t rd_gpa = (kRam - rd.size()) & ~uint64_t(0xfff);
    EXPECT_EQ(g.u64(0x6080), rd_gpa);
    EXPECT_EQ(g.u64(0x6088), rd.size());
    EXPECT_EQ(g.u64(0x6090), 0u); // module cmdline_paddr
    EXPECT_EQ(g.read(rd_gpa, rd.size()), rd);

    // memmap: hvm_memmap_table_entry {addr, size, type, reserved}.
    auto want = x86_virt_e820(kRam, 0);
    for (unsigned i = 0; i < want.size(); i++) {
        uint64_t e = 0x6100 + 24 * i;
        EXPECT_EQ(g.u64(e), want[i].addr);
        EXPECT_EQ(g.u64(e + 8), want[i].size);
        EXPECT_EQ(g.u32(e + 16), want[i].type);
        EXPECT_EQ(g.u32(e + 20), 0u);
    }
}

TEST(Pvh, Elf32WithFourByteNoteAndNoInitrd) {
    TempDir dir;
    ElfOpts o;
    o.is64 = false;
    o.machine = 3; // EM_386
    o.desc_size = 4;
    auto kernel = dir.write("vmlinux", make_elf(o));
    Guest g(kRam);
    auto r = load_linux(request(kernel), *g.as);
    ASSERT_TRUE(r.has_value()) << r.error().msg;
    EXPECT_EQ(r->entry, 0x1000100u);
    EXPECT_EQ(g.u32(0x600c), 0u); // nr_modules
    EXPECT_EQ(g.u64(0x6010), 0u); // modlist_paddr
    EXPECT_EQ(g.read(0x1000000, 0x2000), pattern(0x2000, 0x40));
}

TEST(Pvh, NoteParserFindsOnlyXenPhys32Entry) {
    auto notes = test::make_notes(true, 8, 0x1234567);
    EXPECT_EQ(find_pvh_entry_note(notes, 4), 0x1234567u);
    EXPECT_EQ(find_pvh_entry_note(test::make_notes(false, 8, 0), 4), std::nullopt);
    EXPECT_EQ(find_pvh_entry_note(test::make_notes(true, 6, 1), 4), std::nullopt);
    // Every truncation and every corrupted byte: no crash, no read past the buffer (ASan).
    for (size_t len = 0; len <= notes.size(); len++) {
        std::vector<uint8_t> cut(notes.begin(), notes.begin() + len);
        (void)find_pvh_entry_note(cut, 4);
        (void)find_pvh_entry_note(cut, 8);
    }
    for (size_t i = 0; i < notes.size(); i++) {
        auto bad = notes;
        bad[i] = 0xff;
        (void)find_pvh_entry_note(bad, 4);
    }
}

TEST(Pvh, ElfWithoutNote) {
    TempDir dir;
    ElfOpts o;
    o.pvh_note = false;
    auto k = dir.path("vmlinux");
    EXPECT_EQ(load_error(o, dir),
              "kernel '" + k +
                  "' is an ELF file without a PVH entry note "
                  "(XEN_ELFNOTE_PHYS32_ENTRY): use a bzImage or a kernel built with "
                  "CONFIG_PVH");
}

TEST(Pvh, NotX86) {
    TempDir dir;
    ElfOpts o;
    o.machine = 183; // EM_AARCH64
    EXPECT_EQ(load_error(o, dir),
              "kernel '" + dir.path("vmlinux") + "' is not an x86 ELF executable");
}

TEST(Pvh, SegmentPlacementErrors) {
    TempDir dir;
    std::string k = dir.path("vmlinux");
    ElfOpts o;
    o.segs = {{0xf0000, 0x100, 0x100}, {0x1000000, 0x1000, 0x1000}};
    EXPECT_EQ(load_error(o, dir),
              "kernel '" + k +
                  "' has a segment at 0xf0000 overlapping the low boot area (below "
                  "0x100000)");
    o.segs = {{0x1000000, 0x1000, 0x1000}, {kRam - 0x1000, 0x1000, 0x2000}};
    EXPECT_EQ(load_error(o, dir), "kernel '" + k +
                                      "' has a segment [0x7fff000, +0x2000) outside "
                                      "guest RAM (low RAM ends at 0x8000000)");
    o.segs = {{0x1000000, 0x1000, 0x1000}, {0xfffffffffffff000ULL, 0x10, 0x2000}};
    EXPECT_NE(load_error(o, dir).find("outside guest RAM"), std::string::npos);
    o.segs = {{0x1000000, 0x2000, 0x1000}};
    EXPECT_NE(load_error(o, dir).find("larger in the file than in memory"), std::string::npos);
    o = {};
    o.entry = 0x2000000;
    EXPECT_EQ(load_error(o, dir), "kernel '" + k +
                                      "' has its PVH entry point 0x2000000 outside its loaded "
                                      "segments");
    o.entry = 0x100000000ULL;
    EXPECT_EQ(load_error(o, dir),
              "kernel '" + k + "' has a PVH entry point above 4 GiB (0x100000000)");
}

TEST(Pvh, TruncatedAndMalformedFiles) {
    TempDir dir;
    std::string k = dir.path("vmlinux");
    auto elf = make_elf();
    Guest g(kRam);
    // Cut anywhere: an error (never a crash), and "truncated" once the headers are cut.
    for (size_t len : {size_t(4), size_t(40), size_t(63), size_t(100), elf.size() - 1}) {
        dir.write("vmlinux", std::vector<uint8_t>(elf.begin(), elf.begin() + len));
        auto msg = load_error(request(k), g);
        EXPECT_EQ(msg.rfind("kernel '" + k + "' is truncated", 0), 0u) << len << ": " << msg;
    }
    // phnum out of bounds, wrong phentsize, phoff past the end, a huge note segment.
    auto bad = elf;
    store_le(&bad[56], 0, 2);
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g), "kernel '" + k + "' has invalid ELF program headers");
    bad = elf;
    store_le(&bad[56], 0xffff, 2);
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g), "kernel '" + k + "' has invalid ELF program headers");
    bad = elf;
    store_le(&bad[54], 64, 2);
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g), "kernel '" + k + "' has invalid ELF program headers");
    bad = elf;
    store_le(&bad[32], 0xfffffffffffffff0ULL, 8);
    dir.write("vmlinux", bad);
    EXPECT_NE(load_error(request(k), g).find("is truncated"), std::string::npos);
    bad = elf;
    store_le(&bad[64 + 32], 0x10000000, 8); // the PT_NOTE's p_filesz
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g),
              "kernel '" + k + "' has an oversized ELF note segment (268435456 bytes)");
    bad = elf;
    store_le(&bad[64 + 56 + 32], 0x10000000, 8); // first PT_LOAD's p_filesz
    store_le(&bad[64 + 56 + 40], 0x10000000, 8); // and p_memsz
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g).rfind("kernel '" + k + "' is truncated (segment", 0), 0u);
    bad = elf;
    bad[5] = 2; // big-endian
    dir.write("vmlinux", bad);
    EXPECT_EQ(load_error(request(k), g), "kernel '" + k + "' is not an x86 ELF executable");
}

TEST(Pvh, InitrdAboveTheKernelOnly) {
    TempDir dir;
    // RAM ends 64 KiB after the kernel's last segment: a 1 MiB initrd cannot fit.
    ElfOpts o;
    o.segs = {{0x1000000, 0x1000, 0x1000}};
    o.entry = 0x1000010;
    auto k = dir.write("vmlinux", make_elf(o));
    auto rd = dir.write("initrd", pattern(0x100000, 1));
    Guest g(0x1011000);
    EXPECT_EQ(load_error(request(k, rd, 0x1011000), g),
              "initrd '" + rd + "' is too large for guest RAM (max: 65536, need 1048576)");
}

TEST(Pvh, TooManyMemmapEntries) {
    TempDir dir;
    auto k = dir.write("vmlinux", make_elf());
    Guest g(kRam);
    auto req = request(k);
    req.e820.assign(65, E820Entry{0x100000, 0x1000, kE820Ram});
    EXPECT_EQ(load_error(req, g), "too many e820 entries for kernel '" + k + "' (65, max 64)");
}

} // namespace
} // namespace nemu::hw::loader
