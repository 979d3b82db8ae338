#include "block/qcow2/qcow2_l2.h"

#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <memory>

#include "block/block_node.h"

namespace nemu::block::qcow2 {

Result<Mapping> decode_l2_entry(uint64_t e, uint32_t cluster_bits, uint64_t file_end) {
    Mapping m;
    const uint64_t cs = 1ull << cluster_bits;
    if (e & kOflagCompressed) {
        // Compressed descriptor: x = 62 - (cluster_bits - 8) offset bits, then the count of
        // additional 512-byte sectors. COPIED must be clear (refcounts are shared by sectors).
        if (e & kOflagCopied) return io_error(EIO, "qcow2: compressed cluster with the COPIED flag");
        const uint32_t shift = 62 - (cluster_bits - 8);
        const uint64_t off = e & ((1ull << shift) - 1);
        const uint64_t nb = ((e >> shift) & ((1ull << (cluster_bits - 8)) - 1)) + 1;
        if (off >= kMaxHostOffset || off >= file_end)
            return io_error(EIO, fmt::format("qcow2: compressed cluster offset {:#x} invalid", off));
        m.kind = ClusterKind::Compressed;
        m.coffset = off;
        m.csize = nb * 512 - (off & 511);
        m.first_sector = off & ~uint64_t{511};
        m.nb_sectors = nb;
        return m;
    }
    if (e & kL2Reserved) return io_error(EIO, fmt::format("qcow2: L2 entry {:#x} has reserved bits set", e));
    const uint64_t off = e & kL2OffsetMask;
    if (off & (cs - 1)) return io_error(EIO, fmt::format("qcow2: cluster offset {:#x} unaligned", off));
    m.host = off;
    m.copied = (e & kOflagCopied) != 0;
    if (e & kOflagZero) {
        m.kind = ClusterKind::Zero;
        return m;
    }
    if (off == 0) {
        if (m.copied) return io_error(EIO, "qcow2: L2 entry with COPIED flag and no offset");
        m.kind = ClusterKind::Unallocated;
        return m;
    }
    if (off >= file_end) return io_error(EIO, fmt::format("qcow2: cluster offset {:#x} past the end of the file", off));
    m.kind = ClusterKind::Normal;
    return m;
}

namespace {

Result<> inflate_raw(std::span<const uint8_t> in, std::span<uint8_t> out) {
    z_stream s{};
    if (inflateInit2(&s, -12) != Z_OK) return io_error(ENOMEM, "qcow2: inflateInit2 failed");
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    const int ret = inflate(&s, Z_FINISH);
    const bool ok = (ret == Z_STREAM_END || ret == Z_BUF_ERROR) && s.avail_out == 0;
    inflateEnd(&s);
    if (!ok) return io_error(EIO, "qcow2: bad zlib data in a compressed cluster");
    return {};
}

struct DctxFree {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

Result<> unzstd(std::span<const uint8_t> in, std::span<uint8_t> out) {
    std::unique_ptr<ZSTD_DCtx, DctxFree> ctx(ZSTD_createDCtx());
    if (!ctx) return io_error(ENOMEM, "qcow2: ZSTD_createDCtx failed");
    // Bound the decoder's window: a cluster is at most 2 MiB, a hostile frame asks for more.
    ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 22);
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    // The data is followed by sector padding: stop once the cluster is full.
    while (ob.pos < ob.size) {
        const size_t r = ZSTD_decompressStream(ctx.get(), &ob, &ib);
        if (ZSTD_isError(r)) return io_error(EIO, "qcow2: bad zstd data in a compressed cluster");
        if (r == 0 || ib.pos == ib.size) break;
    }
    if (ob.pos < ob.size) return io_error(EIO, "qcow2: short zstd data in a compressed cluster");
    return {};
}

} // namespace

Result<> decompress_cluster(Compression type, std::span<const uint8_t> in, std::span<uint8_t> out) {
    return type == Compression::Zstd ? unzstd(in, out) : inflate_raw(in, out);
}

} // namespace nemu::block::qcow2
