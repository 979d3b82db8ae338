#pragma once
// Image locking compatible with QEMU 7.2 (block/file-posix.c, raw_apply_lock_bytes and
// raw_check_lock_bytes), so that nemu and QEMU never both open an image for writing.
//
// QEMU takes shared OFD locks (F_OFD_SETLK, F_RDLCK) on single bytes of the image file:
//   byte 100 + i  ("perm lock")   while it HOLDS permission bit i,
//   byte 200 + i  ("shared lock") while it does NOT SHARE permission bit i with others.
// Before relying on them it probes with F_OFD_GETLK: a permission we want conflicts with
// anyone holding 200 + i, a permission we do not share conflicts with anyone holding 100 + i.
// Shared (read) locks never conflict with each other, so taking them always succeeds; the
// probe does the exclusion. OFD locks belong to the open file description, so our own locks
// never show up in our own probe.
//
// Permission bits as QEMU 7.2's include/block/block-common.h BLK_PERM_* (GRAPH_MOD was
// dropped before 7.2, so there are four). Measured against qemu-system-x86_64 7.2 with
// /proc/locks: a writable guest disk holds 100,101 and 201; a read-only one 100 and 201.
//
// Thread: taken and released on the main loop when a FileNode opens or closes.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

namespace nemu::block {

inline constexpr uint32_t kPermConsistentRead = 1u << 0;
inline constexpr uint32_t kPermWrite = 1u << 1;
inline constexpr uint32_t kPermWriteUnchanged = 1u << 2;
inline constexpr uint32_t kPermResize = 1u << 3;
inline constexpr uint32_t kPermAll = 0xf;
inline constexpr unsigned kPermCount = 4;

// First byte of the "perm" and the "shared" lock ranges (file-posix.c RAW_LOCK_*_BASE).
inline constexpr uint64_t kPermLockBase = 100;
inline constexpr uint64_t kSharedLockBase = 200;

// QEMU's names for the bits (block.c bdrv_perm_names): "consistent read", "write",
// "write unchanged", "resize". Empty for an out-of-range bit.
std::string_view perm_name(unsigned bit);

struct LockPerms {
    uint32_t perm = 0;   // what we use
    uint32_t shared = 0; // what we let others use
};

// What a guest disk takes in QEMU 7.2 (hw/block/block.c blkconf_apply_backend_options and
// block.c's default child permissions): writable = consistent read + write, read-only =
// consistent read; both share everything but write (one writer, no readers behind a writer).
LockPerms image_lock_perms(bool read_only);

// The locks one open file description holds. Releases them when destroyed (closing the fd
// would too; releasing first keeps the order explicit). The fd is observed, not owned: its
// owner (FileNode) must destroy the FileLock first.
class FileLock {
public:
    // Takes the locks for `perms` on fd and checks that nobody else conflicts. On conflict
    // the locks are dropped again and the error is QEMU's:
    //   Failed to get "write" lock\nIs another process using the image [FILENAME]?
    //   Failed to get shared "write" lock\nIs another process using the image [FILENAME]?
    // (the line after '\n' is QEMU's hint: the command line prints it, QMP leaves it out).
    static Result<std::unique_ptr<FileLock>> acquire(int fd, LockPerms perms, const std::string& filename);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

    LockPerms perms() const { return m_perms; }

    // Token for the constructor: only acquire() builds a FileLock.
    struct Private {};
    FileLock(Private, int fd, LockPerms perms) : m_fd(fd), m_perms(perms) {}

private:
    int m_fd;
    LockPerms m_perms;
};

// Whether another open file description holds a lock on this byte (F_OFD_GETLK), for tests
// and diagnostics. Error only if the fcntl itself fails.
Result<bool> lock_byte_held_by_other(int fd, uint64_t byte);

} // namespace nemu::block
