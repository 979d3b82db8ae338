// VhdNode against qemu-img: images qemu made read back as qemu-img convert -O raw gives
// them; what nemu writes reads back equal through qemu-img; map/info/probe; concurrency and
// interrupted allocations.
#include "block/vhd/vhd_node.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

#include "block/vhd/vhd_test_util.h"
#include "block/vhd/vpc_format.h"

namespace nemu::block::vhd {
namespace {

using namespace testutil;

struct Variant {
    std::string subformat;
    bool force_size;
    uint64_t size;
};

std::string create_cmd(const std::string& path, const Variant& v) {
    return fmt::format("qemu-img create -q -f vpc -o subformat={}{} '{}' {}", v.subformat,
                       v.force_size ? ",force_size=on" : "", path, v.size);
}

// Deterministic data at a few offsets, via qemu-io (the oracle writes it).
void qemu_write_patterns(const std::string& path, uint64_t size) {
    const uint64_t offs[] = {0, 4096, size / 3 & ~uint64_t{511}, (size - 4096) & ~uint64_t{511}};
    std::string cmd = "qemu-io -f vpc";
    int pat = 0x11;
    for (uint64_t o : offs) cmd += fmt::format(" -c 'write -P {} {} 4096'", pat++, o);
    ASSERT_EQ(run(cmd + " '" + path + "'"), 0);
}

class VhdOracle : public ::testing::TestWithParam<Variant> {};

TEST_P(VhdOracle, ReadsWhatQemuWrote) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    const auto img = dir.file("a.vhd");
    ASSERT_EQ(run(create_cmd(img, GetParam())), 0);
    const int64_t qsize = qemu_virtual_size(img);
    ASSERT_GT(qsize, 0);
    qemu_write_patterns(img, static_cast<uint64_t>(qsize));
    const auto expect = qemu_raw(img, dir.file("a.raw"));
    ASSERT_EQ(expect.size(), static_cast<size_t>(qsize));

    auto node = open_vhd(img, true);
    ASSERT_TRUE(node) << node.error().msg;
    EXPECT_EQ((*node)->length(), static_cast<uint64_t>(qsize));
    std::vector<uint8_t> got(expect.size());
    ASSERT_TRUE(node_read(**node, 0, got));
    EXPECT_TRUE(got == expect);
    EXPECT_EQ((*node)->is_dynamic(), GetParam().subformat == "dynamic");
}

TEST_P(VhdOracle, QemuReadsWhatNemuWrote) {
    TempDir dir;
    const auto img = dir.file("a.vhd");
    ASSERT_EQ(run(create_cmd(img, GetParam())), 0);
    qemu_write_patterns(img, static_cast<uint64_t>(qemu_virtual_size(img)));
    auto shadow = qemu_raw(img, dir.file("a.raw"));
    ASSERT_FALSE(shadow.empty());
    {
        auto node = open_vhd(img, false);
        ASSERT_TRUE(node) << node.error().msg;
        std::mt19937_64 rng(GetParam().size);
        for (int i = 0; i < 40; ++i) {
            // Random offsets and lengths, not sector aligned, some crossing blocks.
            const uint64_t len = 1 + rng() % (i % 4 == 0 ? 5u << 20 : 9000u);
            const uint64_t off = rng() % (shadow.size() - std::min<uint64_t>(len, shadow.size()) + 1);
            const uint64_t n = std::min<uint64_t>(len, shadow.size() - off);
            std::vector<uint8_t> buf(n);
            for (auto& b : buf) b = static_cast<uint8_t>(rng());
            ASSERT_TRUE(node_write(**node, off, buf));
            std::copy(buf.begin(), buf.end(), shadow.begin() + static_cast<std::ptrdiff_t>(off));
        }
        ASSERT_TRUE((*node)->flush());
        std::vector<uint8_t> back(shadow.size());
        ASSERT_TRUE(node_read(**node, 0, back));
        EXPECT_TRUE(back == shadow);
    }
    EXPECT_TRUE(qemu_raw(img, dir.file("b.raw")) == shadow);
    write_file(dir.file("expect.raw"), shadow);
    EXPECT_EQ(run("qemu-img compare -q -f vpc -F raw '" + img + "' '" + dir.file("expect.raw") + "'"), 0);
    // And nemu reopens its own output.
    auto again = open_vhd(img, true);
    ASSERT_TRUE(again) << again.error().msg;
    std::vector<uint8_t> back(shadow.size());
    ASSERT_TRUE(node_read(**again, 0, back));
    EXPECT_TRUE(back == shadow);
}

INSTANTIATE_TEST_SUITE_P(
    Images, VhdOracle,
    ::testing::Values(Variant{"dynamic", false, 1 << 20}, Variant{"dynamic", false, 10 << 20},
                      Variant{"dynamic", false, 33554944}, Variant{"dynamic", true, 10000000},
                      Variant{"dynamic", true, 64 << 20}, Variant{"fixed", false, 1 << 20},
                      Variant{"fixed", false, 10 << 20}, Variant{"fixed", true, 10000000},
                      Variant{"fixed", true, 5 << 20}),
    [](const auto& info) {
        return fmt::format("{}{}_{}", info.param.subformat, info.param.force_size ? "_force" : "", info.param.size);
    });

TEST(VhdNode, InfoAndProbe) {
    TempDir dir;
    const auto d = dir.file("d.vhd"), f = dir.file("f.vhd");
    ASSERT_EQ(run("qemu-img create -q -f vpc " + d + " 10M"), 0);
    ASSERT_EQ(run("qemu-img create -q -f vpc -o subformat=fixed " + f + " 10M"), 0);
    auto dn = open_vhd(d, true);
    ASSERT_TRUE(dn);
    NodeInfo i = (*dn)->info();
    EXPECT_EQ(i.format, "vpc");
    EXPECT_EQ(i.virtual_size, 10514432u);
    EXPECT_EQ(i.cluster_size, 2u << 20);
    EXPECT_TRUE(i.format_specific.is_null());
    EXPECT_EQ((*dn)->driver(), "vpc");
    auto fn = open_vhd(f, true);
    ASSERT_TRUE(fn);
    EXPECT_EQ((*fn)->info().cluster_size, 0u);
    EXPECT_EQ((*fn)->length(), static_cast<uint64_t>(qemu_virtual_size(f)));

    const auto head = read_file(d);
    EXPECT_EQ(vpc_format().probe(std::span<const uint8_t>(head.data(), 512), d), 100);
    const auto fixed = read_file(f);
    EXPECT_EQ(vpc_format().probe(std::span<const uint8_t>(fixed.data(), 512), f), 0);
    EXPECT_EQ(vpc_format().name, "vpc");
}

TEST(VhdNode, FormatOpenOptions) {
    TempDir dir;
    const auto d = dir.file("d.vhd");
    ASSERT_EQ(run("qemu-img create -q -f vpc -o force_size=on " + d + " 10000000"), 0);
    FormatOpenContext ctx;
    ctx.flags.read_only = true;
    auto n = vpc_format().open(open_file(d, true), ctx);
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ((*n)->length(), 10000384u);
    ctx.options = Json{{"force_size_calc", "chs"}};
    n = vpc_format().open(open_file(d, true), ctx);
    ASSERT_TRUE(n);
    // force_size=on writes the maximum geometry, which always means current_size (vpc.c).
    EXPECT_EQ((*n)->length(), 10000384u);
    ctx.options = Json{{"force_size_calc", "bogus"}};
    n = vpc_format().open(open_file(d, true), ctx);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().msg, "Invalid size calculation mode: 'bogus'");
}

TEST(VhdNode, ReadOnlyRefusesWritesAndNeverWrites) {
    TempDir dir;
    const auto d = dir.file("d.vhd");
    ASSERT_EQ(run("qemu-img create -q -f vpc " + d + " 4M"), 0);
    const auto before = read_file(d);
    auto n = open_vhd(d, true);
    ASSERT_TRUE(n);
    std::vector<uint8_t> buf(512, 1);
    auto r = node_write(**n, 0, buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EPERM);
    ASSERT_TRUE(node_read(**n, 0, buf));
    EXPECT_EQ(buf, std::vector<uint8_t>(512, 0));
    EXPECT_TRUE(read_file(d) == before);
}

// A protocol that reports its whole range as Data in its fd, as the file protocol does.
class MappingNode final : public BlockNode {
public:
    explicit MappingNode(std::shared_ptr<testing::FdNode> f) : BlockNode(f->read_only()), m_f(std::move(f)) {}
    std::string_view driver() const override { return "file"; }
    uint64_t length() const override { return m_f->length(); }
    Result<> read(uint64_t o, std::span<const iovec> v) override { return m_f->read(o, v); }
    Result<> write(uint64_t o, std::span<const iovec> v, bool fua) override { return m_f->write(o, v, fua); }
    Result<> flush() override { return m_f->flush(); }
    HostExtent map(uint64_t o, uint64_t len, bool) override { return {HostExtent::Kind::Data, len, m_f->fd(), o}; }
    NodeInfo info() const override { return m_f->info(); }

private:
    std::shared_ptr<testing::FdNode> m_f;
};

TEST(VhdNode, Map) {
    TempDir dir;
    const auto d = dir.file("d.vhd"), f = dir.file("f.vhd");
    ASSERT_EQ(run("qemu-img create -q -f vpc " + d + " 10M"), 0);
    ASSERT_EQ(run("qemu-img create -q -f vpc -o subformat=fixed " + f + " 4M"), 0);
    auto fixed = VhdNode::open(std::make_shared<MappingNode>(open_file(f, false)), false);
    ASSERT_TRUE(fixed);
    HostExtent e = (*fixed)->map(4096, 8192, false);
    EXPECT_EQ(e.kind, HostExtent::Kind::Data);
    EXPECT_EQ(e.host_offset, 4096u);
    EXPECT_EQ(e.length, 8192u);

    auto dyn = VhdNode::open(std::make_shared<MappingNode>(open_file(d, false)), false);
    ASSERT_TRUE(dyn);
    auto& n = **dyn;
    e = n.map(0, n.length(), false);
    EXPECT_EQ(e.kind, HostExtent::Kind::Zero);
    EXPECT_EQ(e.length, n.length()); // the zero run spans every unallocated block
    e = n.map(100, 10, true);
    EXPECT_EQ(e.kind, HostExtent::Kind::Indirect);
    std::vector<uint8_t> buf(1000, 7);
    ASSERT_TRUE(node_write(n, (2 << 20) + 100, buf));
    e = n.map((2 << 20) + 50, 4 << 20, true);
    EXPECT_EQ(e.kind, HostExtent::Kind::Data);
    EXPECT_EQ(e.length, (2u << 20) - 50); // to the block's end
    // The block was appended where the end footer was: after header, BAT and its bitmap.
    EXPECT_EQ(e.host_offset, 2048u + 512 + 50);
    e = n.map(0, 4 << 20, false);
    EXPECT_EQ(e.kind, HostExtent::Kind::Zero);
    EXPECT_EQ(e.length, 2u << 20); // stops at the allocated block
}

TEST(VhdNode, ConcurrentWritersIntoTheSameNewBlock) {
    TempDir dir;
    const auto d = dir.file("d.vhd");
    ASSERT_EQ(run("qemu-img create -q -f vpc " + d + " 8M"), 0);
    const uint64_t size0 = read_file(d).size();
    auto n = open_vhd(d, false);
    ASSERT_TRUE(n);
    constexpr int kThreads = 8;
    constexpr uint64_t kPiece = 64 * 1024;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            // Every thread writes its own pieces of the same two unallocated blocks.
            for (uint64_t blk = 0; blk < 2; ++blk) {
                std::vector<uint8_t> buf(kPiece, static_cast<uint8_t>(0x40 + t + 16 * blk));
                EXPECT_TRUE(node_write(**n, blk * (2 << 20) + t * kPiece, buf));
            }
        });
    }
    for (auto& t : threads) t.join();
    n->reset();
    std::vector<uint8_t> expect(8 << 20, 0);
    for (int t = 0; t < kThreads; ++t)
        for (uint64_t blk = 0; blk < 2; ++blk)
            std::fill_n(expect.begin() + static_cast<std::ptrdiff_t>(blk * (2 << 20) + t * kPiece), kPiece,
                        static_cast<uint8_t>(0x40 + t + 16 * blk));
    const auto raw = qemu_raw(d, dir.file("o.raw"));
    ASSERT_GE(raw.size(), expect.size());
    EXPECT_TRUE(std::equal(expect.begin(), expect.end(), raw.begin()));
    // Exactly two blocks were allocated (bitmap + 2 MiB each), none twice.
    EXPECT_EQ(read_file(d).size(), size0 + 2 * (512 + (2 << 20)));
}

// A dynamic image with 4 KiB blocks (qemu-img only makes 2 MiB ones): 16 blocks, BAT at 1536,
// "qem2" with the maximum geometry so the size is current_size.
std::vector<uint8_t> small_block_image() {
    namespace F = footer_field;
    std::vector<uint8_t> img(2048 + 512, 0);
    uint8_t* f = img.data();
    std::memcpy(f, "conectix", 8);
    store_be32(f + F::kDataOffset + 4, 512);
    std::memcpy(f + F::kCreatorApp, "qem2", 4);
    store_be32(f + F::kCurrentSize + 4, 64 * 1024);
    f[F::kCylinders] = 0xff;
    f[F::kCylinders + 1] = 0xff;
    f[F::kHeads] = 16;
    f[F::kSectorsPerTrack] = 255;
    store_be32(f + F::kDiskType, 3);
    store_be32(f + F::kChecksum, vhd_checksum(std::span<const uint8_t>(f, 512), F::kChecksum));
    uint8_t* h = img.data() + 512;
    std::memcpy(h, "cxsparse", 8);
    std::memset(h + dyn_field::kDataOffset, 0xff, 8);
    store_be32(h + dyn_field::kTableOffset + 4, 1536);
    store_be32(h + dyn_field::kMaxTableEntries, 16);
    store_be32(h + dyn_field::kBlockSize, 4096);
    std::memset(img.data() + 1536, 0xff, 512);
    std::memcpy(img.data() + 2048, f, 512);
    return img;
}

TEST(VhdNode, SmallBlocksBothWays) {
    TempDir dir;
    const auto a = dir.file("a.vhd"), b = dir.file("b.vhd");
    write_file(a, small_block_image());
    write_file(b, small_block_image());
    ASSERT_EQ(qemu_virtual_size(a), 64 * 1024);
    // qemu writes, nemu reads.
    ASSERT_EQ(run("qemu-io -f vpc -c 'write -P 0x61 5000 9000' -c 'write -P 0x62 60000 100' '" + a + "'"), 0);
    const auto expect = qemu_raw(a, dir.file("a.raw"));
    ASSERT_EQ(expect.size(), 64u * 1024);
    auto na = open_vhd(a, true);
    ASSERT_TRUE(na) << na.error().msg;
    EXPECT_EQ((*na)->block_size(), 4096u);
    std::vector<uint8_t> got(expect.size());
    ASSERT_TRUE(node_read(**na, 0, got));
    EXPECT_TRUE(got == expect);
    // nemu writes, qemu reads.
    std::vector<uint8_t> shadow(64 * 1024, 0);
    {
        auto nb = open_vhd(b, false);
        ASSERT_TRUE(nb) << nb.error().msg;
        std::mt19937 rng(7);
        for (int i = 0; i < 30; ++i) {
            const uint64_t off = rng() % shadow.size();
            const uint64_t n = std::min<uint64_t>(1 + rng() % 10000, shadow.size() - off);
            std::vector<uint8_t> buf(n, static_cast<uint8_t>(i + 1));
            ASSERT_TRUE(node_write(**nb, off, buf));
            std::fill_n(shadow.begin() + static_cast<std::ptrdiff_t>(off), n, static_cast<uint8_t>(i + 1));
        }
    }
    EXPECT_TRUE(qemu_raw(b, dir.file("b.raw")) == shadow);
}

} // namespace
} // namespace nemu::block::vhd
