#include "hw/core/loader/linux_loader.h"

#include <algorithm>

#include "hw/core/loader/boot_file.h"
#include "hw/core/loader/linux_bzimage.h"
#include "hw/core/loader/pvh_elf.h"
#include "hw/memory/address_space.h"

namespace nemu::hw::loader {

Result<BootEntry> load_linux(const BootRequest& req, memory::AddressSpace& as) {
    auto kernel = TRY(BootFile::open(req.kernel, "kernel"));
    // Enough for both signatures: ELF's at 0 and the boot protocol's "HdrS" at 0x202.
    uint8_t head[0x206] = {};
    auto head_len = size_t(std::min<uint64_t>(sizeof head, kernel.size()));
    TRY(kernel.read(0, std::span<uint8_t>(head, head_len)));
    std::span<const uint8_t> h(head, head_len);
    // A bzImage starts with its boot sector ("MZ" when it has an EFI stub), never with the
    // ELF magic, so the ELF test goes first.
    if (is_elf(h)) return load_pvh_elf(req, kernel, as);
    if (is_bzimage(h)) return load_bzimage(req, kernel, as);
    // QEMU 7.2 says "invalid kernel header" for such files; we also say what we accept.
    return fail("invalid kernel header: '{}' is neither a bzImage nor an ELF kernel", req.kernel);
}

} // namespace nemu::hw::loader
