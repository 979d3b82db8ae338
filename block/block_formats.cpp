// The format registry: every image format nemu was built with, in probe order (QEMU's
// bdrv_find_format/bdrv_probe_all in block.c: the highest score wins, raw scores 1 so it
// is chosen only when nothing else claims the image).
#include "block/block_format.h"

#include <array>

#include "nemu-config.h"

#include "block/raw_format.h"
#ifdef CONFIG_QCOW2
#include "block/qcow2/qcow2_format.h"
#endif
#ifdef CONFIG_VHD
#include "block/vhd/vpc_format.h"
#endif

namespace nemu::block {

namespace {

// Built once on first use and never changed (an immutable table, STYLE.md rule 6).
struct Registry {
    std::array<BlockFormat, 3> formats{};
    size_t count = 0;

    Registry() {
#ifdef CONFIG_QCOW2
        formats[count++] = qcow2_format();
#endif
#ifdef CONFIG_VHD
        formats[count++] = vpc_format();
#endif
        formats[count++] = raw_format();
    }
};

const Registry& registry() {
    static const Registry r;
    return r;
}

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
    return raw_format();
}

} // namespace nemu::block
