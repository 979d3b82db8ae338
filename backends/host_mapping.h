#pragma once
// A host mapping that backs guest RAM: anonymous or over a file descriptor (memfd, a file,
// hugetlbfs), shared or private, optionally aligned. Move-only; unmapped on destruction
// (STYLE.md rule 4). Mirrors what QEMU 7.2's util/mmap-alloc.c qemu_ram_mmap() provides.
// Thread: created on the main loop; the pointer is then used by any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "util/result.h"

namespace nemu::backends {

struct MapOptions {
    bool shared = false;     // MAP_SHARED (share=on): visible to other processes (vhost-user)
    bool noreserve = false;  // MAP_NORESERVE (reserve=off): no swap/hugepage reservation
    bool readonly = false;   // PROT_READ only (memory-backend-file readonly=on)
    bool sync = false;       // pmem=on with share=on: try MAP_SYNC (DAX), fall back silently
    size_t align = 0;        // 0: the kernel's choice; otherwise a power of two
};

class HostMapping {
public:
    HostMapping() = default;
    // fd < 0 maps anonymous memory. On failure: "<what>: <strerror>".
    static Result<HostMapping> map(int fd, size_t size, const MapOptions& opts, std::string_view what);

    HostMapping(const HostMapping&) = delete;
    HostMapping& operator=(const HostMapping&) = delete;
    HostMapping(HostMapping&& o) noexcept
        : m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)) {}
    HostMapping& operator=(HostMapping&& o) noexcept {
        if (this != &o) {
            reset();
            m_data = std::exchange(o.m_data, nullptr);
            m_size = std::exchange(o.m_size, 0);
        }
        return *this;
    }
    ~HostMapping() { reset(); }

    uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }
    void reset();

private:
    HostMapping(uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    uint8_t* m_data = nullptr;
    size_t m_size = 0;
};

size_t host_page_size();
// The page size of the memory behind fd: the huge page size on hugetlbfs (statfs f_bsize,
// QEMU qemu_fd_getpagesize), the host page size otherwise and for fd < 0.
size_t fd_page_size(int fd);
bool fd_on_hugetlbfs(int fd);
constexpr bool is_power_of_2(uint64_t v) { return v && !(v & (v - 1)); }

} // namespace nemu::backends
