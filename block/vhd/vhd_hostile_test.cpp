// Hostile and damaged VHD images: a clear error at open (QEMU's message where QEMU has one,
// checked against qemu-img itself) or EIO on the request; never a crash or a write. Also
// allocations interrupted at every step leave an image qemu-img still reads correctly.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "block/vhd/vhd_test_util.h"

namespace nemu::block::vhd {
namespace {

using namespace testutil;

void put_be32(std::vector<uint8_t>& b, size_t off, uint32_t v) { store_be32(b.data() + off, v); }
void put_be64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
    store_be32(b.data() + off, static_cast<uint32_t>(v >> 32));
    store_be32(b.data() + off + 4, static_cast<uint32_t>(v));
}
void fix_footer(std::vector<uint8_t>& b, size_t off) {
    const auto f = std::span<const uint8_t>(b.data() + off, kFooterSize);
    put_be32(b, off + footer_field::kChecksum, vhd_checksum(f, footer_field::kChecksum));
}

class Hostile : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(m_dir.ok());
        ASSERT_EQ(run("qemu-img create -q -f vpc " + m_dir.file("d.vhd") + " 10M"), 0);
        ASSERT_EQ(run("qemu-io -f vpc -c 'write -P 0x5a 0 4096' " + m_dir.file("d.vhd") + " >/dev/null"), 0);
        ASSERT_EQ(run("qemu-img create -q -f vpc -o subformat=fixed " + m_dir.file("f.vhd") + " 1M"), 0);
        m_dyn = read_file(m_dir.file("d.vhd"));
        m_fixed = read_file(m_dir.file("f.vhd"));
    }
    // Writes `bytes` as x.vhd, opens it in nemu (read-only) and checks that nemu's error is
    // `msg` and, when qemu_agrees, that qemu-img info fails with the same message.
    void expect_open_error(const std::vector<uint8_t>& bytes, const std::string& msg, bool qemu_agrees = true) {
        const auto path = m_dir.file("x.vhd");
        write_file(path, bytes);
        auto n = open_vhd(path, true);
        ASSERT_FALSE(n) << "opened: " << msg;
        EXPECT_EQ(n.error().msg, msg);
        if (qemu_agrees) {
            std::string out;
            EXPECT_NE(run("qemu-img info -f vpc " + path, &out), 0);
            EXPECT_NE(out.find(msg), std::string::npos) << out;
        }
        EXPECT_TRUE(read_file(path) == bytes); // opening never writes
    }
    TempDir m_dir;
    std::vector<uint8_t> m_dyn, m_fixed;
    static constexpr size_t kHdr = 512; // the dynamic header of qemu-img's images
};

TEST_F(Hostile, BadFooterChecksum) {
    auto b = m_dyn;
    b[10] ^= 1;
    expect_open_error(b, "Incorrect header checksum");
    auto f = m_fixed;
    f[f.size() - 512 + 30] ^= 1;
    expect_open_error(f, "Incorrect header checksum");
}

TEST_F(Hostile, NoFooter) {
    auto b = m_fixed;
    b[b.size() - 512] = 'X';
    expect_open_error(b, "invalid VPC image");
    expect_open_error(std::vector<uint8_t>(100, 0), "invalid VPC image");
}

TEST_F(Hostile, EndFooterMustBeFixed) {
    auto b = m_fixed;
    put_be32(b, b.size() - 512 + footer_field::kDiskType, 3);
    fix_footer(b, b.size() - 512);
    expect_open_error(b, "invalid VPC image");
}

TEST_F(Hostile, DifferencingRefused) {
    auto b = m_dyn;
    put_be32(b, footer_field::kDiskType, 4);
    fix_footer(b, 0);
    expect_open_error(b, "Differencing VHD images are not supported", false);
}

TEST_F(Hostile, DynamicHeaderProblems) {
    auto b = m_dyn;
    std::memcpy(b.data() + kHdr, "xxxxxxxx", 8);
    expect_open_error(b, "Invalid header magic");
    b = m_dyn;
    put_be64(b, footer_field::kDataOffset, 1ull << 40);
    fix_footer(b, 0);
    expect_open_error(b, "Invalid header magic");
    for (uint32_t bs : {3000u, 256u}) {
        b = m_dyn;
        put_be32(b, kHdr + dyn_field::kBlockSize, bs);
        expect_open_error(b, fmt::format("Invalid block size {}", bs));
    }
    b = m_dyn;
    put_be32(b, kHdr + dyn_field::kBlockSize, 1u << 30); // QEMU accepts; nemu caps it
    expect_open_error(b, "Invalid block size 1073741824", false);
}

TEST_F(Hostile, BatProblems) {
    auto b = m_dyn;
    put_be32(b, kHdr + dyn_field::kMaxTableEntries, 0x7fffffff);
    expect_open_error(b, "Max Table Entries too large (2147483647)");
    b = m_dyn;
    put_be32(b, kHdr + dyn_field::kMaxTableEntries, 1);
    expect_open_error(b, "Page table too small");
    const std::string truncated =
        "block-vpc: free_data_block_offset points after the end of file. The image has been truncated.";
    b = m_dyn;
    put_be64(b, kHdr + dyn_field::kTableOffset, 1ull << 40);
    expect_open_error(b, truncated);
    b = m_dyn;
    put_be32(b, kHdr + dyn_field::kMaxTableEntries, 0x1fffffff); // BAT far past the end
    expect_open_error(b, truncated, false);
    b = m_dyn;
    put_be32(b, 1536 + 4, 100000); // a BAT entry past EOF
    expect_open_error(b, truncated);
    b = m_dyn;
    ASSERT_GT(b.size(), 8192u);
    b.erase(b.end() - 4096, b.end()); // the allocated block cut short
    expect_open_error(b, truncated);
}

TEST_F(Hostile, SizeTooLarge) {
    auto b = m_dyn;
    std::memcpy(b.data() + footer_field::kCreatorApp, "qem2", 4);
    put_be64(b, footer_field::kCurrentSize, 1ull << 50);
    fix_footer(b, 0);
    expect_open_error(b, "File too large");
}

TEST_F(Hostile, BlockOverlappingMetadataIsEio) {
    auto b = m_dyn;
    put_be32(b, 1536 + 4, 1); // block 1 at sector 1: over the dynamic header
    const auto path = m_dir.file("x.vhd");
    write_file(path, b);
    auto n = open_vhd(path, false);
    ASSERT_TRUE(n) << n.error().msg; // QEMU opens it too
    std::vector<uint8_t> buf(512);
    auto r = node_read(**n, 2 << 20, buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EIO);
    r = node_write(**n, 2 << 20, buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EIO);
    EXPECT_TRUE(read_file(path) == b);
    ASSERT_TRUE(node_read(**n, 0, buf)); // block 0 is fine
    EXPECT_EQ(buf[0], 0x5a);
}

TEST_F(Hostile, FixedFooterClaimingMoreThanTheFile) {
    auto b = m_fixed;
    const size_t o = b.size() - 512;
    std::memcpy(b.data() + o + footer_field::kCreatorApp, "win ", 4);
    put_be64(b, o + footer_field::kCurrentSize, 64 << 20);
    fix_footer(b, o);
    const auto path = m_dir.file("x.vhd");
    write_file(path, b);
    auto n = open_vhd(path, false);
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ((*n)->length(), 64u << 20);
    std::vector<uint8_t> buf(4096, 1);
    ASSERT_TRUE(node_read(**n, 32 << 20, buf)); // past the data: zeroes, as QEMU
    EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
    auto r = node_write(**n, o - 100, buf); // would hit the footer
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EIO);
    EXPECT_TRUE(read_file(path) == b);
}

// Random byte damage in the metadata: open fails cleanly or I/O is bounded.
TEST_F(Hostile, RandomMetadataDamage) {
    std::mt19937 rng(1234);
    const auto path = m_dir.file("x.vhd");
    for (int i = 0; i < 300; ++i) {
        auto b = m_dyn;
        for (int k = 0; k < 4; ++k) b[rng() % 2048] = static_cast<uint8_t>(rng());
        if (i % 2) fix_footer(b, 0);
        write_file(path, b);
        auto n = open_vhd(path, true);
        if (!n) continue;
        std::vector<uint8_t> buf(64 * 1024);
        const uint64_t len = (*n)->length();
        for (uint64_t off : {uint64_t{0}, len / 2, len > buf.size() ? len - buf.size() : 0})
            if (off + buf.size() <= len) (void)node_read(**n, off, buf);
        EXPECT_TRUE(read_file(path) == b);
    }
}

// A file child that dies (fails every request) after a given number of writes and flushes:
// the state a killed process leaves behind.
class DyingNode final : public BlockNode {
public:
    DyingNode(std::shared_ptr<testing::FdNode> f, int budget) : BlockNode(false), m_f(std::move(f)), m_budget(budget) {}
    std::string_view driver() const override { return "file"; }
    uint64_t length() const override { return m_f->length(); }
    Result<> read(uint64_t o, std::span<const iovec> v) override { return m_f->read(o, v); }
    Result<> write(uint64_t o, std::span<const iovec> v, bool fua) override {
        if (m_budget-- <= 0) return io_error(EIO, "dead");
        return m_f->write(o, v, fua);
    }
    Result<> flush() override {
        if (m_budget-- <= 0) return io_error(EIO, "dead");
        return m_f->flush();
    }
    NodeInfo info() const override { return m_f->info(); }

private:
    std::shared_ptr<testing::FdNode> m_f;
    int m_budget;
};

TEST_F(Hostile, InterruptedAllocationLeavesAValidImage) {
    const auto path = m_dir.file("c.vhd");
    std::vector<uint8_t> data(3000, 0xc3);
    std::vector<uint8_t> old_raw;
    for (int budget = 0; budget < 8; ++budget) {
        write_file(path, m_dyn);
        if (old_raw.empty()) old_raw = qemu_raw(path, m_dir.file("old.raw"));
        ASSERT_FALSE(old_raw.empty());
        auto n = VhdNode::open(std::make_shared<DyingNode>(open_file(path, false), budget), false);
        ASSERT_TRUE(n) << n.error().msg;
        const uint64_t off = (4 << 20) + 777; // an unallocated block
        const bool done = static_cast<bool>(node_write(**n, off, data));
        n->reset();
        auto raw = qemu_raw(path, m_dir.file("now.raw"));
        ASSERT_EQ(raw.size(), old_raw.size()) << "qemu-img cannot read the image after " << budget << " writes";
        auto expect = old_raw;
        if (done) std::copy(data.begin(), data.end(), expect.begin() + static_cast<std::ptrdiff_t>(off));
        EXPECT_TRUE(raw == expect) << "budget " << budget;
        // nemu reopens it too and can complete the write.
        auto again = open_vhd(path, false);
        ASSERT_TRUE(again) << again.error().msg;
        ASSERT_TRUE(node_write(**again, off, data));
        again->reset();
        expect = old_raw;
        std::copy(data.begin(), data.end(), expect.begin() + static_cast<std::ptrdiff_t>(off));
        EXPECT_TRUE(qemu_raw(path, m_dir.file("now.raw")) == expect) << "budget " << budget;
        if (done) break;
    }
}

} // namespace
} // namespace nemu::block::vhd
