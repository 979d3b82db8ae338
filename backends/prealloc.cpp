#include "backends/prealloc.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace nemu::backends {

namespace {

constexpr int kMadvPopulateRead = 22;   // Linux 5.14 <asm-generic/mman-common.h>
constexpr int kMadvPopulateWrite = 23;
constexpr unsigned kMaxPreallocThreads = 16;  // QEMU MAX_MEM_PREALLOC_THREAD_COUNT
constexpr size_t kBytesPerThread = 64ULL << 20;

// The touch fallback must survive SIGBUS (hugetlbfs without free pages, a file system
// that is full): the handler jumps back to the worker that faulted. Signal handlers can only
// reach thread-local state, hence this one thread_local; the process-wide handler is
// installed for the duration of one prealloc_memory() call under kSigbusLock.
thread_local sigjmp_buf* t_sigbus_jump = nullptr;

void sigbus_handler(int, siginfo_t*, void*) {
    if (t_sigbus_jump) siglongjmp(*t_sigbus_jump, 1);
    // A SIGBUS outside a worker: restore the default action and let it happen again.
    ::signal(SIGBUS, SIG_DFL);
}

std::mutex& sigbus_lock() {
    static std::mutex m;  // serialises handler installation; no data behind it
    return m;
}

// One worker's share. Returns 0 or a positive errno.
int populate_range(uint8_t* start, size_t pages, size_t page_size, bool readonly, bool madvise_ok) {
    if (pages == 0) return 0;
    if (madvise_ok) {
        int advice = readonly ? kMadvPopulateRead : kMadvPopulateWrite;
        if (::madvise(start, pages * page_size, advice) != 0) return errno;
        return 0;
    }
    sigjmp_buf env;
    if (sigsetjmp(env, 1) != 0) {
        t_sigbus_jump = nullptr;
        return EFAULT;  // QEMU reports a SIGBUS during touching as -EFAULT
    }
    t_sigbus_jump = &env;
    // The handler must see the pointer before the first touch: keep the compiler from
    // sinking the store past the volatile accesses.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    for (size_t i = 0; i < pages; i++) {
        volatile uint8_t* p = start + i * page_size;
        uint8_t v = *p;
        if (!readonly) *p = v;  // write back what is there: file contents are kept
    }
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_sigbus_jump = nullptr;
    return 0;
}

} // namespace

unsigned prealloc_thread_count(size_t page_size, size_t num_pages, unsigned max_threads, long host_cpus) {
    uint64_t n = 1;
    if (host_cpus > 0) n = std::min<uint64_t>({static_cast<uint64_t>(host_cpus), kMaxPreallocThreads, max_threads});
    n = std::min<uint64_t>(n, num_pages);
    n = std::min<uint64_t>(n, std::max<uint64_t>(1, page_size * num_pages / kBytesPerThread));
    return static_cast<unsigned>(std::max<uint64_t>(n, 1));
}

Result<> prealloc_memory(uint8_t* area, size_t size, size_t page_size, unsigned max_threads, bool readonly,
                         PopulateMethod method) {
    if (size == 0) return {};
    size_t pages = (size + page_size - 1) / page_size;
    // Sensed on every call, as QEMU does: some mappings (device memory) refuse the advice.
    bool madvise_ok = false;
    if (method == PopulateMethod::Auto) {
        int advice = readonly ? kMadvPopulateRead : kMadvPopulateWrite;
        madvise_ok = ::madvise(area, page_size, advice) == 0 || errno != EINVAL;
    }
    std::unique_lock<std::mutex> lock(sigbus_lock(), std::defer_lock);
    struct sigaction old_action {};
    if (!madvise_ok) {
        lock.lock();
        struct sigaction act {};
        act.sa_sigaction = sigbus_handler;
        act.sa_flags = SA_SIGINFO;
        sigemptyset(&act.sa_mask);
        if (::sigaction(SIGBUS, &act, &old_action) != 0)
            return fail_errno("qemu_prealloc_mem: failed to install signal handler", errno);
    }

    unsigned threads = prealloc_thread_count(page_size, pages, max_threads, ::sysconf(_SC_NPROCESSORS_ONLN));
    std::atomic<int> first_error{0};
    {
        std::vector<std::jthread> workers;
        workers.reserve(threads);
        size_t per = pages / threads, extra = pages % threads, next = 0;
        for (unsigned t = 0; t < threads; t++) {
            size_t count = per + (t < extra ? 1 : 0);
            uint8_t* start = area + next * page_size;
            next += count;
            auto work = [=, &first_error] {
                int err = populate_range(start, count, page_size, readonly, madvise_ok);
                int none = 0;
                if (err) first_error.compare_exchange_strong(none, err);
            };
            if (t + 1 == threads) {
                work();  // the caller does the last share itself
                continue;
            }
            try {
                workers.emplace_back(work);
            } catch (const std::system_error&) {
                work();  // no thread to be had: this share runs here
            }
        }
    }  // jthreads join here

    if (!madvise_ok) ::sigaction(SIGBUS, &old_action, nullptr);
    if (int err = first_error.load()) return fail_errno("qemu_prealloc_mem: preallocating memory failed", err);
    return {};
}

} // namespace nemu::backends
