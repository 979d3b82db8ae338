#include "block/file_node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

namespace nemu::block {
namespace {

// A scratch directory under /tmp (ext4 here, so O_DIRECT works), removed afterwards.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-file-node-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        path = p ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

// Runs a shell command, returns its exit status and output (stdout + stderr).
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

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
    std::fclose(f);
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::vector<uint8_t> out;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return out;
    std::array<uint8_t, 65536> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.insert(out.end(), buf.data(), buf.data() + n);
    std::fclose(f);
    return out;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
    return v;
}

Result<> do_read(BlockNode& n, uint64_t off, uint8_t* p, size_t len) {
    iovec v{p, len};
    return n.read(off, std::span<const iovec>(&v, 1));
}
Result<> do_write(BlockNode& n, uint64_t off, const uint8_t* p, size_t len, bool fua = false) {
    iovec v{const_cast<uint8_t*>(p), len};
    return n.write(off, std::span<const iovec>(&v, 1), fua);
}

std::shared_ptr<FileNode> open_ok(const std::string& path, OpenFlags flags = {}) {
    auto r = FileNode::open(FileOptions{path, flags, false});
    EXPECT_TRUE(r) << (r ? "" : r.error().msg);
    return r ? *r : nullptr;
}

int64_t blocks_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_blocks) : -1;
}

TEST(FileNode, MissingFileIsQemusError) {
    TempDir d;
    const std::string p = d.file("missing.img");
    auto r = open_file(FileOptions{p, {}, false});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Could not open '" + p + "': No such file or directory");
    EXPECT_EQ(r.error().sys_errno, ENOENT);
    // The oracle says the same (qemu-img repeats the prefix once more).
    auto [rc, out] = run("qemu-img info -f raw " + p);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find(r.error().msg), std::string::npos) << out;
}

TEST(FileNode, DirectoryIsRefused) {
    TempDir d;
    OpenFlags ro;
    ro.read_only = true;
    auto r = open_file(FileOptions{d.path, ro, false});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "'file' driver requires '" + d.path + "' to be a regular file");
    auto [rc, out] = run("qemu-img info -f raw " + d.path);
    EXPECT_NE(out.find(r.error().msg), std::string::npos) << out;
    // Read-write: open(2) itself fails, as for QEMU's -blockdev driver=file.
    auto rw = open_file(FileOptions{d.path, {}, false});
    ASSERT_FALSE(rw);
    EXPECT_EQ(rw.error().msg, "Could not open '" + d.path + "': Is a directory");
}

TEST(FileNode, HostDeviceNeedsADevice) {
    TempDir d;
    const std::string p = d.file("x.img");
    write_file(p, std::vector<uint8_t>(4096, 0));
    auto r = open_file(FileOptions{p, {}, true});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "'host_device' driver requires '" + p + "' to be either a character or block device");
}

TEST(FileNode, AutoReadOnlyFallsBackOnEperm) {
    TempDir d;
    const std::string p = d.file("immutable.img");
    write_file(p, pattern(4096, 1));
    // As root, permissions do not stop a read-write open; the immutable attribute does (EPERM).
    auto [rc, out] = run("chattr +i " + p);
    if (rc != 0) GTEST_SKIP() << "chattr +i unavailable here (needs root and ext4): " << out;
    auto plain = open_file(FileOptions{p, {}, false});
    OpenFlags aro;
    aro.auto_read_only = true;
    auto fallback = FileNode::open(FileOptions{p, aro, false});
    uint8_t b[16] = {};
    Result<> wr = fallback ? do_write(**fallback, 0, b, sizeof b) : Result<>{};
    run("chattr -i " + p);
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().msg, "Could not open '" + p + "': Operation not permitted");
    ASSERT_TRUE(fallback) << fallback.error().msg;
    EXPECT_TRUE((*fallback)->read_only());
    ASSERT_FALSE(wr);
    EXPECT_EQ(wr.error().sys_errno, EPERM);
}

TEST(FileNode, ReadWriteRoundTripAndEofZeroes) {
    TempDir d;
    const std::string p = d.file("a.img");
    auto data = pattern(1000, 3);
    write_file(p, data);
    auto n = open_ok(p);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->driver(), "file");
    EXPECT_EQ(n->length(), 1000u);
    // Two iovecs across EOF: the part past the end reads as zeroes.
    std::vector<uint8_t> a(250, 0xee), b(74, 0xee);
    iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    ASSERT_TRUE(n->read(700, v));
    EXPECT_TRUE(std::equal(a.begin(), a.end(), data.begin() + 700));
    EXPECT_TRUE(std::equal(b.begin(), b.begin() + 50, data.begin() + 950));
    EXPECT_TRUE(std::all_of(b.begin() + 50, b.end(), [](uint8_t x) { return x == 0; }));
    // Reads are bounded by the length rounded up to 512.
    auto past = do_read(*n, 1024, a.data(), 1);
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().sys_errno, EINVAL);

    // Writes extend the file and length() follows.
    auto w = pattern(5000, 9);
    ASSERT_TRUE(do_write(*n, 10000, w.data(), w.size(), true));
    EXPECT_EQ(n->length(), 15000u);
    ASSERT_TRUE(n->flush());
    auto on_disk = read_file(p);
    ASSERT_EQ(on_disk.size(), 15000u);
    EXPECT_TRUE(std::equal(w.begin(), w.end(), on_disk.begin() + 10000));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), on_disk.begin()));

    const NodeInfo info = n->info();
    EXPECT_EQ(info.format, "file");
    EXPECT_EQ(info.filename, p);
    EXPECT_EQ(info.virtual_size, 15000u);
    EXPECT_EQ(info.actual_size, blocks_of(p) * 512);

    const HostExtent e = n->map(4096, 8192, true);
    EXPECT_EQ(e.kind, HostExtent::Kind::Data);
    EXPECT_EQ(e.fd, n->fd());
    EXPECT_EQ(e.host_offset, 4096u);
    EXPECT_EQ(e.length, 8192u);
}

TEST(FileNode, ReadOnlyRefusesWrites) {
    TempDir d;
    const std::string p = d.file("ro.img");
    write_file(p, pattern(4096, 1));
    OpenFlags f;
    f.read_only = true;
    auto n = open_ok(p, f);
    ASSERT_TRUE(n);
    uint8_t b[512] = {};
    EXPECT_EQ(do_write(*n, 0, b, sizeof b).error().sys_errno, EPERM);
    EXPECT_EQ(n->truncate(8192).error().sys_errno, EPERM);
    EXPECT_EQ(n->write_zeroes(0, 512, false).error().sys_errno, EPERM);
    EXPECT_EQ(read_file(p), pattern(4096, 1));
}

TEST(FileNode, TruncateGrowsAndShrinks) {
    TempDir d;
    const std::string p = d.file("t.img");
    write_file(p, pattern(4096, 1));
    auto n = open_ok(p);
    ASSERT_TRUE(n);
    ASSERT_TRUE(n->truncate(1 << 20));
    EXPECT_EQ(n->length(), 1u << 20);
    EXPECT_EQ(std::filesystem::file_size(p), 1u << 20);
    ASSERT_TRUE(n->truncate(512));
    EXPECT_EQ(n->length(), 512u);
    EXPECT_EQ(std::filesystem::file_size(p), 512u);
}

// O_DIRECT: unaligned offsets, lengths and buffers bounce through aligned memory, and the
// bytes around a partial block survive (read-modify-write).
TEST(FileNode, DirectIoUnalignedRoundTrips) {
    TempDir d;
    const std::string p = d.file("direct.img");
    const auto base = pattern(3 << 20, 5);
    write_file(p, base);
    OpenFlags f;
    f.cache.direct = true;
    auto r = FileNode::open(FileOptions{p, f, false});
    ASSERT_TRUE(r) << r.error().msg;
    auto n = *r;
    ASSERT_GE(n->request_alignment(), 512u);
    ASSERT_TRUE(n->direct());
    const int fl = ::fcntl(n->fd(), F_GETFL);
    EXPECT_TRUE(fl & O_DIRECT);

    auto expect = base;
    // Tiny unaligned write from an odd buffer address.
    std::vector<uint8_t> raw(64);
    uint8_t* odd = raw.data() + 3;
    std::memcpy(odd, "\x11\x22\x33", 3);
    ASSERT_TRUE(do_write(*n, 4097, odd, 3));
    std::memcpy(&expect[4097], odd, 3);
    // A write larger than the bounce chunk, unaligned on both ends.
    auto big = pattern(kFileBounceChunk * 2 + 1000, 77);
    ASSERT_TRUE(do_write(*n, 12345, big.data() + 1, big.size() - 1));
    std::copy(big.begin() + 1, big.end(), expect.begin() + 12345);
    // Aligned offset and length but a misaligned buffer (bounce without RMW).
    std::vector<uint8_t> al(8192 + 1);
    for (size_t i = 0; i < al.size(); ++i) al[i] = static_cast<uint8_t>(i ^ 0x5a);
    ASSERT_TRUE(do_write(*n, 2 << 20, al.data() + 1, 8192));
    std::copy(al.begin() + 1, al.end(), expect.begin() + (2 << 20));
    EXPECT_EQ(read_file(p), expect);

    // Reads back through the node: unaligned, across chunks, into odd buffers.
    std::vector<uint8_t> back(big.size() + 1);
    ASSERT_TRUE(do_read(*n, 12345, back.data() + 1, big.size() - 1));
    EXPECT_TRUE(std::equal(back.begin() + 1, back.end() - 1, expect.begin() + 12345));
    ASSERT_TRUE(do_read(*n, 4095, back.data() + 1, 7));
    EXPECT_TRUE(std::equal(back.begin() + 1, back.begin() + 8, expect.begin() + 4095));
    // Unaligned map ranges are Indirect under O_DIRECT, aligned ones Data.
    EXPECT_EQ(n->map(1, 512, false).kind, HostExtent::Kind::Indirect);
    EXPECT_EQ(n->map(0, n->request_alignment(), false).kind, HostExtent::Kind::Data);
}

TEST(FileNode, DirectIoEofZeroFill) {
    TempDir d;
    const std::string p = d.file("tail.img");
    const auto data = pattern(1000, 8);
    write_file(p, data);
    OpenFlags f;
    f.cache.direct = true;
    auto n = open_ok(p, f);
    ASSERT_TRUE(n);
    std::vector<uint8_t> b(74, 0xee); // up to 1024: the length rounded up to 512
    ASSERT_TRUE(do_read(*n, 950, b.data(), b.size()));
    EXPECT_TRUE(std::equal(b.begin(), b.begin() + 50, data.begin() + 950));
    EXPECT_TRUE(std::all_of(b.begin() + 50, b.end(), [](uint8_t x) { return x == 0; }));
    // An aligned direct read across EOF (no bounce) zero-fills too.
    auto buf = std::unique_ptr<uint8_t, decltype(&std::free)>(
        static_cast<uint8_t*>(std::aligned_alloc(4096, 8192)), &std::free);
    std::memset(buf.get(), 0xee, 8192);
    const uint32_t a = std::max<uint32_t>(n->request_alignment(), 512);
    ASSERT_EQ(a, 512u) << "this file system's O_DIRECT alignment exceeds the 1000-byte file";
    ASSERT_TRUE(do_read(*n, 512, buf.get(), 512));
    EXPECT_TRUE(std::equal(data.begin() + 512, data.end(), buf.get()));
    EXPECT_TRUE(std::all_of(buf.get() + 488, buf.get() + 512, [](uint8_t x) { return x == 0; }));
}

TEST(FileNode, DiscardPunchesHolesOnlyWithUnmap) {
    TempDir d;
    const std::string p = d.file("discard.img");
    write_file(p, pattern(4 << 20, 2));
    {
        auto n = open_ok(p); // discard=ignore: no effect
        ASSERT_TRUE(n);
        ASSERT_TRUE(n->discard(1 << 20, 2 << 20));
    }
    ::sync();
    const int64_t before = blocks_of(p);
    EXPECT_EQ(read_file(p), pattern(4 << 20, 2));
    OpenFlags f;
    f.discard = DiscardMode::Unmap;
    auto n = open_ok(p, f);
    ASSERT_TRUE(n);
    ASSERT_TRUE(n->discard(1 << 20, 2 << 20));
    EXPECT_LE(blocks_of(p), before - (2 << 20) / 512 + 16);
    EXPECT_EQ(n->length(), 4u << 20); // KEEP_SIZE
    std::vector<uint8_t> b(2 << 20, 0xee);
    ASSERT_TRUE(do_read(*n, 1 << 20, b.data(), b.size()));
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }));
    // Past the end: nothing to do, no error.
    EXPECT_TRUE(n->discard(8 << 20, 4096));
}

TEST(FileNode, WriteZeroesUnmapsAndExtends) {
    TempDir d;
    const std::string p = d.file("zero.img");
    const auto base = pattern(2 << 20, 4);
    write_file(p, base);
    OpenFlags f;
    f.discard = DiscardMode::Unmap;
    auto n = open_ok(p, f);
    ASSERT_TRUE(n);
    ::sync();
    const int64_t before = blocks_of(p);
    ASSERT_TRUE(n->write_zeroes(0, 1 << 20, true));
    EXPECT_LE(blocks_of(p), before - (1 << 20) / 512 + 16);
    // Beyond EOF: the file grows and reads zeroes.
    ASSERT_TRUE(n->write_zeroes((2 << 20) - 100, 10000, false));
    EXPECT_EQ(n->length(), (2u << 20) + 9900);
    auto disk = read_file(p);
    ASSERT_EQ(disk.size(), (2u << 20) + 9900);
    EXPECT_TRUE(std::all_of(disk.begin(), disk.begin() + (1 << 20), [](uint8_t x) { return x == 0; }));
    EXPECT_TRUE(std::equal(disk.begin() + (1 << 20), disk.begin() + (2 << 20) - 100, base.begin() + (1 << 20)));
    EXPECT_TRUE(std::all_of(disk.end() - 10000, disk.end(), [](uint8_t x) { return x == 0; }));
}

// host_device over a loop device (needs root and /dev/loop-control).
TEST(FileNode, HostDeviceOnLoopDevice) {
    TempDir d;
    const std::string p = d.file("backing.img");
    write_file(p, pattern(1 << 20, 6));
    auto [rc, dev] = run("losetup -f --show " + p);
    if (rc != 0) GTEST_SKIP() << "no loop device available: " << dev;
    while (!dev.empty() && (dev.back() == '\n' || dev.back() == ' ')) dev.pop_back();
    auto as_file = open_file(FileOptions{dev, {}, false});
    OpenFlags f;
    f.cache.direct = true;
    auto r = FileNode::open(FileOptions{dev, f, true});
    std::vector<uint8_t> b(100);
    Result<> rd = r ? do_read(**r, 7, b.data(), b.size()) : Result<>{};
    Result<> grow = r ? (*r)->truncate(2 << 20) : Result<>{};
    const std::string drv = r ? std::string((*r)->driver()) : "";
    const uint64_t len = r ? (*r)->length() : 0;
    r = fail("closed");
    run("losetup -d " + dev);
    ASSERT_FALSE(as_file);
    EXPECT_EQ(as_file.error().msg, "'file' driver requires '" + dev + "' to be a regular file");
    ASSERT_TRUE(rd);
    EXPECT_EQ(drv, "host_device");
    EXPECT_EQ(len, 1u << 20);
    const auto expect = pattern(1 << 20, 6);
    EXPECT_TRUE(std::equal(b.begin(), b.end(), expect.begin() + 7));
    ASSERT_FALSE(grow);
    EXPECT_EQ(grow.error().msg, "Cannot grow device files");
}

} // namespace
} // namespace nemu::block
