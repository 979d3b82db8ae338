#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fstream>

#include "chardev/test_support.h"

namespace nemu::chardev::test {
namespace {

UniqueFd unix_client(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    path.copy(sun.sun_path, sizeof sun.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) return UniqueFd();
    return fd;
}

UniqueFd unix_listener(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    path.copy(sun.sun_path, sizeof sun.sun_path - 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0 || ::listen(fd.get(), 4) < 0)
        return UniqueFd();
    return fd;
}

// Non-blocking read of whatever is there into `out`; false once the peer closed.
bool drain(int fd, std::string& out) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
            continue;
        }
        return !(n == 0);
    }
}

void send_all(int fd, std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), 0), ssize_t(s.size())); }

ChardevOptions unix_server(const std::string& path) {
    ChardevOptions o;
    o.backend = "socket";
    o.path = path;
    o.server = true;
    o.wait = false;
    return o;
}

TEST(SocketChardev, UnixServerExchangesBytesAndAcceptsAgain) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    EXPECT_FALSE(chr->is_connected());
    EXPECT_EQ(chr->filename(), "disconnected:unix:" + path + ",server=on");
    EXPECT_EQ(chr->label(), "s1");
    EXPECT_TRUE(chr->frontend_open());
    // Output without a peer is dropped, as in QEMU.
    EXPECT_EQ(chr->write(bytes("lost")).value(), 4u);

    UniqueFd c = unix_client(path);
    ASSERT_TRUE(c);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    EXPECT_EQ(fe.events, std::vector{ChardevEvent::Opened});
    EXPECT_EQ(chr->filename(), "unix:" + path + ",server=on");
    EXPECT_EQ(chr->get_property("connected").value(), Json(true));

    send_all(c.get(), "hello");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "hello"; }));
    EXPECT_EQ(chr->write(bytes("world")).value(), 5u);
    std::string got;
    ASSERT_TRUE(run_until(*env.loop, [&] { drain(c.get(), got); return got == "world"; }));

    c.reset();
    ASSERT_TRUE(run_until(*env.loop, [&] { return !chr->is_connected(); }));
    EXPECT_EQ(fe.events, (std::vector{ChardevEvent::Opened, ChardevEvent::Closed}));
    EXPECT_EQ(chr->filename(), "disconnected:unix:" + path + ",server=on");

    UniqueFd c2 = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    send_all(c2.get(), "again");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "helloagain"; }));
    chr->detach(fe);
    chr.reset();
    // The socket file we created is removed on close.
    struct stat st {};
    EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

TEST(SocketChardev, OneClientAtATimeSecondWaitsInBacklog) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd a = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    UniqueFd b = unix_client(path);  // queued, not served
    ASSERT_TRUE(b);
    send_all(b.get(), "B");
    send_all(a.get(), "A");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "A"; }));
    for (int i = 0; i < 5; i++) env.loop->run_once(0);
    EXPECT_EQ(fe.data, "A");
    a.reset();
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "AB"; }));
    EXPECT_EQ(fe.events, (std::vector{ChardevEvent::Opened, ChardevEvent::Closed, ChardevEvent::Opened}));
}

TEST(SocketChardev, FlowControlPausesAndResumesInput) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    fe.room = 3;
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd c = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    send_all(c.get(), "abcdefgh");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "abc"; }));
    for (int i = 0; i < 5; i++) env.loop->run_once(0);
    EXPECT_EQ(fe.data, "abc");
    fe.room = 100;
    chr->accept_input();
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "abcdefgh"; }));
}

TEST(SocketChardev, WriteBuffersUnderBackPressureWithoutBlocking) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd c = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    // Far more than the socket buffers hold: write() must return at once with all accepted.
    std::string big(4 * 1024 * 1024, '\0');
    for (size_t i = 0; i < big.size(); i++) big[i] = char('a' + i % 26);
    EXPECT_EQ(chr->write(bytes(big)).value(), big.size());
    EXPECT_EQ(chr->write(bytes("END")).value(), 3u);
    std::string got;
    ASSERT_TRUE(run_until(*env.loop, [&] { drain(c.get(), got); return got.size() >= big.size() + 3; }, 2000));
    EXPECT_EQ(got, big + "END");
    EXPECT_TRUE(chr->is_connected());
}

TEST(SocketChardev, StuckPeerPastTheBoundIsDropped) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd c = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    std::string chunk(1024 * 1024, 'x');
    bool failed = false;
    for (size_t i = 0; i < kMaxOutputBuffer / chunk.size() + 4 && !failed; i++) failed = !chr->write(bytes(chunk));
    EXPECT_TRUE(failed);
    ASSERT_TRUE(run_until(*env.loop, [&] { return !chr->is_connected(); }));
    EXPECT_EQ(fe.events.back(), ChardevEvent::Closed);
}

TEST(SocketChardev, PeerGoneDuringWriteIsClosedNotFatal) {
    Env env;
    TempDir dir;
    std::string path = dir.file("s.sock");
    auto chr = env.make("s1", unix_server(path)).value();
    Recorder fe;
    fe.room = 0;  // not reading: the hang-up is seen through the write
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd c = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    c.reset();
    for (int i = 0; i < 3 && chr->is_connected(); i++) {
        [[maybe_unused]] auto r = chr->write(bytes("ping"));
        env.loop->run_once(0);
    }
    EXPECT_FALSE(chr->is_connected());
}

TEST(SocketChardev, ListeningFdPassedLikeLibvirt) {
    Env env;
    TempDir dir;
    std::string path = dir.file("lv.sock");
    UniqueFd l = unix_listener(path);
    ASSERT_TRUE(l);
    ChardevOptions o;
    o.backend = "socket";
    o.fd = l.release();
    o.server = true;
    o.wait = false;
    auto chr = env.make("charmonitor", o).value();
    EXPECT_EQ(chr->filename(), "disconnected:unix:" + path + ",server=on");
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    UniqueFd c = unix_client(path);
    ASSERT_TRUE(run_until(*env.loop, [&] { return chr->is_connected(); }));
    send_all(c.get(), "{}");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "{}"; }));
    chr->detach(fe);
    chr.reset();
    // Not ours: the path stays.
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
}

TEST(SocketChardev, NonSocketFdIsRefused) {
    Env env;
    ChardevOptions o;
    o.backend = "socket";
    o.fd = ::dup(0);
    o.server = true;
    o.wait = false;
    struct stat st {};
    ASSERT_EQ(::fstat(*o.fd, &st), 0);
    if (S_ISSOCK(st.st_mode)) GTEST_SKIP() << "stdin is a socket here";
    auto r = env.make("x", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, fmt::format("File descriptor '{}' is not a socket", *o.fd));
    ::close(*o.fd);
}

TEST(SocketChardev, UnixClientConnectsAtOpen) {
    Env env;
    TempDir dir;
    std::string path = dir.file("qtest.sock");
    UniqueFd l = unix_listener(path);
    ChardevOptions o;
    o.backend = "socket";
    o.path = path;
    auto chr = env.make("qtest", o).value();
    EXPECT_TRUE(chr->is_connected());
    EXPECT_EQ(chr->filename(), "unix:");
    UniqueFd peer(::accept(l.get(), nullptr, nullptr));
    ASSERT_TRUE(peer);
    Recorder fe;
    ASSERT_TRUE(chr->attach(fe));
    EXPECT_EQ(fe.events, std::vector{ChardevEvent::Opened});
    send_all(peer.get(), "readb 0x1000\n");
    ASSERT_TRUE(run_until(*env.loop, [&] { return fe.data == "readb 0x1000\n"; }));
    EXPECT_EQ(chr->write(bytes("OK 0x00\n")).value(), 8u);
    std::string got;
    ASSERT_TRUE(run_until(*env.loop, [&] { drain(peer.get(), got); return got == "OK 0x00\n"; }));
    peer.reset();
    ASSERT_TRUE(run_until(*env.loop, [&] { return !chr->is_connected(); }));
    EXPECT_EQ(chr->filename(), "disconnected:unix:" + path);
}

TEST(SocketChardev, ClientConnectFailureMessage) {
    Env env;
    TempDir dir;
    ChardevOptions o;
    o.backend = "socket";
    o.path = dir.file("none.sock");
    auto r = env.make("c", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Failed to connect to '" + o.path + "': No such file or directory");
}

TEST(SocketChardev, TcpServerAndClientOnLoopback) {
    Env env;
    for (const char* host : {"127.0.0.1", "::1"}) {
        ChardevOptions o;
        o.backend = "socket";
        o.host = host;
        o.port = "0";
        o.server = true;
        o.wait = false;
        o.nodelay = true;
        auto srv = env.make("t", o);
        if (!srv && std::string(host) == "::1") continue;  // no IPv6 loopback here
        ASSERT_TRUE(srv) << srv.error().msg;
        std::string fname = (*srv)->filename();
        std::string prefix = fmt::format("disconnected:tcp:{}:", host);
        ASSERT_EQ(fname.rfind(prefix, 0), 0u) << fname;
        std::string port = fname.substr(prefix.size(), fname.size() - prefix.size() - strlen(",server=on"));
        Recorder sfe;
        ASSERT_TRUE((*srv)->attach(sfe));

        ChardevOptions co;
        co.backend = "socket";
        co.host = host;
        co.port = port;
        auto cli = env.make("c", co).value();
        Recorder cfe;
        ASSERT_TRUE(cli->attach(cfe));
        ASSERT_TRUE(run_until(*env.loop, [&] { return (*srv)->is_connected(); }));
        bool v6 = std::string(host) == "::1";
        std::string h = v6 ? "[::1]" : host;
        EXPECT_EQ((*srv)->filename().rfind(fmt::format("tcp:{}:{},server=on <-> {}:", h, port, h), 0), 0u)
            << (*srv)->filename();
        EXPECT_NE(cli->filename().find(fmt::format(" <-> {}:{}", h, port)), std::string::npos) << cli->filename();
        ASSERT_TRUE(cli->write(bytes("ping")));
        ASSERT_TRUE(run_until(*env.loop, [&] { return sfe.data == "ping"; }));
        ASSERT_TRUE((*srv)->write(bytes("pong")));
        ASSERT_TRUE(run_until(*env.loop, [&] { return cfe.data == "pong"; }));
        cli->detach(cfe);
        cli.reset();
        ASSERT_TRUE(run_until(*env.loop, [&] { return !(*srv)->is_connected(); }));
        (*srv)->detach(sfe);
    }
}

TEST(SocketChardev, StaleSocketReplacedButRegularFileKept) {
    Env env;
    TempDir dir;
    std::string stale = dir.file("stale.sock");
    { UniqueFd l = unix_listener(stale); }  // bound, then closed: nobody listens
    EXPECT_TRUE(env.make("a", unix_server(stale)));

    std::string plain = dir.file("plain");
    std::ofstream(plain) << "keep";
    auto r = env.make("b", unix_server(plain));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Failed to bind socket to " + plain + ": Address already in use");
    std::ifstream in(plain);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "keep");
}

} // namespace
} // namespace nemu::chardev::test
