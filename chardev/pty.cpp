// chardev-pty: a pseudo-terminal master; the user opens the slave (/dev/pts/N) with a
// terminal program (QEMU chardev/char-pty.c). The master reports EPOLLHUP while no slave is
// open, so we watch the slave's inode with inotify (IN_OPEN) instead of QEMU's 1 s poll
// timer, and watch the master only while connected.

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <termios.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "chardev/backends.h"
#include "chardev/chardev.h"
#include "chardev/fd_stream.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev {

namespace {

class PtyChardev final : public Chardev {
public:
    ~PtyChardev() override {
        m_stream.reset();
        if (m_inotify) loop().remove_fd(m_inotify.get());
    }

    // QEMU's pty_chr_write: output without a reader is dropped.
    Result<size_t> write(std::span<const uint8_t> data) override {
        if (!m_stream) return data.size();
        return m_stream->write(data);
    }
    std::string filename() const override { return "pty:" + m_slave; }

protected:
    Result<> open_backend(const ChardevOptions&) override {
        m_master = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!m_master) return fail_errno("Failed to create PTY", errno);
        if (::grantpt(m_master.get()) < 0 || ::unlockpt(m_master.get()) < 0)
            return fail_errno("Failed to create PTY", errno);
        char name[64];
        if (::ptsname_r(m_master.get(), name, sizeof name) != 0) return fail_errno("Failed to create PTY", errno);
        m_slave = name;
        int fl = ::fcntl(m_master.get(), F_GETFL);
        ::fcntl(m_master.get(), F_SETFL, fl | O_NONBLOCK);
        // Raw line discipline (termios calls on the master act on the pair).
        termios t{};
        if (::tcgetattr(m_master.get(), &t) == 0) {
            ::cfmakeraw(&t);
            ::tcsetattr(m_master.get(), TCSANOW, &t);
        }
        // A master whose slave was never opened does not report a hang-up; open and close
        // the slave once so that "no reader" reads as POLLHUP (QEMU's qemu_openpty_raw does too).
        { UniqueFd slave(::open(m_slave.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC)); }
        m_inotify = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        if (!m_inotify) return fail_errno("inotify_init1", errno);
        if (::inotify_add_watch(m_inotify.get(), m_slave.c_str(), IN_OPEN) < 0) return fail_errno("inotify_add_watch", errno);
        TRY(loop().add_fd(m_inotify.get(), EPOLLIN, [this](uint32_t) { on_slave_opened(); }));
        // QEMU prints this line (chardev/char-pty.c) for users and scripts to find the slave.
        fmt::print(stderr, "char device redirected to {} (label {})\n", m_slave, label());
        check_slave();
        return {};
    }
    void update_input() override {
        if (m_stream) m_stream->update_input();
    }

private:
    void on_slave_opened() {
        char buf[4096];
        while (::read(m_inotify.get(), buf, sizeof buf) > 0) {
        }
        check_slave();
    }

    // Connected when the master no longer reports a hang-up: a slave is open.
    void check_slave() {
        if (m_stream) return;
        pollfd p{m_master.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) < 0 || (p.revents & POLLHUP)) return;
        UniqueFd fd(::fcntl(m_master.get(), F_DUPFD_CLOEXEC, 3));
        if (!fd) return;
        FdStream::Callbacks cb;
        cb.can_receive = [this] { return frontend_can_receive(); };
        cb.receive = [this](std::span<const uint8_t> d) { deliver(d); };
        cb.hangup = [this] {
            m_stream.reset();
            set_connected(false);
        };
        auto s = FdStream::create(loop(), std::move(fd), UniqueFd(), std::move(cb));
        if (!s) return;
        m_stream = std::move(*s);
        set_connected(true);
    }

    UniqueFd m_master;
    UniqueFd m_inotify;
    std::string m_slave;
    std::unique_ptr<FdStream> m_stream;
};

} // namespace

void register_pty_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-pty";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<PtyChardev>(); };
    registry.add(std::move(t));
}

} // namespace nemu::chardev
