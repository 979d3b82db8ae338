#include "hw/core/loader/pvh_elf.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "hw/core/loader/boot_file.h"
#include "hw/core/loader/boot_layout.h"
#include "hw/memory/address_space.h"
#include "util/little_endian.h"

namespace nemu::hw::loader {
namespace {

// ELF constants (System V ABI, "ELF Header" and "Program Header").
constexpr uint8_t kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
constexpr uint8_t kElfClass32 = 1, kElfClass64 = 2;
constexpr uint8_t kElfData2Lsb = 1;
constexpr uint16_t kEtExec = 2, kEtDyn = 3;
constexpr uint16_t kEm386 = 3, kEmX86_64 = 62;
constexpr uint32_t kPtLoad = 1, kPtNote = 4;
// vmlinux has about five program headers; this bounds what a hostile file makes us read.
constexpr unsigned kMaxPhdrs = 128;
// Linux's .notes segment is about 500 bytes.
constexpr uint64_t kMaxNoteBytes = 64 * 1024;

struct Segment {
    uint32_t type = 0;
    uint64_t offset = 0, paddr = 0, filesz = 0, memsz = 0, align = 0;
};

uint64_t get(std::span<const uint8_t> b, size_t off, unsigned n) {
    return load_le(b.data() + off, n);
}

// Reads and checks the ELF and program headers.
Result<std::vector<Segment>> read_segments(const BootFile& kernel) {
    uint8_t ehdr[64] = {};
    if (kernel.size() < 52)
        return fail("kernel '{}' is truncated ({} bytes, shorter than an ELF header)",
                    kernel.path(), kernel.size());
    TRY(kernel.read(0, std::span<uint8_t>(ehdr, std::min<uint64_t>(sizeof ehdr, kernel.size()))));
    std::span<const uint8_t> e(ehdr);
    bool is64 = ehdr[4] == kElfClass64;
    uint16_t type = uint16_t(get(e, 16, 2)), machine = uint16_t(get(e, 18, 2));
    if ((ehdr[4] != kElfClass32 && !is64) || ehdr[5] != kElfData2Lsb ||
        (machine != kEm386 && machine != kEmX86_64) || (type != kEtExec && type != kEtDyn))
        return fail("kernel '{}' is not an x86 ELF executable", kernel.path());
    if (is64 && kernel.size() < 64)
        return fail("kernel '{}' is truncated ({} bytes, shorter than an ELF header)",
                    kernel.path(), kernel.size());
    uint64_t phoff = is64 ? get(e, 32, 8) : get(e, 28, 4);
    unsigned phentsize = unsigned(get(e, is64 ? 54 : 42, 2));
    unsigned phnum = unsigned(get(e, is64 ? 56 : 44, 2));
    if (phentsize != (is64 ? 56u : 32u) || phnum == 0 || phnum > kMaxPhdrs)
        return fail("kernel '{}' has invalid ELF program headers", kernel.path());
    std::vector<uint8_t> raw(size_t(phnum) * phentsize);
    TRY(kernel.read(phoff, raw));
    std::vector<Segment> segs(phnum);
    for (unsigned i = 0; i < phnum; i++) {
        std::span<const uint8_t> p(raw.data() + size_t(i) * phentsize, phentsize);
        Segment& s = segs[i];
        s.type = uint32_t(get(p, 0, 4));
        // Elf64_Phdr and Elf32_Phdr order their fields differently (p_flags moves).
        static constexpr unsigned kOff64[] = {8, 24, 32, 40, 48}, kOff32[] = {4, 12, 16, 20, 28};
        const unsigned* at = is64 ? kOff64 : kOff32;
        unsigned w = is64 ? 8 : 4;
        s.offset = get(p, at[0], w);
        s.paddr = get(p, at[1], w);
        s.filesz = get(p, at[2], w);
        s.memsz = get(p, at[3], w);
        s.align = get(p, at[4], w);
    }
    return segs;
}

Result<uint64_t> find_entry(const std::vector<Segment>& segs, const BootFile& kernel) {
    for (const Segment& s : segs) {
        if (s.type != kPtNote || s.filesz == 0) continue;
        if (s.filesz > kMaxNoteBytes)
            return fail("kernel '{}' has an oversized ELF note segment ({} bytes)", kernel.path(),
                        s.filesz);
        std::vector<uint8_t> notes(s.filesz);
        TRY(kernel.read(s.offset, notes));
        if (auto entry = find_pvh_entry_note(notes, s.align == 8 ? 8 : 4)) return *entry;
    }
    return fail("kernel '{}' is an ELF file without a PVH entry note "
                "(XEN_ELFNOTE_PHYS32_ENTRY): use a bzImage or a kernel built with CONFIG_PVH",
                kernel.path());
}

// Every PT_LOAD must come from inside the file and land in low RAM above the boot area.
// Returns the end of the highest segment.
Result<uint64_t> check_loads(const std::vector<Segment>& segs, const BootRequest& req,
                             const BootFile& kernel, uint64_t entry) {
    uint64_t end = 0;
    bool entry_loaded = false;
    for (const Segment& s : segs) {
        if (s.type != kPtLoad || s.memsz == 0) continue;
        if (s.filesz > s.memsz)
            return fail("kernel '{}' has an ELF segment larger in the file than in memory",
                        kernel.path());
        if (s.offset > kernel.size() || s.filesz > kernel.size() - s.offset)
            return fail("kernel '{}' is truncated (segment at offset {:#x} needs {} bytes, "
                        "file has {})",
                        kernel.path(), s.offset, s.filesz, kernel.size());
        if (s.paddr < kLowBootAreaEnd)
            return fail("kernel '{}' has a segment at {:#x} overlapping the low boot area "
                        "(below {:#x})",
                        kernel.path(), s.paddr, kLowBootAreaEnd);
        if (s.paddr >= req.low_ram_end || s.memsz > req.low_ram_end - s.paddr)
            return fail("kernel '{}' has a segment [{:#x}, +{:#x}) outside guest RAM "
                        "(low RAM ends at {:#x})",
                        kernel.path(), s.paddr, s.memsz, req.low_ram_end);
        end = std::max(end, s.paddr + s.memsz);
        if (entry >= s.paddr && entry - s.paddr < s.filesz) entry_loaded = true;
    }
    if (!entry_loaded)
        return fail("kernel '{}' has its PVH entry point {:#x} outside its loaded segments",
                    kernel.path(), entry);
    return end;
}

} // namespace

bool is_elf(std::span<const uint8_t> head) {
    return head.size() >= 4 && std::memcmp(head.data(), kElfMagic, 4) == 0;
}

std::optional<uint64_t> find_pvh_entry_note(std::span<const uint8_t> notes, unsigned align) {
    // Each note: u32 namesz, u32 descsz, u32 type, name (padded), desc (padded).
    auto pad = [align](uint64_t n) { return (n + align - 1) & ~uint64_t(align - 1); };
    uint64_t off = 0;
    // namesz and descsz are 32-bit, so none of the sums below can overflow 64 bits.
    while (off + 12 <= notes.size()) {
        uint64_t namesz = get(notes, off, 4), descsz = get(notes, off + 4, 4);
        uint32_t type = uint32_t(get(notes, off + 8, 4));
        uint64_t name_off = off + 12;
        uint64_t desc_off = name_off + pad(namesz);
        // The last note's padding may be missing, its bytes may not.
        if (desc_off > notes.size() || descsz > notes.size() - desc_off) return std::nullopt;
        // Linux: ELFNOTE(Xen, XEN_ELFNOTE_PHYS32_ENTRY, _ASM_PTR pvh_start_xen - ...), an 8-byte
        // value in a 64-bit kernel and 4 bytes in a 32-bit one.
        bool xen = namesz == 4 && std::memcmp(notes.data() + name_off, "Xen", 4) == 0;
        if (xen && type == pvh::kElfNotePhys32Entry && (descsz == 4 || descsz == 8))
            return get(notes, desc_off, unsigned(descsz));
        off = desc_off + pad(descsz);
    }
    return std::nullopt;
}

Result<BootEntry> load_pvh_elf(const BootRequest& req, const BootFile& kernel,
                               const memory::AddressSpace& as) {
    auto segs = TRY(read_segments(kernel));
    uint64_t entry = TRY(find_entry(segs, kernel));
    // PVH starts in 32-bit protected mode with paging off (start_info.h, "Entry point").
    if (entry > UINT32_MAX)
        return fail("kernel '{}' has a PVH entry point above 4 GiB ({:#x})", kernel.path(), entry);
    uint64_t kernel_end = TRY(check_loads(segs, req, kernel, entry));
    if (req.e820.size() > kPvhMemmapMaxEntries)
        return fail("too many e820 entries for kernel '{}' ({}, max {})", kernel.path(),
                    req.e820.size(), kPvhMemmapMaxEntries);
    TRY(write_cmdline(req.cmdline, kCmdlineMaxBytes - 1, kernel.path(), as));

    std::vector<uint8_t> info(pvh::kStartInfoSize, 0);
    store_le(&info[0], pvh::kStartInfoMagic, 4);
    store_le(&info[4], pvh::kStartInfoVersion, 4);
    store_le(&info[24], kCmdlineGpa, 8);  // cmdline_paddr
    store_le(&info[32], req.rsdp_gpa, 8); // rsdp_paddr (0: the kernel scans for it)
    if (!req.initrd.empty()) {
        uint64_t lowest = (kernel_end + kPageSize - 1) & ~(kPageSize - 1);
        auto rd = TRY(load_initrd(req.initrd, lowest, req.low_ram_end, as));
        uint8_t mod[pvh::kModlistEntrySize] = {};
        store_le(&mod[0], rd.gpa, 8);
        store_le(&mod[8], rd.size, 8);
        TRY(write_guest(as, kPvhModlistGpa, mod, "the PVH module list"));
        store_le(&info[12], 1, 4);              // nr_modules
        store_le(&info[16], kPvhModlistGpa, 8); // modlist_paddr
    }
    // memmap entries use the e820 type numbers (XEN_HVM_MEMMAP_TYPE_RAM = 1, RESERVED = 2).
    std::vector<uint8_t> map(req.e820.size() * pvh::kMemmapEntrySize, 0);
    for (size_t i = 0; i < req.e820.size(); i++) {
        uint8_t* m = map.data() + i * pvh::kMemmapEntrySize;
        store_le(m, req.e820[i].addr, 8);
        store_le(m + 8, req.e820[i].size, 8);
        store_le(m + 16, req.e820[i].type, 4);
    }
    TRY(write_guest(as, kPvhMemmapGpa, map, "the PVH memory map"));
    store_le(&info[40], kPvhMemmapGpa, 8);   // memmap_paddr
    store_le(&info[48], req.e820.size(), 4); // memmap_entries

    for (const Segment& s : segs) {
        if (s.type != kPtLoad || s.memsz == 0) continue;
        TRY(kernel.copy_to_guest(s.offset, s.filesz, as, s.paddr));
        TRY(zero_guest(as, s.paddr + s.filesz, s.memsz - s.filesz, "the kernel's bss"));
    }
    TRY(write_guest(as, kPvhStartInfoGpa, info, "hvm_start_info"));
    return BootEntry{EntryMode::Pvh32, entry, kPvhStartInfoGpa, "pvh"};
}

} // namespace nemu::hw::loader
