#include "util/event_loop.h"

#include <sys/eventfd.h>

#include <cerrno>

namespace nemu {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) return fail_errno("epoll_create1", errno);
    UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake) return fail_errno("eventfd", errno);
    auto loop = std::unique_ptr<EventLoop>(new EventLoop(std::move(ep), std::move(wake)));
    EventLoop* self = loop.get();
    TRY(loop->add_fd(loop->m_wakefd.get(), EPOLLIN, [self](uint32_t) {
        uint64_t v;
        while (::read(self->m_wakefd.get(), &v, sizeof v) > 0) {
        }
        std::vector<std::function<void()>> posted;
        {
            std::lock_guard g(self->m_posted_lock);
            posted.swap(self->m_posted);
        }
        for (auto& fn : posted) fn();
    }));
    return loop;
}

EventLoop::EventLoop(UniqueFd epfd, UniqueFd wakefd) : m_epfd(std::move(epfd)), m_wakefd(std::move(wakefd)) {}

EventLoop::~EventLoop() = default;

Result<> EventLoop::add_fd(int fd, uint32_t events, FdHandler handler) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epfd.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return fail_errno("epoll_ctl", errno);
    m_watches[fd] = std::make_shared<Watch>(Watch{std::move(handler), ++m_generation});
    return {};
}

Result<> EventLoop::modify_fd(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epfd.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return fail_errno("epoll_ctl", errno);
    return {};
}

void EventLoop::remove_fd(int fd) {
    if (m_watches.erase(fd)) ::epoll_ctl(m_epfd.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::defer(std::function<void()> fn) { m_deferred.push_back(std::move(fn)); }

void EventLoop::post(std::function<void()> fn) {
    {
        std::lock_guard g(m_posted_lock);
        m_posted.push_back(std::move(fn));
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m_wakefd.get(), &one, sizeof one);
}

void EventLoop::drain_deferred() {
    while (!m_deferred.empty()) {
        auto batch = std::move(m_deferred);
        m_deferred.clear();
        for (auto& fn : batch) fn();
    }
}

void EventLoop::run_once(int timeout_ms) {
    drain_deferred();
    if (m_quit) return;
    epoll_event events[32];
    int n = ::epoll_wait(m_epfd.get(), events, 32, m_deferred.empty() ? timeout_ms : 0);
    // A handler may remove another fd that is also in this batch: look each one up again
    // and keep the watch alive while its handler runs.
    for (int i = 0; i < n; i++) {
        auto it = m_watches.find(events[i].data.fd);
        if (it == m_watches.end()) continue;
        std::shared_ptr<Watch> w = it->second;
        w->handler(events[i].events);
    }
    drain_deferred();
}

int EventLoop::run() {
    while (!m_quit) run_once(-1);
    return m_status;
}

void EventLoop::quit(int status) {
    if (!m_quit) m_status = status;
    m_quit = true;
}

} // namespace nemu
