#include "backends/rng_random.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/event_loop.h"

namespace nemu::backends {

RngRandom::~RngRandom() { stop_watching(); }

Result<> RngRandom::on_complete() {
    // QEMU 7.2 rng_random_opened(): qemu_open_old(filename, O_RDONLY | O_NONBLOCK) and
    // error_setg_file_open()'s message.
    UniqueFd fd(::open(m_filename.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return fail("Could not open '{}': {}", m_filename, std::strerror(errno));
    m_fd = std::move(fd);
    return {};
}

void RngRandom::kick() {
    if (m_failed || !m_fd || m_queue.empty()) return;
    if (m_poll_by_defer) {
        schedule_deferred_read();
        return;
    }
    if (m_watching) return;
    if (m_loop->add_fd(m_fd.get(), EPOLLIN, [this](uint32_t) { read_ready(); })) {
        m_watching = true;
        return;
    }
    // epoll_ctl refuses regular files and directories (EPERM); they never block.
    m_poll_by_defer = true;
    schedule_deferred_read();
}

void RngRandom::idle() { stop_watching(); }

void RngRandom::stop_watching() {
    if (m_watching && m_loop) m_loop->remove_fd(m_fd.get());
    m_watching = false;
}

void RngRandom::schedule_deferred_read() {
    if (m_deferred) return;
    m_deferred = true;
    m_loop->defer([this, alive = lifetime()] {
        if (alive.expired()) return;
        m_deferred = false;
        read_ready();
        if (!m_queue.empty()) kick();
    });
}

void RngRandom::read_ready() {
    if (m_buf.empty()) m_buf.resize(kMaxRequestBytes);
    // One read per queued request (QEMU entropy_available()); a callback may queue more.
    while (!m_queue.empty() && !m_failed) {
        ssize_t n = ::read(m_fd.get(), m_buf.data(), m_queue.front().max_bytes);
        if (n > 0) {
            deliver_front(std::span<const uint8_t>(m_buf.data(), static_cast<size_t>(n)));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        std::fprintf(stderr, "nemu-system-x86_64: warning: rng-random '%s': %s, no more entropy from it\n",
                     m_filename.c_str(), n == 0 ? "end of file" : std::strerror(errno));
        m_failed = true;
        stop_watching();
    }
}

void register_rng_random_type(qom::TypeRegistry& registry) {
    qom::PropertyDef filename;
    filename.name = "filename";
    filename.type = "string";
    filename.text_type = "str";
    filename.get = [](const qom::Object& o) -> Result<Json> { return Json(static_cast<const RngRandom&>(o).m_filename); };
    // QEMU 7.2 rng_random_set_filename(): refused once the backend is opened, in its words.
    filename.set_before_realize_only = false;
    filename.set = [](qom::Object& o, const Json& v) -> Result<> {
        TRY(qom::check_property_value("str", "filename", v));
        if (o.completed()) return fail("Property 'filename' can no longer be set");
        static_cast<RngRandom&>(o).m_filename = v.get<std::string>();
        return {};
    };
    registry.add(qom::TypeInfo{.name = "rng-random", .parent = "rng-backend", .properties = {filename},
                               .create = [] { return std::make_unique<RngRandom>(); }});
}

} // namespace nemu::backends
