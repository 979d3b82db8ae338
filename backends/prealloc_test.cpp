// Preallocation: every page resident afterwards (mincore), both methods, errors as QEMU's
// "qemu_prealloc_mem: preallocating memory failed: Bad address" (seen with a file on a full
// tmpfs; here a mapping beyond the end of a memfd gives the same SIGBUS/EFAULT).
#include "backends/prealloc.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "backends/host_mapping.h"
#include "util/unique_fd.h"

namespace nemu::backends {
namespace {

constexpr size_t kMiB = 1ULL << 20;

size_t resident_pages(const uint8_t* p, size_t size) {
    size_t page = host_page_size();
    std::vector<unsigned char> vec((size + page - 1) / page);
    if (::mincore(const_cast<uint8_t*>(p), size, vec.data()) != 0) return SIZE_MAX;
    size_t n = 0;
    for (unsigned char v : vec) n += v & 1;
    return n;
}

TEST(Prealloc, ThreadCount) {
    constexpr size_t k4k = 4096;
    EXPECT_EQ(prealloc_thread_count(k4k, (1024 * kMiB) / k4k, 8, 4), 4u);   // host CPUs
    EXPECT_EQ(prealloc_thread_count(k4k, (1024 * kMiB) / k4k, 2, 4), 2u);   // max_threads
    EXPECT_EQ(prealloc_thread_count(k4k, (4096 * kMiB) / k4k, 64, 64), 16u);  // cap of 16
    EXPECT_EQ(prealloc_thread_count(k4k, (128 * kMiB) / k4k, 8, 8), 2u);    // one per 64 MiB
    EXPECT_EQ(prealloc_thread_count(k4k, 10, 8, 8), 1u);                    // little memory
    EXPECT_EQ(prealloc_thread_count(1024 * kMiB, 3, 8, 8), 3u);             // no more than pages
    EXPECT_EQ(prealloc_thread_count(k4k, 1 << 20, 8, -1), 1u);              // sysconf failed
}

class PreallocMethods : public ::testing::TestWithParam<PopulateMethod> {};

TEST_P(PreallocMethods, TouchesEveryPageWithThreads) {
    const size_t size = 160 * kMiB;  // > 2 x 64 MiB: more than one worker
    ASSERT_GT(prealloc_thread_count(host_page_size(), size / host_page_size(), 4, 4), 1u);
    MapOptions o;
    o.noreserve = true;
    auto m = HostMapping::map(-1, size, o, "map");
    ASSERT_TRUE(m);
    EXPECT_EQ(resident_pages(m->data(), size), 0u);
    ASSERT_TRUE(prealloc_memory(m->data(), size, host_page_size(), 4, false, GetParam()));
    EXPECT_EQ(resident_pages(m->data(), size), size / host_page_size());
}

TEST_P(PreallocMethods, KeepsFileContents) {
    UniqueFd fd(::memfd_create("t", MFD_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::ftruncate(fd.get(), 4 * kMiB), 0);
    ASSERT_EQ(::pwrite(fd.get(), "abc", 3, 3 * kMiB), 3);
    MapOptions o;
    o.shared = true;
    auto m = HostMapping::map(fd.get(), 4 * kMiB, o, "map");
    ASSERT_TRUE(m);
    ASSERT_TRUE(prealloc_memory(m->data(), 4 * kMiB, host_page_size(), 2, false, GetParam()));
    EXPECT_EQ(std::memcmp(m->data() + 3 * kMiB, "abc", 3), 0);
}

TEST_P(PreallocMethods, FailureIsAnErrorNotACrash) {
    // The memfd holds one page; the mapping covers four: pages 2..4 fault with SIGBUS.
    UniqueFd fd(::memfd_create("t", MFD_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(host_page_size())), 0);
    MapOptions o;
    o.shared = true;
    auto m = HostMapping::map(fd.get(), 4 * host_page_size(), o, "map");
    ASSERT_TRUE(m);
    // SIG_DFL in a plain build; ASan has its own SIGBUS handler installed.
    struct sigaction before {};
    ASSERT_EQ(::sigaction(SIGBUS, nullptr, &before), 0);
    auto r = prealloc_memory(m->data(), 4 * host_page_size(), host_page_size(), 4, false, GetParam());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "qemu_prealloc_mem: preallocating memory failed: Bad address");
    // The process-wide SIGBUS disposition is restored afterwards.
    struct sigaction now {};
    ASSERT_EQ(::sigaction(SIGBUS, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, before.sa_handler);
    EXPECT_EQ(now.sa_flags, before.sa_flags);
}

INSTANTIATE_TEST_SUITE_P(Both, PreallocMethods, ::testing::Values(PopulateMethod::Auto, PopulateMethod::Touch));

} // namespace
} // namespace nemu::backends
