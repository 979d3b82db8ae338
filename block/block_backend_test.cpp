#include "block/block_backend.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <mutex>
#include <vector>

namespace nemu::block {
namespace {

// An in-memory node that records what reached it.
class RecordingNode final : public BlockNode {
public:
    explicit RecordingNode(size_t size) : BlockNode(false), m_data(size, 0x55) {}
    std::string_view driver() const override { return "mem"; }
    uint64_t length() const override { return m_data.size(); }
    Result<> read(uint64_t off, std::span<const iovec> iov) override {
        TRY(check_request(off, iov_size(iov), false));
        std::lock_guard g(m_lock);
        if (fail_errno) return io_error(fail_errno, "injected");
        ++reads;
        iov_from_buf(iov, 0, std::span<const uint8_t>(m_data).subspan(off, iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t off, std::span<const iovec> iov, bool fua) override {
        TRY(check_request(off, iov_size(iov), true));
        std::lock_guard g(m_lock);
        if (fail_errno) return io_error(fail_errno, "injected");
        ++writes;
        fua_writes += fua;
        iov_to_buf(iov, 0, std::span<uint8_t>(m_data).subspan(off, iov_size(iov)));
        return {};
    }
    Result<> flush() override {
        std::lock_guard g(m_lock);
        ++flushes;
        return {};
    }
    Result<> discard(uint64_t off, uint64_t len) override {
        TRY(check_request(off, len, true));
        std::lock_guard g(m_lock);
        ++discards;
        return {};
    }
    Result<> write_zeroes(uint64_t off, uint64_t len, bool may_unmap) override {
        TRY(check_request(off, len, true));
        std::lock_guard g(m_lock);
        ++zero_writes;
        unmap_zero_writes += may_unmap;
        std::fill_n(m_data.begin() + static_cast<long>(off), len, 0);
        return {};
    }
    NodeInfo info() const override { return {}; }

    std::mutex m_lock;
    std::vector<uint8_t> m_data;
    int reads = 0, writes = 0, fua_writes = 0, flushes = 0, discards = 0, zero_writes = 0, unmap_zero_writes = 0;
    int fail_errno = 0;
};

class BackendTest : public ::testing::Test {
protected:
    void SetUp() override { loop = std::move(*EventLoop::create()); }
    std::unique_ptr<BlockBackend> make(BackendOptions o = {}) {
        auto b = BlockBackend::create("drive0", node, *loop, o);
        EXPECT_TRUE(b);
        return b ? std::move(*b) : nullptr;
    }
    Result<> run(BlockBackend& b, BlockRequest req) {
        bool finished = false;
        Result<> out;
        b.submit(std::move(req), [&](Result<> r) {
            finished = true;
            out = std::move(r);
        });
        EXPECT_FALSE(finished);
        while (!finished) loop->run_once(-1);
        return out;
    }
    static BlockRequest rw(BlockOp op, uint64_t off, std::vector<uint8_t>& buf) {
        return BlockRequest{.op = op, .offset = off, .iov = {iovec{buf.data(), buf.size()}}};
    }
    std::unique_ptr<EventLoop> loop;
    std::shared_ptr<RecordingNode> node = std::make_shared<RecordingNode>(1 << 20);
};

TEST_F(BackendTest, CountsStatistics) {
    for (AioMode mode : {AioMode::Threads, AioMode::IoUring}) {
        auto b = make({.aio = mode});
        EXPECT_FALSE(b->stats().idle_time_ns.has_value());
        std::vector<uint8_t> buf(4096, 7);
        ASSERT_TRUE(run(*b, rw(BlockOp::Write, 8192, buf)));
        ASSERT_TRUE(run(*b, rw(BlockOp::Read, 0, buf)));
        ASSERT_TRUE(run(*b, rw(BlockOp::Read, 4096, buf)));
        ASSERT_TRUE(run(*b, BlockRequest{.op = BlockOp::Flush}));
        ASSERT_TRUE(run(*b, BlockRequest{.op = BlockOp::Discard, .offset = 0, .length = 65536}));
        const BlockStats s = b->stats();
        EXPECT_EQ(s.wr_bytes, 4096u);
        EXPECT_EQ(s.wr_operations, 1u);
        EXPECT_EQ(s.rd_bytes, 8192u);
        EXPECT_EQ(s.rd_operations, 2u);
        EXPECT_EQ(s.flush_operations, 1u);
        EXPECT_EQ(s.unmap_operations, 1u);
        EXPECT_EQ(s.unmap_bytes, 65536u);
        EXPECT_EQ(s.wr_highest_offset, 12288);
        EXPECT_GT(s.rd_total_time_ns, 0u);
        EXPECT_GT(s.wr_total_time_ns, 0u);
        ASSERT_TRUE(s.idle_time_ns.has_value());
        EXPECT_GE(*s.idle_time_ns, 0);
        EXPECT_EQ(s.failed_rd_operations + s.invalid_rd_operations, 0u);
    }
}

TEST_F(BackendTest, InvalidAndFailedRequests) {
    auto b = make({.aio = AioMode::Threads});
    std::vector<uint8_t> buf(4096);
    auto r = run(*b, rw(BlockOp::Read, (1 << 20) - 512, buf));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EINVAL);
    r = run(*b, BlockRequest{.op = BlockOp::Discard, .offset = 1 << 20, .length = 1});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EINVAL);
    node->fail_errno = ENOSPC;
    r = run(*b, rw(BlockOp::Write, 0, buf));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, ENOSPC);
    const BlockStats s = b->stats();
    EXPECT_EQ(s.invalid_rd_operations, 1u);
    EXPECT_EQ(s.invalid_unmap_operations, 1u);
    EXPECT_EQ(s.failed_wr_operations, 1u);
    EXPECT_EQ(s.wr_operations, 0u);
    EXPECT_EQ(s.rd_operations, 0u);
    EXPECT_EQ(node->reads, 0);
    EXPECT_EQ(s.wr_highest_offset, 0);
}

TEST_F(BackendTest, WritethroughAddsFua) {
    auto b = make({.write_cache = false, .aio = AioMode::Threads});
    std::vector<uint8_t> buf(512, 1);
    ASSERT_TRUE(run(*b, rw(BlockOp::Write, 0, buf)));
    EXPECT_EQ(node->fua_writes, 1);
    b->set_write_cache(true);
    ASSERT_TRUE(run(*b, rw(BlockOp::Write, 0, buf)));
    EXPECT_EQ(node->fua_writes, 1);
    EXPECT_EQ(node->writes, 2);
}

TEST_F(BackendTest, DetectZeroes) {
    std::vector<uint8_t> zero(8192, 0), data(8192, 0);
    data[8191] = 1;
    {
        auto b = make({.detect_zeroes = DetectZeroes::Off, .aio = AioMode::Threads});
        ASSERT_TRUE(run(*b, rw(BlockOp::Write, 0, zero)));
        EXPECT_EQ(node->zero_writes, 0);
        EXPECT_EQ(node->writes, 1);
    }
    {
        auto b = make({.detect_zeroes = DetectZeroes::On, .aio = AioMode::Threads});
        ASSERT_TRUE(run(*b, rw(BlockOp::Write, 0, zero)));
        ASSERT_TRUE(run(*b, rw(BlockOp::Write, 0, data)));
        EXPECT_EQ(node->zero_writes, 1);
        EXPECT_EQ(node->unmap_zero_writes, 0);
        EXPECT_EQ(node->writes, 2);
        // Still a write in the statistics.
        EXPECT_EQ(b->stats().wr_operations, 2u);
        EXPECT_EQ(b->stats().wr_bytes, 16384u);
    }
    {
        auto b = make({.write_cache = false, .detect_zeroes = DetectZeroes::Unmap, .aio = AioMode::Threads});
        ASSERT_TRUE(run(*b, rw(BlockOp::Write, 4096, zero)));
        EXPECT_EQ(node->zero_writes, 2);
        EXPECT_EQ(node->unmap_zero_writes, 1);
        EXPECT_EQ(node->flushes, 1); // writethrough: the zeroes are flushed before completion
        EXPECT_EQ(std::vector<uint8_t>(node->m_data.begin() + 4096, node->m_data.begin() + 12288), zero);
    }
}

TEST_F(BackendTest, ErrorPolicies) {
    auto b = make({.on_read_error = OnError::Ignore, .on_write_error = OnError::Enospc, .aio = AioMode::Threads});
    EXPECT_EQ(b->error_action(true, EIO), ErrorAction::Ignore);
    EXPECT_EQ(b->error_action(false, ENOSPC), ErrorAction::Stop);
    EXPECT_EQ(b->error_action(false, EIO), ErrorAction::Report);
    auto c = make({.on_read_error = OnError::Stop, .on_write_error = OnError::Auto, .aio = AioMode::Threads});
    EXPECT_EQ(c->error_action(true, EIO), ErrorAction::Stop);
    EXPECT_EQ(c->error_action(false, ENOSPC), ErrorAction::Report);
    auto d = make({.aio = AioMode::Threads}); // QEMU defaults: rerror=report, werror=enospc
    EXPECT_EQ(d->error_action(true, ENOSPC), ErrorAction::Report);
    EXPECT_EQ(d->error_action(false, ENOSPC), ErrorAction::Stop);
}

TEST_F(BackendTest, ThrottleRejectsInvalidLimits) {
    auto b = make({.aio = AioMode::Threads});
    auto r = b->set_throttle({.bps = 1, .bps_wr = 2});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "bps/iops/max total values and read/write values cannot be used at the same time");
    ASSERT_TRUE(b->set_throttle({.iops = 7}));
    EXPECT_EQ(b->throttle().iops, 7u);
}

// Ten reads over iops=40: five start at once, the others wait for the throttle timer and
// complete as the loop runs.
TEST_F(BackendTest, ThrottledRequestsCompleteAsTheLoopRuns) {
    auto b = make({.aio = AioMode::Threads});
    ASSERT_TRUE(b->set_throttle({.iops = 40}));
    std::vector<std::vector<uint8_t>> bufs(10, std::vector<uint8_t>(512));
    std::vector<int> done;
    for (int i = 0; i < 10; i++)
        b->submit(rw(BlockOp::Read, static_cast<uint64_t>(i) * 512, bufs[static_cast<size_t>(i)]), [&done, i](Result<> r) {
            EXPECT_TRUE(r);
            done.push_back(i);
        });
    // The node sees at most the burst before the loop runs the timer.
    while (done.size() < 10) loop->run_once(-1);
    std::sort(done.begin(), done.end());
    EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(node->reads, 10);
    EXPECT_EQ(b->stats().rd_operations, 10u);
}

// A drain does not wait for the throttle: queued requests start at once (iops=1 would take
// nine seconds otherwise).
TEST_F(BackendTest, DrainReleasesThrottledRequests) {
    auto b = make({.aio = AioMode::Threads});
    ASSERT_TRUE(b->set_throttle({.iops = 1}));
    std::vector<uint8_t> buf(512);
    int ok = 0;
    for (int i = 0; i < 10; i++) b->submit(rw(BlockOp::Write, 0, buf), [&ok](Result<> r) { ok += r.has_value(); });
    b->drain();
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(node->writes, 10);
}

} // namespace
} // namespace nemu::block
