// BlockBackend: validation, writethrough, detect-zeroes, statistics and throttling in front of
// the I/O engine. Statistics follow QEMU's block/accounting.c as query-blockstats shows them:
// a failed request counts in failed_* and (stats-account-failed=on, the default) in the total
// time; an invalid one counts in invalid_* only; both reset the idle clock.

#include "block/block_backend.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "block/throttle.h"

namespace nemu::block {

namespace {

enum class AcctType { Read, Write, Flush, Unmap };

AcctType acct_type(BlockOp op) {
    switch (op) {
    case BlockOp::Read:
        return AcctType::Read;
    case BlockOp::Write:
    case BlockOp::WriteZeroes: // QEMU's virtio-blk accounts write-zeroes as a write
        return AcctType::Write;
    case BlockOp::Flush:
        return AcctType::Flush;
    case BlockOp::Discard:
        return AcctType::Unmap;
    }
    return AcctType::Read;
}

bool iov_is_zero(const std::vector<iovec>& iov) {
    for (const auto& v : iov) {
        const auto* p = static_cast<const uint8_t*>(v.iov_base);
        size_t n = v.iov_len;
        // Word-wise for the bulk: detect-zeroes looks at every write of the guest.
        while (n >= sizeof(uint64_t)) {
            uint64_t w;
            std::memcpy(&w, p, sizeof w);
            if (w) return false;
            p += sizeof w;
            n -= sizeof w;
        }
        while (n--)
            if (*p++) return false;
    }
    return true;
}

} // namespace

struct BlockBackend::Impl {
    EventLoop& home;
    std::unique_ptr<IoEngine> engine;
    std::unique_ptr<Throttler> throttler; // created by the first set_throttle()
    ThrottleLimits limits;
    BlockStats stats;
    std::optional<uint64_t> last_access_ns;
    uint64_t posted = 0; // invalid-request completions posted and not yet run

    Impl(EventLoop& h, std::unique_ptr<IoEngine> e) : home(h), engine(std::move(e)) {}

    void account_invalid(AcctType t) {
        switch (t) {
        case AcctType::Read: ++stats.invalid_rd_operations; break;
        case AcctType::Write: ++stats.invalid_wr_operations; break;
        case AcctType::Flush: ++stats.invalid_flush_operations; break;
        case AcctType::Unmap: ++stats.invalid_unmap_operations; break;
        }
        last_access_ns = monotonic_ns();
    }

    void account_done(AcctType t, uint64_t bytes, uint64_t start_ns, bool ok) {
        const uint64_t now = monotonic_ns();
        const uint64_t ns = now - start_ns;
        last_access_ns = now;
        auto count = [&](uint64_t& b, uint64_t& ops, uint64_t& time, uint64_t& failed) {
            if (ok) {
                b += bytes;
                ++ops;
            } else {
                ++failed;
            }
            time += ns;
        };
        uint64_t no_bytes = 0;
        switch (t) {
        case AcctType::Read:
            count(stats.rd_bytes, stats.rd_operations, stats.rd_total_time_ns, stats.failed_rd_operations);
            break;
        case AcctType::Write:
            count(stats.wr_bytes, stats.wr_operations, stats.wr_total_time_ns, stats.failed_wr_operations);
            break;
        case AcctType::Flush:
            count(no_bytes, stats.flush_operations, stats.flush_total_time_ns, stats.failed_flush_operations);
            break;
        case AcctType::Unmap:
            count(stats.unmap_bytes, stats.unmap_operations, stats.unmap_total_time_ns, stats.failed_unmap_operations);
            break;
        }
    }
};

Result<std::unique_ptr<BlockBackend>> BlockBackend::create(std::string name, std::shared_ptr<BlockNode> root,
                                                           EventLoop& home, BackendOptions options) {
    if (!root) return fail("Block backend '{}' has no root node", name);
    // -blockdev: the protocol node's own explicit aio= (QEMU's is per file node); -drive
    // gives its aio= in the options.
    if (!options.aio_explicit) {
        const BlockNode* proto = root.get();
        while (proto->file_child()) proto = proto->file_child();
        if (proto->open_aio()) {
            options.aio = *proto->open_aio();
            options.aio_explicit = true;
        }
    }
    auto engine = TRY(make_io_engine(options.aio, home, options.aio_explicit));
    auto impl = std::make_unique<Impl>(home, std::move(engine));
    return std::unique_ptr<BlockBackend>(
        new BlockBackend(std::move(name), std::move(root), options, std::move(impl)));
}

BlockBackend::BlockBackend(std::string name, std::shared_ptr<BlockNode> root, BackendOptions options,
                           std::unique_ptr<Impl> impl)
    : m_name(std::move(name)), m_root(std::move(root)), m_options(options), m_impl(std::move(impl)) {}

BlockBackend::~BlockBackend() { drain(); }

void BlockBackend::submit(BlockRequest req, BlockCompletion done) {
    Impl& s = *m_impl;
    const AcctType type = acct_type(req.op);
    if (req.op == BlockOp::Read || req.op == BlockOp::Write) req.length = iov_size(req.iov);
    if (req.op != BlockOp::Flush) {
        const uint64_t size = m_root->length();
        if (req.offset > size || req.length > size - req.offset) {
            s.account_invalid(type);
            const std::string msg = fmt::format("Request {}+{} lies beyond the end of the device", req.offset, req.length);
            ++s.posted;
            s.home.post([this, done = std::move(done), msg] {
                --m_impl->posted;
                done(io_error(EINVAL, msg));
            });
            return;
        }
    }
    // detect-zeroes (QEMU bdrv_aligned_pwritev): an all-zero write becomes write-zeroes,
    // which may deallocate with detect-zeroes=unmap. Whether unmapping really happens is the
    // node's discard= setting, which the node enforces.
    bool flush_after = false;
    if (req.op == BlockOp::Write && m_options.detect_zeroes != DetectZeroes::Off && iov_is_zero(req.iov)) {
        req.op = BlockOp::WriteZeroes;
        req.may_unmap = m_options.detect_zeroes == DetectZeroes::Unmap;
        req.iov.clear();
        flush_after = req.fua || !m_options.write_cache;
        req.fua = false;
    } else if (req.op == BlockOp::Write && !m_options.write_cache) {
        req.fua = true; // writethrough: QEMU adds BDRV_REQ_FUA when the write cache is off
    } else if (req.op == BlockOp::WriteZeroes && !m_options.write_cache) {
        flush_after = true; // write_zeroes has no FUA flag in the node interface
    }

    const uint64_t start = monotonic_ns();
    const uint64_t bytes = req.length;
    const bool is_write = type == AcctType::Write;
    const uint64_t offset = req.offset;
    auto on_done = [this, type, bytes, start, is_write, offset, done = std::move(done)](Result<> r) {
        m_impl->account_done(type, bytes, start, r.has_value());
        if (r && is_write)
            m_impl->stats.wr_highest_offset = std::max<int64_t>(m_impl->stats.wr_highest_offset,
                                                                static_cast<int64_t>(offset + bytes));
        done(std::move(r));
    };
    BlockCompletion complete = std::move(on_done);
    if (flush_after) {
        complete = [this, complete = std::move(complete)](Result<> r) {
            if (!r) return complete(std::move(r));
            m_impl->engine->submit(m_root, BlockRequest{.op = BlockOp::Flush}, std::move(complete));
        };
    }
    auto go = [this, req = std::move(req), complete = std::move(complete)]() mutable {
        m_impl->engine->submit(m_root, std::move(req), std::move(complete));
    };
    // QEMU throttles reads and writes (write-zeroes included) but not flush or discard.
    if (s.throttler && (type == AcctType::Read || type == AcctType::Write))
        s.throttler->submit(is_write, bytes, std::move(go));
    else
        go();
}

void BlockBackend::drain() {
    // Waiting requests start at once: a drain must not wait for the throttle timer.
    if (m_impl->throttler) m_impl->throttler->release_all();
    m_impl->engine->drain();
    while (m_impl->posted > 0) m_impl->home.run_once(-1);
}

void BlockBackend::plug() { m_impl->engine->plug(); }

void BlockBackend::unplug() { m_impl->engine->unplug(); }

BlockStats BlockBackend::stats() const {
    BlockStats s = m_impl->stats;
    if (m_impl->last_access_ns) s.idle_time_ns = static_cast<int64_t>(monotonic_ns() - *m_impl->last_access_ns);
    return s;
}

Result<> BlockBackend::set_throttle(const ThrottleLimits& limits) {
    TRY(validate_throttle(limits));
    if (!m_impl->throttler) {
        if (!limits.enabled()) {
            m_impl->limits = limits;
            return {};
        }
        m_impl->throttler = TRY(Throttler::create(m_impl->home));
    }
    m_impl->limits = limits;
    m_impl->throttler->set_limits(limits);
    return {};
}

const ThrottleLimits& BlockBackend::throttle() const { return m_impl->limits; }

// werror/rerror (QEMU blk_get_error_action): enospc stops only on ENOSPC; auto is "report"
// for a backend without a device policy of its own.
ErrorAction BlockBackend::error_action(bool is_read, int err) const {
    switch (is_read ? m_options.on_read_error : m_options.on_write_error) {
    case OnError::Report:
    case OnError::Auto:
        return ErrorAction::Report;
    case OnError::Ignore:
        return ErrorAction::Ignore;
    case OnError::Stop:
        return ErrorAction::Stop;
    case OnError::Enospc:
        return err == ENOSPC ? ErrorAction::Stop : ErrorAction::Report;
    }
    return ErrorAction::Report;
}

} // namespace nemu::block

namespace nemu::block {

std::string_view io_status_name(IoStatus s) {
    switch (s) {
    case IoStatus::Ok: return "ok";
    case IoStatus::Failed: return "failed";
    case IoStatus::NoSpace: return "nospace";
    }
    return "ok";
}

void BlockBackend::set_on_error(OnError on_read, OnError on_write) {
    if (on_read != OnError::Auto) m_options.on_read_error = on_read;
    if (on_write != OnError::Auto) m_options.on_write_error = on_write;
}

// QEMU blk_iostatus_is_enabled: only the policies that can stop the VM have a status to show.
bool BlockBackend::iostatus_enabled() const {
    return m_iostatus_enabled &&
           (m_options.on_write_error == OnError::Enospc || m_options.on_write_error == OnError::Stop ||
            m_options.on_read_error == OnError::Stop);
}

void BlockBackend::report_error(bool is_read, ErrorAction action, int err) {
    const bool enabled = iostatus_enabled();
    if (action == ErrorAction::Stop && enabled) {
        // QEMU blk_iostatus_set_err: the first error sticks until `cont` resets it, so the
        // status never loses an error an event already announced.
        IoStatus ok = IoStatus::Ok;
        m_iostatus.compare_exchange_strong(ok, err == ENOSPC ? IoStatus::NoSpace : IoStatus::Failed);
    }
    if (!m_options.error_host) return;
    m_options.error_host->io_error(IoErrorReport{.device = m_name,
                                                 .node_name = m_root->node_name(),
                                                 .is_read = is_read,
                                                 .action = action,
                                                 .iostatus_enabled = enabled,
                                                 .error = err});
}

} // namespace nemu::block
