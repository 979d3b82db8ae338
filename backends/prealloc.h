#pragma once
// Preallocation of guest RAM (QEMU 7.2 util/oslib-posix.c qemu_prealloc_mem): every page of
// a mapping is faulted in before the guest runs, in parallel threads, so that a missing
// huge page or a full file system is a start-up error instead of a SIGBUS in a vCPU later.
// Linux 5.14+ does it with MADV_POPULATE_WRITE (errors come back as errno); older kernels
// get the page-touching fallback, which catches SIGBUS and turns it into EFAULT as QEMU does.
// Thread: blocks the caller until all worker threads are done.

#include <cstddef>
#include <cstdint>

#include "util/result.h"

namespace nemu::backends {

enum class PopulateMethod {
    Auto,   // MADV_POPULATE_WRITE when the kernel has it, else Touch
    Touch,  // read and write back one byte per page (keeps file contents)
};

// QEMU's get_memset_num_threads(): at most max_threads, the host's CPUs and 16, no more
// threads than pages, and one thread per 64 MiB.
unsigned prealloc_thread_count(size_t page_size, size_t num_pages, unsigned max_threads, long host_cpus);

// Fault in [area, area + size). page_size is the mapping's page size (huge pages: one touch
// each). readonly mappings are populated for reading. Error (QEMU's wording):
// "qemu_prealloc_mem: preallocating memory failed: <strerror>".
Result<> prealloc_memory(uint8_t* area, size_t size, size_t page_size, unsigned max_threads,
                         bool readonly = false, PopulateMethod method = PopulateMethod::Auto);

} // namespace nemu::backends
