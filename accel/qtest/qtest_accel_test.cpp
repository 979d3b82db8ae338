#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "accel/qtest/qtest_accel.h"

namespace nemu::qtest {
namespace {

struct Target : QtestTarget {
    std::unique_ptr<memory::MemoryRegion> sys = memory::MemoryRegion::container("system", memory::kWholeSpace);
    std::unique_ptr<memory::MemoryRegion> io_root = memory::MemoryRegion::container("io", 0x10000);
    memory::AddressSpace mem{"memory", *sys};
    memory::AddressSpace io_as{"I/O", *io_root};
    hw::VirtualClock vclock;
    memory::AddressSpace& memory() override { return mem; }
    memory::AddressSpace& io() override { return io_as; }
    hw::VirtualClock& clock() override { return vclock; }
    Result<hw::GpioList*> find_gpios(std::string_view) override { return fail("none"); }
};

std::string read_some(int fd, size_t want) {
    std::string got;
    char buf[256];
    while (got.size() < want) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) break;
        got.append(buf, size_t(r));
    }
    return got;
}

TEST(QtestAccel, RepliesOverSocketAndReportsDisconnect) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.has_value());
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    UniqueFd client(sv[1]);
    Target t;
    bool disconnected = false;
    auto q = QtestAccel::create(**loop, UniqueFd(sv[0]), t, [&] {
        disconnected = true;
        (*loop)->quit();
    });
    ASSERT_TRUE(q.has_value());
    std::string req = "endianness\nclock_st";
    ASSERT_EQ(::write(client.get(), req.data(), req.size()), ssize_t(req.size()));
    (*loop)->run_once(1000);
    ASSERT_EQ(::write(client.get(), "ep 5\n", 5), 5);
    (*loop)->run_once(1000);
    EXPECT_EQ(read_some(client.get(), 15), "OK little\nOK 5\n");
    client.reset();
    (*loop)->run();
    EXPECT_TRUE(disconnected);
    EXPECT_FALSE((*q)->connected());
}

TEST(QtestAccel, ConnectUnixReachesListener) {
    std::string path = ::testing::TempDir() + "qtest-accel-" + std::to_string(::getpid()) + ".sock";
    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    auto fd = connect_unix(path);
    ASSERT_TRUE(fd.has_value());
    UniqueFd peer(::accept(listener.get(), nullptr, nullptr));
    EXPECT_TRUE(peer.valid());
    ::unlink(path.c_str());
    auto bad = connect_unix(path);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().msg, "Failed to connect to '" + path + "': No such file or directory");
}

} // namespace
} // namespace nemu::qtest
