// `nemu-io crash-writer [-f FMT] [-t CACHE] SEED COUNT IMAGE`: the child process of the
// crash-safety test (tests/block/test_crash_safety.py). It writes COUNT 4 KiB blocks at
// random places in the first 8 MiB of the image, in batches of 8 requests in flight at once
// (so allocations race), and flushes after each batch. Before a write is submitted it prints
// "w INDEX BLOCK"; after a flush completes it prints "durable N": writes 0..N-1 are on disk.
// Every 512-byte sector of write INDEX holds INDEX (8 bytes, little endian) followed by the
// byte (INDEX * 7 + 1) & 0xff, so the test can tell which write a sector came from.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/block/nemu_io_common.h"

namespace nemu::io {

using namespace nemu::block;

namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSector = 512;
constexpr uint64_t kBatch = 8;
constexpr uint64_t kRegion = 8 << 20;

void fill_block(std::vector<uint8_t>& buf, uint64_t index) {
    buf.assign(kBlock, static_cast<uint8_t>(index * 7 + 1));
    for (uint64_t s = 0; s < kBlock; s += kSector)
        for (int b = 0; b < 8; b++) buf[s + b] = static_cast<uint8_t>(index >> (8 * b));
}

Result<> wait_all(BlockBackend& blk, std::vector<Result<>>& results) {
    blk.drain();
    for (auto& r : results)
        if (!r) return make_error(std::move(r).error());
    return {};
}

} // namespace

int main_crash_writer(int argc, char** argv) {
    ImageArgs image;
    std::vector<std::string> pos;
    for (int i = 1; i < argc; i++) {
        auto r = parse_image_arg(image, argc, argv, i);
        if (!r) return std::fprintf(stderr, "crash-writer: %s\n", r.error().msg.c_str()), 1;
        if (!*r) pos.emplace_back(argv[i]);
    }
    if (pos.size() != 3) return std::fprintf(stderr, "usage: crash-writer [-f FMT] SEED COUNT IMAGE\n"), 2;
    const uint64_t seed = std::strtoull(pos[0].c_str(), nullptr, 0);
    const uint64_t count = std::strtoull(pos[1].c_str(), nullptr, 0);
    image.filename = pos[2];
    auto loop = EventLoop::create();
    if (!loop) return 1;
    auto blk = open_backend(image, **loop);
    if (!blk) return std::fprintf(stderr, "crash-writer: %s\n", blk.error().msg.c_str()), 1;
    const uint64_t blocks = std::min((*blk)->root().length(), kRegion) / kBlock;
    if (blocks == 0) return std::fprintf(stderr, "crash-writer: image too small\n"), 1;

    std::mt19937_64 rng(seed);
    std::vector<std::vector<uint8_t>> bufs(kBatch);
    for (uint64_t done = 0; done < count;) {
        std::vector<Result<>> results(kBatch);
        const uint64_t n = std::min(kBatch, count - done);
        for (uint64_t k = 0; k < n; k++) {
            const uint64_t index = done + k, block = rng() % blocks;
            fill_block(bufs[k], index);
            std::printf("w %llu %llu\n", static_cast<unsigned long long>(index), static_cast<unsigned long long>(block));
            std::fflush(stdout);
            BlockRequest req{.op = BlockOp::Write, .offset = block * kBlock, .length = kBlock};
            req.iov.push_back({bufs[k].data(), kBlock});
            (*blk)->submit(std::move(req), [&results, k](Result<> r) { results[k] = std::move(r); });
        }
        if (auto r = wait_all(**blk, results); !r)
            return std::fprintf(stderr, "crash-writer: write: %s\n", r.error().msg.c_str()), 1;
        done += n;
        std::vector<Result<>> flushed(1);
        (*blk)->submit(BlockRequest{.op = BlockOp::Flush}, [&flushed](Result<> r) { flushed[0] = std::move(r); });
        if (auto r = wait_all(**blk, flushed); !r)
            return std::fprintf(stderr, "crash-writer: flush: %s\n", r.error().msg.c_str()), 1;
        std::printf("durable %llu\n", static_cast<unsigned long long>(done));
        std::fflush(stdout);
    }
    return 0;
}

} // namespace nemu::io
