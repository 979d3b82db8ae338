// Choosing the engine for a backend's aio= mode.

#include <cerrno>

#include "block/io_engine.h"

namespace nemu::block {

Result<std::unique_ptr<IoEngine>> make_io_engine(AioMode mode, EventLoop& home, bool explicit_mode,
                                                 const UringEngineFactory& make_uring) {
    if (mode == AioMode::Threads) return make_thread_engine(home);
    auto ring = make_uring(home);
    if (ring) return std::move(*ring);
    // io_uring is nemu's default, so a kernel without it (ENOSYS) or a sandbox that forbids
    // it (EPERM, e.g. seccomp or kernel.io_uring_disabled) falls back to the thread pool
    // rather than failing to open the drive. Asked for by name, it is an error, with QEMU
    // 7.2's text (file-posix.c raw_open_common + luring_init; checked with io_uring_setup
    // failing under strace fault injection).
    if (mode == AioMode::IoUring && explicit_mode)
        return fail("{}", kUringUnavailable);
    const int err = ring.error().sys_errno;
    if (err == ENOSYS || err == EPERM || err == EACCES) return make_thread_engine(home);
    return make_error(std::move(ring).error());
}

Result<std::unique_ptr<IoEngine>> make_io_engine(AioMode mode, EventLoop& home, bool explicit_mode) {
    return make_io_engine(mode, home, explicit_mode, [](EventLoop& h) { return make_uring_engine(h); });
}

} // namespace nemu::block
