#include "util/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

namespace nemu {
namespace {

TEST(EventLoop, DispatchesReadableFdAndQuits) {
    auto loop = std::move(EventLoop::create()).value();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd a(sv[0]), b(sv[1]);
    std::string got;
    ASSERT_TRUE(loop->add_fd(a.get(), EPOLLIN, [&](uint32_t) {
        char buf[16];
        auto n = ::read(a.get(), buf, sizeof buf);
        got.assign(buf, n > 0 ? n : 0);
        loop->remove_fd(a.get());
        loop->quit(3);
    }));
    ASSERT_EQ(::write(b.get(), "hi", 2), 2);
    EXPECT_EQ(loop->run(), 3);
    EXPECT_EQ(got, "hi");
}

TEST(EventLoop, DeferredCallsRunInOrder) {
    auto loop = std::move(EventLoop::create()).value();
    std::string order;
    loop->defer([&] {
        order += "a";
        loop->defer([&] { order += "c"; loop->quit(); });
    });
    loop->defer([&] { order += "b"; });
    loop->run();
    EXPECT_EQ(order, "abc");
}

TEST(EventLoop, PostFromAnotherThreadWakesTheLoop) {
    auto loop = std::move(EventLoop::create()).value();
    int value = 0;
    std::thread t([&] { loop->post([&] { value = 42; loop->quit(); }); });
    loop->run();
    t.join();
    EXPECT_EQ(value, 42);
}

} // namespace
} // namespace nemu
