#include "hw/core/loader/loader_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/little_endian.h"

namespace nemu::hw::loader::test {

Guest::Guest(uint64_t low_ram_end, uint64_t ram_base) {
    sys = memory::MemoryRegion::container("system", memory::kWholeSpace);
    auto r = memory::MemoryRegion::ram("ram", low_ram_end - ram_base);
    EXPECT_TRUE(r.has_value());
    ram = std::move(r).value();
    sys->add_subregion(ram_base, *ram);
    as = std::make_unique<memory::AddressSpace>("memory", *sys);
}

std::vector<uint8_t> Guest::read(uint64_t gpa, size_t len) const {
    std::vector<uint8_t> out(len);
    EXPECT_EQ(as->read(gpa, out), memory::MemTxResult::Ok);
    return out;
}

std::string Guest::str(uint64_t gpa) const {
    std::string s;
    for (uint8_t c; (c = as->read_u8(gpa + s.size())) != 0 && s.size() < 0x10000;) s += char(c);
    return s;
}

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nemu-loader-XXXXXX").string();
    char* d = ::mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    m_dir = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
}

std::string TempDir::write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::string p = path(name);
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    EXPECT_TRUE(f.good());
    return p;
}

std::vector<uint8_t> pattern(size_t len, uint8_t seed) {
    std::vector<uint8_t> v(len);
    for (size_t i = 0; i < len; i++) v[i] = uint8_t(seed + i * 7 + (i >> 8));
    return v;
}

std::vector<uint8_t> make_bzimage(const BzOpts& o) {
    unsigned sects = o.setup_sects ? o.setup_sects : 4;
    size_t setup = size_t(sects + 1) * 512;
    std::vector<uint8_t> img(setup, 0);
    // Bytes past the header end, which must not reach boot_params.
    for (size_t i = std::max<size_t>(0x202 + o.jump, 0x26c); i < 0x290; i++) img[i] = 0xee;
    img[0x1f1] = o.setup_sects;
    store_le(&img[0x1fe], 0xaa55, 2);
    img[0x200] = 0xeb;
    img[0x201] = o.jump;
    std::memcpy(&img[0x202], "HdrS", 4);
    store_le(&img[0x206], o.version, 2);
    img[0x211] = o.loadflags;
    store_le(&img[0x22c], o.initrd_addr_max, 4);
    store_le(&img[0x230], 0x200000, 4); // kernel_alignment
    img[0x234] = 1;                     // relocatable_kernel
    store_le(&img[0x236], o.xloadflags, 2);
    store_le(&img[0x238], o.cmdline_size, 4);
    store_le(&img[0x250], 0x12345678, 8); // setup_data: a loader must not pass this on
    store_le(&img[0x258], 0x1000000, 8);  // pref_address
    store_le(&img[0x260], 0x200000, 4);   // init_size
    auto pm = pattern(o.pm_size, 0x31);
    img.insert(img.end(), pm.begin(), pm.end());
    return img;
}

namespace {
void put_note(std::vector<uint8_t>& out, const char* name, uint32_t type,
              const std::vector<uint8_t>& desc) {
    size_t namesz = std::strlen(name) + 1;
    size_t at = out.size();
    out.resize(at + 12);
    store_le(&out[at], namesz, 4);
    store_le(&out[at + 4], desc.size(), 4);
    store_le(&out[at + 8], type, 4);
    out.insert(out.end(), name, name + namesz);
    out.resize((out.size() + 3) & ~size_t(3));
    out.insert(out.end(), desc.begin(), desc.end());
    out.resize((out.size() + 3) & ~size_t(3));
}
} // namespace

std::vector<uint8_t> make_notes(bool pvh_note, uint32_t desc_size, uint64_t entry) {
    std::vector<uint8_t> n;
    put_note(n, "GNU", 3, std::vector<uint8_t>(20, 0xab));  // NT_GNU_BUILD_ID
    put_note(n, "Xen", 6, {'l', 'i', 'n', 'u', 'x', 0});    // XEN_ELFNOTE_GUEST_OS
    put_note(n, "Xenx", 18, std::vector<uint8_t>(8, 0x11)); // right type, wrong owner
    if (pvh_note) {
        std::vector<uint8_t> d(desc_size);
        store_le(d.data(), entry, desc_size > 8 ? 8 : desc_size);
        put_note(n, "Xen", 18, d);
    }
    put_note(n, "Linux", 0x100, {1, 2, 3, 4});
    return n;
}

std::vector<uint8_t> make_elf(const ElfOpts& o) {
    size_t ehsz = o.is64 ? 64 : 52, phsz = o.is64 ? 56 : 32;
    size_t phnum = o.segs.size() + 1;
    std::vector<uint8_t> f(ehsz + phnum * phsz, 0);
    std::memcpy(&f[0],
                "\x7f"
                "ELF",
                4);
    f[4] = o.is64 ? 2 : 1;
    f[5] = 1;               // little-endian
    f[6] = 1;               // EV_CURRENT
    store_le(&f[16], 2, 2); // ET_EXEC
    store_le(&f[18], o.machine, 2);
    store_le(&f[20], 1, 4);
    if (o.is64) {
        store_le(&f[24], o.entry, 8);
        store_le(&f[32], ehsz, 8); // e_phoff
        store_le(&f[52], ehsz, 2);
        store_le(&f[54], phsz, 2);
        store_le(&f[56], phnum, 2);
    } else {
        store_le(&f[24], o.entry, 4);
        store_le(&f[28], ehsz, 4);
        store_le(&f[40], ehsz, 2);
        store_le(&f[42], phsz, 2);
        store_le(&f[44], phnum, 2);
    }
    auto phdr = [&](size_t i, uint32_t type, uint64_t off, uint64_t paddr, uint64_t filesz,
                    uint64_t memsz, uint64_t align) {
        uint8_t* p = &f[ehsz + i * phsz];
        store_le(p, type, 4);
        if (o.is64) {
            store_le(p + 8, off, 8), store_le(p + 16, paddr, 8), store_le(p + 24, paddr, 8);
            store_le(p + 32, filesz, 8), store_le(p + 40, memsz, 8), store_le(p + 48, align, 8);
        } else {
            store_le(p + 4, off, 4), store_le(p + 8, paddr, 4), store_le(p + 12, paddr, 4);
            store_le(p + 16, filesz, 4), store_le(p + 20, memsz, 4), store_le(p + 28, align, 4);
        }
    };
    auto notes = make_notes(o.pvh_note, o.desc_size, o.entry);
    size_t note_off = f.size();
    f.insert(f.end(), notes.begin(), notes.end());
    phdr(0, 4, note_off, 0, notes.size(), notes.size(), 4);
    for (size_t i = 0; i < o.segs.size(); i++) {
        f.resize((f.size() + 15) & ~size_t(15));
        size_t off = f.size();
        auto data = pattern(o.segs[i].filesz, uint8_t(0x40 + i));
        f.insert(f.end(), data.begin(), data.end());
        phdr(i + 1, 1, off, o.segs[i].paddr, o.segs[i].filesz, o.segs[i].memsz, 0x200000);
    }
    return f;
}

} // namespace nemu::hw::loader::test
