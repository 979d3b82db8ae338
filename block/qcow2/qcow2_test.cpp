// qcow2 driver against Debian's qemu-img/qemu-io as the oracle.
#include <random>
#include <thread>

#include "block/qcow2/qcow2_mem_node.h"
#include "block/qcow2/qcow2_node.h"
#include "block/qcow2/qcow2_test_util.h"

namespace nemu::block::qcow2::test {
namespace {

struct Variant {
    std::string opts; // qemu-img create -o
    bool v3;
};
const Variant kVariants[] = {
    {"compat=0.10,cluster_size=65536", false},
    {"compat=0.10,cluster_size=512", false},
    {"compat=1.1,cluster_size=512,refcount_bits=1", true},
    {"compat=1.1,cluster_size=4096,refcount_bits=64", true},
    {"compat=1.1,cluster_size=65536,refcount_bits=16", true},
    {"compat=1.1,cluster_size=2097152", true},
    {"compat=1.1,lazy_refcounts=on", true},
};

void qemu_io(const std::string& img, const std::string& cmds) {
    std::string out;
    ASSERT_EQ(sh("qemu-io -f qcow2 " + cmds + " " + img, &out), 0) << out;
}

std::vector<uint8_t> oracle_raw(const TempDir& d, const std::string& img) {
    std::string out;
    EXPECT_EQ(sh("qemu-img convert -O raw " + img + " " + d / "oracle.raw", &out), 0) << out;
    return slurp(d / "oracle.raw");
}

TEST(Qcow2Read, VariantsMatchQemuImg) {
    for (const auto& v : kVariants) {
        SCOPED_TRACE(v.opts);
        TempDir d;
        const std::string img = d / "a.qcow2";
        ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o " + v.opts + " " + img + " 5M"), 0);
        std::string cmds = "-c 'write -P 0x5a 0 64k' -c 'write -P 0xa5 1049088 3000' -c 'write -P 0x11 4194300 4'";
        if (v.v3) cmds += " -c 'write -z 16k 8k' -c 'write -P 0x77 3M 128k' -c 'write -z 3M 64k' -c 'discard 3M 128k'";
        qemu_io(img, cmds);
        auto node = open_image(img, true);
        ASSERT_TRUE(node) << node.error().msg;
        EXPECT_EQ(read_all(**node), oracle_raw(d, img));
    }
}

TEST(Qcow2Read, CompressedZlibAndZstd) {
    for (const std::string type : {"zlib", "zstd"}) {
        SCOPED_TRACE(type);
        TempDir d;
        std::vector<uint8_t> raw(3 << 20);
        std::mt19937 rng(7);
        for (size_t i = 0; i < raw.size(); ++i) raw[i] = (i / 4096) % 3 == 0 ? 0 : static_cast<uint8_t>(rng() % 4);
        spit(d / "src.raw", raw);
        ASSERT_EQ(sh("qemu-img convert -c -O qcow2 -o compression_type=" + type + ",cluster_size=4096 " +
                     d / "src.raw " + d / "c.qcow2"), 0);
        auto node = open_image(d / "c.qcow2", true);
        ASSERT_TRUE(node) << node.error().msg;
        EXPECT_EQ((*node)->info().format_specific["data"]["compression-type"], type);
        EXPECT_EQ(read_all(**node), raw);
    }
}

TEST(Qcow2Read, BackingChainQcow2Qcow2Raw) {
    TempDir d;
    std::vector<uint8_t> base(4 << 20, 0x33);
    spit(d / "base.raw", base);
    ASSERT_EQ(sh("cd " + d.path + " && qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 6M"), 0);
    qemu_io(d / "mid.qcow2", "-c 'write -P 0x44 1M 100k'");
    ASSERT_EQ(sh("cd " + d.path + " && qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 6M"), 0);
    qemu_io(d / "top.qcow2", "-c 'write -P 0x55 1050000 5000' -c 'write -z 2M 64k'");
    auto node = open_image(d / "top.qcow2", true);
    ASSERT_TRUE(node) << node.error().msg;
    EXPECT_EQ((*node)->info().backing_filename, "mid.qcow2");
    EXPECT_EQ((*node)->info().backing_format, "qcow2");
    EXPECT_EQ(read_all(**node), oracle_raw(d, d / "top.qcow2"));
}

TEST(Qcow2Info, MatchesQemuImgShape) {
    TempDir d;
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on,refcount_bits=64 " + d / "a.qcow2 1M"), 0);
    qemu_io(d / "a.qcow2", "-c 'write -P 1 0 4k'");
    ASSERT_EQ(sh("qemu-img snapshot -c snap1 " + d / "a.qcow2"), 0);
    auto node = open_image(d / "a.qcow2", true);
    ASSERT_TRUE(node);
    const NodeInfo i = (*node)->info();
    EXPECT_EQ(i.format, "qcow2");
    EXPECT_EQ(i.virtual_size, 1u << 20);
    EXPECT_EQ(i.cluster_size, 65536u);
    std::string out;
    ASSERT_EQ(sh("qemu-img info --output=json " + d / "a.qcow2", &out), 0);
    const Json q = Json::parse(out);
    EXPECT_EQ(i.format_specific.dump(), q["format-specific"].dump());
    auto* q2 = dynamic_cast<Qcow2Node*>(node->get());
    ASSERT_NE(q2, nullptr);
    EXPECT_EQ(q2->snapshots_info().dump(), q["snapshots"].dump());
}

// Random writes (mirrored into an expected buffer), then qemu-img check and compare.
void random_writes(const std::string& img, std::vector<uint8_t>& expect, unsigned seed, int count, uint64_t max_len) {
    auto node = open_image(img, false);
    ASSERT_TRUE(node) << node.error().msg;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < count; ++i) {
        const uint64_t len = 1 + rng() % max_len;
        const uint64_t off = rng() % (expect.size() - len);
        std::vector<uint8_t> buf(len);
        for (auto& b : buf) b = static_cast<uint8_t>(rng());
        auto r = write_buf(**node, off, buf);
        ASSERT_TRUE(r) << r.error().msg;
        std::copy(buf.begin(), buf.end(), expect.begin() + static_cast<long>(off));
    }
    ASSERT_TRUE((*node)->flush());
    EXPECT_EQ(read_all(**node), expect);
}

void expect_content(const TempDir& d, const std::string& img, const std::vector<uint8_t>& expect) {
    spit(d / "expect.raw", expect);
    std::string out;
    EXPECT_EQ(sh("qemu-img compare -q -f qcow2 -F raw " + img + " " + d / "expect.raw", &out), 0) << out;
}

TEST(Qcow2Write, VariantsPassCheckAndCompare) {
    for (const auto& v : kVariants) {
        SCOPED_TRACE(v.opts);
        TempDir d;
        const std::string img = d / "a.qcow2";
        ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o " + v.opts + " " + img + " 6M"), 0);
        qemu_io(img, "-c 'write -P 0x5a 0 64k'");
        std::vector<uint8_t> expect = oracle_raw(d, img);
        random_writes(img, expect, 1, 60, 70000);
        expect_check_clean(img);
        expect_content(d, img, expect);
    }
}

TEST(Qcow2Write, OverCompressedBackingAndSnapshot) {
    TempDir d;
    std::vector<uint8_t> raw(2 << 20, 0x21);
    spit(d / "src.raw", raw);
    ASSERT_EQ(sh("qemu-img convert -c -O qcow2 -o compression_type=zstd " + d / "src.raw " + d / "c.qcow2"), 0);
    std::vector<uint8_t> expect = raw;
    random_writes(d / "c.qcow2", expect, 2, 30, 5000);
    expect_check_clean(d / "c.qcow2");
    expect_content(d, d / "c.qcow2", expect);

    // Overlay on a raw backing file.
    ASSERT_EQ(sh("cd " + d.path + " && qemu-img create -q -f qcow2 -b src.raw -F raw o.qcow2 3M"), 0);
    expect = raw;
    expect.resize(3 << 20, 0);
    random_writes(d / "o.qcow2", expect, 3, 30, 9000);
    expect_check_clean(d / "o.qcow2");
    expect_content(d, d / "o.qcow2", expect);

    // Growing an overlay over a longer backing file exposes zeroes, not the backing data.
    ASSERT_EQ(sh("cd " + d.path + " && qemu-img create -q -f qcow2 -b src.raw -F raw g.qcow2 1000448"), 0);
    {
        auto g = open_image(d / "g.qcow2", false);
        ASSERT_TRUE(g);
        ASSERT_TRUE((*g)->truncate(3 << 20));
    }
    expect.assign(raw.begin(), raw.begin() + 1000448);
    expect.resize(3 << 20, 0);
    expect_check_clean(d / "g.qcow2");
    EXPECT_EQ(oracle_raw(d, d / "g.qcow2"), expect);

    // Clusters shared with an internal snapshot are copied, the snapshot keeps its data.
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 " + d / "s.qcow2 2M"), 0);
    qemu_io(d / "s.qcow2", "-c 'write -P 0x66 0 2M'");
    ASSERT_EQ(sh("qemu-img snapshot -c snap1 " + d / "s.qcow2"), 0);
    expect.assign(2 << 20, 0x66);
    random_writes(d / "s.qcow2", expect, 4, 40, 9000);
    expect_check_clean(d / "s.qcow2");
    expect_content(d, d / "s.qcow2", expect);
    ASSERT_EQ(sh("qemu-img convert -O raw -l snapshot.name=snap1 " + d / "s.qcow2 " + d / "snap.raw"), 0);
    EXPECT_EQ(slurp(d / "snap.raw"), std::vector<uint8_t>(2 << 20, 0x66));
}

TEST(Qcow2Write, CreateDiscardZeroesTruncate) {
    for (uint32_t version : {2u, 3u}) {
        SCOPED_TRACE(version);
        TempDir d;
        const std::string img = d / "n.qcow2";
        {
            auto f = open_file((spit(img, {}), img), false);
            ASSERT_TRUE(f);
            Qcow2CreateOptions o;
            o.version = version;
            o.cluster_size = 4096;
            ASSERT_TRUE(qcow2_create(**f, 8 << 20, o));
        }
        expect_check_clean(img);
        std::vector<uint8_t> expect(8 << 20, 0);
        random_writes(img, expect, 5, 50, 20000);
        {
            auto node = open_image(img, false);
            ASSERT_TRUE(node);
            ASSERT_TRUE((*node)->discard(4096 * 10, 4096 * 20));
            std::fill_n(expect.begin() + 4096 * 10, 4096 * 20, 0);
            ASSERT_TRUE((*node)->write_zeroes(100000, 300000, true));
            std::fill_n(expect.begin() + 100000, 300000, 0);
            ASSERT_TRUE((*node)->write_zeroes(500000, 70000, false));
            std::fill_n(expect.begin() + 500000, 70000, 0);
            ASSERT_TRUE((*node)->truncate(600ull << 20)); // past the L1 table's capacity
            EXPECT_FALSE((*node)->truncate(1 << 20));
            expect.resize(600ull << 20, 0);
            ASSERT_TRUE(write_buf(**node, (600ull << 20) - 10000, std::vector<uint8_t>(10000, 0xee)));
            std::fill_n(expect.end() - 10000, 10000, 0xee);
        }
        expect_check_clean(img);
        expect_content(d, img, expect);
    }
}

TEST(Qcow2Write, CreateOptionsAndRefcountTableGrowth) {
    TempDir d;
    const std::string img = d / "g.qcow2";
    auto f = open_file((spit(img, {}), img), false);
    ASSERT_TRUE(f);
    Qcow2CreateOptions o;
    o.cluster_size = 512;
    o.refcount_bits = 64; // 64 entries per block, 64 blocks per table cluster: grows fast
    o.backing_file = "base.raw";
    o.backing_format = "raw";
    ASSERT_TRUE(qcow2_create(**f, 4 << 20, o));
    std::vector<uint8_t> base(4 << 20, 0x42);
    spit(d / "base.raw", base);
    expect_check_clean(img);
    std::vector<uint8_t> expect = base;
    random_writes(img, expect, 6, 400, 9000);
    expect_check_clean(img);
    expect_content(d, img, expect);
}

TEST(Qcow2Write, ConcurrentWritersShareClusters) {
    TempDir d;
    const std::string img = d / "t.qcow2";
    ASSERT_EQ(sh("qemu-img create -q -f qcow2 -o cluster_size=4096 " + img + " 4M"), 0);
    std::vector<uint8_t> expect(4 << 20, 0);
    {
        auto node = open_image(img, false);
        ASSERT_TRUE(node);
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] {
                // Each thread owns one 512-byte slot of every cluster: all 8 race to allocate.
                std::mt19937 rng(t);
                std::vector<uint32_t> order(1024);
                for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
                std::shuffle(order.begin(), order.end(), rng);
                std::vector<uint8_t> buf(512, static_cast<uint8_t>(0x10 + t));
                for (uint32_t c : order)
                    if (!write_buf(**node, uint64_t{c} * 4096 + t * 512u, buf)) ++failures;
            });
        }
        for (auto& th : threads) th.join();
        EXPECT_EQ(failures, 0);
        for (uint64_t c = 0; c < 1024; ++c)
            for (int t = 0; t < 8; ++t) std::fill_n(expect.begin() + c * 4096 + t * 512, 512, 0x10 + t);
        EXPECT_EQ(read_all(**node), expect);
    }
    expect_check_clean(img);
    expect_content(d, img, expect);
    std::string out;
    ASSERT_EQ(sh("qemu-img check --output=json " + img, &out), 0);
    // 1024 data clusters + header + refcount table + block + L1 + 2 L2: nothing allocated twice.
    EXPECT_EQ(Json::parse(out)["image-end-offset"], (1024 + 6) * 4096);
}

TEST(Qcow2Write, MetadataOrderRefcountDataThenL2) {
    auto mem = std::make_shared<testing::MemNode>(std::vector<uint8_t>{});
    Qcow2CreateOptions o;
    o.cluster_size = 4096;
    ASSERT_TRUE(qcow2_create(*mem, 1 << 20, o));
    FormatOpenContext ctx;
    auto node = qcow2_format().open(mem, ctx);
    ASSERT_TRUE(node);
    ASSERT_TRUE(write_buf(**node, 0, std::vector<uint8_t>(100, 1))); // allocates the L2 table
    const size_t before = mem->writes().size();
    ASSERT_TRUE(write_buf(**node, 8192 + 7, std::vector<uint8_t>(100, 2)));
    const auto w = mem->writes();
    const auto img = mem->data();
    const uint64_t l2 = be64(&img[be64(&img[40])]) & kL1OffsetMask;
    const uint64_t refblock = be64(&img[be64(&img[48])]);
    const uint64_t host = be64(&img[l2 + 2 * 8]) & kL2OffsetMask;
    ASSERT_NE(host, 0u);
    ASSERT_EQ(w.size() - before, 3u);
    EXPECT_TRUE(w[before].offset >= refblock && w[before].offset < refblock + 4096);   // refcount
    EXPECT_EQ(w[before + 1].offset, host);                                              // data
    EXPECT_EQ(w[before + 1].length, 4096u);
    EXPECT_TRUE(w[before + 2].offset >= l2 && w[before + 2].offset < l2 + 4096);        // L2 last
    EXPECT_TRUE((be64(&img[l2 + 16]) & kOflagCopied) != 0);
}

} // namespace
} // namespace nemu::block::qcow2::test
