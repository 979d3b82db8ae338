#include "hw/core/loader/boot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "hw/core/loader/boot_layout.h"
#include "hw/memory/address_space.h"

namespace nemu::hw::loader {
namespace {

// Host memory used per copy step: large enough to be fast, small enough to never matter.
constexpr uint64_t kCopyChunk = 1 << 20;

std::string open_error_prefix(std::string_view what, const std::string& path) {
    // QEMU 7.2's wording (hw/i386/x86.c): "could not open kernel file '%s': %s" and
    // "error reading initrd %s: %s".
    if (what == "initrd") return fmt::format("error reading initrd {}", path);
    return fmt::format("could not open {} file '{}'", what, path);
}

} // namespace

Result<BootFile> BootFile::open(const std::string& path, std::string_view what) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("{}: {}", open_error_prefix(what, path), std::strerror(errno));
    UniqueFd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) < 0)
        return fail("{}: {}", open_error_prefix(what, path), std::strerror(errno));
    // A pipe or device has no size we could bound our reads by.
    if (!S_ISREG(st.st_mode))
        return fail("{}: {}", open_error_prefix(what, path),
                    S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : "not a regular file");
    return BootFile(std::move(owned), path, std::string(what), uint64_t(st.st_size));
}

Result<> BootFile::read(uint64_t offset, std::span<uint8_t> out) const {
    if (offset > m_size || out.size() > m_size - offset)
        return fail("{} '{}' is truncated (needs {} bytes at offset {:#x}, file has {})", m_what,
                    m_path, out.size(), offset, m_size);
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(m_fd.get(), out.data() + done, out.size() - done, off_t(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("could not load {} '{}': {}", m_what, m_path, std::strerror(errno));
        // The file shrank after we measured it.
        if (n == 0) return fail("{} '{}' is truncated", m_what, m_path);
        done += size_t(n);
    }
    return {};
}

Result<> BootFile::copy_to_guest(uint64_t offset, uint64_t len, const memory::AddressSpace& as,
                                 uint64_t gpa) const {
    if (len == 0) return {};
    if (gpa + len < gpa) return fail("{} '{}' does not fit in guest RAM", m_what, m_path);
    std::vector<uint8_t> buf(std::min(len, kCopyChunk));
    for (uint64_t done = 0; done < len;) {
        uint64_t n = std::min(len - done, kCopyChunk);
        std::span<uint8_t> chunk(buf.data(), n);
        TRY(read(offset + done, chunk));
        if (as.write(gpa + done, chunk) != memory::MemTxResult::Ok)
            return fail("{} '{}' does not fit in guest RAM (at {:#x})", m_what, m_path, gpa + done);
        done += n;
    }
    return {};
}

Result<> write_guest(const memory::AddressSpace& as, uint64_t gpa, std::span<const uint8_t> data,
                     std::string_view what) {
    if (as.write(gpa, data) != memory::MemTxResult::Ok)
        return fail("cannot write {} at {:#x}: outside guest RAM", what, gpa);
    return {};
}

Result<> zero_guest(const memory::AddressSpace& as, uint64_t gpa, uint64_t len,
                    std::string_view what) {
    if (len == 0) return {};
    std::vector<uint8_t> zeros(std::min(len, kCopyChunk));
    for (uint64_t done = 0; done < len;) {
        uint64_t n = std::min(len - done, kCopyChunk);
        TRY(write_guest(as, gpa + done, std::span<const uint8_t>(zeros.data(), n), what));
        done += n;
    }
    return {};
}

Result<InitrdPlacement> load_initrd(const std::string& path, uint64_t lowest, uint64_t limit,
                                    const memory::AddressSpace& as) {
    auto file = TRY(BootFile::open(path, "initrd"));
    uint64_t size = file.size();
    uint64_t room = limit > lowest ? limit - lowest : 0;
    // Linux boot protocol (Documentation/arch/x86/boot.rst, "initrd_addr_max"): the initrd
    // must end at or below the limit; placing it at the top keeps it clear of the kernel's
    // decompression area.
    if (size > room || ((limit - size) & ~(kPageSize - 1)) < lowest)
        return fail("initrd '{}' is too large for guest RAM (max: {}, need {})", path, room, size);
    uint64_t gpa = (limit - size) & ~(kPageSize - 1);
    TRY(file.copy_to_guest(0, size, as, gpa));
    return InitrdPlacement{gpa, size};
}

Result<> write_cmdline(const std::string& cmdline, uint64_t max_len, const std::string& kernel_path,
                       const memory::AddressSpace& as) {
    // The map gives the command line 64 KiB including the NUL; the kernel may accept less.
    uint64_t limit = std::min(max_len, kCmdlineMaxBytes - 1);
    if (cmdline.size() > limit)
        return fail("kernel command line is too long for kernel '{}' ({} bytes, max {})",
                    kernel_path, cmdline.size(), limit);
    // An embedded NUL would silently cut the command line short.
    if (cmdline.find('\0') != std::string::npos)
        return fail("kernel command line for '{}' contains a NUL byte", kernel_path);
    auto bytes = reinterpret_cast<const uint8_t*>(cmdline.c_str());
    return write_guest(as, kCmdlineGpa, std::span<const uint8_t>(bytes, cmdline.size() + 1),
                       "the kernel command line");
}

} // namespace nemu::hw::loader
