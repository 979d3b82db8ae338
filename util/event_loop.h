#pragma once
// The main loop: epoll over file descriptors plus deferred calls ("bottom halves").
// Thread: owned and run by the main thread; post() is the only member callable from other
// threads (vCPU, I/O threads) and wakes the loop through an eventfd.

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu {

class EventLoop {
public:
    using FdHandler = std::function<void(uint32_t epoll_events)>;

    static Result<std::unique_ptr<EventLoop>> create();
    ~EventLoop();

    // Watch fd for the given EPOLL* events. The fd stays owned by the caller, who must
    // remove_fd() before closing it. Handlers may add or remove fds, including their own.
    Result<> add_fd(int fd, uint32_t events, FdHandler handler);
    Result<> modify_fd(int fd, uint32_t events);
    void remove_fd(int fd);

    // Run fn on the loop thread after the current dispatch round. Loop thread only.
    void defer(std::function<void()> fn);
    // Like defer(), from any thread.
    void post(std::function<void()> fn);

    // Dispatch until quit(). Returns the exit status given to quit().
    int run();
    // One round: wait at most timeout_ms (-1 forever) and dispatch what is ready.
    void run_once(int timeout_ms);
    void quit(int status = 0);
    bool quitting() const { return m_quit; }

private:
    EventLoop(UniqueFd epfd, UniqueFd wakefd);
    void drain_deferred();

    struct Watch {
        FdHandler handler;
        uint64_t generation;
    };
    UniqueFd m_epfd;
    UniqueFd m_wakefd;
    std::map<int, std::shared_ptr<Watch>> m_watches;
    uint64_t m_generation = 0;
    std::vector<std::function<void()>> m_deferred;
    std::mutex m_posted_lock;
    std::vector<std::function<void()>> m_posted;
    bool m_quit = false;
    int m_status = 0;
};

} // namespace nemu
