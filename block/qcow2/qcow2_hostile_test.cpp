// Hostile images: patched headers and tables give an open error or EIO, never a crash, and a
// read-only open never writes the file.
#include "block/qcow2/qcow2_header.h"
#include "block/qcow2/qcow2_l2.h"
#include "block/qcow2/qcow2_mem_node.h"
#include "block/qcow2/qcow2_refcount.h"
#include "block/qcow2/qcow2_test_util.h"

namespace nemu::block::qcow2::test {
namespace {

// A good v3 image (64 KiB clusters) with data in the first clusters, as bytes.
std::vector<uint8_t> good_image(const std::string& extra_io = "") {
    TempDir d;
    const std::string img = d / "g.qcow2";
    EXPECT_EQ(sh("qemu-img create -q -f qcow2 " + img + " 4M"), 0);
    EXPECT_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 128k' " + extra_io + " " + img), 0);
    return slurp(img);
}

Result<std::shared_ptr<BlockNode>> open_mem(std::vector<uint8_t> bytes, bool ro) {
    auto mem = std::make_shared<testing::MemNode>(std::move(bytes), ro);
    FormatOpenContext ctx;
    ctx.flags.read_only = ro;
    ctx.backing_disabled = true;
    return qcow2_format().open(mem, ctx);
}

std::string open_error(std::vector<uint8_t> bytes) {
    auto r = open_mem(std::move(bytes), true);
    return r ? std::string("opened") : r.error().msg;
}

Result<> read_some(BlockNode& n, uint64_t off, uint64_t len) {
    std::vector<uint8_t> buf(len);
    iovec v{buf.data(), len};
    return n.read(off, std::span<const iovec>(&v, 1));
}

TEST(Qcow2Hostile, HeaderErrors) {
    const auto good = good_image();
    ASSERT_EQ(open_error(good), "opened");
    auto patch32 = [&](size_t off, uint32_t v) { auto b = good; put_be32(&b[off], v); return open_error(b); };
    auto patch64 = [&](size_t off, uint64_t v) { auto b = good; put_be64(&b[off], v); return open_error(b); };
    EXPECT_EQ(patch32(0, 0x12345678), "Image is not in qcow2 format");
    EXPECT_EQ(patch32(4, 4), "Unsupported qcow2 version 4");
    EXPECT_EQ(patch32(20, 30), "Unsupported cluster size: 2^30");
    EXPECT_EQ(patch32(20, 8), "Unsupported cluster size: 2^8");
    EXPECT_EQ(patch64(24, ~uint64_t{0}), "Image is too big");
    EXPECT_EQ(patch64(24, uint64_t{1} << 50), "L1 table is too small");
    EXPECT_EQ(patch32(32, 1), "Encrypted qcow2 images are not supported");
    EXPECT_EQ(patch32(32, 7), "Unsupported encryption method: 7");
    EXPECT_EQ(patch32(36, 0x10000000), "Active L1 table too large");
    EXPECT_EQ(patch64(40, 0x30001), "Invalid L1 table offset");
    EXPECT_EQ(patch64(40, uint64_t{1} << 40), "Invalid L1 table offset");
    EXPECT_EQ(patch64(48, 0x10200), "Invalid reference count table offset");
    EXPECT_EQ(patch64(48, uint64_t{1} << 50), "Invalid reference count table offset");
    EXPECT_EQ(patch32(56, 0x100000), "Reference count table too large");
    EXPECT_EQ(patch32(60, 100000), "Snapshot table too large");
    {
        auto b = good;
        put_be32(&b[60], 3);
        put_be64(&b[64], uint64_t{1} << 40);
        EXPECT_EQ(open_error(b), "Invalid snapshot table offset");
    }
    {
        auto b = good; // snapshot table of garbage inside the file: bounded, error or listed
        put_be32(&b[60], 2000);
        put_be64(&b[64], 0x30000);
        std::fill(b.begin() + 0x30000, b.begin() + 0x40000, 0xff);
        EXPECT_NE(open_error(b), "opened");
    }
    EXPECT_EQ(patch64(72, uint64_t{1} << 5), "Unsupported qcow2 feature(s): Unknown incompatible feature: 20");
    EXPECT_EQ(patch64(72, kIncompatExtendedL2), "qcow2 images with extended L2 entries (subclusters) are not supported");
    EXPECT_EQ(patch64(72, kIncompatDataFile), "qcow2 images with an external data file are not supported");
    EXPECT_EQ(patch32(96, 7), "Reference count entry width too large; may not exceed 64 bits");
    EXPECT_EQ(patch32(100, 8), "qcow2 header too short");
    EXPECT_EQ(patch32(100, 0x100000), "qcow2 header exceeds cluster size");
    EXPECT_EQ(patch32(100, 107), "qcow2 header length is not a multiple of 8");
    {
        auto b = good;
        put_be64(&b[8], 0x1000);
        put_be32(&b[16], 2000);
        EXPECT_EQ(open_error(b), "Backing file name too long");
    }
    {
        auto b = good;
        put_be64(&b[8], 0x20000);
        EXPECT_EQ(open_error(b), "Invalid backing file offset");
    }
    {
        auto b = good; // a header extension claiming more bytes than the cluster holds
        put_be32(&b[112], 0x12345678);
        put_be32(&b[116], 0xfffffff0);
        EXPECT_NE(open_error(b), "opened");
    }
    // The feature name table names unknown features (QEMU's message).
    {
        TempDir d;
        spit(d / "x", good);
        auto b = good;
        put_be64(&b[72], kIncompatDirty);
        EXPECT_EQ(open_error(b), "opened"); // read-only is allowed
        auto rw = open_mem(b, false); // repaired (qcow2_repair_test.cpp has the details)
        ASSERT_TRUE(rw) << rw.error().msg;
        EXPECT_FALSE((*rw)->info().dirty_flag);
    }
    // Truncated files.
    for (size_t n : {0ul, 50ul, 100ul, 70000ul, 200000ul}) {
        auto b = good;
        b.resize(std::min(n, b.size()));
        (void)open_error(b); // no crash; content checked by the other cases
    }
}

TEST(Qcow2Hostile, TableEntriesGiveEio) {
    const auto good = good_image();
    const uint64_t l1 = be64(&good[40]);
    const uint64_t l2 = be64(&good[l1]) & kL1OffsetMask;
    const uint64_t reft = be64(&good[48]);
    auto expect_eio = [&](std::vector<uint8_t> b, uint64_t off) {
        auto n = open_mem(std::move(b), true);
        ASSERT_TRUE(n) << n.error().msg;
        auto r = read_some(**n, off, 4096);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().sys_errno, EIO) << r.error().msg;
    };
    {
        auto b = good;
        put_be64(&b[l1], (uint64_t{1} << 40) | kOflagCopied); // L2 past the end
        expect_eio(b, 0);
        put_be64(&b[l1], l2 | 1); // reserved bit
        expect_eio(b, 0);
        put_be64(&b[l1], l2 + 512); // unaligned
        expect_eio(b, 0);
    }
    {
        auto b = good;
        put_be64(&b[l2], be64(&b[l2]) | (1ull << 57)); // reserved bit in the L2 entry
        expect_eio(b, 0);
        put_be64(&b[l2], 0x50200 | kOflagCopied); // unaligned data cluster
        expect_eio(b, 0);
        put_be64(&b[l2], kOflagCompressed | (uint64_t{1} << 45)); // compressed past the end
        expect_eio(b, 0);
        put_be64(&b[l2], kOflagCompressed | 0x100); // compressed garbage (the header)
        expect_eio(b, 0);
    }
    {
        auto b = good; // refcount block entry unaligned: writes that allocate fail with EIO
        put_be64(&b[reft], be64(&b[reft]) + 512);
        auto n = open_mem(b, false);
        ASSERT_TRUE(n);
        std::vector<uint8_t> d(4096, 1);
        auto r = write_buf(**n, 2 << 20, d);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().sys_errno, EIO);
    }
    {
        auto b = good; // refcount table entry pointing past the end
        put_be64(&b[reft], uint64_t{1} << 45);
        auto n = open_mem(b, false);
        ASSERT_TRUE(n);
        auto r = write_buf(**n, 2 << 20, std::vector<uint8_t>(10, 1));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().sys_errno, EIO);
    }
}

TEST(Qcow2Hostile, RefcountOverflowIsEnospcNotWraparound) {
    for (uint32_t bits : {1u, 2u, 16u}) {
        SCOPED_TRACE(bits);
        auto mem = std::make_shared<testing::MemNode>(std::vector<uint8_t>{});
        Qcow2CreateOptions o;
        o.cluster_size = 512;
        o.refcount_bits = bits;
        ASSERT_TRUE(qcow2_create(*mem, 1 << 20, o));
        const auto img = mem->data();
        auto h = parse_header(img, img.size());
        ASSERT_TRUE(h) << h.error().msg;
        std::vector<uint64_t> table(h->cluster_size() / 8);
        for (size_t i = 0; i < table.size(); ++i) table[i] = be64(&img[h->refcount_table_offset + i * 8]);
        std::atomic<uint64_t> end{img.size()};
        Refcounts rc(*mem, h->cluster_bits, h->refcount_order, table, h->refcount_table_offset, 1, end,
                     [](uint64_t, uint32_t) { return Result<>{}; });
        ASSERT_EQ(*rc.get(0), 1u); // the header
        for (uint64_t v = 1; v < rc.max_refcount(); ++v) ASSERT_TRUE(rc.update(0, +1));
        auto r = rc.update(0, +1);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().sys_errno, ENOSPC);
        EXPECT_EQ(*rc.get(0), rc.max_refcount());
        EXPECT_EQ(*rc.get(1), 1u); // the neighbour entry is untouched
        auto u = rc.update(100, -1); // a free cluster cannot drop below 0
        ASSERT_FALSE(u);
        EXPECT_EQ(u.error().sys_errno, EIO);
    }
}

TEST(Qcow2Hostile, ReadOnlyOpenNeverWrites) {
    auto good = good_image("-c 'write -z 1M 64k'");
    put_be64(&good[88], 1); // an autoclear bit: cleared only when opened read/write
    auto mem = std::make_shared<testing::MemNode>(good, false);
    FormatOpenContext ctx;
    ctx.flags.read_only = true;
    auto n = qcow2_format().open(mem, ctx);
    ASSERT_TRUE(n);
    for (uint64_t off = 0; off < (4u << 20); off += 65536) ASSERT_TRUE(read_some(**n, off, 65536));
    EXPECT_FALSE(write_buf(**n, 0, std::vector<uint8_t>(10, 0)));
    EXPECT_TRUE(mem->writes().empty());
    EXPECT_EQ(mem->data(), good);
}

} // namespace
} // namespace nemu::block::qcow2::test
