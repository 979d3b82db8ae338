#pragma once
// A minimal synchronous protocol node over an fd, for unit tests of format drivers that must
// not depend on the real `file` protocol (block/file_node.h). Header-only, tests only.

#include <unistd.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "block/block_node.h"
#include "util/unique_fd.h"

namespace nemu::block::testing {

class FdNode final : public BlockNode {
public:
    FdNode(UniqueFd fd, bool read_only) : BlockNode(read_only), m_fd(std::move(fd)) {}
    std::string_view driver() const override { return "file"; }
    uint64_t length() const override {
        struct stat st {};
        return ::fstat(m_fd.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    }
    Result<> read(uint64_t offset, std::span<const iovec> iov) override {
        TRY(check_request(offset, iov_size(iov), false));
        return transfer(offset, iov, false);
    }
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool) override {
        // Protocols grow on write past the end (a format appends clusters).
        if (read_only()) return io_error(EPERM, "read-only");
        return transfer(offset, iov, true);
    }
    Result<> flush() override { return ::fdatasync(m_fd.get()) == 0 ? Result<>{} : io_error(errno, "fdatasync"); }
    Result<> truncate(uint64_t n) override {
        return ::ftruncate(m_fd.get(), static_cast<off_t>(n)) == 0 ? Result<>{} : io_error(errno, "ftruncate");
    }
    NodeInfo info() const override { return NodeInfo{.format = "file", .virtual_size = length()}; }
    int fd() const { return m_fd.get(); }

private:
    Result<> transfer(uint64_t offset, std::span<const iovec> iov, bool is_write) {
        std::vector<iovec> v(iov.begin(), iov.end());
        size_t i = 0;
        while (i < v.size()) {
            ssize_t n = is_write ? ::pwritev(m_fd.get(), &v[i], static_cast<int>(v.size() - i), static_cast<off_t>(offset))
                                 : ::preadv(m_fd.get(), &v[i], static_cast<int>(v.size() - i), static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return io_error(errno, is_write ? "pwritev" : "preadv");
            if (n == 0) { // reading past EOF: zeroes
                for (; i < v.size(); ++i) std::fill_n(static_cast<uint8_t*>(v[i].iov_base), v[i].iov_len, 0);
                break;
            }
            offset += static_cast<uint64_t>(n);
            auto left = static_cast<size_t>(n);
            while (i < v.size() && left >= v[i].iov_len) left -= v[i++].iov_len;
            if (i < v.size()) {
                v[i].iov_base = static_cast<uint8_t*>(v[i].iov_base) + left;
                v[i].iov_len -= left;
            }
        }
        return {};
    }
    UniqueFd m_fd;
};

} // namespace nemu::block::testing
