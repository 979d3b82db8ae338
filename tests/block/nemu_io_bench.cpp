// `nemu-io bench`: qemu-img bench's workload on nemu's block layer (qemu-img.c img_bench, as
// documented in qemu-img(1)): COUNT requests of SIZE bytes, DEPTH in flight, the first at
// OFFSET and each next one STEP bytes further, wrapping at the end of the image; with
// --flush-interval=N a flush after every N writes. Same closing line as qemu-img.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tests/block/nemu_io_common.h"

namespace nemu::io {

using namespace nemu::block;

namespace {

struct BenchArgs {
    ImageArgs image;
    uint64_t count = 75000, depth = 64, size = 4096, step = 0, offset = 0, flush_interval = 0;
    bool write = false, quiet = false;
    uint8_t pattern = 0;
};

Result<BenchArgs> parse_bench_args(int argc, char** argv) {
    BenchArgs b;
    for (int i = 1; i < argc; i++) {
        const std::string_view a = argv[i];
        auto value = [&]() -> Result<uint64_t> {
            if (i + 1 >= argc) return fail("option '{}' needs a value", a);
            return parse_io_size(argv[++i]);
        };
        if (a == "-c") b.count = TRY(value());
        else if (a == "-d") b.depth = TRY(value());
        else if (a == "-s") b.size = TRY(value());
        else if (a == "-S") b.step = TRY(value());
        else if (a == "-o") b.offset = TRY(value());
        else if (a == "-w") b.write = true;
        else if (a == "-q") b.quiet = true;
        else if (a == "-n") b.image.cache = "none";
        else if (a.starts_with("--pattern=")) b.pattern = static_cast<uint8_t>(TRY(parse_io_size(a.substr(10))));
        else if (a.starts_with("--flush-interval=")) b.flush_interval = TRY(parse_io_size(a.substr(17)));
        else if (TRY(parse_image_arg(b.image, argc, argv, i))) continue;
        else if (b.image.filename.empty()) b.image.filename = std::string(a);
        else return fail("unexpected argument '{}'", a);
    }
    if (b.image.filename.empty()) return fail("Expecting one image file name");
    if (b.depth == 0 || b.depth > 1024) return fail("Invalid queue depth specified");
    if (b.size == 0 || b.size > (256u << 20)) return fail("Invalid buffer size specified");
    if (b.step == 0) b.step = b.size;
    return b;
}

// Keeps DEPTH requests in flight until COUNT have completed (img_bench's bench_cb logic).
class Bench {
public:
    Bench(const BenchArgs& args, BlockBackend& blk) : m_args(args), m_blk(blk), m_offset(args.offset) {
        // One page-aligned buffer, slot i at i * size, as img_bench allocates it: cache=none
        // needs no bounce (qemu_blockalign), and both tools hand the kernel the same layout.
        const uint64_t total = args.depth * args.size; // at most 1024 x 256 MiB: no overflow
        void* p = nullptr;
        if (::posix_memalign(&p, 4096, total) == 0) std::memset(p, args.pattern, total);
        m_buffer.reset(static_cast<uint8_t*>(p));
    }
    Result<> run() {
        if (!m_buffer) return fail("out of memory");
        for (uint64_t i = 0; i < m_args.depth && m_issued < m_args.count; i++) issue(i);
        m_blk.drain();
        if (!m_error.empty()) return fail("{}", m_error);
        if (m_completed != m_args.count) return fail("only {} of {} requests completed", m_completed, m_args.count);
        return {};
    }

private:
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };

    void issue(uint64_t slot) {
        const uint64_t len = m_args.size, size = m_blk.root().length();
        if (m_offset + len > size) m_offset = 0; // wrap at the end of the image
        BlockRequest req{.op = m_args.write ? BlockOp::Write : BlockOp::Read, .offset = m_offset, .length = len};
        req.iov.push_back({m_buffer.get() + slot * len, len});
        m_offset += m_args.step;
        m_issued++;
        m_blk.submit(std::move(req), [this, slot](Result<> r) { complete(slot, std::move(r)); });
    }
    void complete(uint64_t slot, Result<> r) {
        if (!r && m_error.empty()) m_error = r.error().msg;
        m_completed++;
        if (!m_error.empty()) return;
        if (m_args.write && m_args.flush_interval && m_completed % m_args.flush_interval == 0) {
            m_blk.submit(BlockRequest{.op = BlockOp::Flush}, [this](Result<> fr) {
                if (!fr && m_error.empty()) m_error = fr.error().msg;
            });
        }
        if (m_issued < m_args.count) issue(slot);
    }

    const BenchArgs& m_args;
    BlockBackend& m_blk;
    std::unique_ptr<uint8_t, Free> m_buffer;
    uint64_t m_offset, m_issued = 0, m_completed = 0;
    std::string m_error;
};

} // namespace

int main_bench(int argc, char** argv) {
    auto args = parse_bench_args(argc, argv);
    if (!args) {
        std::fprintf(stderr, "nemu-io bench: %s\n", args.error().msg.c_str());
        return 1;
    }
    auto loop = EventLoop::create();
    if (!loop) return 1;
    auto blk = open_backend(args->image, **loop);
    if (!blk) {
        std::fprintf(stderr, "nemu-io bench: %s\n", blk.error().msg.c_str());
        return 1;
    }
    if (!args->quiet)
        std::printf("Sending %llu %s requests, %llu bytes each, %llu in parallel (starting at offset %llu, step size %llu)\n",
                    static_cast<unsigned long long>(args->count), args->write ? "write" : "read",
                    static_cast<unsigned long long>(args->size), static_cast<unsigned long long>(args->depth),
                    static_cast<unsigned long long>(args->offset), static_cast<unsigned long long>(args->step));
    const auto t0 = std::chrono::steady_clock::now();
    Bench bench(*args, **blk);
    auto r = bench.run();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
        std::fprintf(stderr, "nemu-io bench: %s\n", r.error().msg.c_str());
        return 1;
    }
    if (!args->quiet) std::printf("Run completed in %.3f seconds.\n", secs);
    return 0;
}

} // namespace nemu::io
