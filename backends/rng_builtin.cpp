#include "backends/rng_builtin.h"

#include <sys/random.h>

#include <cerrno>

#include "util/event_loop.h"

namespace nemu::backends {

void RngBuiltin::kick() {
    if (m_scheduled) return;
    m_scheduled = true;
    m_loop->defer([this, alive = lifetime()] {
        if (alive.expired()) return;
        m_scheduled = false;
        serve();
    });
}

void RngBuiltin::serve() {
    if (m_buf.empty()) m_buf.resize(kMaxRequestBytes);
    // Only the requests queued now: ones a callback adds wait for the next round, so a
    // device that keeps asking cannot starve the loop.
    for (size_t n = m_queue.size(); n > 0 && !m_queue.empty(); n--) {
        size_t want = m_queue.front().max_bytes;
        size_t got = 0;
        while (got < want) {
            // getrandom(2) blocks only until the kernel's pool is first initialized (at boot)
            // and returns at most 32 MiB per call; EINTR is the only retryable error.
            ssize_t r = ::getrandom(m_buf.data() + got, want - got, 0);
            if (r > 0) got += static_cast<size_t>(r);
            else if (r < 0 && errno != EINTR) break;
        }
        // getrandom unavailable (ENOSYS, seccomp): leave the requests queued rather than spin.
        if (got == 0) return;
        deliver_front(std::span<const uint8_t>(m_buf.data(), got));
    }
    if (!m_queue.empty()) kick();
}

void register_rng_builtin_type(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "rng-builtin", .parent = "rng-backend",
                               .create = [] { return std::make_unique<RngBuiltin>(); }});
}

} // namespace nemu::backends
