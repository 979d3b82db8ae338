#pragma once
// "rng-random" (QEMU 7.2 backends/rng-random.c): entropy read from a file, /dev/urandom by
// default. The file is opened O_NONBLOCK when the object is completed (QEMU's message on
// failure: "Could not open '/nonexistent': No such file or directory"); "filename" can no
// longer be set after that. Reads happen when the fd is readable (epoll on the main loop);
// files epoll cannot watch (regular files) are read from a deferred call instead, since they
// are always ready. End of file or a read error stops the backend: queued requests stay
// unanswered (QEMU 7.2 asserts on a read error), a warning goes to stderr once.
// Thread: main loop only.

#include <string>
#include <vector>

#include "backends/rng_backend.h"
#include "util/unique_fd.h"

namespace nemu::backends {

class RngRandom final : public RngBackend {
public:
    ~RngRandom() override;
    Result<> on_complete() override;

    std::string m_filename = "/dev/urandom";

private:
    void kick() override;
    void idle() override;
    void read_ready();
    void schedule_deferred_read();
    void stop_watching();

    UniqueFd m_fd;
    bool m_watching = false;      // the fd is in m_loop's epoll set
    bool m_poll_by_defer = false; // epoll refused the fd (EPERM): read from deferred calls
    bool m_deferred = false;      // a deferred read is scheduled
    bool m_failed = false;        // EOF or a read error: no more reads
    std::vector<uint8_t> m_buf;
};

} // namespace nemu::backends
