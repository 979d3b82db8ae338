// aio=threads: the synchronous node calls run on a pool of worker threads; each completion is
// posted back to the home loop (QEMU's thread-pool.c model: a pool that grows on demand up to
// thread-pool-max, results delivered through a bottom half).

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "block/io_engine.h"

namespace nemu::block {

namespace {

Result<> run_request(BlockNode& node, const BlockRequest& req) {
    switch (req.op) {
    case BlockOp::Read:
        return node.read(req.offset, req.iov);
    case BlockOp::Write:
        return node.write(req.offset, req.iov, req.fua);
    case BlockOp::Flush:
        return node.flush();
    case BlockOp::Discard:
        return node.discard(req.offset, req.length);
    case BlockOp::WriteZeroes:
        return node.write_zeroes(req.offset, req.length, req.may_unmap);
    }
    return io_error(EINVAL, "Unknown block request");
}

// Thread: submit/drain/in_flight on the home loop thread; workers only touch the job queue
// (under m_lock) and EventLoop::post().
class ThreadEngine final : public IoEngine {
public:
    ThreadEngine(EventLoop& home, unsigned max_workers) : m_home(home), m_max_workers(max_workers ? max_workers : 1) {}

    ~ThreadEngine() override {
        drain();
        {
            std::lock_guard g(m_lock);
            m_stop = true;
        }
        m_cv.notify_all();
        // std::jthread joins on destruction.
        m_workers.clear();
    }

    void submit(std::shared_ptr<BlockNode> node, BlockRequest req, BlockCompletion done) override {
        ++m_in_flight;
        {
            std::lock_guard g(m_lock);
            m_jobs.push_back(Job{std::move(node), std::move(req), std::move(done)});
            // Grow when more jobs wait than workers are idle (QEMU spawns on demand too).
            if (m_jobs.size() > m_idle && m_workers.size() < m_max_workers)
                m_workers.emplace_back([this] { worker(); });
        }
        m_cv.notify_one();
    }

    void drain() override {
        while (m_in_flight > 0) m_home.run_once(-1);
    }

    uint64_t in_flight() const override { return m_in_flight; }

private:
    struct Job {
        std::shared_ptr<BlockNode> node;
        BlockRequest req;
        BlockCompletion done;
    };

    void worker() {
        std::unique_lock lk(m_lock);
        for (;;) {
            ++m_idle;
            m_cv.wait(lk, [this] { return m_stop || !m_jobs.empty(); });
            --m_idle;
            if (m_jobs.empty()) return; // stopping
            Job job = std::move(m_jobs.front());
            m_jobs.pop_front();
            lk.unlock();
            Result<> r = run_request(*job.node, job.req);
            // The node reference goes with the completion: the caller may drop its own.
            m_home.post([this, done = std::move(job.done), r = std::move(r), node = std::move(job.node)]() mutable {
                --m_in_flight;
                done(std::move(r));
            });
            lk.lock();
        }
    }

    EventLoop& m_home;
    const unsigned m_max_workers;
    uint64_t m_in_flight = 0; // home thread only
    std::mutex m_lock;
    std::condition_variable m_cv;
    std::deque<Job> m_jobs;
    size_t m_idle = 0;
    bool m_stop = false;
    std::vector<std::jthread> m_workers; // last: joined before the members they use go
};

} // namespace

std::unique_ptr<IoEngine> make_thread_engine(EventLoop& home, unsigned max_workers) {
    return std::make_unique<ThreadEngine>(home, max_workers);
}

} // namespace nemu::block
