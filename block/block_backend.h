#pragma once
// A BlockBackend is what a device (virtio-blk) or a drive (-drive id=) holds: the root node of
// a graph, the I/O engine that runs its requests, the writethrough/FUA rule, I/O throttling
// (block_set_io_throttle), error policy (werror/rerror) and the statistics query-blockstats
// reports. Thread: home loop only (the main loop or the device's iothread); completions
// return there.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "block/block_node.h"
#include "block/block_types.h"
#include "block/io_engine.h"
#include "util/event_loop.h"
#include "util/result.h"

namespace nemu::block {

// QAPI BlockDeviceStats members that nemu keeps (names as on the wire, in comments).
struct BlockStats {
    uint64_t rd_bytes = 0, wr_bytes = 0, unmap_bytes = 0;              // rd_bytes wr_bytes unmap_bytes
    uint64_t rd_operations = 0, wr_operations = 0, flush_operations = 0, unmap_operations = 0;
    uint64_t rd_merged = 0, wr_merged = 0, unmap_merged = 0;
    uint64_t rd_total_time_ns = 0, wr_total_time_ns = 0, flush_total_time_ns = 0, unmap_total_time_ns = 0;
    uint64_t failed_rd_operations = 0, failed_wr_operations = 0, failed_flush_operations = 0,
             failed_unmap_operations = 0;
    uint64_t invalid_rd_operations = 0, invalid_wr_operations = 0, invalid_flush_operations = 0,
             invalid_unmap_operations = 0;
    int64_t wr_highest_offset = 0;
    std::optional<int64_t> idle_time_ns; // ns since the last completed request; none before one
};

// QAPI BlockIOThrottle limits (0 = unlimited). *_max are burst rates allowed for *_max_length
// seconds (default 1); iops_size counts large requests as several operations.
struct ThrottleLimits {
    uint64_t bps = 0, bps_rd = 0, bps_wr = 0, iops = 0, iops_rd = 0, iops_wr = 0;
    uint64_t bps_max = 0, bps_rd_max = 0, bps_wr_max = 0, iops_max = 0, iops_rd_max = 0, iops_wr_max = 0;
    uint64_t bps_max_length = 1, bps_rd_max_length = 1, bps_wr_max_length = 1;
    uint64_t iops_max_length = 1, iops_rd_max_length = 1, iops_wr_max_length = 1;
    uint64_t iops_size = 0;
    std::string group;
    bool enabled() const;
};
// QEMU's checks (throttle.c throttle_is_valid), with its error messages.
Result<> validate_throttle(const ThrottleLimits& limits);

// What a device does with a failed request (QAPI BlockErrorAction): complete it with an
// error, complete it as if it had succeeded, or park it and stop the VM until `cont`.
enum class ErrorAction { Report, Ignore, Stop };

// query-block's io-status (QAPI BlockDeviceIoStatus).
enum class IoStatus { Ok, Failed, NoSpace };
std::string_view io_status_name(IoStatus s);

// A device's failed request as BLOCK_IO_ERROR reports it (QEMU block-backend.c
// send_qmp_error_event).
struct IoErrorReport {
    std::string device;       // the backend's name ("" for an anonymous backend)
    std::string node_name;    // its root node's
    bool is_read = false;     // flush, discard and write-zeroes count as writes
    ErrorAction action = ErrorAction::Report;
    bool iostatus_enabled = false;   // the event's "nospace" member is sent only then
    int error = 0;            // errno: "nospace" is error == ENOSPC, "reason" strerror(error)
};

// The VM's half of werror/rerror (QEMU blk_error_action's event and vmstop request, and the
// VM change state handlers where devices retry). The system layer sets one on every backend
// it creates for a VM (system/block_setup.h); without one an error is only counted.
class IoErrorHost {
public:
    virtual ~IoErrorHost() = default;
    // Any thread (a device's home loop). BLOCK_IO_ERROR and, for ErrorAction::Stop, a VM stop
    // with runstate io-error after it; both on the main loop, as QEMU orders them.
    virtual void io_error(const IoErrorReport& report) = 0;
    // Main loop. fn runs on the main loop each time the VM starts running again, for as long
    // as the returned handle lives.
    virtual std::shared_ptr<void> on_resume(std::function<void()> fn) = 0;
    // Main loop: the VM is going away; later reports are dropped (backends may outlive it
    // by a little while devices are torn down).
    virtual void detach() {}
};

struct BackendOptions {
    bool write_cache = true;          // false: writethrough, every write gets FUA
    OnError on_read_error = OnError::Report;  // rerror (QEMU default report)
    OnError on_write_error = OnError::Enospc; // werror (QEMU default enospc)
    DetectZeroes detect_zeroes = DetectZeroes::Off;
    AioMode aio = AioMode::IoUring;
    bool aio_explicit = false;        // aio= was given: no silent fallback from io_uring
    std::shared_ptr<IoErrorHost> error_host;  // see IoErrorHost; none: errors are only counted
};

class BlockBackend {
public:
    // name: the -drive id / device's backend name ("" for an anonymous backend).
    static Result<std::unique_ptr<BlockBackend>> create(std::string name, std::shared_ptr<BlockNode> root,
                                                        EventLoop& home, BackendOptions options);
    ~BlockBackend(); // drains

    // Home thread only. Applies throttling (queues the request until the budget allows),
    // writethrough (fua), detect-zeroes, and counts stats; done runs on the home loop.
    void submit(BlockRequest req, BlockCompletion done);
    void drain();
    // Home thread only: batch the requests submitted until the matching unplug() into one
    // kernel submission (IoEngine::plug; QEMU's blk_io_plug). See ScopedPlug.
    void plug();
    void unplug();

    const std::string& name() const { return m_name; }
    BlockNode& root() const { return *m_root; }
    std::shared_ptr<BlockNode> root_shared() const { return m_root; }
    const BackendOptions& options() const { return m_options; }
    void set_write_cache(bool on) { m_options.write_cache = on; }
    BlockStats stats() const;

    Result<> set_throttle(const ThrottleLimits& limits);
    const ThrottleLimits& throttle() const;

    // What the device should do with a failed request (werror/rerror and the errno).
    ErrorAction error_action(bool is_read, int err) const;
    // A device's own werror/rerror (QEMU blkconf_apply_backend_options): Auto keeps the
    // drive's. Main loop, before the device submits anything.
    void set_on_error(OnError on_read, OnError on_write);
    // A device's failed request handled as `action` (QEMU blk_error_action): io-status first
    // for Stop, then the host's BLOCK_IO_ERROR (and VM stop). Home loop.
    void report_error(bool is_read, ErrorAction action, int err);
    IoErrorHost* error_host() const { return m_options.error_host.get(); }

    // io-status (QEMU blk_iostatus_*): a device that tracks it enables it at realize;
    // query-block shows it only when also werror is enospc/stop or rerror stop. The first
    // stopping error sets it (failed, or nospace for ENOSPC); `cont` resets it. Any thread.
    void enable_iostatus() { m_iostatus_enabled = true; }
    bool iostatus_enabled() const;
    IoStatus iostatus() const { return m_iostatus.load(); }
    void reset_iostatus() { m_iostatus = IoStatus::Ok; }

private:
    struct Impl;
    BlockBackend(std::string name, std::shared_ptr<BlockNode> root, BackendOptions options, std::unique_ptr<Impl> impl);
    std::string m_name;
    std::shared_ptr<BlockNode> m_root;
    BackendOptions m_options;
    std::unique_ptr<Impl> m_impl;
    std::atomic<bool> m_iostatus_enabled{false};
    std::atomic<IoStatus> m_iostatus{IoStatus::Ok};
};

} // namespace nemu::block
