#pragma once
// PVH direct boot of an ELF kernel (vmlinux): the Xen PVH boot ABI as Linux implements it
// (arch/x86/platform/pvh/head.S, enlighten.c). The kernel announces its 32-bit entry point in
// an ELF note named "Xen" of type XEN_ELFNOTE_PHYS32_ENTRY (18, xen/include/public/elfnote.h);
// the loader places every PT_LOAD at its physical address and passes a struct hvm_start_info
// (xen/include/public/arch-x86/hvm/start_info.h) in ebx.

#include <cstdint>
#include <optional>
#include <span>

#include "hw/core/loader/linux_loader.h"

namespace nemu::hw::loader {

class BootFile;

namespace pvh {
inline constexpr uint32_t kStartInfoMagic = 0x336ec578; // XEN_HVM_START_MAGIC_VALUE
inline constexpr uint32_t kStartInfoVersion = 1;        // has memmap_paddr/entries
inline constexpr uint32_t kElfNotePhys32Entry = 18;     // XEN_ELFNOTE_PHYS32_ENTRY
inline constexpr unsigned kStartInfoSize = 56;          // version 1 layout
inline constexpr unsigned kModlistEntrySize = 32;       // paddr, size, cmdline_paddr, reserved
inline constexpr unsigned kMemmapEntrySize = 24;        // addr, size, type, reserved
} // namespace pvh

// True when the bytes start with the ELF magic.
bool is_elf(std::span<const uint8_t> head);

// Looks for the PHYS32_ENTRY note in a buffer of ELF notes (the contents of a PT_NOTE
// segment). align is the note alignment (4, or 8 when the segment says so). Malformed notes
// end the search; the result is the entry address, if found.
std::optional<uint64_t> find_pvh_entry_note(std::span<const uint8_t> notes, unsigned align);

// Loads the ELF's segments, the command line, the initrd (as module 0) and hvm_start_info.
Result<BootEntry> load_pvh_elf(const BootRequest& req, const BootFile& kernel,
                               const memory::AddressSpace& as);

} // namespace nemu::hw::loader
