#pragma once
// The e820 memory map of the x86-64 `virt` machine (docs: the machine's memory map; ACPI 6.5
// §15 "System Address Map Interfaces" for the type numbers). The same table feeds Linux's
// boot_params.e820_table and PVH's hvm_start_info memmap.

#include <cstdint>
#include <vector>

namespace nemu::hw::loader {

inline constexpr uint32_t kE820Ram = 1;      // AddressRangeMemory
inline constexpr uint32_t kE820Reserved = 2; // AddressRangeReserved

struct E820Entry {
    uint64_t addr = 0;
    uint64_t size = 0;
    uint32_t type = 0; // kE820Ram or kE820Reserved
    bool operator==(const E820Entry&) const = default;
};

// Where the map puts things (the x86-64 virt memory map, shared by the loader, the vCPU set-up
// code and the ACPI builder).
inline constexpr uint64_t kEbdaStart = 0x9fc00;           // [kEbdaStart, 1 MiB) reserved
inline constexpr uint64_t kHighMemStart = 0x100000;       // 1 MiB
inline constexpr uint64_t kHighRamStart = 0x100000000ULL; // 4 GiB

// RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB) (the ACPI tables live at 0xE0000..0xFFFFF),
// RAM [1 MiB, low_ram) and RAM [4 GiB, 4 GiB + high_ram). low_ram is the end of low RAM
// (at most 3 GiB), high_ram the size of the RAM above 4 GiB (0: none). Empty ranges are left
// out.
std::vector<E820Entry> x86_virt_e820(uint64_t low_ram, uint64_t high_ram);

} // namespace nemu::hw::loader
