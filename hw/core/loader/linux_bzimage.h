#pragma once
// bzImage loading per the Linux x86 boot protocol, 64-bit entry (the kernel's
// Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"; the zero page layout is
// Documentation/arch/x86/zero-page.rst). Only kernels with boot protocol >= 2.12 and
// XLF_KERNEL_64 are accepted: the `virt` machine starts its boot vCPU in long mode.

#include <cstdint>
#include <span>

#include "hw/core/loader/linux_loader.h"

namespace nemu::hw::loader {

class BootFile;

// Setup header offsets (boot.rst, "The Real-Mode Kernel Header"), relative to the image
// start, which is also their offset inside boot_params.
namespace bp {
inline constexpr unsigned kAcpiRsdpAddr = 0x070;        // u64 (zero-page.rst)
inline constexpr unsigned kExtRamdiskImage = 0x0c0;     // u32
inline constexpr unsigned kExtRamdiskSize = 0x0c4;      // u32
inline constexpr unsigned kExtCmdLinePtr = 0x0c8;       // u32
inline constexpr unsigned kE820Entries = 0x1e8;         // u8
inline constexpr unsigned kSetupSects = 0x1f1;          // u8: start of the setup header
inline constexpr unsigned kBootFlag = 0x1fe;            // u16 0xAA55
inline constexpr unsigned kJump = 0x200;                // u16: jmp rel8; header ends at 0x202+rel8
inline constexpr unsigned kHeader = 0x202;              // "HdrS"
inline constexpr unsigned kVersion = 0x206;             // u16
inline constexpr unsigned kTypeOfLoader = 0x210;        // u8
inline constexpr unsigned kLoadflags = 0x211;           // u8
inline constexpr unsigned kRamdiskImage = 0x218;        // u32
inline constexpr unsigned kRamdiskSize = 0x21c;         // u32
inline constexpr unsigned kCmdLinePtr = 0x228;          // u32
inline constexpr unsigned kInitrdAddrMax = 0x22c;       // u32 (2.03+)
inline constexpr unsigned kKernelAlignment = 0x230;     // u32 (2.05+)
inline constexpr unsigned kRelocatableKernel = 0x234;   // u8
inline constexpr unsigned kXloadflags = 0x236;          // u16 (2.12+)
inline constexpr unsigned kCmdlineSize = 0x238;         // u32 (2.06+)
inline constexpr unsigned kHardwareSubarch = 0x23c;     // u32 (2.07+)
inline constexpr unsigned kHardwareSubarchData = 0x240; // u64
inline constexpr unsigned kSetupData = 0x250;           // u64 (2.09+)
inline constexpr unsigned kPrefAddress = 0x258;         // u64 (2.10+)
inline constexpr unsigned kInitSize = 0x260;            // u32 (2.10+)
inline constexpr unsigned kE820Table = 0x2d0;           // 128 x {u64 addr, u64 size, u32 type}
inline constexpr unsigned kSetupHeaderLimit = 0x290;    // edd_mbr_sig_buffer follows the header
inline constexpr unsigned kE820MaxEntries = 128;        // E820_MAX_ENTRIES_ZEROPAGE
inline constexpr unsigned kE820EntrySize = 20;
inline constexpr unsigned kSize = 4096;

inline constexpr uint8_t kLoadedHigh = 1 << 0;
inline constexpr uint8_t kCanUseHeap = 1 << 7;
inline constexpr uint16_t kXlfKernel64 = 1 << 0;
inline constexpr uint16_t kXlfCanBeLoadedAbove4g = 1 << 1;
inline constexpr uint8_t kLoaderUndefined = 0xff; // type_of_loader: "undefined" boot loader
inline constexpr uint16_t kMinVersion = 0x020c;   // 2.12: xloadflags / XLF_KERNEL_64
inline constexpr uint16_t kRsdpVersion = 0x020e;  // 2.14: acpi_rsdp_addr honoured
inline constexpr uint64_t kEntryOffset64 = 0x200; // 64-bit entry = load address + 0x200
} // namespace bp

// True when the first bytes carry the boot protocol's "HdrS" signature at 0x202.
bool is_bzimage(std::span<const uint8_t> head);

// Loads a bzImage: boot_params at kBootParamsGpa, protected-mode code at kKernelLoadGpa,
// command line at kCmdlineGpa, initrd high in low RAM.
Result<BootEntry> load_bzimage(const BootRequest& req, const BootFile& kernel,
                               const memory::AddressSpace& as);

} // namespace nemu::hw::loader
