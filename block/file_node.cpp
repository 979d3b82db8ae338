#include "block/file_node.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

namespace nemu::block {

namespace {

constexpr uint64_t kMaxFileOffset = static_cast<uint64_t>(INT64_MAX); // off_t's range

uint64_t round_down(uint64_t v, uint64_t a) { return v - v % a; }
uint64_t round_up(uint64_t v, uint64_t a) { return round_down(v + a - 1, a); }

bool unsupported(int err) { return err == EOPNOTSUPP || err == ENOTSUP || err == ENOTTY || err == ENOSYS; }

// A buffer aligned for O_DIRECT (posix_memalign, RAII).
class AlignedBuffer {
public:
    static Result<AlignedBuffer> create(uint64_t size) {
        void* p = nullptr;
        const int err = ::posix_memalign(&p, kFileMaxAlignment, size);
        if (err != 0) return io_error(err, "Could not allocate an aligned I/O buffer");
        return AlignedBuffer(static_cast<uint8_t*>(p), size);
    }
    uint8_t* data() const { return m_p.get(); }
    uint64_t size() const { return m_size; }

private:
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    AlignedBuffer(uint8_t* p, uint64_t size) : m_p(p), m_size(size) {}
    std::unique_ptr<uint8_t, Free> m_p;
    uint64_t m_size;
};

// preadv/pwritev the whole iovec list, looping on short transfers and EINTR. A read that
// hits EOF fills the rest with zeroes (formats read a file's partial tail). With O_DIRECT a
// short read can only be EOF, and retrying at the unaligned rest would fail with EINVAL.
Result<> transfer(int fd, uint64_t offset, std::span<const iovec> iov, bool is_write, bool direct) {
    std::vector<iovec> v(iov.begin(), iov.end());
    size_t i = 0;
    while (i < v.size() && v[i].iov_len == 0) ++i;
    while (i < v.size()) {
        const int cnt = static_cast<int>(std::min<size_t>(v.size() - i, IOV_MAX));
        const ssize_t n = is_write ? ::pwritev(fd, &v[i], cnt, static_cast<off_t>(offset))
                                   : ::preadv(fd, &v[i], cnt, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            return io_error(err, fmt::format("{} failed: {}", is_write ? "pwritev" : "preadv", std::strerror(err)));
        }
        if (n == 0 && is_write) return io_error(EIO, "pwritev wrote nothing");
        uint64_t expected = 0;
        for (int k = 0; k < cnt; ++k) expected += v[i + static_cast<size_t>(k)].iov_len;
        offset += static_cast<uint64_t>(n);
        auto left = static_cast<size_t>(n);
        while (i < v.size() && left >= v[i].iov_len) left -= v[i++].iov_len;
        if (i < v.size()) {
            v[i].iov_base = static_cast<uint8_t*>(v[i].iov_base) + left;
            v[i].iov_len -= left;
        }
        if (!is_write && (n == 0 || (direct && static_cast<uint64_t>(n) < expected))) {
            for (; i < v.size(); ++i) std::memset(v[i].iov_base, 0, v[i].iov_len);
            break;
        }
    }
    return {};
}

Result<> transfer_buf(int fd, uint64_t offset, uint8_t* buf, uint64_t len, bool is_write, bool direct) {
    iovec one{buf, len};
    return transfer(fd, offset, std::span<const iovec>(&one, 1), is_write, direct);
}

// QEMU's raw_probe_alignment: the logical block size of a device, or statx's DIO alignment,
// or the smallest power of two from 512 that an O_DIRECT read accepts.
Result<std::pair<uint32_t, uint32_t>> probe_alignment(int fd, bool block_device) {
    if (block_device) {
        int ss = 0;
        if (::ioctl(fd, BLKSSZGET, &ss) == 0 && ss > 0 && static_cast<uint32_t>(ss) <= kFileMaxAlignment)
            return std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(ss), static_cast<uint32_t>(ss));
    }
#ifdef STATX_DIOALIGN
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) &&
        stx.stx_dio_offset_align > 0 && stx.stx_dio_offset_align <= kFileMaxAlignment &&
        stx.stx_dio_mem_align > 0 && stx.stx_dio_mem_align <= kFileMaxAlignment)
        return std::pair<uint32_t, uint32_t>(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
#endif
    auto buf = TRY(AlignedBuffer::create(2 * kFileMaxAlignment));
    auto works = [&](uint8_t* p, uint32_t len) {
        ssize_t n;
        do n = ::pread(fd, p, len, 0);
        while (n < 0 && errno == EINTR);
        return n >= 0 || errno != EINVAL;
    };
    uint32_t align = 0;
    for (uint32_t a = 512; a <= kFileMaxAlignment && align == 0; a <<= 1)
        if (works(buf.data(), a)) align = a;
    uint32_t mem_align = 0;
    for (uint32_t a = 512; align != 0 && a <= kFileMaxAlignment && mem_align == 0; a <<= 1)
        if (works(buf.data() + a, align)) mem_align = a;
    if (align == 0 || mem_align == 0)
        return fail("Could not find working O_DIRECT alignment\nTry cache.direct=off");
    return std::pair<uint32_t, uint32_t>(align, std::max(mem_align, align));
}

} // namespace

FileNode::FileNode(Private, UniqueFd fd, const FileOptions& opts, bool read_only, bool block_device, uint64_t length,
                   uint32_t align, uint32_t mem_align, std::unique_ptr<FileLock> lock)
    : BlockNode(read_only), m_fd(std::move(fd)), m_filename(opts.filename), m_flags(opts.flags),
      m_block_device(block_device), m_length(length), m_align(align), m_mem_align(mem_align),
      m_lock(std::move(lock)) {}

FileNode::~FileNode() = default;

Result<std::shared_ptr<FileNode>> FileNode::open(const FileOptions& opts) {
    const std::string& path = opts.filename;
    bool read_only = opts.flags.read_only;
    const int base = O_CLOEXEC | (opts.flags.cache.direct ? O_DIRECT : 0);
    int fd = ::open(path.c_str(), base | (read_only ? O_RDONLY : O_RDWR));
    // auto-read-only (block-core.json BlockdevOptionsBase): fall back rather than fail.
    if (fd < 0 && !read_only && opts.flags.auto_read_only && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        read_only = true;
        fd = ::open(path.c_str(), base | O_RDONLY);
    }
    if (fd < 0) {
        const int err = errno;
        return make_error(Error{ErrorClass::GenericError,
                                fmt::format("Could not open '{}': {}", path, std::strerror(err)), err});
    }
    UniqueFd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail_errno(fmt::format("Could not stat '{}'", path), errno);
    const bool is_dev = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode);
    if (opts.host_device && !is_dev)
        return fail("'host_device' driver requires '{}' to be either a character or block device", path);
    if (!opts.host_device && !S_ISREG(st.st_mode))
        return fail("'file' driver requires '{}' to be a regular file", path);

    uint64_t length = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = 0;
        if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) return fail_errno(fmt::format("Could not get size of '{}'", path), errno);
        length = bytes;
    } else if (S_ISCHR(st.st_mode)) {
        const off_t end = ::lseek(fd, 0, SEEK_END);
        length = end > 0 ? static_cast<uint64_t>(end) : 0;
    }

    uint32_t align = 1, mem_align = 1;
    if (opts.flags.cache.direct) std::tie(align, mem_align) = TRY(probe_alignment(fd, S_ISBLK(st.st_mode)));

    std::unique_ptr<FileLock> lock;
    if (opts.flags.locking != Locking::Off) lock = TRY(FileLock::acquire(fd, image_lock_perms(read_only), path));

    return std::make_shared<FileNode>(Private{}, std::move(owned), opts, read_only, is_dev, length, align, mem_align,
                                      std::move(lock));
}

Result<std::shared_ptr<BlockNode>> open_file(const FileOptions& opts) {
    auto node = TRY(FileNode::open(opts));
    return std::shared_ptr<BlockNode>(std::move(node));
}

void FileNode::note_end(uint64_t end) {
    if (m_block_device) return;
    uint64_t cur = m_length.load(std::memory_order_relaxed);
    while (end > cur && !m_length.compare_exchange_weak(cur, end, std::memory_order_acq_rel)) {
    }
}

bool FileNode::needs_bounce(uint64_t offset, std::span<const iovec> iov) const {
    if (!m_flags.cache.direct) return false;
    if (offset % m_align != 0) return true;
    for (const auto& v : iov) {
        if (v.iov_len % m_align != 0 || reinterpret_cast<uintptr_t>(v.iov_base) % m_mem_align != 0) return true;
    }
    return false;
}

Result<> FileNode::read(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t len = iov_size(iov);
    const uint64_t bound = round_up(length(), std::max<uint64_t>(m_align, 512));
    if (offset > bound || len > bound - offset)
        return io_error(EINVAL, fmt::format("Request {}+{} lies beyond the end of the image ({} bytes)", offset, len,
                                            length()));
    if (len == 0) return {};
    if (needs_bounce(offset, iov)) return bounce_read(offset, iov);
    return transfer(m_fd.get(), offset, iov, false, m_flags.cache.direct);
}

Result<> FileNode::write(uint64_t offset, std::span<const iovec> iov, bool fua) {
    const uint64_t len = iov_size(iov);
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (m_block_device) {
        TRY(check_request(offset, len, true));
    } else if (offset > kMaxFileOffset || len > kMaxFileOffset - offset) {
        return io_error(EINVAL, fmt::format("Request {}+{} lies beyond the largest file offset", offset, len));
    }
    if (len == 0) return {};
    if (needs_bounce(offset, iov)) {
        TRY(bounce_write(offset, iov));
    } else {
        TRY(transfer(m_fd.get(), offset, iov, true, m_flags.cache.direct));
        note_end(offset + len);
    }
    if (fua) TRY(sync_if_needed());
    return {};
}

// O_DIRECT with an unaligned offset, length or buffer: read the covering aligned blocks
// into a bounded aligned buffer, chunk by chunk, and copy out the requested part.
Result<> FileNode::bounce_read(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t end = offset + iov_size(iov);
    const uint64_t aend = round_up(end, m_align);
    uint64_t pos = round_down(offset, m_align);
    auto buf = TRY(AlignedBuffer::create(std::min(kFileBounceChunk, aend - pos)));
    while (pos < aend) {
        const uint64_t chunk_end = std::min(pos + buf.size(), aend);
        TRY(transfer_buf(m_fd.get(), pos, buf.data(), chunk_end - pos, false, true));
        const uint64_t from = std::max(offset, pos), to = std::min(end, chunk_end);
        iov_from_buf(iov, from - offset, std::span<const uint8_t>(buf.data() + (from - pos), to - from));
        pos = chunk_end;
    }
    return {};
}

// O_DIRECT write through an aligned buffer. A partial first or last block is read first
// (read-modify-write); those requests are serialised so two RMWs of one block cannot lose
// each other's bytes. Aligned-but-misplaced buffers need no RMW and no lock.
Result<> FileNode::bounce_write(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t end = offset + iov_size(iov);
    const uint64_t aend = round_up(end, m_align);
    uint64_t pos = round_down(offset, m_align);
    const bool rmw = offset % m_align != 0 || end % m_align != 0;
    std::unique_lock<std::mutex> guard(m_rmw_mutex, std::defer_lock);
    if (rmw) guard.lock();
    auto buf = TRY(AlignedBuffer::create(std::min(kFileBounceChunk, aend - pos)));
    while (pos < aend) {
        const uint64_t chunk_end = std::min(pos + buf.size(), aend);
        const uint64_t n = chunk_end - pos;
        if (pos < offset) TRY(transfer_buf(m_fd.get(), pos, buf.data(), m_align, false, true));
        if (chunk_end > end && (n > m_align || pos >= offset))
            TRY(transfer_buf(m_fd.get(), chunk_end - m_align, buf.data() + n - m_align, m_align, false, true));
        const uint64_t from = std::max(offset, pos), to = std::min(end, chunk_end);
        iov_to_buf(iov, from - offset, std::span<uint8_t>(buf.data() + (from - pos), to - from));
        TRY(transfer_buf(m_fd.get(), pos, buf.data(), n, true, true));
        // The file now really extends to the aligned end (zero padding), as with QEMU.
        note_end(chunk_end);
        pos = chunk_end;
    }
    return {};
}

Result<> FileNode::sync_if_needed() {
    if (m_flags.cache.no_flush) return {};
    if (::fdatasync(m_fd.get()) != 0) {
        const int err = errno;
        return io_error(err, fmt::format("fdatasync failed: {}", std::strerror(err)));
    }
    return {};
}

Result<> FileNode::flush() { return sync_if_needed(); }

Result<> FileNode::discard(uint64_t offset, uint64_t len) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (m_flags.discard != DiscardMode::Unmap) return {};
    const uint64_t size = length();
    if (offset >= size || len == 0) return {};
    len = std::min(len, size - offset);
    int rc;
    if (m_block_device) {
        // BLKDISCARD wants logical-block-aligned ranges: discard only the whole blocks inside.
        const uint64_t a = std::max<uint64_t>(m_align, 512);
        const uint64_t start = round_up(offset, a), stop = round_down(offset + len, a);
        if (stop <= start) return {};
        uint64_t range[2] = {start, stop - start};
        rc = ::ioctl(m_fd.get(), BLKDISCARD, range);
    } else {
        rc = ::fallocate(m_fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                         static_cast<off_t>(len));
    }
    if (rc != 0 && !unsupported(errno)) {
        const int err = errno;
        return io_error(err, fmt::format("Discard failed: {}", std::strerror(err)));
    }
    return {};
}

Result<> FileNode::zero_fill_write(uint64_t offset, uint64_t len) {
    auto buf = TRY(AlignedBuffer::create(std::min(kFileBounceChunk, round_up(len, kFileMaxAlignment))));
    std::memset(buf.data(), 0, buf.size());
    while (len > 0) {
        const uint64_t n = std::min(len, buf.size());
        iovec v{buf.data(), n};
        TRY(write(offset, std::span<const iovec>(&v, 1), false));
        offset += n;
        len -= n;
    }
    return {};
}

Result<> FileNode::write_zeroes(uint64_t offset, uint64_t len, bool may_unmap) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (m_block_device) {
        TRY(check_request(offset, len, true));
    } else if (offset > kMaxFileOffset || len > kMaxFileOffset - offset) {
        return io_error(EINVAL, fmt::format("Request {}+{} lies beyond the largest file offset", offset, len));
    }
    if (len == 0) return {};
    const int fd = m_fd.get();
    const uint64_t end = offset + len;
    auto falloc = [&](int mode, uint64_t from, uint64_t to) -> int {
        if (to <= from) return 0;
        return ::fallocate(fd, mode, static_cast<off_t>(from), static_cast<off_t>(to - from)) == 0 ? 0 : errno;
    };
    int err = EOPNOTSUPP;
    if (may_unmap && m_flags.discard == DiscardMode::Unmap) {
        // Punch what lies inside the file; ZERO_RANGE (which extends) for the part past EOF,
        // so a concurrent append is never cut off by an ftruncate.
        const uint64_t eof = std::max(offset, std::min(end, length()));
        err = falloc(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, eof);
        if (err == 0) err = falloc(FALLOC_FL_ZERO_RANGE, eof, end);
    }
    if (err != 0) err = falloc(FALLOC_FL_ZERO_RANGE, offset, end);
    if (err == 0) {
        note_end(end);
        return {};
    }
    if (!unsupported(err) && err != EINVAL)
        return io_error(err, fmt::format("Could not write zeroes: {}", std::strerror(err)));
    return zero_fill_write(offset, len);
}

Result<> FileNode::truncate(uint64_t new_length) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (m_block_device) {
        // file-posix.c raw_co_truncate with exact=false (block_resize): shrinking is a no-op.
        if (new_length > length()) return io_error(EINVAL, "Cannot grow device files");
        return {};
    }
    if (new_length > kMaxFileOffset) return io_error(EFBIG, "Failed to resize file: File too large");
    if (::ftruncate(m_fd.get(), static_cast<off_t>(new_length)) != 0) {
        const int err = errno;
        return io_error(err, fmt::format("Failed to resize file: {}", std::strerror(err)));
    }
    m_length.store(new_length, std::memory_order_release);
    return {};
}

HostExtent FileNode::map(uint64_t offset, uint64_t len, bool /*for_write*/) {
    if (m_flags.cache.direct && (offset % m_align != 0 || len % m_align != 0))
        return HostExtent{HostExtent::Kind::Indirect, len, -1, 0};
    return HostExtent{HostExtent::Kind::Data, len, m_fd.get(), offset};
}

NodeInfo FileNode::info() const {
    NodeInfo ni;
    ni.format = std::string(driver());
    ni.filename = m_filename;
    ni.virtual_size = length();
    struct stat st {};
    ni.actual_size = ::fstat(m_fd.get(), &st) == 0 ? static_cast<int64_t>(st.st_blocks) * 512 : -1;
    ni.format_specific = nullptr;
    return ni;
}

} // namespace nemu::block
