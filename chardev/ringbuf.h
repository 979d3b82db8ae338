#pragma once
// chardev-ringbuf (alias chardev-memory): output kept in a power-of-two ring, the oldest
// bytes overwritten (QEMU chardev/char-ringbuf.c); read back by QMP ringbuf-read.
// Thread: main loop only.

#include <cstdint>
#include <span>
#include <vector>

#include "chardev/chardev.h"

namespace nemu::chardev {

class RingbufChardev final : public Chardev {
public:
    Result<size_t> write(std::span<const uint8_t> data) override;
    std::string filename() const override { return "ringbuf"; }

    // Removes and returns up to `max` of the oldest bytes (QMP ringbuf-read).
    std::vector<uint8_t> read(size_t max);
    size_t count() const { return static_cast<size_t>(m_prod - m_cons); }
    size_t size() const { return m_buf.size(); }

protected:
    Result<> open_backend(const ChardevOptions& options) override;

private:
    std::vector<uint8_t> m_buf;
    uint64_t m_prod = 0;
    uint64_t m_cons = 0;
};

} // namespace nemu::chardev
