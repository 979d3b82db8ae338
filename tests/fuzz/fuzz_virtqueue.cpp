// libFuzzer harness for virtqueue parsing (hw/virtio/virtqueue*.cpp): the input is a small
// header choosing the layout and features, then the contents of guest RAM holding the rings,
// tables and buffers. The device pops, touches every byte of each chain's iovecs (so ASan
// catches a bad translation), pushes back in an input-chosen order and asks about
// notifications, for at most 4 * size operations or until an error. Any crash, hang or
// sanitizer report is a bug: hostile rings must only ever produce an Error.
// Build: CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Dtests=disabled
#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hw/virtio/virtqueue.h"
#include "tests/support/virtqueue_driver.h"

namespace {

using namespace nemu::hw::virtio;

// Guest RAM: two adjacent ranges, so buffers crossing them are split into several iovecs.
constexpr uint64_t kRamHalf = 0x2000;
constexpr size_t kHeader = 4;

// Byte 0: bit 0 packed, bit 1 EVENT_IDX, bit 2 INDIRECT_DESC, bit 3 start split indices
// near the 16-bit wrap. Byte 1: queue size. Byte 2: push order / written-length seed.
// Byte 3: notification toggles.
struct Header {
    bool packed, event_idx, indirect, near_wrap;
    uint16_t size;
    uint8_t seed, notify;
};

Header parse_header(const uint8_t* data) {
    Header h{};
    h.packed = data[0] & 1;
    h.event_idx = data[0] & 2;
    h.indirect = data[0] & 4;
    h.near_wrap = data[0] & 8;
    // Rings stay inside the first 0x1000 bytes: up to 32 entries (desc table 512 bytes).
    h.size = h.packed ? uint16_t(data[1] % 32 + 1) : uint16_t(1u << (data[1] % 6));
    h.seed = data[2];
    h.notify = data[3];
    return h;
}

void touch(const DescChain& c) {
    volatile uint8_t sink = 0;
    for (const iovec& v : c.readable)
        for (size_t i = 0; i < v.iov_len; i += 512) sink = uint8_t(sink ^ static_cast<uint8_t*>(v.iov_base)[i]);
    for (const iovec& v : c.writable)
        if (v.iov_len) static_cast<uint8_t*>(v.iov_base)[v.iov_len - 1] = sink;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < kHeader) return 0;
    const Header h = parse_header(data);
    nemu::test::GuestMemory mem(kRamHalf);
    mem.add_ram(kRamHalf, kRamHalf);
    size_t ram_bytes = std::min<size_t>(size - kHeader, 2 * kRamHalf);
    mem.write(0, {data + kHeader, ram_bytes});

    VirtqueueConfig config{.index = 0, .size = h.size, .desc = 0x0, .driver = 0x800,
                           .device = 0xc00, .packed = h.packed, .event_idx = h.event_idx,
                           .indirect = h.indirect};
    VirtqueueState start;
    if (h.near_wrap && !h.packed) {
        // Resume where the input's used->idx says, as after a migration near the wrap.
        start.next_avail = start.next_used = uint16_t(mem.read_u16(0xc00 + 2));
    }
    auto created = Virtqueue::create(mem.space(), config, start);
    if (!created) return 0;
    Virtqueue& vq = **created;

    std::vector<DescChain> in_flight;
    uint32_t seed = h.seed;
    const uint32_t max_ops = 4u * h.size;
    for (uint32_t op = 0; op < max_ops; ++op) {
        if (h.notify & (1u << (op % 8))) vq.enable_notification((op & 1) != 0);
        // Alternate bursts of pops with pushes in a seed-chosen order.
        bool do_pop = in_flight.empty() || (seed & 1) == 0;
        seed = seed * 1103515245u + 12345u;
        if (do_pop) {
            (void)vq.has_available();
            auto r = vq.pop();
            if (!r) break;   // the device would go NEEDS_RESET here
            if (!*r) {
                if (in_flight.empty()) break;
                continue;
            }
            touch(**r);
            in_flight.push_back(std::move(**r));
        } else {
            size_t i = (seed >> 8) % in_flight.size();
            uint32_t written = seed >> 4;
            if (!vq.push(in_flight[i], written)) __builtin_trap();   // popped ids always push
            in_flight.erase(in_flight.begin() + long(i));
            (void)vq.should_notify();
        }
    }
    // Return the rest; the in-flight accounting must agree.
    for (const DescChain& c : in_flight)
        if (!vq.push(c, 0)) __builtin_trap();
    if (vq.state().in_flight != 0) __builtin_trap();
    return 0;
}
