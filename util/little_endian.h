#pragma once
// Little-endian loads and stores of 1..8 bytes: guest memory, device registers and the qtest
// protocol are little-endian on both nemu targets.

#include <cstdint>

namespace nemu {

inline uint64_t load_le(const uint8_t* p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

inline void store_le(uint8_t* p, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; i++) p[i] = uint8_t(v >> (8 * i));
}

} // namespace nemu
