#include "block/block_node.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "block/block_types.h"

namespace nemu::block {
namespace {

// A node of fixed size that records writes into memory, to test the base-class defaults.
class MemNode final : public BlockNode {
public:
    MemNode(size_t size, bool ro) : BlockNode(ro), m_data(size, 0xaa) {}
    std::string_view driver() const override { return "mem"; }
    uint64_t length() const override { return m_data.size(); }
    Result<> read(uint64_t off, std::span<const iovec> iov) override {
        TRY(check_request(off, iov_size(iov), false));
        iov_from_buf(iov, 0, std::span<const uint8_t>(m_data).subspan(off, iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t off, std::span<const iovec> iov, bool) override {
        TRY(check_request(off, iov_size(iov), true));
        iov_to_buf(iov, 0, std::span<uint8_t>(m_data).subspan(off, iov_size(iov)));
        ++m_writes;
        return {};
    }
    Result<> flush() override { return {}; }
    NodeInfo info() const override { return {}; }
    std::vector<uint8_t> m_data;
    int m_writes = 0;
};

TEST(BlockNode, RejectsRequestsPastTheEnd) {
    MemNode n(4096, false);
    uint8_t b[16];
    iovec v{b, sizeof b};
    EXPECT_TRUE(n.read(4080, {&v, 1}));
    auto r = n.read(4081, {&v, 1});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EINVAL);
    // Offsets near UINT64_MAX must not wrap around the bounds check.
    EXPECT_FALSE(n.read(UINT64_MAX - 4, {&v, 1}));
}

TEST(BlockNode, ReadOnlyRefusesWritesWithEperm) {
    MemNode n(4096, true);
    uint8_t b[16] = {};
    iovec v{b, sizeof b};
    auto r = n.write(0, {&v, 1}, false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EPERM);
    EXPECT_EQ(n.write_zeroes(0, 16, false).error().sys_errno, EPERM);
}

TEST(BlockNode, DefaultWriteZeroesWritesInBoundedChunks) {
    MemNode n(3 << 20, false);
    ASSERT_TRUE(n.write_zeroes(100, (2 << 20) + 10, false));
    EXPECT_EQ(n.m_writes, 3);
    EXPECT_EQ(n.m_data[99], 0xaa);
    EXPECT_EQ(n.m_data[100], 0);
    EXPECT_EQ(n.m_data[100 + (2 << 20) + 9], 0);
    EXPECT_EQ(n.m_data[100 + (2 << 20) + 10], 0xaa);
}

TEST(BlockNode, DefaultMapIsIndirectAndResizeUnsupported) {
    MemNode n(4096, false);
    auto e = n.map(0, 4096, false);
    EXPECT_EQ(e.kind, HostExtent::Kind::Indirect);
    EXPECT_EQ(e.length, 4096u);
    EXPECT_EQ(n.truncate(8192).error().sys_errno, ENOTSUP);
}

TEST(Iov, CopiesAcrossSegmentBoundariesWithSkip) {
    uint8_t a[3] = {1, 2, 3}, b[4] = {4, 5, 6, 7};
    iovec v[2] = {{a, 3}, {b, 4}};
    EXPECT_EQ(iov_size(v), 7u);
    uint8_t out[4] = {};
    iov_to_buf(v, 2, out);
    EXPECT_EQ(std::vector<uint8_t>(out, out + 4), (std::vector<uint8_t>{3, 4, 5, 6}));
    const uint8_t in[3] = {9, 9, 9};
    iov_from_buf(v, 1, in);
    EXPECT_EQ(a[1], 9);
    EXPECT_EQ(b[0], 9);
    EXPECT_EQ(b[1], 5);
    iov_memset(v, 5, 2, 0);
    EXPECT_EQ(b[2], 0);
    EXPECT_EQ(b[3], 0);
}

TEST(BlockTypes, CacheModesFollowQemusTable) {
    auto none = parse_cache_mode("none");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->cache.direct);
    EXPECT_TRUE(none->write_cache);
    auto wt = parse_cache_mode("writethrough");
    EXPECT_FALSE(wt->write_cache);
    EXPECT_TRUE(parse_cache_mode("unsafe")->cache.no_flush);
    EXPECT_FALSE(parse_cache_mode("bogus"));
    EXPECT_EQ(parse_aio_mode("io_uring"), AioMode::IoUring);
    EXPECT_EQ(on_error_name(OnError::Enospc), "enospc");
}

} // namespace
} // namespace nemu::block
