#include "system/process_memory.h"

#include <malloc.h>
#include <pthread.h>

#include <cstring>

namespace nemu {

namespace {

// glibc's default M_MMAP_THRESHOLD (DEFAULT_MMAP_THRESHOLD_MIN); setting it, even to the
// default, disables the dynamic threshold (mallopt(3)).
constexpr int kMmapThreshold = 128 * 1024;

} // namespace

Result<> tune_process_memory() {
    // Advisory: a sanitizer's allocator replaces glibc's and ignores it (returns 0).
    (void)::mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
    pthread_attr_t attr;
    if (int e = ::pthread_attr_init(&attr); e != 0) return fail("pthread_attr_init: {}", std::strerror(e));
    int e = ::pthread_attr_setstacksize(&attr, kThreadStackSize);
    // std::thread creates its threads with glibc's default attributes, which this sets.
    if (e == 0) e = ::pthread_setattr_default_np(&attr);
    ::pthread_attr_destroy(&attr);
    if (e != 0) return fail("setting the default thread stack size: {}", std::strerror(e));
    return {};
}

} // namespace nemu
