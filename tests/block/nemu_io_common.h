#pragma once
// Shared pieces of the nemu-io test tool (nemu_io.cpp): image options, opening a backend,
// argument parsing, and the bench and crash-writer modes.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block/block_backend.h"
#include "util/event_loop.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::io {

struct ImageArgs {
    std::string filename;   // a file name, or BlockdevOptions JSON with --image-opts
    std::string format;     // "" = probe
    bool read_only = false;
    bool image_opts = false;
    std::string cache = "writeback"; // qemu-io's and qemu-img bench's default
    std::string aio = "io_uring";
};

// Consumes argv[i] (and its value) when it is an image option; false when it is not one.
Result<bool> parse_image_arg(ImageArgs& image, int argc, char** argv, int& i);
Result<std::unique_ptr<block::BlockBackend>> open_backend(const ImageArgs& image, EventLoop& loop);

// qemu-io's numbers: decimal or 0x hex, with an optional k/K/M/G/T suffix (binary units).
Result<uint64_t> parse_io_size(std::string_view text);
std::vector<std::string> split_words(std::string_view line);
Json node_info_json(const block::BlockNode& node);

int main_bench(int argc, char** argv);
int main_crash_writer(int argc, char** argv);

} // namespace nemu::io
