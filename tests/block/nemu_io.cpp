// nemu-io: drives nemu's block layer from the command line, for the block tests and the
// block benchmark (test tool, not installed). Three modes:
//
//   nemu-io [-f FMT] [-r] [-t CACHE] [-i AIO] [--image-opts] IMAGE -c CMD [-c CMD]...
//       CMD: read [-P BYTE] OFF LEN | write [-P BYTE] [-z] OFF LEN | discard OFF LEN |
//            flush | length | info | dump FILE
//       qemu-io's subset: read -P fails (exit 1) when the data differs from the pattern.
//   nemu-io bench [-c N] [-d DEPTH] [-s SIZE] [-S STEP] [-o OFF] [-w] [-t CACHE] [-i AIO]
//                 [-f FMT] [--pattern=BYTE] [--flush-interval=N] [-q] IMAGE
//       `qemu-img bench`'s options, request order and closing line ("Run completed in X
//       seconds."), so bench/block.py runs both tools the same way.
//   nemu-io crash-writer [-f FMT] SEED COUNT IMAGE
//       COUNT random writes of whole 4 KiB blocks (block and pattern derived from SEED), a
//       flush after every 8th; after each flush prints "durable N" (writes 0..N-1 reached
//       the disk). tests/block/test_crash_safety.py kills it at random points.

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block/block_backend.h"
#include "block/block_open.h"
#include "block/block_types.h"
#include "tests/block/nemu_io_common.h"
#include "util/event_loop.h"
#include "util/json.h"
#include "util/size_parse.h"

using namespace nemu;
using namespace nemu::block;

namespace {

int die(const std::string& msg) {
    std::fprintf(stderr, "nemu-io: %s\n", msg.c_str());
    return 1;
}

// One synchronous request through the backend: submit, then run the loop until it is done.
Result<> run_request(BlockBackend& blk, BlockRequest req) {
    bool done = false;
    Result<> out;
    blk.submit(std::move(req), [&](Result<> r) {
        out = std::move(r);
        done = true;
    });
    blk.drain();
    if (!done) return fail("request did not complete");
    return out;
}

Result<> cmd_read_write(BlockBackend& blk, const std::vector<std::string>& argv, bool is_write) {
    int pattern = -1;
    bool zero = false;
    std::vector<std::string> pos;
    for (size_t i = 1; i < argv.size(); i++) {
        if (argv[i] == "-P" && i + 1 < argv.size())
            pattern = static_cast<int>(std::strtol(argv[++i].c_str(), nullptr, 0)) & 0xff;
        else if (argv[i] == "-z" && is_write)
            zero = true;
        else
            pos.push_back(argv[i]);
    }
    if (pos.size() != 2) return fail("usage: {} [-P BYTE]{} OFF LEN", argv[0], is_write ? " [-z]" : "");
    const uint64_t off = TRY(io::parse_io_size(pos[0]));
    const uint64_t len = TRY(io::parse_io_size(pos[1]));
    if (is_write && zero) {
        BlockRequest req{.op = BlockOp::WriteZeroes, .offset = off, .length = len};
        return run_request(blk, std::move(req));
    }
    std::vector<uint8_t> buf(len, is_write ? static_cast<uint8_t>(pattern < 0 ? 0xcd : pattern) : 0);
    BlockRequest req{.op = is_write ? BlockOp::Write : BlockOp::Read, .offset = off, .length = len};
    req.iov.push_back({buf.data(), buf.size()});
    TRY(run_request(blk, std::move(req)));
    if (!is_write && pattern >= 0) {
        for (uint64_t i = 0; i < len; i++)
            if (buf[i] != pattern)
                return fail("Pattern verification failed at offset {}, {} bytes", off + i, len - i);
    }
    return {};
}

Result<> cmd_dump(BlockBackend& blk, const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!out) return fail_errno(fmt::format("cannot create '{}'", path), errno);
    constexpr uint64_t kChunk = 1 << 20;
    std::vector<uint8_t> buf(kChunk);
    const uint64_t size = blk.root().length();
    for (uint64_t off = 0; off < size; off += kChunk) {
        const uint64_t n = std::min(kChunk, size - off);
        BlockRequest req{.op = BlockOp::Read, .offset = off, .length = n};
        req.iov.push_back({buf.data(), n});
        TRY(run_request(blk, std::move(req)));
        if (std::fwrite(buf.data(), 1, n, out.get()) != n) return fail_errno("write", errno);
    }
    return {};
}

Result<> run_command(BlockBackend& blk, const std::string& line) {
    const std::vector<std::string> argv = io::split_words(line);
    if (argv.empty()) return fail("empty command");
    const std::string& c = argv[0];
    if (c == "read" || c == "write") return cmd_read_write(blk, argv, c == "write");
    if (c == "flush") return run_request(blk, BlockRequest{.op = BlockOp::Flush});
    if (c == "discard" && argv.size() == 3) {
        BlockRequest req{.op = BlockOp::Discard, .offset = TRY(io::parse_io_size(argv[1])),
                         .length = TRY(io::parse_io_size(argv[2]))};
        return run_request(blk, std::move(req));
    }
    if (c == "length") {
        std::printf("%llu\n", static_cast<unsigned long long>(blk.root().length()));
        return {};
    }
    if (c == "info") {
        std::printf("%s\n", dump_json(io::node_info_json(blk.root())).c_str());
        return {};
    }
    if (c == "dump" && argv.size() == 2) return cmd_dump(blk, argv[1]);
    return fail("unknown command '{}'", line);
}

int main_commands(int argc, char** argv) {
    io::ImageArgs image;
    std::vector<std::string> commands;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "-c" && i + 1 < argc) commands.emplace_back(argv[++i]);
        else if (auto r = io::parse_image_arg(image, argc, argv, i); !r) return die(r.error().msg);
        else if (!*r) {
            if (!image.filename.empty()) return die(fmt::format("unexpected argument '{}'", a));
            image.filename = std::string(a);
        }
    }
    if (image.filename.empty()) return die("no image given");
    auto loop = EventLoop::create();
    if (!loop) return die(loop.error().msg);
    auto blk = io::open_backend(image, **loop);
    if (!blk) return die(blk.error().msg);
    for (const auto& c : commands) {
        if (auto r = run_command(**blk, c); !r) return die(fmt::format("{}: {}", c, r.error().msg));
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "bench") return io::main_bench(argc - 1, argv + 1);
    if (argc > 1 && std::string_view(argv[1]) == "crash-writer") return io::main_crash_writer(argc - 1, argv + 1);
    return main_commands(argc, argv);
}
