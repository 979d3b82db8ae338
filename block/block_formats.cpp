// The format registry: every image format nemu was built with, in probe order (QEMU's
// bdrv_find_format/bdrv_probe_all in block.c: the highest score wins, raw scores 1 so it
// is chosen only when nothing else claims the image).
#include "block/block_format.h"

#include <array>

#include "nemu-config.h"

#if __has_include("block/raw_format.h")
#include "block/raw_format.h"
#define NEMU_HAVE_RAW 1
#endif
#if defined(CONFIG_QCOW2) && __has_include("block/qcow2/qcow2_format.h")
#include "block/qcow2/qcow2_format.h"
#define NEMU_HAVE_QCOW2 1
#endif
#if defined(CONFIG_VHD) && __has_include("block/vhd/vpc_format.h")
#include "block/vhd/vpc_format.h"
#define NEMU_HAVE_VPC 1
#endif

namespace nemu::block {

namespace {

// Built once on first use and never changed (an immutable table, STYLE.md rule 6).
struct Registry {
    std::array<BlockFormat, 3> formats{};
    size_t count = 0;

    Registry() {
#ifdef NEMU_HAVE_QCOW2
        formats[count++] = qcow2_format();
#endif
#ifdef NEMU_HAVE_VPC
        formats[count++] = vpc_format();
#endif
#ifdef NEMU_HAVE_RAW
        formats[count++] = raw_format();
#endif
    }
};

const Registry& registry() {
    static const Registry r;
    return r;
}

// Used only if the raw driver is not built yet: probe_block_format() must return something.
int raw_fallback_probe(std::span<const uint8_t>, std::string_view) { return 1; }
Result<std::shared_ptr<BlockNode>> raw_fallback_open(std::shared_ptr<BlockNode>, const FormatOpenContext&) {
    return fail("Unknown driver 'raw'");
}
constexpr BlockFormat kRawFallback{"raw", raw_fallback_probe, raw_fallback_open};

} // namespace

std::span<const BlockFormat> block_formats() {
    const Registry& r = registry();
    return {r.formats.data(), r.count};
}

const BlockFormat* find_block_format(std::string_view name) {
    for (const BlockFormat& f : block_formats())
        if (f.name == name) return &f;
    return nullptr;
}

const BlockFormat& probe_block_format(std::span<const uint8_t> head, std::string_view filename) {
    const BlockFormat* best = nullptr;
    int best_score = 0;
    for (const BlockFormat& f : block_formats()) {
        int score = f.probe ? f.probe(head, filename) : 0;
        if (score > best_score) {
            best = &f;
            best_score = score;
        }
    }
    if (best) return *best;
    if (const BlockFormat* raw = find_block_format("raw")) return *raw;
    return kRawFallback;
}

} // namespace nemu::block
