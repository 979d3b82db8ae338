#include "tests/block/nemu_io_common.h"

#include <cstdlib>

#include "block/block_open.h"
#include "block/block_types.h"

namespace nemu::io {

using namespace nemu::block;

Result<bool> parse_image_arg(ImageArgs& image, int argc, char** argv, int& i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> Result<std::string> {
        if (i + 1 >= argc) return fail("option '{}' needs a value", a);
        return std::string(argv[++i]);
    };
    if (a == "-f") image.format = TRY(value());
    else if (a == "-t") image.cache = TRY(value());
    else if (a == "-i") image.aio = TRY(value());
    else if (a == "-r") image.read_only = true;
    else if (a == "--image-opts") image.image_opts = true;
    else return false;
    return true;
}

Result<std::unique_ptr<BlockBackend>> open_backend(const ImageArgs& image, EventLoop& loop) {
    const auto cache = parse_cache_mode(image.cache);
    if (!cache) return fail("invalid cache option '{}'", image.cache);
    const auto aio = parse_aio_mode(image.aio);
    if (!aio) return fail("invalid aio option '{}'", image.aio);
    OpenFlags flags;
    flags.read_only = image.read_only;
    flags.cache = cache->cache;
    flags.aio = *aio;
    std::shared_ptr<BlockNode> root;
    if (image.image_opts) {
        auto opts = parse_json(image.filename);
        if (!opts) return make_error(std::move(opts).error());
        root = TRY(open_blockdev(*opts, [](std::string_view) { return std::shared_ptr<BlockNode>(); }));
    } else {
        root = TRY(open_image(image.filename, image.format, flags));
    }
    BackendOptions bopts;
    bopts.write_cache = cache->write_cache;
    bopts.aio = *aio;
    return BlockBackend::create("", std::move(root), loop, bopts);
}

Result<uint64_t> parse_io_size(std::string_view text) {
    const std::string s(text);
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (end == s.c_str() || errno != 0) return fail("invalid number '{}'", text);
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    case 't': case 'T': shift = 40; ++end; break;
    default: return fail("invalid number '{}'", text);
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift))) return fail("invalid number '{}'", text);
    return static_cast<uint64_t>(v) << shift;
}

std::vector<std::string> split_words(std::string_view line) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') i++;
        size_t j = i;
        while (j < line.size() && line[j] != ' ') j++;
        if (j > i) out.emplace_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

Json node_info_json(const BlockNode& node) {
    const NodeInfo info = node.info();
    Json j = Json::object();
    j["format"] = info.format;
    j["filename"] = info.filename;
    j["virtual-size"] = info.virtual_size;
    if (info.actual_size >= 0) j["actual-size"] = info.actual_size;
    if (info.cluster_size) j["cluster-size"] = info.cluster_size;
    j["dirty-flag"] = info.dirty_flag;
    if (!info.backing_filename.empty()) j["backing-filename"] = info.backing_filename;
    if (!info.backing_format.empty()) j["backing-filename-format"] = info.backing_format;
    if (!info.format_specific.is_null()) j["format-specific"] = info.format_specific;
    return j;
}

} // namespace nemu::io
