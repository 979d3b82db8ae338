#include "block/raw_format.h"

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "block/file_node.h"

namespace nemu::block {
namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-raw-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        path = p ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!f) return {-1, out};
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    const int st = ::pclose(f);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// A 64 KiB file whose byte i is (i * 13 + i / 512) & 0xff.
std::string make_file(const TempDir& d) {
    const std::string p = d.file("raw.img");
    std::vector<uint8_t> v(64 << 10);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 13 + i / 512);
    FILE* f = std::fopen(p.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (f) {
        std::fwrite(v.data(), 1, v.size(), f);
        std::fclose(f);
    }
    return p;
}
uint8_t byte_at(uint64_t i) { return static_cast<uint8_t>(i * 13 + i / 512); }

Result<std::shared_ptr<BlockNode>> open_raw(const std::string& path, Json options, OpenFlags flags = {}) {
    auto file = TRY(open_file(FileOptions{path, flags, false}));
    FormatOpenContext ctx;
    ctx.flags = flags;
    ctx.options = std::move(options);
    return raw_format().open(std::move(file), ctx);
}

Result<> rd(BlockNode& n, uint64_t off, std::vector<uint8_t>& b) {
    iovec v{b.data(), b.size()};
    return n.read(off, std::span<const iovec>(&v, 1));
}
Result<> wr(BlockNode& n, uint64_t off, std::vector<uint8_t>& b) {
    iovec v{b.data(), b.size()};
    return n.write(off, std::span<const iovec>(&v, 1), false);
}

TEST(RawFormat, ProbesAnythingWithScoreOne) {
    EXPECT_EQ(raw_format().name, "raw");
    const uint8_t junk[4] = {'Q', 'F', 'I', 0xfb};
    EXPECT_EQ(raw_format().probe(std::span<const uint8_t>(junk, 4), "x.qcow2"), 1);
    EXPECT_EQ(raw_format().probe({}, ""), 1);
}

TEST(RawFormat, WholeFile) {
    TempDir d;
    const std::string p = make_file(d);
    auto r = open_raw(p, Json::object());
    ASSERT_TRUE(r) << r.error().msg;
    BlockNode& n = **r;
    EXPECT_EQ(n.driver(), "raw");
    EXPECT_EQ(n.length(), 64u << 10);
    std::vector<uint8_t> b(100);
    ASSERT_TRUE(rd(n, 1000, b));
    for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], byte_at(1000 + i)) << i;
    // The virtual disk has the file's size: no growing through the format.
    auto past = wr(n, (64 << 10) - 50, b);
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().sys_errno, EINVAL);
    const NodeInfo info = n.info();
    EXPECT_EQ(info.format, "raw");
    EXPECT_EQ(info.filename, p);
    EXPECT_EQ(info.virtual_size, 64u << 10);
    ASSERT_NE(n.file_child(), nullptr);
    EXPECT_EQ(n.file_child()->driver(), "file");
    // block_resize without offset/size resizes the file.
    ASSERT_TRUE(n.truncate(128 << 10));
    EXPECT_EQ(n.length(), 128u << 10);
    EXPECT_EQ(std::filesystem::file_size(p), 128u << 10);
}

TEST(RawFormat, OffsetAndSizeWindow) {
    TempDir d;
    const std::string p = make_file(d);
    auto r = open_raw(p, Json{{"offset", 4096 + 7}, {"size", 8192}});
    ASSERT_TRUE(r) << r.error().msg;
    BlockNode& n = **r;
    EXPECT_EQ(n.length(), 8192u);
    std::vector<uint8_t> b(300);
    ASSERT_TRUE(rd(n, 10, b));
    for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], byte_at(4096 + 7 + 10 + i)) << i;
    // A write at virtual 0 lands at the offset; beyond the size it is refused.
    std::vector<uint8_t> w(512, 0xab);
    ASSERT_TRUE(wr(n, 0, w));
    auto past = wr(n, 8192 - 511, w);
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().sys_errno, EINVAL);
    auto rpast = rd(n, 8000, b);
    ASSERT_FALSE(rpast);
    EXPECT_EQ(rpast.error().sys_errno, EINVAL);
    ASSERT_TRUE(n.flush());
    // qemu-io reads the bytes where the window put them (and not one byte earlier).
    auto [rc, out] = run("qemu-io -r -U -f raw -c 'read -P 0xab 4103 512' -c 'read -P " +
                         std::to_string(byte_at(4102)) + " 4102 1' " + p);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
    // map forwards to the file at offset + off; still Data.
    const HostExtent e = n.map(512, 1024, true);
    EXPECT_EQ(e.kind, HostExtent::Kind::Data);
    EXPECT_EQ(e.host_offset, 4096u + 7 + 512);
    EXPECT_EQ(e.length, 1024u);
    EXPECT_EQ(e.fd, static_cast<FileNode*>(n.file_child())->fd());
    // write_zeroes and discard are shifted too, and bounded by the window.
    ASSERT_TRUE(n.write_zeroes(512, 512, false));
    ASSERT_TRUE(rd(n, 512, b));
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }));
    EXPECT_EQ(n.write_zeroes(8000, 512, false).error().sys_errno, EINVAL);
    EXPECT_EQ(n.discard(8000, 512).error().sys_errno, EINVAL);
    std::vector<uint8_t> before(1);
    ASSERT_TRUE(n.file_child()->read(4096 + 7 + 511, std::span<const iovec>(std::array<iovec, 1>{{{before.data(), 1}}})));
    EXPECT_EQ(before[0], 0xab);
    // A fixed size cannot be resized (raw-format.c raw_co_truncate).
    auto t = n.truncate(16384);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().msg, "Cannot resize fixed-size raw disks");
}

TEST(RawFormat, OffsetOnlyFollowsTheFile) {
    TempDir d;
    const std::string p = make_file(d);
    auto r = open_raw(p, Json{{"offset", 1}});
    ASSERT_TRUE(r) << r.error().msg;
    EXPECT_EQ((*r)->length(), (64u << 10) - 1);
    ASSERT_TRUE((*r)->truncate(4096));
    EXPECT_EQ(std::filesystem::file_size(p), 4097u);
    EXPECT_EQ((*r)->length(), 4096u);
}

// The messages are QEMU's: compare with qemu-system-x86_64 -blockdev on the same file.
TEST(RawFormat, OptionErrorsMatchQemu) {
    TempDir d;
    const std::string p = make_file(d);
    struct Case {
        Json opts;
        std::string keyval;
        std::string msg;
    };
    const std::vector<Case> cases = {
        {Json{{"offset", 70000}}, "offset=70000",
         "Offset (70000) cannot be greater than size of the containing file (65536)"},
        {Json{{"offset", 512}, {"size", 65536}}, "offset=512,size=65536",
         "The sum of offset (512) and size (65536) has to be smaller or equal to the  actual size of the "
         "containing file (65536)"},
        {Json{{"size", 1000}}, "size=1000", "Specified size is not multiple of 512"},
        {Json{{"offset", -1}}, "offset=-1", "Parameter 'offset' expects a non-negative number below 2^64"},
    };
    for (const auto& c : cases) {
        auto r = open_raw(p, c.opts);
        ASSERT_FALSE(r) << c.keyval;
        EXPECT_EQ(r.error().msg, c.msg);
        auto [rc, out] = run("qemu-system-x86_64 -M none -display none -blockdev driver=raw," + c.keyval +
                             ",file.driver=file,file.filename=" + p + ",node-name=r");
        EXPECT_NE(rc, 0);
        EXPECT_NE(out.find(c.msg), std::string::npos) << out;
    }
    auto s = open_raw(p, Json{{"offset", "x"}});
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().msg, "Invalid parameter type for 'offset', expected: integer");
    // size=0 and an offset at the very end are accepted (an empty disk), as by QEMU.
    auto z = open_raw(p, Json{{"offset", 65536}, {"size", 0}});
    ASSERT_TRUE(z) << z.error().msg;
    EXPECT_EQ((*z)->length(), 0u);
}

TEST(RawFormat, ReadOnlyFromFlagsOrChild) {
    TempDir d;
    const std::string p = make_file(d);
    OpenFlags ro;
    ro.read_only = true;
    auto r = open_raw(p, Json::object(), ro);
    ASSERT_TRUE(r);
    EXPECT_TRUE((*r)->read_only());
    std::vector<uint8_t> b(512);
    EXPECT_EQ(wr(**r, 0, b).error().sys_errno, EPERM);
}

} // namespace
} // namespace nemu::block
