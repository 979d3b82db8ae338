#pragma once
// Asynchronous execution of block requests on behalf of one BlockBackend (QEMU's aio=
// modes). Requests are submitted and completed on the backend's home event loop (the main
// loop, or an iothread's loop); the I/O itself runs on worker threads (aio=threads) or in
// io_uring (aio=io_uring, for the parts of a request that BlockNode::map() reports as plain
// host extents; the rest goes to worker threads), so the home loop never blocks.

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "block/block_node.h"
#include "block/block_types.h"
#include "util/event_loop.h"
#include "util/result.h"

namespace nemu::block {

enum class BlockOp { Read, Write, Flush, Discard, WriteZeroes };

struct BlockRequest {
    BlockOp op = BlockOp::Read;
    uint64_t offset = 0;
    uint64_t length = 0;     // Discard/WriteZeroes; for Read/Write it is iov_size(iov)
    std::vector<iovec> iov;  // Read/Write buffers; they stay valid until completion
    bool fua = false;        // Write: durable on completion
    bool may_unmap = false;  // WriteZeroes: deallocation allowed
};

// Runs on the home loop thread, after submit() has returned (never inside it).
using BlockCompletion = std::function<void(Result<>)>;

class IoEngine {
public:
    virtual ~IoEngine() = default;
    // Home thread only. `node` must stay alive until the completion has run.
    virtual void submit(std::shared_ptr<BlockNode> node, BlockRequest req, BlockCompletion done) = 0;
    // Home thread only: run the home loop until every submitted request has completed and
    // its completion has run (blockdev-del, shutdown, tests).
    virtual void drain() = 0;
    virtual uint64_t in_flight() const = 0;

    // Home thread only. Between plug() and the matching unplug() (they nest), requests are
    // queued and reach the kernel together at the last unplug(): one io_uring_enter for a
    // virtqueue's whole batch (QEMU's blk_io_plug/blk_io_unplug around virtio-blk's
    // handle_vq). Unplugged, each request reaches the kernel inside submit(), so the disk
    // starts it while the caller goes on; a completion callback that submits the next
    // request keeps the disk's queue full instead of refilling it once per loop round.
    virtual void plug() {}
    virtual void unplug() {}
};

// Plugs an IoEngine or a BlockBackend for as long as it lives (a scope that submits a batch).
template <class Pluggable>
class ScopedPlug {
public:
    explicit ScopedPlug(Pluggable& p) : m_target(p) { m_target.plug(); }
    ~ScopedPlug() { m_target.unplug(); }
    ScopedPlug(const ScopedPlug&) = delete;
    ScopedPlug& operator=(const ScopedPlug&) = delete;

private:
    Pluggable& m_target;
};

// aio=threads: a pool of up to `max_workers` threads (QEMU's thread-pool-max, 64).
std::unique_ptr<IoEngine> make_thread_engine(EventLoop& home, unsigned max_workers = 64);
// aio=io_uring: a ring of `queue_depth` entries whose completions wake `home` through an
// eventfd; requests whose extents are not plain host data go to an internal thread engine.
// Fails (with the errno) where the kernel has no io_uring.
Result<std::unique_ptr<IoEngine>> make_uring_engine(EventLoop& home, unsigned queue_depth = 128);
// aio=native is served by the io_uring engine when available, else threads. aio=io_uring
// falls back to threads where the kernel refuses a ring (ENOSYS, EPERM, EACCES) only when it
// is nemu's default; an explicit aio=io_uring (explicit_mode) fails as QEMU 7.2 does:
// "Unable to use io_uring: failed to init linux io_uring ring".
Result<std::unique_ptr<IoEngine>> make_io_engine(AioMode mode, EventLoop& home, bool explicit_mode = false);

// QEMU 7.2's error for an explicit aio=io_uring the kernel refuses (file-posix.c
// raw_open_common's "Unable to use io_uring: " + luring_init's text).
inline constexpr std::string_view kUringUnavailable = "Unable to use io_uring: failed to init linux io_uring ring";
// Whether a ring can be set up now (a one-entry ring, closed at once): what an explicit
// -blockdev file.aio=io_uring checks when the node opens, as QEMU sets its ring up there.
// Fails with kUringUnavailable.
Result<> probe_io_uring();
using UringProbe = std::function<Result<>()>;

// The same with the ring's creation injected (unit tests: a kernel without io_uring).
using UringEngineFactory = std::function<Result<std::unique_ptr<IoEngine>>(EventLoop& home)>;
Result<std::unique_ptr<IoEngine>> make_io_engine(AioMode mode, EventLoop& home, bool explicit_mode,
                                                 const UringEngineFactory& make_uring);

} // namespace nemu::block
