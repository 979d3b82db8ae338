#pragma once
// An in-memory protocol node for the qcow2 tests and fuzz harness: the "file" is a byte
// vector; every write is recorded (offset, length) so tests can check the write order.
// Tests only.

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "block/block_node.h"

namespace nemu::block::qcow2::testing {

class MemNode final : public BlockNode {
public:
    struct WriteRecord {
        uint64_t offset, length;
    };
    explicit MemNode(std::vector<uint8_t> data, bool read_only = false, uint64_t max_size = 1ull << 30)
        : BlockNode(read_only), m_data(std::move(data)), m_max(max_size) {}
    std::string_view driver() const override { return "file"; }
    uint64_t length() const override {
        std::lock_guard lk(m_mu);
        return m_data.size();
    }
    Result<> read(uint64_t offset, std::span<const iovec> iov) override {
        TRY(check_request(offset, iov_size(iov), false));
        std::lock_guard lk(m_mu);
        iov_from_buf(iov, 0, std::span<const uint8_t>(m_data).subspan(offset, iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool) override {
        if (read_only()) return io_error(EPERM, "read-only");
        const uint64_t n = iov_size(iov);
        std::lock_guard lk(m_mu);
        if (offset + n > m_max || offset + n < offset) return io_error(ENOSPC, "memory node full");
        if (offset + n > m_data.size()) m_data.resize(offset + n);
        iov_to_buf(iov, 0, std::span<uint8_t>(m_data).subspan(offset, n));
        m_writes.push_back({offset, n});
        return {};
    }
    Result<> flush() override { return {}; }
    Result<> truncate(uint64_t n) override {
        if (read_only()) return io_error(EPERM, "read-only");
        std::lock_guard lk(m_mu);
        m_data.resize(n);
        return {};
    }
    NodeInfo info() const override { return NodeInfo{.format = "file", .virtual_size = length()}; }

    std::vector<WriteRecord> writes() const {
        std::lock_guard lk(m_mu);
        return m_writes;
    }
    std::vector<uint8_t> data() const {
        std::lock_guard lk(m_mu);
        return m_data;
    }

private:
    mutable std::mutex m_mu;
    std::vector<uint8_t> m_data;
    uint64_t m_max;
    std::vector<WriteRecord> m_writes;
};

} // namespace nemu::block::qcow2::testing
