// Choosing the engine for a backend's aio= mode.

#include <cerrno>

#include "block/io_engine.h"

namespace nemu::block {

Result<std::unique_ptr<IoEngine>> make_io_engine(AioMode mode, EventLoop& home) {
    if (mode == AioMode::Threads) return make_thread_engine(home);
    auto ring = make_uring_engine(home);
    if (ring) return std::move(*ring);
    // io_uring is nemu's default, so a kernel without it (ENOSYS) or a sandbox that forbids
    // it (EPERM, e.g. seccomp or kernel.io_uring_disabled) falls back to the thread pool
    // rather than failing to open the drive. FIXME(#6): QEMU fails for an explicit
    // aio=io_uring; BackendOptions cannot tell explicit from default yet.
    const int err = ring.error().sys_errno;
    if (err == ENOSYS || err == EPERM || err == EACCES) return make_thread_engine(home);
    return make_error(std::move(ring).error());
}

} // namespace nemu::block
