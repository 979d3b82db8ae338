#include "system/process_memory.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>

#include <cstdlib>
#include <thread>

namespace nemu {
namespace {

size_t stack_size_of_new_thread() {
    size_t size = 0;
    std::thread([&size] {
        pthread_attr_t attr;
        if (::pthread_getattr_np(::pthread_self(), &attr) != 0) return;
        (void)::pthread_attr_getstacksize(&attr, &size);
        ::pthread_attr_destroy(&attr);
    }).join();
    return size;
}

TEST(ProcessMemory, ThreadStacksCannotHoldAHugePage) {
    ASSERT_TRUE(tune_process_memory());
    const size_t size = stack_size_of_new_thread();
    EXPECT_GE(size, kThreadStackSize);
    EXPECT_LT(size, size_t(2) << 20);
}

#if !defined(__SANITIZE_ADDRESS__)
// glibc's allocator only (a sanitizer build replaces malloc and ignores mallopt): after a
// freed 4 MiB block, a 1 MiB block is still mmapped (so its free gives it back), not carved
// from the heap as glibc's dynamic threshold would do.
TEST(ProcessMemory, LargeBlocksStayMmappedAfterALargeFree) {
    ASSERT_TRUE(tune_process_memory());
    void* big = std::malloc(4 << 20);
    ASSERT_NE(big, nullptr);
    std::free(big);
    const size_t mapped_before = ::mallinfo2().hblkhd;
    void* mid = std::malloc(1 << 20);
    ASSERT_NE(mid, nullptr);
    const size_t mapped_after = ::mallinfo2().hblkhd;
    std::free(mid);
    EXPECT_GE(mapped_after - mapped_before, size_t(1) << 20);
}
#endif

} // namespace
} // namespace nemu
