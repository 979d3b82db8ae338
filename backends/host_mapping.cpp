#include "backends/host_mapping.h"

#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

namespace nemu::backends {

namespace {
constexpr long kHugetlbfsMagic = 0x958458f6;  // <linux/magic.h> HUGETLBFS_MAGIC
#ifndef MAP_SYNC
constexpr int kMapSync = 0x80000;
constexpr int kMapSharedValidate = 0x03;
#else
constexpr int kMapSync = MAP_SYNC;
constexpr int kMapSharedValidate = MAP_SHARED_VALIDATE;
#endif
} // namespace

size_t host_page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

bool fd_on_hugetlbfs(int fd) {
    struct statfs fs {};
    if (fd < 0) return false;
    int r;
    do r = ::fstatfs(fd, &fs);
    while (r != 0 && errno == EINTR);
    return r == 0 && fs.f_type == kHugetlbfsMagic;
}

size_t fd_page_size(int fd) {
    struct statfs fs {};
    if (fd >= 0 && ::fstatfs(fd, &fs) == 0 && fs.f_type == kHugetlbfsMagic) return static_cast<size_t>(fs.f_bsize);
    return host_page_size();
}

Result<HostMapping> HostMapping::map(int fd, size_t size, const MapOptions& opts, std::string_view what) {
    if (size == 0) return fail("{}: {}", what, "Invalid argument");
    int prot = opts.readonly ? PROT_READ : PROT_READ | PROT_WRITE;
    int flags = (opts.shared ? MAP_SHARED : MAP_PRIVATE) | (opts.noreserve ? MAP_NORESERVE : 0);
    if (fd < 0) flags |= MAP_ANONYMOUS;

    // Alignment (QEMU qemu_ram_mmap): reserve size + align of address space, then place the
    // real mapping at the aligned address inside it and give back the rest.
    uint8_t* where = nullptr;
    uint8_t* reserved = nullptr;
    size_t reserved_size = 0;
    if (opts.align > host_page_size()) {
        reserved_size = size + opts.align;
        void* r = ::mmap(nullptr, reserved_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED) return fail_errno(what, errno);
        reserved = static_cast<uint8_t*>(r);
        uintptr_t a = (reinterpret_cast<uintptr_t>(reserved) + opts.align - 1) & ~(uintptr_t(opts.align) - 1);
        where = reinterpret_cast<uint8_t*>(a);
        flags |= MAP_FIXED;
    }
    void* p = MAP_FAILED;
    if (opts.sync && opts.shared && fd >= 0) {
        // MAP_SYNC only exists for DAX files; elsewhere the kernel says EOPNOTSUPP/EINVAL.
        p = ::mmap(where, size, prot, (flags & ~MAP_SHARED) | kMapSharedValidate | kMapSync, fd, 0);
    }
    if (p == MAP_FAILED) p = ::mmap(where, size, prot, flags, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        if (reserved) ::munmap(reserved, reserved_size);
        return fail_errno(what, err);
    }
    if (reserved) {
        uint8_t* end = where + size;
        if (where > reserved) ::munmap(reserved, where - reserved);
        if (reserved + reserved_size > end) ::munmap(end, reserved + reserved_size - end);
    }
    return HostMapping(static_cast<uint8_t*>(p), size);
}

void HostMapping::reset() {
    if (m_data) ::munmap(m_data, m_size);
    m_data = nullptr;
    m_size = 0;
}

} // namespace nemu::backends
