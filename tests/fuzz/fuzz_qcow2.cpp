// libFuzzer harness for the qcow2 driver: the input is an image file (in memory), opened
// read-only; every cluster of the first kMaxRead bytes is read. Nothing may crash, hang or
// allocate without bound.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "block/block_format.h"
#include "block/qcow2/qcow2_format.h"
#include "block/qcow2/qcow2_mem_node.h"

namespace {
constexpr uint64_t kMaxRead = 4ull << 20;
constexpr uint64_t kChunk = 64 * 1024;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace nemu::block;
    auto file = std::make_shared<qcow2::testing::MemNode>(std::vector<uint8_t>(data, data + size), true);
    FormatOpenContext ctx;
    ctx.flags.read_only = true;
    ctx.backing_disabled = true;
    auto node = qcow2_format().open(file, ctx);
    if (!node) return 0;
    std::vector<uint8_t> buf(kChunk);
    const uint64_t len = std::min<uint64_t>((*node)->length(), kMaxRead);
    for (uint64_t off = 0; off < len; off += kChunk) {
        iovec v{buf.data(), std::min<uint64_t>(kChunk, len - off)};
        (void)(*node)->read(off, std::span<const iovec>(&v, 1));
        (void)(*node)->map(off, v.iov_len, false);
    }
    (void)(*node)->info();
    return 0;
}
