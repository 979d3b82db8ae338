#pragma once
// An eventfd (eventfd(2)) owned RAII-style: the doorbell between threads and the kernel's
// ioeventfd/irqfd (KVM API, 4.59 KVM_IOEVENTFD and 4.75 KVM_IRQFD). Move-only.
// Thread: signal() and drain() from any thread; the fd is watched by one event loop.

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu {

class EventFd {
public:
    static Result<EventFd> create() {
        UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!fd) return fail_errno("eventfd", errno);
        return EventFd(std::move(fd));
    }
    EventFd() = default;

    int fd() const { return m_fd.get(); }
    bool valid() const { return m_fd.valid(); }
    // Add one to the counter; never blocks (the counter saturating would need 2^64-1 signals).
    void signal() const {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(m_fd.get(), &one, sizeof one);
    }
    // Reset the counter; true if it was signalled since the last drain.
    bool drain() const {
        uint64_t v = 0;
        return ::read(m_fd.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v) && v != 0;
    }

private:
    explicit EventFd(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

} // namespace nemu
