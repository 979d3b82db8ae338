// memory-backend-ram: anonymous memory (QEMU 7.2 backends/hostmem-ram.c). share=on maps it
// MAP_SHARED (shared with children, not nameable by others: vhost-user wants memfd).
#include "backends/host_memory_backend.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace nemu::backends {

namespace {

// QEMU_VMALLOC_ALIGN on x86-64 Linux: 2 MiB, so transparent huge pages can back the RAM.
constexpr size_t kAnonAlign = 2ULL << 20;

class RamBackend : public HostMemoryBackend {
protected:
    Result<Allocation> allocate() override {
        MapOptions opts;
        opts.shared = m_share;
        opts.noreserve = !m_reserve;  // reserve=on: no MAP_NORESERVE, as QEMU (overcommit applies)
        opts.align = m_size >= kAnonAlign ? kAnonAlign : 0;
        Allocation a;
        // QEMU names the backend's id here ("cannot set up guest memory 'm0': ...").
        a.mapping = TRY(HostMapping::map(-1, m_size, opts, fmt::format("cannot set up guest memory '{}'", name())));
        a.page_size = host_page_size();
        return a;
    }
};

} // namespace

Result<HostMemoryBackend::Allocation> allocate_from_fd(UniqueFd fd, uint64_t size, const FdRamOptions& o) {
    const uint64_t host_page = host_page_size();
    size = (size + host_page - 1) & ~(host_page - 1);
    struct stat st {};
    uint64_t file_size = 0;
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) file_size = static_cast<uint64_t>(st.st_size);
    else if (off_t end = ::lseek(fd.get(), 0, SEEK_END); end > 0) file_size = static_cast<uint64_t>(end);
    if (file_size > 0 && file_size < size)
        return fail("backing store size 0x{:x} does not match 'size' option 0x{:x}", file_size, size);

    const uint64_t page = fd_page_size(fd.get());
    if (o.align % page) return fail("alignment 0x{:x} must be multiples of page size 0x{:x}", o.align, page);
    if (o.align && !is_power_of_2(o.align)) return fail("alignment 0x{:x} must be a power of two", o.align);
    uint64_t align = std::max(o.align, page);
    if (size < page) return fail("memory size 0x{:x} must be equal to or larger than page size 0x{:x}", size, page);
    size = (size + page - 1) / page * page;
    // Only a new or empty file is sized: an existing file keeps its contents and length
    // (QEMU: growing a non-empty file would move NVDIMM labels). Failure shows in mmap.
    if (file_size == 0) (void)::ftruncate(fd.get(), static_cast<off_t>(size));

    MapOptions mo;
    mo.shared = o.shared;
    mo.noreserve = o.noreserve;
    mo.readonly = o.readonly;
    mo.sync = o.pmem;
    mo.align = align;
    HostMemoryBackend::Allocation a;
    a.mapping = TRY(HostMapping::map(fd.get(), size, mo, "unable to map backing store for guest RAM"));
    a.fd = std::move(fd);
    a.page_size = page;
    a.readonly = o.readonly;
    return a;
}

void register_ram_backend(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "memory-backend-ram", .parent = "memory-backend",
                               .create = [] { return std::make_unique<RamBackend>(); }});
}

} // namespace nemu::backends
