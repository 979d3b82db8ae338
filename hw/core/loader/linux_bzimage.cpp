#include "hw/core/loader/linux_bzimage.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "hw/core/loader/boot_file.h"
#include "hw/core/loader/boot_layout.h"
#include "hw/memory/address_space.h"
#include "util/little_endian.h"

namespace nemu::hw::loader {
namespace {

constexpr uint8_t kHdrS[4] = {'H', 'd', 'r', 'S'};

uint64_t get(const std::vector<uint8_t>& b, unsigned off, unsigned n) {
    return load_le(b.data() + off, n);
}
void put(std::vector<uint8_t>& b, unsigned off, uint64_t v, unsigned n) {
    store_le(b.data() + off, v, n);
}

// What we need from the setup header, validated.
struct SetupInfo {
    uint64_t setup_size = 0; // real-mode part: (setup_sects + 1) * 512
    unsigned header_end = 0; // first byte after the setup header
    uint16_t version = 0;
    uint32_t initrd_addr_max = 0;
    uint32_t cmdline_size = 0;
};

Result<SetupInfo> check_setup(const std::vector<uint8_t>& head, const BootFile& kernel) {
    SetupInfo info;
    info.version = uint16_t(get(head, bp::kVersion, 2));
    uint16_t xlf = uint16_t(get(head, bp::kXloadflags, 2));
    // boot.rst: XLF_KERNEL_64 "this kernel has the legacy 64-bit entry point at 0x200"; it
    // exists only from protocol 2.12 on, so older kernels cannot be started in long mode.
    if (info.version < bp::kMinVersion)
        return fail("kernel '{}' uses boot protocol {}.{:02}, but this machine boots 64-bit "
                    "kernels only (boot protocol 2.12 or later)",
                    kernel.path(), info.version >> 8, info.version & 0xff);
    if (!(xlf & bp::kXlfKernel64))
        return fail("kernel '{}' is a 32-bit kernel, but this machine boots 64-bit kernels only",
                    kernel.path());
    // boot.rst: "setup_sects ... If this field is 0, the real value is 4."
    unsigned sects = head[bp::kSetupSects] ? head[bp::kSetupSects] : 4;
    info.setup_size = uint64_t(sects + 1) * 512;
    if (kernel.size() <= info.setup_size)
        return fail("kernel '{}' is truncated (setup code of {} bytes, file has {})", kernel.path(),
                    info.setup_size, kernel.size());
    // boot.rst, 64-bit protocol: "The end of setup header can be calculated as follows:
    // 0x0202 + byte value at offset 0x0201". It must cover every field we read (up to
    // init_size, protocol 2.10) and cannot run into edd_mbr_sig_buffer.
    info.header_end = bp::kHeader + head[bp::kJump + 1];
    if (info.header_end < bp::kInitSize + 4 || info.header_end > bp::kSetupHeaderLimit)
        return fail("kernel '{}' has an invalid setup header (ends at {:#x})", kernel.path(),
                    info.header_end);
    info.initrd_addr_max = uint32_t(get(head, bp::kInitrdAddrMax, 4));
    info.cmdline_size = uint32_t(get(head, bp::kCmdlineSize, 4));
    return info;
}

// The boot_params e820 table: {u64 addr, u64 size, u32 type} packed, at most 128 entries.
Result<> put_e820(std::vector<uint8_t>& params, const std::vector<E820Entry>& e820,
                  const BootFile& kernel) {
    if (e820.size() > bp::kE820MaxEntries)
        return fail("too many e820 entries for kernel '{}' ({}, max {})", kernel.path(),
                    e820.size(), bp::kE820MaxEntries);
    for (size_t i = 0; i < e820.size(); i++) {
        unsigned off = bp::kE820Table + unsigned(i) * bp::kE820EntrySize;
        put(params, off, e820[i].addr, 8);
        put(params, off + 8, e820[i].size, 8);
        put(params, off + 16, e820[i].type, 4);
    }
    params[bp::kE820Entries] = uint8_t(e820.size());
    return {};
}

} // namespace

bool is_bzimage(std::span<const uint8_t> head) {
    return head.size() >= bp::kHeader + 4 && std::memcmp(head.data() + bp::kHeader, kHdrS, 4) == 0;
}

Result<BootEntry> load_bzimage(const BootRequest& req, const BootFile& kernel,
                               const memory::AddressSpace& as) {
    // The setup header lies in the first sector; bp::kSize bytes cover it with room to spare.
    if (kernel.size() < bp::kSetupHeaderLimit)
        return fail("kernel '{}' is truncated ({} bytes)", kernel.path(), kernel.size());
    std::vector<uint8_t> head(bp::kSize, 0);
    uint64_t head_len = std::min<uint64_t>(bp::kSize, kernel.size());
    TRY(kernel.read(0, std::span<uint8_t>(head.data(), head_len)));
    auto info = TRY(check_setup(head, kernel));

    // The protected-mode kernel is everything after the setup code (boot.rst, "Loading The
    // Rest of The Kernel"); it goes to 1 MiB, as QEMU and the 16-bit protocol do, and the
    // decompressor moves itself to its aligned run-time address.
    uint64_t pm_size = kernel.size() - info.setup_size;
    uint64_t room = req.low_ram_end > kKernelLoadGpa ? req.low_ram_end - kKernelLoadGpa : 0;
    if (pm_size > room)
        return fail("kernel '{}' is too large for guest RAM (max: {}, need {})", kernel.path(),
                    room, pm_size);
    uint64_t kernel_end = kKernelLoadGpa + pm_size;

    // Validate the cheap things before loading anything big.
    std::vector<uint8_t> params(bp::kSize, 0);
    // boot.rst, 64-bit protocol: "the setup header at offset 0x01f1 of kernel image on should
    // be loaded into struct boot_params and examined".
    std::copy(head.begin() + bp::kSetupSects, head.begin() + info.header_end,
              params.begin() + bp::kSetupSects);
    TRY(put_e820(params, req.e820, kernel));
    TRY(write_cmdline(req.cmdline, info.cmdline_size, kernel.path(), as));

    if (!req.initrd.empty()) {
        // boot.rst, initrd_addr_max: "the maximum address that may be occupied by the
        // initial ramdisk/ramfs contents" (inclusive). Kernels with
        // XLF_CAN_BE_LOADED_ABOVE_4G could take it above 4 GiB, but low RAM ends below 3 GiB
        // and we place it there anyway.
        uint64_t limit = std::min<uint64_t>(uint64_t(info.initrd_addr_max) + 1, req.low_ram_end);
        auto rd = TRY(load_initrd(req.initrd, kernel_end, limit, as));
        put(params, bp::kRamdiskImage, uint32_t(rd.gpa), 4);
        put(params, bp::kRamdiskSize, uint32_t(rd.size), 4);
        put(params, bp::kExtRamdiskImage, uint32_t(rd.gpa >> 32), 4);
        put(params, bp::kExtRamdiskSize, uint32_t(rd.size >> 32), 4);
    }

    // Fields the boot loader writes (boot.rst, "Details of Header Fields", "write" ones).
    params[bp::kTypeOfLoader] = bp::kLoaderUndefined;
    // LOADED_HIGH: the protected-mode code is at 1 MiB. CAN_USE_HEAP only concerns the
    // real-mode setup code, which the 64-bit entry skips, so it stays clear.
    params[bp::kLoadflags] = uint8_t((params[bp::kLoadflags] | bp::kLoadedHigh) & ~bp::kCanUseHeap);
    put(params, bp::kCmdLinePtr, kCmdlineGpa, 4);
    put(params, bp::kExtCmdLinePtr, 0, 4);
    // PC architecture (boot.rst, hardware_subarch 0 = X86_SUBARCH_PC).
    put(params, bp::kHardwareSubarch, 0, 4);
    put(params, bp::kHardwareSubarchData, 0, 8);
    // The image's own setup_data field would be a guest pointer the kernel follows.
    put(params, bp::kSetupData, 0, 8);
    // zero-page.rst: acpi_rsdp_addr; kernels before protocol 2.14 treat 0x070 as padding and
    // find the RSDP by scanning 0xE0000..0xFFFFF, which also works for us.
    if (req.rsdp_gpa != 0 && info.version >= bp::kRsdpVersion)
        put(params, bp::kAcpiRsdpAddr, req.rsdp_gpa, 8);

    TRY(kernel.copy_to_guest(info.setup_size, pm_size, as, kKernelLoadGpa));
    TRY(write_guest(as, kBootParamsGpa, params, "boot_params"));
    return BootEntry{EntryMode::Long64, kKernelLoadGpa + bp::kEntryOffset64, kBootParamsGpa,
                     "bzImage"};
}

} // namespace nemu::hw::loader
