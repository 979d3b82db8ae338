#include "block/qcow2/qcow2_format.h"

#include <bit>
#include <cerrno>

#include "block/qcow2/qcow2_header.h"
#include "block/qcow2/qcow2_node.h"

namespace nemu::block {

using namespace qcow2; // NOLINT: this file is the qcow2 driver's own front door

namespace {

int probe(std::span<const uint8_t> head, std::string_view) {
    if (head.size() >= 8 && be32(head.data()) == kMagic && be32(head.data() + 4) >= 2) return 100;
    return 0;
}

Result<std::shared_ptr<BlockNode>> open(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx) {
    auto node = TRY(Qcow2Node::open(std::move(file), ctx));
    return std::shared_ptr<BlockNode>(std::move(node));
}

constexpr BlockFormat kQcow2{"qcow2", probe, open};

} // namespace

const BlockFormat& qcow2_format() { return kQcow2; }

Result<> qcow2_create(BlockNode& file, uint64_t size, const Qcow2CreateOptions& o) {
    if (!std::has_single_bit(o.cluster_size) || o.cluster_size < 512 || o.cluster_size > (2u << 20))
        return fail("Cluster size must be a power of two between 512 and 2048k");
    if (!std::has_single_bit(o.refcount_bits) || o.refcount_bits > 64)
        return fail("Refcount width must be a power of two and may not exceed 64 bits");
    if (o.version != 2 && o.version != 3) return fail("Invalid compatibility level");
    if (o.version == 2 && o.refcount_bits != 16)
        return fail("Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
    if (o.version == 2 && o.lazy_refcounts)
        return fail("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
    if (o.backing_file.size() > kMaxBackingName) return fail("Backing file name too long");
    if (o.backing_format.size() > 15) return fail("Backing format name too long");
    if (size > (uint64_t{1} << 62)) return fail("Image size too large");

    Header h;
    h.version = o.version;
    h.cluster_bits = static_cast<uint32_t>(std::countr_zero(o.cluster_size));
    h.refcount_order = static_cast<uint32_t>(std::countr_zero(o.refcount_bits));
    h.header_length = o.version == 3 ? 112 : kV2HeaderLength;
    h.compatible_features = o.lazy_refcounts ? kCompatLazyRefcounts : 0;
    h.size = size;
    const uint64_t cs = o.cluster_size, span = cs * (cs / 8);
    const uint64_t l1_entries = (size + span - 1) / span;
    if (l1_entries * 8 > kMaxL1Bytes) return fail("Image size too large for this cluster size");
    const uint64_t l1_clusters = std::max<uint64_t>(1, (l1_entries * 8 + cs - 1) / cs);
    const uint64_t per_block = cs * 8 / o.refcount_bits;
    uint64_t refblocks = 1, reftable = 1;
    for (;;) { // every metadata cluster is counted by the blocks, which sit in the table
        const uint64_t total = 1 + reftable + refblocks + l1_clusters;
        const uint64_t b = (total + per_block - 1) / per_block, r = (b * 8 + cs - 1) / cs;
        if (b == refblocks && r == reftable) break;
        refblocks = b;
        reftable = r;
    }
    if (reftable * cs > kMaxRefTableBytes) return fail("Image size too large for this cluster size");
    const uint64_t total = 1 + reftable + refblocks + l1_clusters;
    h.refcount_table_offset = cs;
    h.refcount_table_clusters = static_cast<uint32_t>(reftable);
    h.l1_table_offset = (1 + reftable + refblocks) * cs;
    h.l1_size = static_cast<uint32_t>(l1_entries);

    std::vector<uint8_t> img(total * cs, 0);
    uint64_t ext = h.header_length;
    if (!o.backing_format.empty()) {
        put_be32(&img[ext], kExtBackingFormat);
        put_be32(&img[ext + 4], static_cast<uint32_t>(o.backing_format.size()));
        std::copy(o.backing_format.begin(), o.backing_format.end(), img.begin() + static_cast<long>(ext + 8));
        ext += 8 + ((o.backing_format.size() + 7) & ~size_t{7});
    }
    ext += 8; // end marker (zeroes)
    if (!o.backing_file.empty()) {
        if (ext + o.backing_file.size() > cs) return fail("Backing file name too long for this cluster size");
        h.backing_file_offset = ext;
        h.backing_file_size = static_cast<uint32_t>(o.backing_file.size());
        std::copy(o.backing_file.begin(), o.backing_file.end(), img.begin() + static_cast<long>(ext));
    }
    encode_header_fields(h, img);
    for (uint64_t b = 0; b < refblocks; ++b) put_be64(&img[cs + b * 8], (1 + reftable + b) * cs);
    // Refcount 1 for each of the `total` metadata clusters (entry width 1..64 bits, LSB first
    // inside a byte for widths below 8, big endian otherwise).
    uint8_t* blocks = &img[(1 + reftable) * cs];
    const uint32_t bits = o.refcount_bits;
    for (uint64_t c = 0; c < total; ++c) {
        if (bits < 8) blocks[c * bits / 8] |= static_cast<uint8_t>(1u << (c * bits % 8));
        else blocks[(c + 1) * (bits / 8) - 1] = 1;
    }
    // As qemu-img lays it out, the file ends with the L1 table's last entry: its cluster is
    // counted as allocated, but the rest of it is not written (a 1 MiB image is 196616 bytes).
    img.resize(h.l1_table_offset + l1_entries * 8);
    TRY(file.truncate(0));
    return file_pwrite(file, 0, img);
}

} // namespace nemu::block
