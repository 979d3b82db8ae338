#include "block/file_lock.h"

#include <fcntl.h>

#include <array>
#include <cerrno>

namespace nemu::block {

namespace {

constexpr std::array<std::string_view, kPermCount> kPermNames = {"consistent read", "write",
                                                                  "write unchanged", "resize"};

// One byte, F_RDLCK to take, F_UNLCK to release (F_OFD_SETLK never blocks).
int set_byte(int fd, uint64_t byte, short type) {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(byte);
    fl.l_len = 1;
    fl.l_pid = 0; // required 0 for OFD locks
    while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno != EINTR) return errno;
    }
    return 0;
}

// Every byte this permission set locks: 100+i for held bits, 200+i for unshared bits.
template <class Fn> void for_each_lock_byte(LockPerms p, Fn fn) {
    for (unsigned i = 0; i < kPermCount; ++i) {
        if (p.perm & (1u << i)) fn(kPermLockBase + i);
        if (!(p.shared & (1u << i))) fn(kSharedLockBase + i);
    }
}

void release_all(int fd, LockPerms p) {
    for_each_lock_byte(p, [&](uint64_t byte) { (void)set_byte(fd, byte, F_UNLCK); });
}

std::string hint(const std::string& filename) {
    return fmt::format("\nIs another process using the image [{}]?", filename);
}

// raw_check_lock_bytes: a conflict is someone else's lock on the opposite byte.
Result<> check_conflicts(int fd, LockPerms p, const std::string& filename) {
    for (unsigned i = 0; i < kPermCount; ++i) {
        const uint32_t bit = 1u << i;
        if (p.perm & bit) {
            const bool held = TRY(lock_byte_held_by_other(fd, kSharedLockBase + i));
            if (held)
                return make_error(Error{ErrorClass::GenericError,
                                        fmt::format("Failed to get \"{}\" lock{}", kPermNames[i], hint(filename)),
                                        EAGAIN});
        }
        if (!(p.shared & bit)) {
            const bool held = TRY(lock_byte_held_by_other(fd, kPermLockBase + i));
            if (held)
                return make_error(Error{ErrorClass::GenericError,
                                        fmt::format("Failed to get shared \"{}\" lock{}", kPermNames[i], hint(filename)),
                                        EAGAIN});
        }
    }
    return {};
}

} // namespace

std::string_view perm_name(unsigned bit) { return bit < kPermCount ? kPermNames[bit] : std::string_view{}; }

LockPerms image_lock_perms(bool read_only) {
    const uint32_t shared = kPermAll & ~kPermWrite;
    return read_only ? LockPerms{kPermConsistentRead, shared} : LockPerms{kPermConsistentRead | kPermWrite, shared};
}

Result<bool> lock_byte_held_by_other(int fd, uint64_t byte) {
    struct flock fl {};
    fl.l_type = F_WRLCK; // conflicts with any lock, shared or exclusive
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(byte);
    fl.l_len = 1;
    fl.l_pid = 0;
    while (::fcntl(fd, F_OFD_GETLK, &fl) != 0) {
        if (errno != EINTR) return fail_errno("fcntl(F_OFD_GETLK)", errno);
    }
    return fl.l_type != F_UNLCK;
}

Result<std::unique_ptr<FileLock>> FileLock::acquire(int fd, LockPerms perms, const std::string& filename) {
    perms.perm &= kPermAll;
    perms.shared &= kPermAll;
    // Take first, then probe (QEMU's order in raw_handle_perm_lock): two openers racing both
    // see each other's bytes and at least one backs off.
    int err = 0;
    uint64_t failed_byte = 0;
    for_each_lock_byte(perms, [&](uint64_t byte) {
        if (err != 0) return;
        err = set_byte(fd, byte, F_RDLCK);
        failed_byte = byte;
    });
    if (err != 0) {
        release_all(fd, perms);
        return make_error(Error{ErrorClass::GenericError, fmt::format("Failed to lock byte {}", failed_byte), err});
    }
    auto checked = check_conflicts(fd, perms, filename);
    if (!checked) {
        release_all(fd, perms);
        return make_error(std::move(checked).error());
    }
    return std::make_unique<FileLock>(Private{}, fd, perms);
}

FileLock::~FileLock() { release_all(m_fd, m_perms); }

} // namespace nemu::block
