// chardev-socket: unix and TCP, server (one connection at a time, as QEMU) and client, an
// inherited fd (libvirt's "-chardev socket,fd=N,server=on,wait=off" passes a listening
// socket), client reconnect. Filenames and messages follow QEMU 7.2 chardev/char-socket.c
// and util/qemu-sockets.c.

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>

#include "chardev/backends.h"
#include "chardev/chardev.h"
#include "chardev/fd_stream.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev {

namespace {

std::string host_of(const sockaddr* sa, socklen_t len, std::string* port) {
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    ::getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
    *port = serv;
    return host;
}

// SocketAddress_to_str of a bound socket's address: "unix:/p", "tcp:::1:5000" (no brackets).
std::string local_address_text(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "unknown";
    if (ss.ss_family == AF_UNIX) return std::string("unix:") + reinterpret_cast<sockaddr_un*>(&ss)->sun_path;
    std::string port;
    std::string host = host_of(reinterpret_cast<sockaddr*>(&ss), len, &port);
    return fmt::format("tcp:{}:{}", host, port);
}

Result<sockaddr_un> unix_address(const std::string& path) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof sun.sun_path)
        return fail("UNIX socket path '{}' is too long", path);
    path.copy(sun.sun_path, path.size());
    return sun;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    sockaddr_un sun = TRY(unix_address(path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("Failed to create socket", errno);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0)
        return fail_errno(fmt::format("Failed to connect to '{}'", path), errno);
    return fd;
}

struct AddrInfoDeleter {
    void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

Result<AddrInfoPtr> resolve(const std::string& host, const std::string& port, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return fail("address resolution failed for {}:{}: {}", host, port, ::gai_strerror(rc));
    return AddrInfoPtr(res);
}

Result<UniqueFd> connect_tcp(const std::string& host, const std::string& port) {
    AddrInfoPtr ai = TRY(resolve(host, port, false));
    int err = ECONNREFUSED;
    for (addrinfo* a = ai.get(); a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) {
            err = errno;
            continue;
        }
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
        err = errno;
    }
    return fail_errno(fmt::format("Failed to connect to '{}:{}'", host, port), err);
}

Result<UniqueFd> listen_tcp(const std::string& host, const std::string& port) {
    AddrInfoPtr ai = TRY(resolve(host, port, true));
    int err = EADDRINUSE;
    for (addrinfo* a = ai.get(); a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
        if (!fd) return fail_errno("Failed to create socket", errno);
        int on = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd.get(), 1) == 0) return fd;
        err = errno;
    }
    return fail_errno("Failed to find an available port", err);
}

Result<> set_nonblock_cloexec(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail_errno("fcntl", errno);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return {};
}

} // namespace

class SocketChardev final : public Chardev {
public:
    UniqueFd take_received_fd() override { return m_stream ? m_stream->take_received_fd() : UniqueFd(); }

    ~SocketChardev() override {
        m_stream.reset();
        watch_listener(false);
        if (m_timer) loop().remove_fd(m_timer.get());
        remove_our_socket_file();
    }

    Result<size_t> write(std::span<const uint8_t> data) override {
        // QEMU's tcp_chr_write: without a peer the data is dropped.
        if (!m_stream) return data.size();
        return m_stream->write(data);
    }

    std::string filename() const override {
        const char* server = m_server ? ",server=on" : "";
        if (m_stream) return m_connected_name;
        return fmt::format("disconnected:{}{}", m_address, server);
    }

protected:
    Result<> open_backend(const ChardevOptions& o) override {
        m_server = o.server;
        m_nodelay = o.nodelay;
        m_reconnect = o.reconnect;
        m_opts = o;
        if (o.telnet) return fail("chardev: socket: telnet is not supported");
        if (!o.tls_creds.empty()) return fail("chardev: socket: 'tls-creds' is not supported");
        if (o.server) {
            TRY(open_listener(o));
            if (o.wait) {
                // QEMU blocks start-up until the first client arrives (server=on,wait=on).
                fmt::print(stderr, "info: QEMU waiting for connection on: {}\n", filename());
                pollfd p{m_listen.get(), POLLIN, 0};
                while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
                }
                accept_one();
            }
            if (!m_stream) watch_listener(true);
            return {};
        }
        if (o.fd) {
            UniqueFd fd = TRY(take_fd(*o.fd));
            m_address = fmt::format("fd:{}", *o.fd);
            return adopt(std::move(fd));
        }
        m_address = o.path.empty() ? fmt::format("tcp:{}:{}", o.host, o.port) : "unix:" + o.path;
        auto fd = connect_now();
        if (!fd) {
            // With reconnect, QEMU connects in the background and keeps trying.
            if (m_reconnect == 0) return make_error(std::move(fd).error());
            return arm_reconnect();
        }
        return adopt(std::move(*fd));
    }

    void update_input() override {
        if (m_stream) m_stream->update_input();
    }

private:
    Result<UniqueFd> take_fd(int n) {
        struct stat st {};
        if (n < 0 || ::fstat(n, &st) < 0 || !S_ISSOCK(st.st_mode))
            return fail("File descriptor '{}' is not a socket", n);
        UniqueFd fd(n);
        TRY(set_nonblock_cloexec(fd.get()));
        return fd;
    }

    Result<> open_listener(const ChardevOptions& o) {
        if (o.fd) {
            m_listen = TRY(take_fd(*o.fd));
            int acc = 0;
            socklen_t len = sizeof acc;
            ::getsockopt(m_listen.get(), SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
            if (!acc && ::listen(m_listen.get(), 1) < 0) return fail_errno("Failed to listen on socket", errno);
        } else if (!o.path.empty()) {
            TRY(listen_unix(o.path));
        } else {
            m_listen = TRY(listen_tcp(o.host, o.port));
        }
        // QEMU shows the bound address (a resolved host, the path of an inherited fd).
        m_address = local_address_text(m_listen.get());
        return {};
    }

    Result<> listen_unix(const std::string& path) {
        sockaddr_un sun = TRY(unix_address(path));
        remove_stale_socket(path);
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd) return fail_errno("Failed to create socket", errno);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0)
            return fail_errno(fmt::format("Failed to bind socket to {}", path), errno);
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            m_bound_path = path;
            m_bound_dev = st.st_dev;
            m_bound_ino = st.st_ino;
        }
        if (::listen(fd.get(), 1) < 0) return fail_errno("Failed to listen on socket", errno);
        m_listen = std::move(fd);
        return {};
    }

    // QEMU unlinks whatever is at the path before bind(). We only remove a socket nobody
    // listens on (left by a previous run); anything else makes bind() fail with EADDRINUSE.
    static void remove_stale_socket(const std::string& path) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return;
        sockaddr_un sun = *unix_address(path);
        UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0 &&
            errno == ECONNREFUSED)
            ::unlink(path.c_str());
    }

    // QEMU unlinks its server socket on close; we do so only if the path is still ours.
    void remove_our_socket_file() {
        if (m_bound_path.empty()) return;
        struct stat st {};
        if (::lstat(m_bound_path.c_str(), &st) == 0 && st.st_dev == m_bound_dev && st.st_ino == m_bound_ino)
            ::unlink(m_bound_path.c_str());
    }

    Result<UniqueFd> connect_now() {
        UniqueFd fd = m_opts.path.empty() ? TRY(connect_tcp(m_opts.host, m_opts.port)) : TRY(connect_unix(m_opts.path));
        TRY(set_nonblock_cloexec(fd.get()));
        return fd;
    }

    void watch_listener(bool on) {
        if (on == m_listen_watched || !m_listen) return;
        if (on) {
            m_listen_watched = static_cast<bool>(loop().add_fd(m_listen.get(), EPOLLIN, [this](uint32_t) { accept_one(); }));
        } else {
            loop().remove_fd(m_listen.get());
            m_listen_watched = false;
        }
    }

    void accept_one() {
        if (m_stream) return;
        UniqueFd conn(::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn) return;  // EAGAIN or a client that left already: keep listening
        // One client at a time: later ones wait in the backlog until this one leaves.
        if (adopt(std::move(conn))) watch_listener(false);
    }

    Result<> adopt(UniqueFd conn) {
        int fd = conn.get();
        sockaddr_storage ss{}, ps{};
        socklen_t sl = sizeof ss, pl = sizeof ps;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&ps), &pl);
        const char* server = m_server ? ",server=on" : "";
        if (ss.ss_family == AF_UNIX) {
            m_connected_name = fmt::format("unix:{}{}", reinterpret_cast<sockaddr_un*>(&ss)->sun_path, server);
        } else {
            // qemu_chr_compute_filename: IPv6 hosts in brackets.
            bool v6 = ss.ss_family == AF_INET6;
            std::string lport, pport;
            std::string lhost = host_of(reinterpret_cast<sockaddr*>(&ss), sl, &lport);
            std::string phost = host_of(reinterpret_cast<sockaddr*>(&ps), pl, &pport);
            if (v6) {
                lhost = "[" + lhost + "]";
                phost = "[" + phost + "]";
            }
            m_connected_name = fmt::format("tcp:{}:{}{} <-> {}:{}", lhost, lport, server, phost, pport);
            if (m_nodelay) {
                int on = 1;
                ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            }
        }
        FdStream::Callbacks cb;
        cb.can_receive = [this] { return frontend_can_receive(); };
        cb.receive = [this](std::span<const uint8_t> d) { deliver(d); };
        cb.hangup = [this] { on_hangup(); };
        sockaddr_storage peer_ss{};
        socklen_t peer_len = sizeof peer_ss;
        bool is_unix = ::getsockname(conn.get(), reinterpret_cast<sockaddr*>(&peer_ss), &peer_len) == 0 &&
                       peer_ss.ss_family == AF_UNIX;
        m_stream = TRY(FdStream::create(loop(), std::move(conn), UniqueFd(), std::move(cb)));
        if (is_unix) m_stream->enable_fd_passing();
        set_connected(true);
        return {};
    }

    void on_hangup() {
        m_stream.reset();
        set_connected(false);
        if (m_server) {
            watch_listener(true);
        } else if (m_reconnect > 0) {
            [[maybe_unused]] auto r = arm_reconnect();
        }
    }

    // Client reconnect: try again every m_reconnect seconds (QEMU's "reconnect" option).
    Result<> arm_reconnect() {
        if (!m_timer) {
            m_timer = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
            if (!m_timer) return fail_errno("timerfd_create", errno);
            TRY(loop().add_fd(m_timer.get(), EPOLLIN, [this](uint32_t) { on_reconnect_timer(); }));
        }
        itimerspec its{};
        its.it_value.tv_sec = static_cast<time_t>(m_reconnect);
        if (::timerfd_settime(m_timer.get(), 0, &its, nullptr) < 0) return fail_errno("timerfd_settime", errno);
        return {};
    }

    void on_reconnect_timer() {
        uint64_t ticks;
        [[maybe_unused]] auto n = ::read(m_timer.get(), &ticks, sizeof ticks);
        if (m_stream) return;
        auto fd = connect_now();
        bool ok = fd && adopt(std::move(*fd));
        if (!ok) {
            [[maybe_unused]] auto r = arm_reconnect();
        }
    }

    bool m_server = false;
    bool m_nodelay = false;
    uint64_t m_reconnect = 0;
    ChardevOptions m_opts;
    std::string m_address;         // SocketAddress_to_str form, for the disconnected filename
    std::string m_connected_name;  // filename while connected
    UniqueFd m_listen;
    bool m_listen_watched = false;
    std::unique_ptr<FdStream> m_stream;
    UniqueFd m_timer;
    std::string m_bound_path;
    dev_t m_bound_dev = 0;
    ino_t m_bound_ino = 0;
};

void register_socket_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-socket";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<SocketChardev>(); };
    qom::PropertyDef connected;
    connected.name = "connected";
    connected.type = "bool";
    connected.get = [](const qom::Object& o) -> Result<Json> {
        return Json(static_cast<const Chardev&>(o).is_connected());
    };
    t.properties.push_back(std::move(connected));
    registry.add(std::move(t));
}

} // namespace nemu::chardev
