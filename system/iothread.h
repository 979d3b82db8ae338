#pragma once
// "iothread" objects (QEMU iothread.c): a thread with its own event loop, on which block and
// network devices will later run their virtqueues and io_uring completions.
// Thread: properties and life cycle on the main loop; the loop itself on its own thread.

#include <sys/types.h>

#include <memory>
#include <thread>

#include "qom/object.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu {

class IoThread : public qom::Object {
public:
    ~IoThread() override;
    Result<> on_complete() override;

    pid_t thread_id() const { return m_tid; }
    EventLoop* loop() const { return m_loop.get(); }

    int64_t m_poll_max_ns = 32768, m_poll_grow = 0, m_poll_shrink = 0, m_aio_max_batch = 0;
    // QEMU's event-loop-base thread pool bounds; kept for the block layer's worker pool.
    int64_t m_thread_pool_min = 0, m_thread_pool_max = 64;

private:
    std::unique_ptr<EventLoop> m_loop;
    std::thread m_thread;
    pid_t m_tid = 0;
};

void register_iothread_type(qom::TypeRegistry& registry);

} // namespace nemu
