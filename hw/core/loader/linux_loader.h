#pragma once
// Linux direct boot for the x86-64 `virt` machine: the front door that reads the -kernel
// file, recognises a PVH ELF (an ELF with Xen's PHYS32_ENTRY note) or a bzImage (64-bit boot
// protocol), loads it, the initrd and the command line into guest RAM and says where and how
// the boot vCPU must start. The register and page-table set-up belongs to the vCPU code.
// Thread: main thread, at machine set-up; no state is kept.

#include <cstdint>
#include <string>
#include <vector>

#include "hw/core/loader/e820.h"
#include "util/result.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::loader {

enum class EntryMode {
    Long64, // Linux 64-bit boot protocol: long mode, paging on, rsi = boot_params
    Pvh32,  // PVH: 32-bit protected mode, paging off, ebx = hvm_start_info
};

struct BootRequest {
    std::string kernel;
    std::string initrd; // empty: none
    std::string cmdline;
    uint64_t low_ram_end = 0;    // end of RAM below 4 GiB (the initrd goes below it)
    std::vector<E820Entry> e820; // usually x86_virt_e820(low_ram_end, high_ram)
    uint64_t rsdp_gpa = 0;       // 0: not passed to the kernel
};

struct BootEntry {
    EntryMode mode = EntryMode::Long64;
    uint64_t entry = 0;      // Long64: rip; Pvh32: eip
    uint64_t params_gpa = 0; // Long64: rsi (boot_params); Pvh32: ebx (hvm_start_info)
    std::string format;      // "bzImage" or "pvh"
};

// Loads everything through as.write (RAM must already be mapped in `as`). Every failure is a
// one-line message naming the file; nothing the file says can crash nemu or make it allocate
// more than a bounded buffer.
Result<BootEntry> load_linux(const BootRequest& req, memory::AddressSpace& as);

} // namespace nemu::hw::loader
