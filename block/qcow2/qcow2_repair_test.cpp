// Dirty-bit repair (qcow2_repair.h): images left dirty by QEMU's lazy refcounts, refcounts
// made too low or too high by hand, broken refcount structures (rebuild) and hostile images,
// checked with qemu-img check / convert as the oracle.
#include "block/qcow2/qcow2_header.h"
#include "block/qcow2/qcow2_l2.h"
#include "block/qcow2/qcow2_mem_node.h"
#include "block/qcow2/qcow2_repair.h"
#include "block/qcow2/qcow2_test_util.h"

namespace nemu::block::qcow2::test {
namespace {

constexpr uint64_t kCs = 65536;

bool dirty_bit(const std::string& img) {
    const auto b = slurp(img);
    return (be64(&b[72]) & kIncompatDirty) != 0;
}

std::string raw_of(const TempDir& d, const std::string& img) {
    const std::string out = d / "expect.raw";
    EXPECT_EQ(sh("qemu-img convert -U -f qcow2 -O raw " + img + " " + out), 0);
    const auto v = slurp(out);
    return std::string(v.begin(), v.end());
}

std::string read_back(const std::string& img, bool ro) {
    auto n = open_image(img, ro);
    EXPECT_TRUE(n) << (n ? "" : n.error().msg);
    if (!n) return {};
    const auto v = read_all(**n);
    return std::string(v.begin(), v.end());
}

// Offset of cluster c's 16-bit refcount entry (first refcount block, default refcount_bits).
uint64_t refcount_entry(const std::vector<uint8_t>& b, uint64_t c) {
    const uint64_t table = be64(&b[48]);
    return be64(&b[table]) + 2 * c;
}

// A QEMU-made dirty image: lazy refcounts, writes, then SIGKILL before the refcounts are
// written back (qemu-io's sigraise).
void make_crashed_image(const std::string& img) {
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on " + img + " 8M"), 0);
    sh("qemu-io -f qcow2 -c 'write -P 0x11 0 256k' -c 'write -P 0x22 3M 64k' -c 'write -z 5M 64k' "
       "-c 'sigraise 9' " + img);
    ASSERT_TRUE(dirty_bit(img));
    std::string out;
    ASSERT_NE(sh("qemu-img check " + img, &out), 0) << "expected refcount errors before the repair";
}

TEST(Qcow2Repair, LazyRefcountCrashRepairedOnReadWriteOpen) {
    TempDir d;
    const std::string img = d / "a.qcow2";
    make_crashed_image(img);
    const std::string expect = raw_of(d, img);

    // Read-only: readable, and not a byte changes.
    const auto before = slurp(img);
    EXPECT_EQ(read_back(img, true), expect);
    EXPECT_EQ(slurp(img), before);

    // Read-write: repaired, bit cleared, same data, and allocation works afterwards.
    {
        auto n = open_image(img, false);
        ASSERT_TRUE(n) << n.error().msg;
        EXPECT_FALSE((*n)->info().dirty_flag);
        EXPECT_EQ(read_all(**n), std::vector<uint8_t>(expect.begin(), expect.end()));
        ASSERT_TRUE(write_buf(**n, 6 << 20, std::vector<uint8_t>(kCs, 0x33)));
        ASSERT_TRUE((*n)->flush());
    }
    EXPECT_FALSE(dirty_bit(img));
    expect_check_clean(img);
    std::string e2 = expect;
    std::fill_n(e2.begin() + (6 << 20), kCs, '\x33');
    EXPECT_EQ(raw_of(d, img), e2);
}

TEST(Qcow2Repair, TooLowAndLeakedRefcountsFixedInPlace) {
    TempDir d;
    const std::string img = d / "b.qcow2";
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 " + img + " 8M"), 0);
    ASSERT_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 192k' " + img), 0);
    const std::string expect = raw_of(d, img);
    auto b = slurp(img);
    // The last cluster holds data (qemu-img puts the data after L1/L2): drop its refcount to 0,
    // give a cluster past the data a leaked refcount of 1, and set the dirty bit.
    const uint64_t clusters = b.size() / kCs;
    put_be16(&b[refcount_entry(b, clusters - 1)], 0);
    b.resize(b.size() + kCs, 0xee);
    put_be16(&b[refcount_entry(b, clusters)], 1);
    put_be64(&b[72], be64(&b[72]) | kIncompatDirty);
    spit(img, b);
    std::string out;
    ASSERT_NE(sh("qemu-img check " + img, &out), 0);

    auto mem = std::make_shared<testing::MemNode>(b);
    Header h = *parse_header(std::span<const uint8_t>(b).first(kCs), b.size());
    std::vector<uint8_t> sector0(b.begin(), b.begin() + 512);
    auto rep = repair_dirty_image(*mem, h, sector0);
    ASSERT_TRUE(rep) << rep.error().msg;
    EXPECT_FALSE(rep->rebuilt);
    EXPECT_EQ(rep->errors_fixed, 1u);
    EXPECT_EQ(rep->leaks_fixed, 1u);
    // The dirty bit goes last, after the refcount block.
    const auto w = mem->writes();
    ASSERT_GE(w.size(), 2u);
    EXPECT_EQ(w.back().offset, 0u);
    for (size_t i = 0; i + 1 < w.size(); ++i) EXPECT_NE(w[i].offset, 0u);
    spit(img, mem->data());
    EXPECT_FALSE(dirty_bit(img));
    expect_check_clean(img);
    EXPECT_EQ(raw_of(d, img), expect);
}

TEST(Qcow2Repair, BrokenRefcountTableRebuilt) {
    TempDir d;
    const std::string img = d / "c.qcow2";
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on " + img + " 8M"), 0);
    ASSERT_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x7e 64k 300k' -c 'write -P 0x01 7M 4k' " + img), 0);
    const std::string expect = raw_of(d, img);
    auto b = slurp(img);
    const uint64_t table = be64(&b[48]);
    put_be64(&b[table], 0x123400); // unaligned refcount block: only a rebuild can help
    put_be64(&b[72], be64(&b[72]) | kIncompatDirty);
    spit(img, b);
    {
        auto n = open_image(img, false);
        ASSERT_TRUE(n) << n.error().msg;
        ASSERT_TRUE(write_buf(**n, 1 << 20, std::vector<uint8_t>(kCs, 0x44)));
    }
    EXPECT_FALSE(dirty_bit(img));
    EXPECT_NE(be64(&slurp(img)[48]), table); // a new table
    expect_check_clean(img);
    std::string e2 = expect;
    std::fill_n(e2.begin() + (1 << 20), kCs, '\x44');
    EXPECT_EQ(raw_of(d, img), e2);
}

TEST(Qcow2Repair, SnapshotsKeepSharedRefcounts) {
    TempDir d;
    const std::string img = d / "s.qcow2";
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on " + img + " 4M"), 0);
    ASSERT_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x61 0 128k' " + img), 0);
    ASSERT_EQ(sh("qemu-img snapshot -c snap1 " + img), 0);
    sh("qemu-io -f qcow2 -c 'write -P 0x62 64k 128k' -c 'sigraise 9' " + img);
    ASSERT_TRUE(dirty_bit(img));
    const std::string expect = raw_of(d, img);
    EXPECT_EQ(read_back(img, false), expect);
    EXPECT_FALSE(dirty_bit(img));
    expect_check_clean(img);
    std::string out;
    ASSERT_EQ(sh("qemu-img snapshot -l " + img, &out), 0);
    EXPECT_NE(out.find("snap1"), std::string::npos);
}

// Hostile dirty images: a clean error, no write to the file.
TEST(Qcow2Repair, HostileImagesFailWithoutWriting) {
    TempDir d;
    const std::string img = d / "h.qcow2";
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o refcount_bits=1 " + img + " 4M"), 0);
    ASSERT_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 128k' " + img), 0);
    auto good = slurp(img);
    put_be64(&good[72], be64(&good[72]) | kIncompatDirty);
    const uint64_t l2 = be64(&good[be64(&good[40])]) & kL1OffsetMask;

    auto try_open = [](std::vector<uint8_t> b) {
        auto mem = std::make_shared<testing::MemNode>(std::move(b));
        FormatOpenContext ctx;
        ctx.backing_disabled = true;
        auto r = qcow2_format().open(mem, ctx);
        if (r) return std::string("opened");
        EXPECT_TRUE(mem->writes().empty()) << r.error().msg;
        return r.error().msg;
    };
    const std::string err = "Could not repair dirty image: Input/output error";
    {   // L2 entry past the end of the file
        auto b = good;
        put_be64(&b[l2 + 8 * 5], kOflagCopied | (uint64_t{1} << 40));
        EXPECT_EQ(try_open(b), err);
    }
    {   // L1 entry past the end
        auto b = good;
        put_be64(&b[be64(&b[40])], kOflagCopied | (uint64_t{1} << 40));
        EXPECT_EQ(try_open(b), err);
    }
    {   // two L2 entries share a cluster: 2 references overflow 1-bit refcounts
        auto b = good;
        const uint64_t e0 = be64(&b[l2]) & ~kOflagCopied;
        put_be64(&b[l2], e0);
        put_be64(&b[l2 + 8 * 9], e0);
        EXPECT_EQ(try_open(b), err);
    }
    {   // COPIED set on a shared cluster
        auto b = good;
        put_be64(&b[l2 + 8 * 9], be64(&b[l2]));
        EXPECT_EQ(try_open(b), err);
    }
    {   // an L2 table that is also the L1 table (overlapping metadata)
        auto b = good;
        put_be64(&b[be64(&b[40])], kOflagCopied | be64(&b[40]));
        EXPECT_EQ(try_open(b), err);
    }
    EXPECT_EQ(try_open(good), "opened"); // the unpatched dirty image repairs fine
}

} // namespace
} // namespace nemu::block::qcow2::test
