#include "block/block_node.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace nemu::block {

Result<> BlockNode::check_request(uint64_t offset, uint64_t len, bool is_write) const {
    if (is_write && m_read_only) return io_error(EPERM, "Block node is read-only");
    const uint64_t size = length();
    if (offset > size || len > size - offset)
        return io_error(EINVAL, fmt::format("Request {}+{} lies beyond the end of the image ({} bytes)",
                                            offset, len, size));
    return {};
}

Result<> BlockNode::discard(uint64_t offset, uint64_t len) { return check_request(offset, len, true); }

Result<> BlockNode::write_zeroes(uint64_t offset, uint64_t len, bool /*may_unmap*/) {
    TRY(check_request(offset, len, true));
    // Bounded bounce buffer: a guest may ask to zero a whole disk in one request.
    constexpr uint64_t kChunk = 1 << 20;
    std::vector<uint8_t> zeroes(std::min(len, kChunk), 0);
    while (len > 0) {
        const uint64_t n = std::min<uint64_t>(len, zeroes.size());
        iovec v{zeroes.data(), n};
        TRY(write(offset, std::span<const iovec>(&v, 1), false));
        offset += n;
        len -= n;
    }
    return {};
}

Result<> BlockNode::truncate(uint64_t /*new_length*/) {
    return io_error(ENOTSUP, fmt::format("Image format '{}' does not support resizing", driver()));
}

HostExtent BlockNode::map(uint64_t offset, uint64_t len, bool /*for_write*/) {
    (void)offset;
    return HostExtent{HostExtent::Kind::Indirect, len, -1, 0};
}

uint64_t iov_size(std::span<const iovec> iov) {
    uint64_t n = 0;
    for (const auto& v : iov) n += v.iov_len;
    return n;
}

namespace {
// Walk the iovecs from byte skip on, calling fn(ptr, n) for up to len bytes.
template <class Fn> void iov_walk(std::span<const iovec> iov, uint64_t skip, uint64_t len, Fn fn) {
    for (const auto& v : iov) {
        if (len == 0) return;
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        const uint64_t n = std::min<uint64_t>(v.iov_len - skip, len);
        fn(static_cast<uint8_t*>(v.iov_base) + skip, n);
        skip = 0;
        len -= n;
    }
}
} // namespace

std::vector<iovec> iov_slice(std::span<const iovec> iov, uint64_t skip, uint64_t len) {
    std::vector<iovec> out;
    for (const auto& v : iov) {
        if (len == 0) break;
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        const uint64_t n = std::min<uint64_t>(v.iov_len - skip, len);
        out.push_back(iovec{static_cast<uint8_t*>(v.iov_base) + skip, n});
        skip = 0;
        len -= n;
    }
    return out;
}

void iov_to_buf(std::span<const iovec> iov, uint64_t skip, std::span<uint8_t> dst) {
    uint64_t done = 0;
    iov_walk(iov, skip, dst.size(), [&](uint8_t* p, uint64_t n) {
        std::memcpy(dst.data() + done, p, n);
        done += n;
    });
}

void iov_from_buf(std::span<const iovec> iov, uint64_t skip, std::span<const uint8_t> src) {
    uint64_t done = 0;
    iov_walk(iov, skip, src.size(), [&](uint8_t* p, uint64_t n) {
        std::memcpy(p, src.data() + done, n);
        done += n;
    });
}

void iov_memset(std::span<const iovec> iov, uint64_t skip, uint64_t len, uint8_t value) {
    iov_walk(iov, skip, len, [&](uint8_t* p, uint64_t n) { std::memset(p, value, n); });
}

Unexpected<Error> io_error(int err, std::string msg) {
    return make_error(Error{ErrorClass::GenericError, std::move(msg), err});
}

} // namespace nemu::block
