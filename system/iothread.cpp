#include "system/iothread.h"

#include <pthread.h>
#include <unistd.h>

#include <future>

namespace nemu {

IoThread::~IoThread() {
    if (m_thread.joinable()) {
        EventLoop* loop = m_loop.get();
        loop->post([loop] { loop->quit(); });
        m_thread.join();
    }
}

Result<> IoThread::on_complete() {
    if (m_poll_max_ns < 0 || m_poll_grow < 0 || m_poll_shrink < 0)
        return fail("poll-max-ns, poll-grow and poll-shrink must not be negative");
    if (m_thread_pool_min < 0 || m_thread_pool_max < 1 || m_thread_pool_min > m_thread_pool_max)
        return fail("Parameter 'thread-pool-min' expects a value between 0 and thread-pool-max");
    m_loop = TRY(EventLoop::create());
    std::promise<pid_t> started;
    auto tid = started.get_future();
    EventLoop* loop = m_loop.get();
    std::string thread_name = "IO " + name();
    m_thread = std::thread([loop, &started, thread_name] {
        // Linux limits thread names to 15 characters.
        ::pthread_setname_np(::pthread_self(), thread_name.substr(0, 15).c_str());
        started.set_value(::gettid());
        loop->run();
    });
    m_tid = tid.get();
    return {};
}

void register_iothread_type(qom::TypeRegistry& registry) {
    using qom::prop;
    std::optional<int64_t> zero(0);
    // The polling and pool bounds may change while the thread runs (QEMU applies them on
    // the next loop iteration), so they stay settable after completion.
    std::vector<qom::PropertyDef> props = {
        prop("poll-max-ns", &IoThread::m_poll_max_ns, std::optional<int64_t>(32768), {}, "int"),
        prop("poll-grow", &IoThread::m_poll_grow, zero, {}, "int"),
        prop("poll-shrink", &IoThread::m_poll_shrink, zero, {}, "int"),
        prop("aio-max-batch", &IoThread::m_aio_max_batch, zero, {}, "int"),
        prop("thread-pool-min", &IoThread::m_thread_pool_min, zero, {}, "int"),
        prop("thread-pool-max", &IoThread::m_thread_pool_max, std::optional<int64_t>(64), {}, "int")};
    for (auto& p : props) p.set_before_realize_only = false;
    registry.add(qom::TypeInfo{.name = "iothread",
                               .parent = "object",
                               .interfaces = {"user-creatable"},
                               .properties = std::move(props),
                               .create = [] { return std::make_unique<IoThread>(); }});
}

} // namespace nemu
