#include "chardev/fd_stream.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "chardev/chardev.h"
#include "util/event_loop.h"

namespace nemu::chardev {

namespace {
// One read per readiness event; level-triggered epoll brings us back for the rest.
constexpr size_t kReadChunk = 64 * 1024;

// send() with MSG_NOSIGNAL on sockets so a vanished peer is EPIPE, not SIGPIPE.
ssize_t write_some(int fd, const uint8_t* p, size_t n) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK) r = ::write(fd, p, n);
    return r;
}
} // namespace

FdStream::FdStream(EventLoop& loop, UniqueFd in, UniqueFd out, Callbacks callbacks)
    : m_loop(loop), m_in(std::move(in)), m_out(std::move(out)), m_cb(std::move(callbacks)) {}

Result<std::unique_ptr<FdStream>> FdStream::create(EventLoop& loop, UniqueFd in, UniqueFd out,
                                                   Callbacks callbacks) {
    auto s = std::unique_ptr<FdStream>(new FdStream(loop, std::move(in), std::move(out), std::move(callbacks)));
    TRY(s->start());
    return s;
}

FdStream::~FdStream() {
    if (m_in_watched) m_loop.remove_fd(m_in.get());
    if (m_out_watched) m_loop.remove_fd(m_out.get());
}

Result<> FdStream::start() {
    if (!m_in) {
        m_eof = true;
        return {};
    }
    uint32_t mask = 0;
    if (!m_eof && m_cb.can_receive && m_cb.can_receive() > 0) mask = EPOLLIN | EPOLLRDHUP;
    auto r = m_loop.add_fd(m_in.get(), mask, [this](uint32_t ev) { on_in_events(ev); });
    if (!r) {
        // A regular file as stdin cannot be polled (EPERM): it gives no input.
        if (r.error().sys_errno != EPERM) return r;
        m_eof = true;
        return {};
    }
    m_in_watched = true;
    m_in_mask = mask;
    return {};
}

Result<size_t> FdStream::write(std::span<const uint8_t> data) {
    if (m_failed) return fail("connection lost");
    size_t done = 0;
    if (pending_output() == 0) {
        while (done < data.size()) {
            ssize_t n = write_some(out_fd(), data.data() + done, data.size() - done);
            if (n > 0) {
                done += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            int err = n < 0 ? errno : EPIPE;
            fail_later();
            return fail_errno("write", err);
        }
    }
    size_t rest = data.size() - done;
    if (rest == 0) return data.size();
    if (pending_output() + rest > kMaxOutputBuffer) {
        fail_later();
        return fail("output buffer limit of {} bytes reached, dropping the connection", kMaxOutputBuffer);
    }
    m_out_buf.insert(m_out_buf.end(), data.begin() + static_cast<ptrdiff_t>(done), data.end());
    update_watches();
    return data.size();
}

bool FdStream::flush() {
    while (pending_output() > 0) {
        ssize_t n = write_some(out_fd(), m_out_buf.data() + m_out_head, pending_output());
        if (n > 0) {
            m_out_head += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return false;
    }
    if (m_out_head == m_out_buf.size()) {
        m_out_buf.clear();
        m_out_head = 0;
    } else if (m_out_head > m_out_buf.size() / 2) {
        m_out_buf.erase(m_out_buf.begin(), m_out_buf.begin() + static_cast<ptrdiff_t>(m_out_head));
        m_out_head = 0;
    }
    return true;
}

void FdStream::update_input() { update_watches(); }

void FdStream::update_watches() {
    if (m_failed) return;
    bool reading = !m_eof && m_cb.can_receive && m_cb.can_receive() > 0;
    bool want_out = pending_output() > 0;
    if (m_in_watched) {
        uint32_t mask = reading ? (EPOLLIN | EPOLLRDHUP) : 0;
        if (!m_out && want_out) mask |= EPOLLOUT;
        if (m_eof && m_out) {
            // stdin ended: a closed pipe reports EPOLLHUP forever, so stop watching it.
            m_loop.remove_fd(m_in.get());
            m_in_watched = false;
        } else if (mask != m_in_mask) {
            if (m_loop.modify_fd(m_in.get(), mask)) m_in_mask = mask;
        }
    }
    if (!m_out) return;
    if (want_out && !m_out_watched && m_out_pollable) {
        auto r = m_loop.add_fd(m_out.get(), EPOLLOUT, [this](uint32_t ev) { on_out_events(ev); });
        if (r) {
            m_out_watched = true;
        } else {
            // A regular file as stdout cannot be polled, but it never says EAGAIN either.
            m_out_pollable = false;
            int fl = ::fcntl(m_out.get(), F_GETFL);
            if (fl >= 0) ::fcntl(m_out.get(), F_SETFL, fl & ~O_NONBLOCK);
            if (!flush()) fail_later();
        }
    } else if (!want_out && m_out_watched) {
        m_loop.remove_fd(m_out.get());
        m_out_watched = false;
    }
}

// The owner usually destroys the stream, and with it m_cb, inside hangup: call a copy.
void FdStream::call_hangup() {
    auto hangup = m_cb.hangup;
    hangup();
}

void FdStream::fail_later() {
    if (m_failed) return;
    m_failed = true;
    // Stop watching: a reset socket reports EPOLLHUP, whatever the mask, until closed.
    if (m_in_watched) m_loop.remove_fd(m_in.get());
    if (m_out_watched) m_loop.remove_fd(m_out.get());
    m_in_watched = m_out_watched = false;
    std::weak_ptr<bool> alive = m_alive;
    m_loop.defer([this, alive] {
        if (!alive.expired()) call_hangup();
    });
}

void FdStream::on_out_events(uint32_t events) {
    if (m_failed) return;
    if (!flush() || (events & EPOLLERR)) {
        fail_later();
        return;
    }
    update_watches();
}

ssize_t FdStream::read_input(uint8_t* buf, size_t len) {
    if (!m_fd_passing) return ::read(m_in.get(), buf, len);
    iovec iov{buf, len};
    // Room for a few descriptors; extra ones are truncated by the kernel (MSG_CTRUNC) and
    // closed there, never leaked into nemu.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(m_in.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            m_received_fd.reset(fd);
        }
    }
    return n;
}

// The input side is gone: a backend that keeps writing after input EOF (stdio) is told so,
// everything else hangs up.
void FdStream::input_ended() {
    if (m_cb.input_eof) {
        m_eof = true;
        update_watches();
        m_cb.input_eof();
        return;
    }
    m_failed = true;
    call_hangup();
}

void FdStream::on_in_events(uint32_t events) {
    if (m_failed) return;
    if ((events & EPOLLOUT) && !m_out) {
        if (!flush()) {
            fail_later();
            return;
        }
    }
    size_t room = (!m_eof && m_cb.can_receive) ? m_cb.can_receive() : 0;
    if (room > 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        uint8_t buf[kReadChunk];
        ssize_t n = read_input(buf, std::min(room, sizeof buf));
        if (n > 0) {
            std::weak_ptr<bool> alive = m_alive;
            m_cb.receive(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
            if (alive.expired()) return;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            // EOF, or EIO from a pty master whose slave closed.
            input_ended();
            return;
        }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
        input_ended();
        return;
    }
    update_watches();
}

} // namespace nemu::chardev
