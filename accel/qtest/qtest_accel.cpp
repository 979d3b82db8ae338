#include "accel/qtest/qtest_accel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace nemu::qtest {

Result<std::unique_ptr<QtestAccel>> QtestAccel::create(EventLoop& loop, UniqueFd fd,
                                                       QtestTarget& target,
                                                       std::function<void()> on_disconnect) {
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        return fail_errno("fcntl(O_NONBLOCK)", errno);
    std::unique_ptr<QtestAccel> q(
        new QtestAccel(loop, std::move(fd), target, std::move(on_disconnect)));
    q->m_interest = EPOLLIN;
    QtestAccel* self = q.get();
    TRY(loop.add_fd(q->m_fd.get(), EPOLLIN, [self](uint32_t ev) { self->on_events(ev); }));
    q->m_session.opened();
    return q;
}

QtestAccel::QtestAccel(EventLoop& loop, UniqueFd fd, QtestTarget& target,
                       std::function<void()> on_disconnect)
    : m_loop(loop), m_fd(std::move(fd)), m_on_disconnect(std::move(on_disconnect)),
      m_session(target, [this](std::string_view bytes) { queue(bytes); }) {}

QtestAccel::~QtestAccel() {
    if (m_fd.valid()) m_loop.remove_fd(m_fd.get());
}

void QtestAccel::queue(std::string_view bytes) {
    if (!m_fd.valid()) return;
    m_out.append(bytes);
    flush();
}

void QtestAccel::flush() {
    while (m_fd.valid() && m_out_pos < m_out.size()) {
        const char* p = m_out.data() + m_out_pos;
        size_t n = m_out.size() - m_out_pos;
        // MSG_NOSIGNAL: a vanished client must not kill us with SIGPIPE.
        ssize_t r = ::send(m_fd.get(), p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == ENOTSOCK) r = ::write(m_fd.get(), p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            disconnect();
            return;
        }
        m_out_pos += size_t(r);
    }
    if (m_out_pos == m_out.size()) {
        m_out.clear();
        m_out_pos = 0;
    } else if (m_out_pos > (1 << 20)) {
        m_out.erase(0, m_out_pos);
        m_out_pos = 0;
    }
    update_interest();
}

void QtestAccel::update_interest() {
    if (!m_fd.valid()) return;
    size_t pending = m_out.size() - m_out_pos;
    uint32_t want = 0;
    if (pending < kOutputHighWater) want |= EPOLLIN;
    if (pending > 0) want |= EPOLLOUT;
    if (want == m_interest) return;
    m_interest = want;
    if (!m_loop.modify_fd(m_fd.get(), want)) disconnect();
}

void QtestAccel::on_events(uint32_t events) {
    if (events & EPOLLOUT) flush();
    if (!m_fd.valid()) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        // Bounded per wake-up so one busy client cannot starve the loop.
        uint8_t buf[4096];
        for (int round = 0; round < 16 && m_fd.valid(); round++) {
            if (!(m_interest & EPOLLIN)) break;   // back-pressure: output must drain first
            ssize_t r = ::read(m_fd.get(), buf, sizeof buf);
            if (r > 0) {
                m_session.feed(std::span<const uint8_t>(buf, size_t(r)));
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            disconnect();   // EOF or a hard error
            return;
        }
    }
}

void QtestAccel::disconnect() {
    if (!m_fd.valid()) return;
    m_loop.remove_fd(m_fd.get());
    m_fd.reset();
    m_out.clear();
    m_out_pos = 0;
    m_session.closed();
    // Deferred and holding no `this`: the owner may destroy us from the callback.
    if (m_on_disconnect) m_loop.defer(m_on_disconnect);
}

Result<UniqueFd> connect_unix(std::string_view path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("UNIX socket path '{}' is too long", path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket", errno);
    int r;
    do {
        r = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (r < 0 && errno == EINTR);
    // QEMU's message: "Failed to connect to '<path>': <strerror>" (util/qemu-sockets.c).
    if (r < 0) return fail("Failed to connect to '{}': {}", path, std::strerror(errno));
    return fd;
}

} // namespace nemu::qtest
