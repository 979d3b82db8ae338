// rng-backend, rng-random and rng-builtin: QEMU 7.2's properties and messages, and requests
// served on a real event loop (a FIFO, a regular file, /dev/urandom, getrandom).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/backends_test_support.h"
#include "backends/rng_backend.h"
#include "backends/rng_random.h"
#include "util/event_loop.h"

namespace nemu::backends {
namespace {

class RngBackendTest : public test::BackendFixture<RngBackend, register_rng_backend_types> {
protected:
    void SetUp() override {
        BackendFixture::SetUp();
        m_loop = std::move(*EventLoop::create());
    }
    // Queue a request whose bytes are appended to `out`.
    uint64_t ask(RngBackend& b, size_t max, std::vector<std::string>& out) {
        auto t = b.request(*m_loop, max, [&out](std::span<const uint8_t> d) { out.emplace_back(d.begin(), d.end()); });
        EXPECT_TRUE(t) << (t ? "" : t.error().msg);
        return t ? *t : 0;
    }
    // Dispatch until `out` holds n answers (bounded: a lost wake-up fails, never hangs).
    void run_until(const std::vector<std::string>& out, size_t n) {
        for (int i = 0; i < 200 && out.size() < n; i++) m_loop->run_once(50);
    }
    void spin() {
        for (int i = 0; i < 3; i++) m_loop->run_once(0);
    }

    std::unique_ptr<EventLoop> m_loop;
};

std::vector<std::string> names(const std::vector<const qom::PropertyDef*>& props) {
    std::vector<std::string> out;
    for (const auto* p : props) out.push_back(p->name + ":" + p->type);
    return out;
}

TEST_F(RngBackendTest, TypesAndPropertiesAsQemu) {
    // qom-list-properties in QEMU 7.2: type, opened (bool) [, filename (string)].
    ASSERT_NE(m_types.find("rng-backend"), nullptr);
    EXPECT_TRUE(m_types.find("rng-backend")->abstract);
    EXPECT_TRUE(m_types.is_a("rng-random", "user-creatable"));
    EXPECT_EQ(names(m_types.class_properties("rng-backend")), std::vector<std::string>{"opened:bool"});
    EXPECT_EQ(names(m_types.class_properties("rng-random")),
              (std::vector<std::string>{"opened:bool", "filename:string"}));
    EXPECT_EQ(names(m_types.class_properties("rng-builtin")), std::vector<std::string>{"opened:bool"});
    EXPECT_FALSE(m_types.create("rng-backend"));
}

TEST_F(RngBackendTest, RandomMissingFileIsQemusMessage) {
    auto r = make("rng-random", "r", {{"filename", "/nonexistent"}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Could not open '/nonexistent': No such file or directory");
    EXPECT_EQ(m_objects->child("r"), nullptr);
    r = make("rng-random", "r", {{"filename", ""}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Could not open '': No such file or directory");
}

TEST_F(RngBackendTest, RandomPropertiesBeforeAndAfterOpen) {
    auto obj = std::move(*m_types.create("rng-random"));
    EXPECT_EQ(*obj->get_property("filename"), "/dev/urandom");
    EXPECT_EQ(*obj->get_property("opened"), false);
    auto added = *m_objects->add_child("r", std::move(obj));
    ASSERT_TRUE(added->complete());
    EXPECT_EQ(*added->get_property("opened"), true);
    auto e = added->set_property("filename", "/x");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Property 'filename' can no longer be set");
    e = added->set_property("opened", true);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Property 'rng-random.opened' is not writable");
    e = added->set_property_string("filename", "/y");
    ASSERT_FALSE(e);
    EXPECT_EQ(*added->get_property("filename"), "/dev/urandom");
}

TEST_F(RngBackendTest, RandomReadsAFifoWhenReadable) {
    std::string fifo = (m_dir / "fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto* b = *make("rng-random", "r", {{"filename", fifo}});
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(writer);

    std::vector<std::string> got;
    ask(*b, 4, got);
    spin();
    EXPECT_TRUE(got.empty());   // nothing written yet: the request waits
    ASSERT_EQ(::write(writer.get(), "abcdef", 6), 6);
    run_until(got, 1);
    ASSERT_EQ(got, std::vector<std::string>{"abcd"});   // at most max_bytes
    ask(*b, 100, got);
    run_until(got, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1], "ef");                            // a short read is delivered as is

    // A cancelled request never answers and leaves the bytes for the next one.
    uint64_t t = ask(*b, 3, got);
    b->cancel(t);
    EXPECT_EQ(b->pending(), 0u);
    ASSERT_EQ(::write(writer.get(), "xyz", 3), 3);
    spin();
    EXPECT_EQ(got.size(), 2u);
    ask(*b, 3, got);
    run_until(got, 3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[2], "xyz");
}

TEST_F(RngBackendTest, RandomQueuedRequestsAnswerInOrder) {
    std::string fifo = (m_dir / "fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto* b = *make("rng-random", "r", {{"filename", fifo}});
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    std::vector<std::string> got;
    ask(*b, 2, got);
    ask(*b, 2, got);
    ask(*b, 2, got);
    EXPECT_EQ(b->pending(), 3u);
    ASSERT_EQ(::write(writer.get(), "112233", 6), 6);
    run_until(got, 3);
    EXPECT_EQ(got, (std::vector<std::string>{"11", "22", "33"}));
    EXPECT_EQ(b->pending(), 0u);
}

TEST_F(RngBackendTest, RandomDevUrandomFillsRequests) {
    auto* b = *make("rng-random", "r", Json::object());
    std::vector<std::string> got;
    ask(*b, 64, got);
    ask(*b, RngBackend::kMaxRequestBytes + 10, got);   // clamped
    run_until(got, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].size(), 64u);
    EXPECT_EQ(got[1].size(), RngBackend::kMaxRequestBytes);
}

TEST_F(RngBackendTest, RandomRegularFileThenEndOfFile) {
    // epoll refuses regular files: they are read from deferred calls. At EOF the backend
    // warns once and stops; the request stays queued.
    std::string path = (m_dir / "pool").string();
    {
        UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_EQ(::write(f.get(), "seed", 4), 4);
    }
    auto* b = *make("rng-random", "r", {{"filename", path}});
    std::vector<std::string> got;
    ask(*b, 10, got);
    run_until(got, 1);
    ASSERT_EQ(got, std::vector<std::string>{"seed"});
    ::testing::internal::CaptureStderr();
    ask(*b, 10, got);
    spin();
    std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(got.size(), 1u);
    EXPECT_EQ(b->pending(), 1u);
    EXPECT_NE(err.find("end of file"), std::string::npos) << err;
    b->cancel_all();
    EXPECT_EQ(b->pending(), 0u);
}

TEST_F(RngBackendTest, BuiltinAnswersAfterRequestReturns) {
    auto* b = *make("rng-builtin", "b", Json::object());
    EXPECT_EQ(*b->get_property("opened"), true);
    std::vector<std::string> got;
    ask(*b, 100, got);
    ask(*b, 1, got);
    EXPECT_TRUE(got.empty());   // never from inside request()
    spin();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].size(), 100u);
    EXPECT_EQ(got[1].size(), 1u);
    EXPECT_NE(got[0], std::string(100, '\0'));
}

TEST_F(RngBackendTest, BuiltinCancelAndRequestFromCallback) {
    auto* b = *make("rng-builtin", "b", Json::object());
    std::vector<std::string> got;
    uint64_t t = ask(*b, 8, got);
    b->cancel(t);
    spin();
    EXPECT_TRUE(got.empty());
    // A callback asking again (what a device draining its queue does) is served next round.
    int rounds = 0;
    std::function<void(std::span<const uint8_t>)> again = [&](std::span<const uint8_t> d) {
        got.emplace_back(d.begin(), d.end());
        if (++rounds < 3) {
            ASSERT_TRUE(b->request(*m_loop, 4, again));
        }
    };
    ASSERT_TRUE(b->request(*m_loop, 4, again));
    spin();
    EXPECT_EQ(got.size(), 3u);
}

TEST_F(RngBackendTest, BuiltinDestroyedWithRequestsPending) {
    auto* b = *make("rng-builtin", "b", Json::object());
    bool called = false;
    ASSERT_TRUE(b->request(*m_loop, 8, [&](std::span<const uint8_t>) { called = true; }));
    m_objects->remove_child("b");   // the deferred serve finds the backend gone
    spin();
    EXPECT_FALSE(called);
}

TEST_F(RngBackendTest, RequestChecksAndInUse) {
    auto* b = *make("rng-builtin", "b", Json::object());
    auto r = b->request(*m_loop, 0, [](std::span<const uint8_t>) {});
    EXPECT_FALSE(r);
    auto other = std::move(*EventLoop::create());
    ASSERT_TRUE(b->request(*m_loop, 1, [](std::span<const uint8_t>) {}));
    EXPECT_FALSE(b->request(*other, 1, [](std::span<const uint8_t>) {}));
    b->cancel_all();

    std::weak_ptr<void> life = b->lifetime();
    b->add_user();
    auto e = b->check_can_remove();
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "object 'b' is in use, can not be deleted");
    b->remove_user();
    EXPECT_TRUE(b->check_can_remove());
    m_objects->remove_child("b");
    EXPECT_TRUE(life.expired());
}

} // namespace
} // namespace nemu::backends
