#pragma once
// Fixed guest-physical addresses of the x86-64 `virt` machine's direct-boot data (the
// machine's memory map, issue 4). The vCPU set-up code and the ACPI builder use the same
// numbers: GDT 0x500, IDT 0x520, page tables 0x9000..0xEFFF, stack top 0x8ff0, RSDP 0xE0000.

#include <cstdint>

namespace nemu::hw::loader {

inline constexpr uint64_t kPvhStartInfoGpa = 0x6000; // struct hvm_start_info
inline constexpr uint64_t kPvhModlistGpa = 0x6080;   // hvm_modlist_entry[1] (the initrd)
inline constexpr uint64_t kPvhMemmapGpa = 0x6100;    // hvm_memmap_table_entry[]
inline constexpr uint32_t kPvhMemmapMaxEntries = 64;
inline constexpr uint64_t kBootParamsGpa = 0x7000; // Linux "zero page"
inline constexpr uint64_t kCmdlineGpa = 0x20000;
inline constexpr uint64_t kCmdlineMaxBytes = 0x10000; // including the NUL
inline constexpr uint64_t kKernelLoadGpa = 0x100000;  // bzImage protected-mode code
// Everything below 1 MiB belongs to the boot data above, the EBDA hole and the ACPI tables:
// no kernel segment may land there.
inline constexpr uint64_t kLowBootAreaEnd = 0x100000;
inline constexpr uint64_t kRsdpGpa = 0xE0000;
inline constexpr uint64_t kPageSize = 0x1000;

} // namespace nemu::hw::loader
