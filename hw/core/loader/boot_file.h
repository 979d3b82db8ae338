#pragma once
// Reading the user's kernel and initrd files into guest memory with bounded buffers: a file is
// never read whole into host memory (a vmlinux with debug info can be hundreds of MiB), and
// every read is checked against the file's size so a truncated or lying file gives an error,
// not a crash. Thread: main thread, at machine set-up.

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::loader {

class BootFile {
public:
    // Opens a regular file. `what` names it in messages ("kernel", "initrd"); the error is
    // QEMU's: "could not open kernel file '<path>': <strerror>" or
    // "error reading initrd <path>: <strerror>".
    static Result<BootFile> open(const std::string& path, std::string_view what);

    const std::string& path() const { return m_path; }
    uint64_t size() const { return m_size; }

    // Reads exactly out.size() bytes at offset; past the end of the file is an error naming it.
    Result<> read(uint64_t offset, std::span<uint8_t> out) const;
    // Copies [offset, offset + len) of the file to guest memory at gpa in bounded chunks.
    Result<> copy_to_guest(uint64_t offset, uint64_t len, const memory::AddressSpace& as,
                           uint64_t gpa) const;

private:
    BootFile(UniqueFd fd, std::string path, std::string what, uint64_t size)
        : m_fd(std::move(fd)), m_path(std::move(path)), m_what(std::move(what)), m_size(size) {}

    UniqueFd m_fd;
    std::string m_path;
    std::string m_what;
    uint64_t m_size;
};

// Writes bytes to guest memory; a write that reaches outside RAM becomes an error naming what
// was being written (e.g. "boot_params") and where.
Result<> write_guest(const memory::AddressSpace& as, uint64_t gpa, std::span<const uint8_t> data,
                     std::string_view what);
// Fills [gpa, gpa + len) with zeros (ELF bss), in bounded chunks.
Result<> zero_guest(const memory::AddressSpace& as, uint64_t gpa, uint64_t len,
                    std::string_view what);

// Where an initrd went.
struct InitrdPlacement {
    uint64_t gpa = 0;
    uint64_t size = 0;
};

// Loads the initrd as high as possible below `limit` (exclusive), page aligned, and not below
// `lowest` (the end of the kernel). Too big: "initrd '<path>' is too large for guest RAM
// (max: N, need M)".
Result<InitrdPlacement> load_initrd(const std::string& path, uint64_t lowest, uint64_t limit,
                                    const memory::AddressSpace& as);

// Writes the NUL-terminated command line at kCmdlineGpa. max_len is the longest string the
// kernel accepts (without the NUL); longer is an error naming the kernel file.
Result<> write_cmdline(const std::string& cmdline, uint64_t max_len, const std::string& kernel_path,
                       const memory::AddressSpace& as);

} // namespace nemu::hw::loader
