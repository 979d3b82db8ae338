#pragma once
// Process-wide memory settings applied once at the start of main(), before any other thread
// exists: they keep the VMM's own memory beside guest RAM small (issue 4's bar: <= 5 MiB).

#include <cstddef>

#include "util/result.h"

namespace nemu {

// Stack size of every thread the VMM creates (vCPU threads, iothreads, block workers,
// preallocation workers). Below 2 MiB, so a stack mapping can never hold a 2 MiB-aligned
// range: with transparent huge pages "always" (Debian's default) glibc's 8 MiB default stacks
// get a 2 MiB huge page on their first touch, 2 MiB of RSS per thread for a few KiB used.
inline constexpr size_t kThreadStackSize = 1u << 20;

// glibc's malloc raises its mmap threshold to the size of any mmapped block that is freed
// (up to 32 MiB), after which such blocks come from the heap and stay resident after free:
// the kernel loader's 1 MiB copy buffers left 1 MiB on the heap for the VMM's lifetime. A
// fixed threshold (glibc's default, 128 KiB) turns the dynamic adjustment off, so large
// buffers always go back to the kernel. Then the default thread stack size above.
Result<> tune_process_memory();

} // namespace nemu
