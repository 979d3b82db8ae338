#pragma once
// An anonymous private mmap owned by one object: the backing store of RAM regions until
// memory backends (memory-backend-ram/memfd/file) take over. Move-only (STYLE.md rule 4).

#include <cstddef>
#include <cstdint>
#include <utility>

#include "util/result.h"

namespace nemu::memory {

class Mapping {
public:
    Mapping() = default;
    // Maps size bytes of zeroed, private, anonymous memory (MAP_NORESERVE: untouched guest
    // pages cost nothing).
    static Result<Mapping> anonymous(size_t size);

    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& o) noexcept
        : m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)) {}
    Mapping& operator=(Mapping&& o) noexcept {
        if (this != &o) {
            reset();
            m_data = std::exchange(o.m_data, nullptr);
            m_size = std::exchange(o.m_size, 0);
        }
        return *this;
    }
    ~Mapping() { reset(); }

    uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }
    void reset();

private:
    Mapping(uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    uint8_t* m_data = nullptr;
    size_t m_size = 0;
};

} // namespace nemu::memory
