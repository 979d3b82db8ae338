#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include <fstream>
#include <sstream>

#include "chardev/mux.h"
#include "chardev/ringbuf.h"
#include "chardev/test_support.h"

namespace nemu::chardev::test {
namespace {

ChardevOptions opts(std::string backend) {
    ChardevOptions o;
    o.backend = std::move(backend);
    return o;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(Chardev, TypesAreRegisteredUnderAbstractChardev) {
    Env env;
    const qom::TypeInfo* base = env.registry.find("chardev");
    ASSERT_NE(base, nullptr);
    EXPECT_TRUE(base->abstract);
    EXPECT_EQ(base->parent, "object");
    for (const char* t : {"chardev-socket", "chardev-stdio", "chardev-null", "chardev-file", "chardev-pty",
                          "chardev-ringbuf", "chardev-memory", "chardev-mux"}) {
        EXPECT_TRUE(env.registry.is_a(t, "chardev")) << t;
    }
    EXPECT_TRUE(env.registry.is_a("chardev-memory", "chardev-ringbuf"));
    auto r = env.make("x", opts("bogus"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "'bogus' is not a valid char driver name");
}

TEST(Chardev, NullIsAlwaysOpenAndSwallowsOutput) {
    Env env;
    auto chr = env.make("n0", opts("null")).value();
    EXPECT_EQ(chr->filename(), "null");
    EXPECT_TRUE(chr->is_a("chardev"));
    EXPECT_FALSE(chr->frontend_open());
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    EXPECT_EQ(fe.events, std::vector{ChardevEvent::Opened});
    EXPECT_TRUE(chr->frontend_open());
    EXPECT_EQ(chr->write(bytes("abc")).value(), 3u);
    // In use: a second frontend and chardev-remove are refused with QEMU's messages.
    Recorder other;
    auto busy = chr->attach(other);
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().msg, "Device 'n0' is in use");
    auto rm = chr->check_can_remove();
    ASSERT_FALSE(rm);
    EXPECT_EQ(rm.error().msg, "Chardev 'n0' is busy");
    chr->detach(fe);
    EXPECT_TRUE(chr->check_can_remove());
}

TEST(Chardev, FileTruncatesOrAppends) {
    Env env;
    TempDir dir;
    ChardevOptions o = opts("file");
    o.path = dir.file("out.log");
    std::ofstream(o.path) << "old;";
    {
        auto chr = env.make("f0", o).value();
        EXPECT_EQ(chr->filename(), "file");
        EXPECT_TRUE(chr->is_connected());
        ASSERT_TRUE(chr->write(bytes("one;")));
    }
    EXPECT_EQ(slurp(o.path), "one;");
    o.append = true;
    {
        auto chr = env.make("f0", o).value();
        ASSERT_TRUE(chr->write(bytes("two;")));
    }
    EXPECT_EQ(slurp(o.path), "one;two;");
    o.path = dir.file("no/such/dir");
    auto r = env.make("f1", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Could not open '" + o.path + "': No such file or directory");
}

TEST(Chardev, RingbufKeepsTheNewestBytes) {
    Env env;
    ChardevOptions o = opts("ringbuf");
    o.size = 8;
    auto chr = env.make("r0", o).value();
    EXPECT_EQ(chr->filename(), "ringbuf");
    auto& rb = static_cast<RingbufChardev&>(*chr);
    ASSERT_TRUE(rb.write(bytes("abc")));
    EXPECT_EQ(rb.count(), 3u);
    auto first = rb.read(2);
    EXPECT_EQ(std::string(first.begin(), first.end()), "ab");
    ASSERT_TRUE(rb.write(bytes("0123456789")));
    EXPECT_EQ(rb.count(), 8u);
    auto rest = rb.read(100);
    EXPECT_EQ(std::string(rest.begin(), rest.end()), "23456789");
    EXPECT_EQ(rb.count(), 0u);

    o.size = 1000;
    auto bad = env.make("r1", o);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().msg, "size of ringbuf chardev must be power of two");
}

// Silences QEMU's "char device redirected to" line for the duration of a test.
struct QuietStderr {
    int saved = ::dup(2);
    QuietStderr() {
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 2);
        ::close(null);
    }
    ~QuietStderr() {
        ::dup2(saved, 2);
        ::close(saved);
    }
};

TEST(Chardev, PtyConnectsWhenTheSlaveOpens) {
    Env env;
    std::unique_ptr<Chardev> chr;
    {
        QuietStderr quiet;
        chr = env.make("p0", opts("pty")).value();
    }
    std::string fname = chr->filename();
    ASSERT_EQ(fname.rfind("pty:/dev/pts/", 0), 0u) << fname;
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    EXPECT_FALSE(chr->is_connected());
    EXPECT_TRUE(fe.events.empty());

    UniqueFd slave(::open(fname.substr(4).c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
    ASSERT_TRUE(slave);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    EXPECT_EQ(fe.events, std::vector{ChardevEvent::Opened});
    ASSERT_EQ(::write(slave.get(), "to-guest\n", 9), 9);
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "to-guest\n"; }));  // raw: no echo, no CRLF
    ASSERT_TRUE(chr->write(bytes("from-guest\n")));
    std::string got;
    ASSERT_TRUE(run_until(*env.loop, [&] {
        char buf[64];
        ssize_t n = ::read(slave.get(), buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        return got == "from-guest\n";
    }));
    slave.reset();
    ASSERT_TRUE(run_until(*env.loop, [&] { return !chr->is_connected(); }));
    EXPECT_EQ(fe.events.back(), ChardevEvent::Closed);
    chr->detach(fe);
}

// stdio with fds 0 and 1 pointed at socketpairs for the duration of the test.
TEST(Chardev, StdioReadsFd0AndWritesFd1) {
    int in_pair[2], out_pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out_pair), 0);
    int saved0 = ::dup(0), saved1 = ::dup(1);
    ::dup2(in_pair[1], 0);
    ::dup2(out_pair[1], 1);
    {
        Env env;
        auto chr = env.make("st", opts("stdio")).value();
        EXPECT_EQ(chr->filename(), "stdio");
        Recorder fe;
        ASSERT_TRUE(chr->attach(fe));
        EXPECT_EQ(fe.events, std::vector{ChardevEvent::Opened});
        ASSERT_EQ(::write(in_pair[0], "typed", 5), 5);
        EXPECT_TRUE(run_until(*env.loop, [&] { return fe.data == "typed"; }));
        ASSERT_TRUE(chr->write(bytes("printed")));
        char buf[16] = {};
        EXPECT_EQ(::recv(out_pair[0], buf, sizeof buf, 0), 7);
        EXPECT_EQ(std::string(buf), "printed");
        chr->detach(fe);
    }
    ::dup2(saved0, 0);
    ::dup2(saved1, 1);
    for (int fd : {saved0, saved1, in_pair[0], in_pair[1], out_pair[0], out_pair[1]}) ::close(fd);
}

TEST(Chardev, MuxSharesOneBackendAndSwitchesFocusWithCtrlAC) {
    Env env;
    TempDir dir;
    ChardevOptions o = opts("socket");
    o.path = dir.file("mux.sock");
    o.server = true;
    o.wait = false;
    o.mux = true;
    auto chr = env.make("mon0", o).value();
    EXPECT_EQ(chr->filename(), "mux");
    auto& mux = static_cast<MuxChardev&>(*chr);
    ASSERT_NE(mux.base(), nullptr);
    EXPECT_EQ(mux.base()->label(), "mon0-base");
    EXPECT_EQ(mux.base()->filename(), "disconnected:unix:" + o.path + ",server=on");

    Recorder monitor, serial;
    ASSERT_TRUE(chr->attach(monitor));
    ASSERT_TRUE(chr->attach(serial));  // the newest frontend has the focus
    EXPECT_EQ(mux.focus(), 1u);
    EXPECT_EQ(monitor.events, (std::vector{ChardevEvent::MuxIn, ChardevEvent::MuxOut}));

    UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    o.path.copy(sun.sun_path, sizeof sun.sun_path - 1);
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    EXPECT_EQ(serial.events.back(), ChardevEvent::Opened);
    EXPECT_EQ(monitor.events.back(), ChardevEvent::Opened);

    std::string in = "ls\x01" "cinfo\x01\x01" "x\x01" "cok";
    ASSERT_EQ(::send(c.get(), in.data(), in.size(), 0), ssize_t(in.size()));
    ASSERT_TRUE(run_until(*env.loop, [&] { return serial.data == "lsok"; }));
    EXPECT_EQ(monitor.data, "info\x01x");

    // Both frontends' output reaches the one peer.
    ASSERT_TRUE(chr->write(bytes("A")));
    ASSERT_TRUE(chr->write(bytes("B")));
    std::string got;
    ASSERT_TRUE(run_until(*env.loop, [&] {
        char buf[8];
        ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        return got == "AB";
    }));

    bool quit = false;
    mux.set_quit_handler([&] { quit = true; });
    ASSERT_EQ(::send(c.get(), "\x01x", 2, 0), 2);
    ASSERT_TRUE(run_until(*env.loop, [&] { return quit; }));
    EXPECT_FALSE(chr->check_can_remove());
    chr->detach(monitor);
    chr->detach(serial);
    EXPECT_TRUE(chr->check_can_remove());
}

} // namespace
} // namespace nemu::chardev::test
