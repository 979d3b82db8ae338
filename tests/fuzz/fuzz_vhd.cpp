// libFuzzer harness for the VHD (vpc) metadata parser: the input is a whole image held in
// memory, opened read-only through VhdNode; a successful open is followed by bounded reads and
// map() queries. Build: meson setup -Dfuzzing=true with CXX=clang++-14.
#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "block/block_node.h"
#include "block/vhd/vhd_node.h"

namespace {

using namespace nemu;
using namespace nemu::block;

// A read-only protocol node over the fuzzer's bytes.
class MemoryNode final : public BlockNode {
public:
    MemoryNode(const uint8_t* data, size_t size) : BlockNode(true), m_data(data, data + size) {}
    std::string_view driver() const override { return "file"; }
    uint64_t length() const override { return m_data.size(); }
    Result<> read(uint64_t offset, std::span<const iovec> iov) override {
        TRY(check_request(offset, iov_size(iov), false));
        iov_from_buf(iov, 0, std::span<const uint8_t>(m_data).subspan(offset, iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t, std::span<const iovec>, bool) override { return io_error(EPERM, "read-only"); }
    Result<> flush() override { return {}; }
    NodeInfo info() const override { return NodeInfo{.format = "file", .virtual_size = length()}; }

private:
    std::vector<uint8_t> m_data;
};

// Bounded work per input: a few reads of at most this many bytes.
constexpr uint64_t kReadBytes = 64 * 1024;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto file = std::make_shared<MemoryNode>(data, size);
    auto node = vhd::VhdNode::open(file, true);
    if (!node) return 0;
    auto& n = **node;
    const uint64_t len = n.length();
    std::vector<uint8_t> buf(static_cast<size_t>(std::min(len, kReadBytes)));
    const uint64_t offsets[] = {0, len / 2, len - buf.size(), size > 16 ? (uint64_t{data[9]} << 21) % (len + 1) : 0};
    for (uint64_t off : offsets) {
        if (off > len - buf.size()) off = len - buf.size();
        iovec v{buf.data(), buf.size()};
        (void)n.read(off, std::span<const iovec>(&v, 1));
        (void)n.map(off, buf.size() ? buf.size() : 1, false);
    }
    (void)n.info();
    return 0;
}
