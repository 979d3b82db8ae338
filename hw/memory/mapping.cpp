#include "hw/memory/mapping.h"

#include <sys/mman.h>

#include <cerrno>

namespace nemu::memory {

Result<Mapping> Mapping::anonymous(size_t size) {
    if (size == 0) return fail("cannot map zero bytes");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return fail_errno("mmap", errno);
    return Mapping(static_cast<uint8_t*>(p), size);
}

void Mapping::reset() {
    if (m_data) ::munmap(m_data, m_size);
    m_data = nullptr;
    m_size = 0;
}

} // namespace nemu::memory
