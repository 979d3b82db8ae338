#pragma once
// Test fixtures for the loader: a guest with RAM, a temporary directory, and builders for
// synthetic bzImage and ELF kernels (only the bytes the loader looks at).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hw/memory/address_space.h"

namespace nemu::hw::loader::test {

// RAM [0, low_ram_end) in a "system" address space.
struct Guest {
    explicit Guest(uint64_t low_ram_end, uint64_t ram_base = 0);
    std::vector<uint8_t> read(uint64_t gpa, size_t len) const;
    uint64_t u64(uint64_t gpa) const { return as->read_u64(gpa); }
    uint32_t u32(uint64_t gpa) const { return as->read_u32(gpa); }
    uint16_t u16(uint64_t gpa) const { return as->read_u16(gpa); }
    uint8_t u8(uint64_t gpa) const { return as->read_u8(gpa); }
    std::string str(uint64_t gpa) const; // a NUL-terminated string

    std::unique_ptr<memory::MemoryRegion> sys, ram;
    std::unique_ptr<memory::AddressSpace> as;
};

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    // Writes a file in the directory and returns its path.
    std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const;
    std::string path(const std::string& name) const { return m_dir + "/" + name; }

private:
    std::string m_dir;
};

std::vector<uint8_t> pattern(size_t len, uint8_t seed);

struct BzOpts {
    uint8_t setup_sects = 4; // as written in the header (0 means 4)
    uint16_t version = 0x020f;
    uint16_t xloadflags = 0x3; // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    uint8_t loadflags = 0x81;  // LOADED_HIGH | CAN_USE_HEAP
    uint8_t jump = 0x6a;       // header ends at 0x26c
    uint32_t initrd_addr_max = 0x7fffffff;
    uint32_t cmdline_size = 2047;
    size_t pm_size = 0x3000;
};
std::vector<uint8_t> make_bzimage(const BzOpts& o = {});

struct ElfSeg {
    uint64_t paddr, filesz, memsz;
};
struct ElfOpts {
    bool is64 = true;
    uint16_t machine = 62; // EM_X86_64
    bool pvh_note = true;
    uint32_t desc_size = 8;
    uint64_t entry = 0x1000100;
    std::vector<ElfSeg> segs = {{0x1000000, 0x2000, 0x3000}, {0x1400000, 0x100, 0x100}};
};
std::vector<uint8_t> make_elf(const ElfOpts& o = {});
// The ELF notes make_elf puts in its PT_NOTE: a GNU build id, two unrelated Xen notes and,
// if asked, PHYS32_ENTRY.
std::vector<uint8_t> make_notes(bool pvh_note, uint32_t desc_size, uint64_t entry);

} // namespace nemu::hw::loader::test
