#pragma once
// The protocol nodes "file" and "host_device" (QEMU 7.2 block/file-posix.c): a regular file
// or a block device, read and written with preadv/pwritev, O_DIRECT for cache.direct (with
// bouncing for unaligned requests), fdatasync for flush, fallocate for discard and zeroes,
// and QEMU-compatible image locking (file_lock.h).
//
// Thread: opened and destroyed on the main loop; I/O methods are called concurrently from
// the backend's worker threads. State touched by I/O is atomic (the length) or guarded
// (m_rmw_mutex, only around read-modify-write of partial O_DIRECT blocks).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "block/block_node.h"
#include "block/block_types.h"
#include "block/file_lock.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::block {

struct FileOptions {
    std::string filename;
    OpenFlags flags;
    bool host_device = false; // driver "host_device": must be a block or character device
};

// Largest bounce buffer one O_DIRECT request allocates; bigger requests go in chunks.
inline constexpr uint64_t kFileBounceChunk = 1 << 20;
// Largest O_DIRECT alignment probed (QEMU's MAX_BLOCKSIZE).
inline constexpr uint32_t kFileMaxAlignment = 4096;

class FileNode final : public BlockNode {
public:
    // Opens as QEMU does; errors as QEMU 7.2 words them:
    //   Could not open 'PATH': No such file or directory
    //   'file' driver requires 'PATH' to be a regular file
    //   'host_device' driver requires 'PATH' to be either a character or block device
    //   Failed to get "write" lock\nIs another process using the image [PATH]?
    // With flags.auto_read_only, EACCES/EROFS/EPERM on a read-write open retries read-only
    // and the node is then read-only.
    static Result<std::shared_ptr<FileNode>> open(const FileOptions& opts);

    std::string_view driver() const override { return m_block_device ? "host_device" : "file"; }
    // Regular file: its size, following writes past the end. Device: BLKGETSIZE64.
    uint64_t length() const override { return m_length.load(std::memory_order_acquire); }
    // Reads may go up to length() rounded up to the request alignment (at least 512): a
    // format reading a partial last sector gets zeroes past EOF, as file-posix gives them.
    Result<> read(uint64_t offset, std::span<const iovec> iov) override;
    // Writes may extend a regular file (formats append); a device is bounded by its size.
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) override;
    Result<> flush() override;
    // discard=unmap: punch a hole (BLKDISCARD semantics for devices); otherwise no effect.
    // Unsupported by the host: success (discard is advisory).
    Result<> discard(uint64_t offset, uint64_t length) override;
    // fallocate ZERO_RANGE (PUNCH_HOLE when may_unmap and discard=unmap), else writes zero
    // buffers. Extends a regular file when the range goes past its end.
    Result<> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
    // ftruncate ("Failed to resize file: ..."); devices cannot grow ("Cannot grow device
    // files"), shrinking a device is accepted without effect (block_resize's exact=false).
    Result<> truncate(uint64_t new_length) override;
    // Data at the same offset in fd() for the whole range; Indirect for an O_DIRECT range
    // that is not aligned to request_alignment() (read()/write() bounce it). A caller doing
    // its own O_DIRECT I/O on a Data extent must also use buffers aligned to mem_alignment().
    HostExtent map(uint64_t offset, uint64_t length, bool for_write) override;
    NodeInfo info() const override;

    int fd() const { return m_fd.get(); }
    const std::string& filename() const { return m_filename; }
    bool is_block_device() const { return m_block_device; }
    bool direct() const { return m_flags.cache.direct; }
    // O_DIRECT offset/length and buffer alignment; 1 without O_DIRECT.
    uint32_t request_alignment() const { return m_align; }
    uint32_t mem_alignment() const { return m_mem_align; }
    // The image lock, or null with locking=off (or while unlocked).
    const FileLock* lock() const { return m_lock.get(); }

    struct Private {};
    FileNode(Private, UniqueFd fd, const FileOptions& opts, bool read_only, bool block_device, uint64_t length,
             uint32_t align, uint32_t mem_align, std::unique_ptr<FileLock> lock);
    ~FileNode() override;

private:
    bool needs_bounce(uint64_t offset, std::span<const iovec> iov) const;
    Result<> bounce_read(uint64_t offset, std::span<const iovec> iov);
    Result<> bounce_write(uint64_t offset, std::span<const iovec> iov);
    Result<> zero_fill_write(uint64_t offset, uint64_t length);
    void note_end(uint64_t end);
    Result<> sync_if_needed();

    UniqueFd m_fd;
    std::string m_filename;
    OpenFlags m_flags;
    bool m_block_device;
    std::atomic<uint64_t> m_length;
    uint32_t m_align;
    uint32_t m_mem_align;
    std::mutex m_rmw_mutex; // serialises read-modify-write of partial O_DIRECT blocks
    // Destroyed before m_fd closes (members are destroyed in reverse order).
    std::unique_ptr<FileLock> m_lock;
};

// The same, as the generic node type the graph builder stores.
Result<std::shared_ptr<BlockNode>> open_file(const FileOptions& opts);

} // namespace nemu::block
