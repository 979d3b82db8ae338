#include "hw/core/loader/e820.h"

#include <algorithm>

namespace nemu::hw::loader {

std::vector<E820Entry> x86_virt_e820(uint64_t low_ram, uint64_t high_ram) {
    std::vector<E820Entry> map;
    // Conventional memory below the EBDA; a machine with less than 640 KiB of RAM is not
    // useful but still gets a truthful map.
    uint64_t base_end = std::min(low_ram, kEbdaStart);
    if (base_end > 0) map.push_back({0, base_end, kE820Ram});
    // The EBDA/BIOS hole is reserved whatever the RAM size: the RSDP and the ACPI tables sit
    // at 0xE0000 and Linux must not reuse that memory.
    map.push_back({kEbdaStart, kHighMemStart - kEbdaStart, kE820Reserved});
    if (low_ram > kHighMemStart) map.push_back({kHighMemStart, low_ram - kHighMemStart, kE820Ram});
    if (high_ram > 0) map.push_back({kHighRamStart, high_ram, kE820Ram});
    return map;
}

} // namespace nemu::hw::loader
