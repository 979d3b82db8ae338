// aio=io_uring: reads and writes whose whole range BlockNode::map() reports as plain host data
// go straight to the ring (readv/writev on the extent's fd); everything else (format
// metadata, partial mappings, flush, discard, write-zeroes) runs on an internal thread engine.
// The ring's eventfd wakes the home loop, which reaps completions there.

#include <liburing.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>

#include "block/io_engine.h"

namespace nemu::block {

namespace {

// Owns an initialised ring (STYLE.md rule 4).
struct Ring {
    io_uring ring{};
    bool live = false;
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring() {
        if (live) io_uring_queue_exit(&ring);
    }
};

// Thread: home loop only (the internal thread engine posts its completions there too).
class UringEngine final : public IoEngine {
public:
    UringEngine(EventLoop& home, unsigned depth, std::unique_ptr<Ring> ring, UniqueFd efd)
        : m_home(home), m_depth(depth), m_ring(std::move(ring)), m_efd(std::move(efd)),
          m_threads(make_thread_engine(home)) {}

    Result<> start() {
        TRY(m_home.add_fd(m_efd.get(), EPOLLIN, [this](uint32_t) { reap(); }));
        return {};
    }

    ~UringEngine() override {
        drain();
        m_home.remove_fd(m_efd.get());
        io_uring_unregister_eventfd(&m_ring->ring);
    }

    void submit(std::shared_ptr<BlockNode> node, BlockRequest req, BlockCompletion done) override {
        const bool is_write = req.op == BlockOp::Write;
        if ((req.op != BlockOp::Read && !is_write) || req.iov.size() > IOV_MAX) {
            m_threads->submit(std::move(node), std::move(req), std::move(done));
            return;
        }
        const uint64_t len = iov_size(req.iov);
        const uint64_t size = node->length();
        // Out-of-range or read-only requests: the node's own checks give the right errno.
        if (len == 0 || req.offset > size || len > size - req.offset || (is_write && node->read_only())) {
            m_threads->submit(std::move(node), std::move(req), std::move(done));
            return;
        }
        const HostExtent ext = node->map(req.offset, len, is_write);
        if (ext.length < len || (ext.kind == HostExtent::Kind::Zero && is_write) ||
            ext.kind == HostExtent::Kind::Indirect || (ext.kind == HostExtent::Kind::Data && ext.fd < 0)) {
            m_threads->submit(std::move(node), std::move(req), std::move(done));
            return;
        }
        ++m_in_flight;
        if (ext.kind == HostExtent::Kind::Zero) {
            iov_memset(req.iov, 0, len, 0);
            // Posted, never inline: completions run after submit() has returned.
            m_home.post([this, done = std::move(done)] {
                --m_in_flight;
                done({});
            });
            return;
        }
        auto op = std::make_unique<Op>();
        op->node = std::move(node);
        op->done = std::move(done);
        op->is_write = is_write;
        op->fua = req.fua;
        op->fd = ext.fd;
        op->host_offset = ext.host_offset;
        op->rest = req.iov;
        op->req = std::move(req);
        Op* raw = op.get();
        m_ops.emplace(raw, std::move(op));
        m_pending.push_back(raw);
        // Unplugged, the request goes to the kernel now (as QEMU's luring_co_submit does
        // when not plugged). Measured: 4 KiB random reads at queue depth 32 with one
        // io_uring_enter per loop round ran 0.84x of qemu-img bench, the disk idling while
        // the round refilled it (docs/performance.md, block layer). Its completion is reaped
        // by the deferred run_ring(), never here: completions run after submit() returns.
        pump(); // does nothing while plugged: the last unplug() pumps
        // drain() waits for the deferred round, since the op is in flight.
        if (!m_pump_scheduled) {
            m_pump_scheduled = true;
            m_home.defer([this] {
                m_pump_scheduled = false;
                run_ring();
            });
        }
    }

    void drain() override {
        // Whatever a plugged caller queued must reach the kernel, or this would never end.
        const unsigned plugs = std::exchange(m_plugs, 0);
        pump();
        while (in_flight() > 0) m_home.run_once(-1);
        m_plugs = plugs;
    }

    uint64_t in_flight() const override { return m_in_flight + m_threads->in_flight(); }

    void plug() override { ++m_plugs; }
    void unplug() override {
        if (m_plugs > 0 && --m_plugs == 0) pump();
    }

private:
    struct Op {
        std::shared_ptr<BlockNode> node;
        BlockCompletion done;
        bool is_write = false;
        bool fua = false;
        int fd = -1;
        uint64_t host_offset = 0; // of the first byte not yet transferred
        std::vector<iovec> rest;  // what is left, from index `first` on
        size_t first = 0;
        BlockRequest req;         // as submitted, for the thread-engine fallback
    };

    // Submits what is pending and handles what has completed, until neither makes progress
    // (bounded, so that other fds of the home loop get their turn). Completions are reaped
    // right after each submit: the io_uring_enter that submits also runs the task_work that
    // posts earlier requests' completions (writes complete through the submitting task), so
    // they are there without another wake-up. Waiting for them on the eventfd instead costs
    // two wake-ups per completion, the first an epoll_wait interrupted by that task_work
    // (EINTR), the second the eventfd (docs/performance.md, block layer re-check).
    void run_ring() {
        for (unsigned round = 0; round < kMaxRounds; ++round) {
            const bool submitted = pump();
            if (!reap_cqes() && !submitted) return;
        }
    }

    // Move pending steps into free SQEs (at most m_depth in the ring, so the completion
    // queue, twice as deep, never overflows) and submit them, unless plugged (unplug()
    // pumps). True if any were submitted.
    bool pump() {
        if (m_plugs > 0) return false;
        bool queued = false;
        while (!m_pending.empty() && m_in_ring < m_depth) {
            io_uring_sqe* sqe = io_uring_get_sqe(&m_ring->ring);
            if (!sqe) break;
            Op* op = m_pending.front();
            m_pending.pop_front();
            const auto nr = static_cast<unsigned>(op->rest.size() - op->first);
            if (op->is_write) {
                // RWF_DSYNC: the FUA write is durable when it completes (QEMU's
                // raw_co_prw uses the same flag for BDRV_REQ_FUA with io_uring).
                io_uring_prep_writev2(sqe, op->fd, &op->rest[op->first], nr, op->host_offset,
                                      op->fua ? RWF_DSYNC : 0);
            } else {
                io_uring_prep_readv(sqe, op->fd, &op->rest[op->first], nr, op->host_offset);
            }
            io_uring_sqe_set_data(sqe, op);
            ++m_in_ring;
            queued = true;
        }
        // A failed io_uring_submit() leaves the SQEs in the ring; the next pump retries.
        return queued && io_uring_submit(&m_ring->ring) > 0;
    }

    // The eventfd's handler: completions arrived while the loop slept.
    void reap() {
        uint64_t v;
        while (::read(m_efd.get(), &v, sizeof v) > 0) {
        }
        run_ring();
    }

    // Handles the completions posted so far; true if there was any. Bounded by what is
    // there on entry: a completion that submits the next request may see it complete inline
    // (page-cache hits), and the home loop's other fds must still get their turn.
    bool reap_cqes() {
        bool any = false;
        io_uring_cqe* cqe = nullptr;
        for (unsigned n = io_uring_cq_ready(&m_ring->ring); n > 0; --n) {
            if (io_uring_peek_cqe(&m_ring->ring, &cqe) != 0 || !cqe) break;
            Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
            const int res = cqe->res;
            io_uring_cqe_seen(&m_ring->ring, cqe);
            --m_in_ring;
            step_done(op, res);
            any = true;
        }
        return any;
    }

    void step_done(Op* op, int res) {
        if (res == -EINTR || res == -EAGAIN) {
            m_pending.push_back(op);
            return;
        }
        if (res == -EINVAL) {
            // An O_DIRECT fd rejects buffers or offsets that are not aligned; the node's own
            // read()/write() bounces them. Redoing the whole request is harmless: it is
            // idempotent, and nothing has completed yet.
            auto it = m_ops.find(op);
            std::unique_ptr<Op> owned = std::move(it->second);
            m_ops.erase(it);
            --m_in_flight;
            m_threads->submit(std::move(owned->node), std::move(owned->req), std::move(owned->done));
            return;
        }
        if (res < 0) {
            finish(op, io_error(-res, fmt::format("{} failed: {}", op->is_write ? "writev" : "readv", std::strerror(-res))));
            return;
        }
        if (res == 0) {
            // Reading past the end of the host file: the rest reads as zeroes (as a
            // protocol reading a sparse tail). A write that makes no progress is an error.
            if (!op->is_write) {
                iov_memset(std::span<const iovec>(op->rest).subspan(op->first), 0, UINT64_MAX, 0);
                finish(op, {});
            } else {
                finish(op, io_error(EIO, "writev made no progress"));
            }
            return;
        }
        // Short transfer: advance past what was done and resubmit the remainder.
        auto left = static_cast<uint64_t>(res);
        op->host_offset += left;
        while (op->first < op->rest.size() && left >= op->rest[op->first].iov_len) left -= op->rest[op->first++].iov_len;
        if (op->first == op->rest.size()) {
            finish(op, {});
            return;
        }
        op->rest[op->first].iov_base = static_cast<uint8_t*>(op->rest[op->first].iov_base) + left;
        op->rest[op->first].iov_len -= left;
        m_pending.push_back(op);
    }

    void finish(Op* op, Result<> r) {
        auto it = m_ops.find(op);
        std::unique_ptr<Op> owned = std::move(it->second);
        m_ops.erase(it);
        --m_in_flight;
        owned->done(std::move(r));
    }

    EventLoop& m_home;
    const unsigned m_depth;
    std::unique_ptr<Ring> m_ring;
    UniqueFd m_efd;
    std::unique_ptr<IoEngine> m_threads;
    std::unordered_map<Op*, std::unique_ptr<Op>> m_ops;
    std::deque<Op*> m_pending;
    unsigned m_in_ring = 0;
    uint64_t m_in_flight = 0;
    bool m_pump_scheduled = false;
    unsigned m_plugs = 0; // plug() nesting depth
    // run_ring()'s bound: rounds of submit + reap before the home loop's other fds run.
    static constexpr unsigned kMaxRounds = 64;
};

} // namespace

Result<std::unique_ptr<IoEngine>> make_uring_engine(EventLoop& home, unsigned queue_depth) {
    if (queue_depth == 0) queue_depth = 1;
    auto ring = std::make_unique<Ring>();
    const int ret = io_uring_queue_init(queue_depth, &ring->ring, 0);
    if (ret < 0) return io_error(-ret, fmt::format("io_uring_queue_init: {}", std::strerror(-ret)));
    ring->live = true;
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) return io_error(errno, fmt::format("eventfd: {}", std::strerror(errno)));
    const int reg = io_uring_register_eventfd(&ring->ring, efd.get());
    if (reg < 0) return io_error(-reg, fmt::format("io_uring_register_eventfd: {}", std::strerror(-reg)));
    auto engine = std::make_unique<UringEngine>(home, queue_depth, std::move(ring), std::move(efd));
    TRY(engine->start());
    return std::unique_ptr<IoEngine>(std::move(engine));
}

Result<> probe_io_uring() {
    io_uring ring {};
    const int ret = io_uring_queue_init(1, &ring, 0);
    if (ret < 0) return io_error(-ret, std::string(kUringUnavailable));
    io_uring_queue_exit(&ring);
    return {};
}

} // namespace nemu::block
