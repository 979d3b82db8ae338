#include "block/io_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "block/testing/fd_node.h"

namespace nemu::block {
namespace {

// A thread-safe in-memory node.
class MemNode final : public BlockNode {
public:
    explicit MemNode(size_t size) : BlockNode(false), m_data(size, 0) {}
    std::string_view driver() const override { return "mem"; }
    uint64_t length() const override { return m_data.size(); }
    Result<> read(uint64_t off, std::span<const iovec> iov) override {
        TRY(check_request(off, iov_size(iov), false));
        std::lock_guard g(m_lock);
        iov_from_buf(iov, 0, std::span<const uint8_t>(m_data).subspan(off, iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t off, std::span<const iovec> iov, bool) override {
        TRY(check_request(off, iov_size(iov), true));
        std::lock_guard g(m_lock);
        iov_to_buf(iov, 0, std::span<uint8_t>(m_data).subspan(off, iov_size(iov)));
        return {};
    }
    Result<> flush() override { return {}; }
    Result<> discard(uint64_t off, uint64_t len) override {
        TRY(check_request(off, len, true));
        std::lock_guard g(m_lock);
        std::fill_n(m_data.begin() + static_cast<long>(off), len, 0);
        return {};
    }
    NodeInfo info() const override { return {}; }

private:
    std::mutex m_lock;
    std::vector<uint8_t> m_data;
};

// Every data request fails with EIO (a bad image).
class FailingNode final : public BlockNode {
public:
    FailingNode() : BlockNode(false) {}
    std::string_view driver() const override { return "fail"; }
    uint64_t length() const override { return 1 << 20; }
    Result<> read(uint64_t, std::span<const iovec>) override { return io_error(EIO, "bad image"); }
    Result<> write(uint64_t, std::span<const iovec>, bool) override { return io_error(EIO, "bad image"); }
    Result<> flush() override { return io_error(EIO, "bad image"); }
    NodeInfo info() const override { return {}; }
};

// An fd node that reports its whole range as host data (as raw over file does), so the
// io_uring engine takes the direct path; its length may exceed the file's (a short file).
class MappedFdNode final : public BlockNode {
public:
    MappedFdNode(UniqueFd fd, uint64_t length, bool ro, HostExtent::Kind kind = HostExtent::Kind::Data)
        : BlockNode(false), m_fd(fd.get()), m_inner(std::move(fd), ro), m_length(length), m_kind(kind) {}
    // map() reports another fd on the same file (an O_DIRECT one).
    void map_to(UniqueFd fd) {
        m_fd = fd.get();
        m_map_fd = std::move(fd);
    }
    std::string_view driver() const override { return "mapped"; }
    uint64_t length() const override { return m_length; }
    Result<> read(uint64_t off, std::span<const iovec> iov) override {
        const uint64_t len = iov_size(iov);
        TRY(check_request(off, len, false));
        // Past the end of the file reads as zeroes (the inner node checks its file size).
        const uint64_t file = m_inner.length();
        const uint64_t in_file = off >= file ? 0 : std::min(len, file - off);
        iov_memset(iov, in_file, len - in_file, 0);
        if (in_file == 0) return {};
        std::vector<uint8_t> buf(in_file);
        iovec v{buf.data(), buf.size()};
        TRY(m_inner.read(off, std::span<const iovec>(&v, 1)));
        iov_from_buf(iov, 0, buf);
        return {};
    }
    Result<> write(uint64_t off, std::span<const iovec> iov, bool fua) override {
        TRY(check_request(off, iov_size(iov), true));
        return m_inner.write(off, iov, fua);
    }
    Result<> flush() override { return m_inner.flush(); }
    HostExtent map(uint64_t off, uint64_t len, bool) override { return HostExtent{m_kind, len, m_fd, off}; }
    NodeInfo info() const override { return {}; }

private:
    int m_fd;
    UniqueFd m_map_fd;
    testing::FdNode m_inner;
    uint64_t m_length;
    HostExtent::Kind m_kind;
};

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-ioengine-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::string cmd = "rm -rf " + path;
        [[maybe_unused]] int r = ::system(cmd.c_str());
    }
    UniqueFd open_file(const char* name, uint64_t size, int flags = O_RDWR) const {
        std::string p = path + "/" + name;
        UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
        if (flags != O_RDWR) fd = UniqueFd(::open(p.c_str(), flags | O_CLOEXEC));
        return fd;
    }
};

enum class EngineKind { Threads, Uring };
enum class NodeKind { Mem, Fd, MappedFd };
constexpr uint64_t kSize = 1 << 20;

std::unique_ptr<IoEngine> make_engine(EngineKind k, EventLoop& loop, unsigned depth = 128) {
    if (k == EngineKind::Threads) return make_thread_engine(loop, 8);
    auto e = make_uring_engine(loop, depth);
    return e ? std::move(*e) : nullptr;
}

// Submits one request and runs the loop until it completes; checks it did not complete inline.
Result<> run(EventLoop& loop, IoEngine& e, std::shared_ptr<BlockNode> node, BlockRequest req) {
    bool finished = false;
    Result<> out;
    e.submit(std::move(node), std::move(req), [&](Result<> r) {
        finished = true;
        out = std::move(r);
    });
    EXPECT_FALSE(finished) << "completion ran inside submit()";
    while (!finished) loop.run_once(-1);
    return out;
}

BlockRequest rw(BlockOp op, uint64_t off, std::vector<uint8_t>& buf) {
    return BlockRequest{.op = op, .offset = off, .length = buf.size(), .iov = {iovec{buf.data(), buf.size()}}};
}

class EngineConformance : public ::testing::TestWithParam<std::tuple<EngineKind, NodeKind>> {
protected:
    void SetUp() override {
        loop = std::move(*EventLoop::create());
        engine = make_engine(std::get<0>(GetParam()), *loop);
        if (!engine) GTEST_SKIP() << "io_uring unavailable";
        switch (std::get<1>(GetParam())) {
        case NodeKind::Mem: node = std::make_shared<MemNode>(kSize); break;
        case NodeKind::Fd: node = std::make_shared<testing::FdNode>(dir.open_file("img", kSize), false); break;
        case NodeKind::MappedFd: node = std::make_shared<MappedFdNode>(dir.open_file("img", kSize), kSize, false); break;
        }
    }
    void TearDown() override {
        engine.reset();
        node.reset();
    }
    TempDir dir;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<IoEngine> engine;
    std::shared_ptr<BlockNode> node;
};

TEST_P(EngineConformance, ReadWriteFlushDiscardZeroes) {
    std::vector<uint8_t> w(8192), r(8192, 0xee);
    for (size_t i = 0; i < w.size(); i++) w[i] = static_cast<uint8_t>(i * 7 + 1);
    ASSERT_TRUE(run(*loop, *engine, node, BlockRequest{.op = BlockOp::Write, .offset = 4096, .length = 8192,
                                                       .iov = {iovec{w.data(), 100}, iovec{w.data() + 100, 8092}},
                                                       .fua = true}));
    ASSERT_TRUE(run(*loop, *engine, node, rw(BlockOp::Read, 4096, r)));
    EXPECT_EQ(r, w);
    EXPECT_TRUE(run(*loop, *engine, node, BlockRequest{.op = BlockOp::Flush}));
    ASSERT_TRUE(run(*loop, *engine, node, BlockRequest{.op = BlockOp::WriteZeroes, .offset = 4096, .length = 4096}));
    ASSERT_TRUE(run(*loop, *engine, node, rw(BlockOp::Read, 4096, r)));
    EXPECT_EQ(std::vector<uint8_t>(r.begin(), r.begin() + 4096), std::vector<uint8_t>(4096, 0));
    EXPECT_EQ(std::vector<uint8_t>(r.begin() + 4096, r.end()), std::vector<uint8_t>(w.begin() + 4096, w.end()));
    EXPECT_TRUE(run(*loop, *engine, node, BlockRequest{.op = BlockOp::Discard, .offset = 8192, .length = 4096}));
    EXPECT_EQ(engine->in_flight(), 0u);
}

TEST_P(EngineConformance, OutOfRangeIsEinval) {
    std::vector<uint8_t> r(4096);
    auto res = run(*loop, *engine, node, rw(BlockOp::Read, kSize - 100, r));
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().sys_errno, EINVAL);
}

TEST_P(EngineConformance, ManyConcurrentRequestsThenDrain) {
    constexpr size_t kCount = 200, kLen = 4096;
    std::vector<std::vector<uint8_t>> bufs(kCount, std::vector<uint8_t>(kLen));
    size_t ok = 0;
    for (size_t i = 0; i < kCount; i++) {
        std::fill(bufs[i].begin(), bufs[i].end(), static_cast<uint8_t>(i + 1));
        engine->submit(node, rw(BlockOp::Write, i * kLen, bufs[i]), [&](Result<> r) { ok += r.has_value(); });
    }
    EXPECT_EQ(ok, 0u);
    EXPECT_GT(engine->in_flight(), 0u);
    engine->drain();
    EXPECT_EQ(ok, kCount);
    EXPECT_EQ(engine->in_flight(), 0u);
    std::vector<std::vector<uint8_t>> back(kCount, std::vector<uint8_t>(kLen));
    for (size_t i = 0; i < kCount; i++)
        engine->submit(node, rw(BlockOp::Read, i * kLen, back[i]), [&](Result<> r) { ok += r.has_value(); });
    engine->drain();
    EXPECT_EQ(ok, 2 * kCount);
    EXPECT_EQ(back, bufs);
}

INSTANTIATE_TEST_SUITE_P(All, EngineConformance,
                         ::testing::Combine(::testing::Values(EngineKind::Threads, EngineKind::Uring),
                                            ::testing::Values(NodeKind::Mem, NodeKind::Fd, NodeKind::MappedFd)));

class EngineKinds : public ::testing::TestWithParam<EngineKind> {};

TEST_P(EngineKinds, ErrorsCarryTheErrno) {
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(GetParam(), *loop);
    if (!engine) GTEST_SKIP();
    std::vector<uint8_t> b(512);
    auto node = std::make_shared<FailingNode>();
    auto r = run(*loop, *engine, node, rw(BlockOp::Read, 0, b));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EIO);
    r = run(*loop, *engine, node, BlockRequest{.op = BlockOp::Flush});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EIO);
}

// A file shorter than the node: the read comes back short from the kernel, the rest is
// resubmitted and then reads as zeroes (EOF), across an iovec boundary.
TEST_P(EngineKinds, ShortReadIsResubmittedAndZeroFilled) {
    TempDir dir;
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(GetParam(), *loop);
    if (!engine) GTEST_SKIP();
    UniqueFd fd = dir.open_file("short", 0);
    std::vector<uint8_t> content(10000);
    for (size_t i = 0; i < content.size(); i++) content[i] = static_cast<uint8_t>(i % 251 + 1);
    ASSERT_EQ(::pwrite(fd.get(), content.data(), content.size(), 0), static_cast<ssize_t>(content.size()));
    auto node = std::make_shared<MappedFdNode>(std::move(fd), 65536, false);
    std::vector<uint8_t> all(65536, 0xff);
    auto res = run(*loop, *engine, node,
                   BlockRequest{.op = BlockOp::Read, .offset = 0, .length = 65536,
                                .iov = {iovec{all.data(), 6000}, iovec{all.data() + 6000, 30000},
                                        iovec{all.data() + 36000, 29536}}});
    ASSERT_TRUE(res) << res.error().msg;
    std::vector<uint8_t> expect(65536, 0);
    std::copy(content.begin(), content.end(), expect.begin());
    EXPECT_EQ(all, expect);
}

// The ring reports a negative result: writing through a read-only fd gives EBADF.
TEST_P(EngineKinds, HostErrorsPropagate) {
    TempDir dir;
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(GetParam(), *loop);
    if (!engine) GTEST_SKIP();
    auto node = std::make_shared<MappedFdNode>(dir.open_file("ro", 8192, O_RDONLY), 8192, false);
    std::vector<uint8_t> b(4096, 1);
    auto r = run(*loop, *engine, node, rw(BlockOp::Write, 0, b));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EBADF);
}

// Zero extents read as zeroes without touching the file.
TEST_P(EngineKinds, ZeroExtentsReadAsZeroes) {
    TempDir dir;
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(GetParam(), *loop);
    if (!engine) GTEST_SKIP();
    UniqueFd fd = dir.open_file("z", 8192);
    std::vector<uint8_t> ones(8192, 1);
    ASSERT_EQ(::pwrite(fd.get(), ones.data(), ones.size(), 0), 8192);
    auto node = std::make_shared<MappedFdNode>(std::move(fd), 8192, false, HostExtent::Kind::Zero);
    std::vector<uint8_t> b(4096, 0xff);
    ASSERT_TRUE(run(*loop, *engine, node, rw(BlockOp::Read, 0, b)));
    // The thread engine reads the file (map is only the uring engine's business).
    EXPECT_EQ(b, std::vector<uint8_t>(4096, GetParam() == EngineKind::Uring ? 0 : 1));
}

// An O_DIRECT fd refuses a misaligned buffer (EINVAL): the request is redone by the node,
// which bounces.
TEST_P(EngineKinds, MisalignedDirectIoFallsBackToTheNode) {
    TempDir dir;
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(GetParam(), *loop);
    if (!engine) GTEST_SKIP();
    UniqueFd fd = dir.open_file("direct", 8192);
    std::vector<uint8_t> content(8192);
    for (size_t i = 0; i < content.size(); i++) content[i] = static_cast<uint8_t>(i % 253);
    ASSERT_EQ(::pwrite(fd.get(), content.data(), content.size(), 0), 8192);
    UniqueFd direct(::open((dir.path + "/direct").c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!direct) GTEST_SKIP() << "no O_DIRECT on " << dir.path;
    auto node = std::make_shared<MappedFdNode>(std::move(fd), 8192, false);
    node->map_to(std::move(direct));
    std::vector<uint8_t> buf(1000, 0xff);
    ASSERT_TRUE(run(*loop, *engine, node,
                    BlockRequest{.op = BlockOp::Read, .offset = 3, .iov = {iovec{buf.data() + 1, 999}}}));
    EXPECT_EQ(std::vector<uint8_t>(buf.begin() + 1, buf.end()),
              std::vector<uint8_t>(content.begin() + 3, content.begin() + 1002));
}

INSTANTIATE_TEST_SUITE_P(All, EngineKinds, ::testing::Values(EngineKind::Threads, EngineKind::Uring));

// More requests than ring entries: the rest wait in the pending list.
TEST(UringEngine, QueuesBeyondTheRingDepth) {
    TempDir dir;
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(EngineKind::Uring, *loop, 2);
    if (!engine) GTEST_SKIP();
    auto node = std::make_shared<MappedFdNode>(dir.open_file("d", kSize), kSize, false);
    constexpr size_t kCount = 64;
    std::vector<std::vector<uint8_t>> bufs(kCount, std::vector<uint8_t>(512));
    std::vector<size_t> order;
    for (size_t i = 0; i < kCount; i++) {
        std::fill(bufs[i].begin(), bufs[i].end(), static_cast<uint8_t>(i));
        engine->submit(node, rw(BlockOp::Write, i * 512, bufs[i]), [&order, i](Result<> r) {
            EXPECT_TRUE(r);
            order.push_back(i);
        });
    }
    EXPECT_EQ(engine->in_flight(), kCount);
    engine->drain();
    EXPECT_EQ(order.size(), kCount);
    std::vector<uint8_t> back(kCount * 512);
    ASSERT_EQ(::pread(std::static_pointer_cast<MappedFdNode>(node)->map(0, 1, false).fd, back.data(), back.size(), 0),
              static_cast<ssize_t>(back.size()));
    for (size_t i = 0; i < kCount; i++) EXPECT_EQ(back[i * 512], i);
}

// A pipe's write end as the node's host fd: io_uring writes to a pipe with room complete
// inline in io_uring_enter, so what the read end holds shows what reached the kernel.
struct PipeTarget {
    UniqueFd rd, wr;
    std::shared_ptr<MappedFdNode> node;
    PipeTarget() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        rd = UniqueFd(fds[0]);
        wr = UniqueFd(fds[1]);
        node = std::make_shared<MappedFdNode>(UniqueFd(::dup(wr.get())), kSize, false);
        node->map_to(UniqueFd(::dup(wr.get())));
    }
    size_t readable() const {
        uint8_t buf[64];
        const ssize_t n = ::read(rd.get(), buf, sizeof buf);
        return n > 0 ? static_cast<size_t>(n) : 0;
    }
};

// Unplugged, a request reaches the kernel inside submit(), before the home loop runs; its
// completion still waits for the loop.
TEST(UringEngine, UnpluggedRequestReachesTheKernelAtOnce) {
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(EngineKind::Uring, *loop);
    if (!engine) GTEST_SKIP();
    PipeTarget pipe;
    std::vector<uint8_t> buf(16, 0xab);
    bool done = false;
    engine->submit(pipe.node, rw(BlockOp::Write, 0, buf), [&](Result<> r) {
        EXPECT_TRUE(r);
        done = true;
    });
    EXPECT_EQ(pipe.readable(), buf.size());
    EXPECT_FALSE(done);
    engine->drain();
    EXPECT_TRUE(done);
}

// Plugged (nested), requests wait, even across loop rounds, until the last unplug().
TEST(UringEngine, PluggedRequestsWaitForTheLastUnplug) {
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(EngineKind::Uring, *loop);
    if (!engine) GTEST_SKIP();
    PipeTarget pipe;
    std::vector<uint8_t> a(16, 1), b(16, 2);
    size_t done = 0;
    {
        ScopedPlug outer(*engine);
        {
            ScopedPlug inner(*engine);
            engine->submit(pipe.node, rw(BlockOp::Write, 0, a), [&](Result<> r) { done += r ? 1 : 0; });
        }
        engine->submit(pipe.node, rw(BlockOp::Write, 0, b), [&](Result<> r) { done += r ? 1 : 0; });
        loop->run_once(0);
        EXPECT_EQ(pipe.readable(), 0u);
    }
    EXPECT_EQ(pipe.readable(), a.size() + b.size());
    engine->drain();
    EXPECT_EQ(done, 2u);
}

// drain() while plugged submits what is queued instead of waiting forever.
TEST(UringEngine, DrainWhilePluggedSubmits) {
    auto loop = std::move(*EventLoop::create());
    auto engine = make_engine(EngineKind::Uring, *loop);
    if (!engine) GTEST_SKIP();
    PipeTarget pipe;
    std::vector<uint8_t> buf(16, 3);
    bool done = false;
    ScopedPlug plug(*engine);
    engine->submit(pipe.node, rw(BlockOp::Write, 0, buf), [&](Result<> r) { done = static_cast<bool>(r); });
    engine->drain();
    EXPECT_TRUE(done);
    EXPECT_EQ(pipe.readable(), buf.size());
}

TEST(IoEngine, ThreadsModeGivesThreads) {
    auto loop = std::move(*EventLoop::create());
    auto e = make_io_engine(AioMode::Threads, *loop);
    ASSERT_TRUE(e);
    auto n = make_io_engine(AioMode::Native, *loop);
    ASSERT_TRUE(n);
}

// A kernel (or sandbox) without io_uring: the default falls back to threads, an explicit
// aio=io_uring fails with QEMU's message, and other errors are not swallowed.
TEST(IoEngine, UringFallbackOnlyWhenNotExplicit) {
    auto loop = std::move(*EventLoop::create());
    int calls = 0;
    auto refuse = [&calls](int err) {
        return [&calls, err](EventLoop&) -> Result<std::unique_ptr<IoEngine>> {
            ++calls;
            return fail_errno("io_uring_setup", err);
        };
    };
    auto def = make_io_engine(AioMode::IoUring, *loop, false, refuse(EPERM));
    ASSERT_TRUE(def);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ((*def)->in_flight(), 0u);
    auto expl = make_io_engine(AioMode::IoUring, *loop, true, refuse(ENOSYS));
    ASSERT_FALSE(expl);
    EXPECT_EQ(expl.error().msg, "Unable to use io_uring: failed to init linux io_uring ring");
    auto other = make_io_engine(AioMode::IoUring, *loop, false, refuse(ENOMEM));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().sys_errno, ENOMEM);
    // aio=native keeps falling back even when given (QEMU would use Linux AIO there).
    EXPECT_TRUE(make_io_engine(AioMode::Native, *loop, true, refuse(EPERM)));
    // aio=threads never asks for a ring.
    calls = 0;
    EXPECT_TRUE(make_io_engine(AioMode::Threads, *loop, true, refuse(EPERM)));
    EXPECT_EQ(calls, 0);
}

} // namespace
} // namespace nemu::block
