#include "block/qcow2/qcow2_header.h"

#include <cerrno>
#include <cstring>

namespace nemu::block::qcow2 {

Result<> file_pread(BlockNode& file, uint64_t off, std::span<uint8_t> buf) {
    iovec v{buf.data(), buf.size()};
    return file.read(off, std::span<const iovec>(&v, 1));
}

Result<> file_pwrite(BlockNode& file, uint64_t off, std::span<const uint8_t> buf) {
    iovec v{const_cast<uint8_t*>(buf.data()), buf.size()};
    return file.write(off, std::span<const iovec>(&v, 1), false);
}

namespace {

// A table at off of len bytes: cluster aligned, no overflow, inside the file
// (QEMU's validate_table_offset, plus the file-size check: a table past the end is bogus).
bool table_ok(uint64_t off, uint64_t len, uint64_t cluster_size, uint64_t file_size) {
    if (off & (cluster_size - 1)) return false;
    if (off > kMaxHostOffset || len > kMaxHostOffset) return false;
    return off + len <= file_size;
}

std::string feature_names(const Header& h, std::span<const uint8_t> table, uint64_t mask) {
    std::string out;
    for (size_t i = 0; i + 48 <= table.size(); i += 48) {
        if (table[i] != 0 || table[i + 1] > 63) continue;
        const uint64_t bit = 1ull << table[i + 1];
        if (!(mask & bit)) continue;
        const char* name = reinterpret_cast<const char*>(&table[i + 2]);
        if (!out.empty()) out += ", ";
        out += std::string(name, strnlen(name, 46));
        mask &= ~bit;
    }
    (void)h;
    if (mask) {
        if (!out.empty()) out += ", ";
        out += fmt::format("Unknown incompatible feature: {:x}", mask);
    }
    return out;
}

} // namespace

Result<Header> parse_header(std::span<const uint8_t> head, uint64_t file_size) {
    if (head.size() < kV2HeaderLength || be32(head.data()) != kMagic) return fail("Image is not in qcow2 format");
    const uint8_t* p = head.data();
    Header h;
    h.version = be32(p + 4);
    if (h.version < 2 || h.version > 3) return fail("Unsupported qcow2 version {}", h.version);
    h.backing_file_offset = be64(p + 8);
    h.backing_file_size = be32(p + 16);
    h.cluster_bits = be32(p + 20);
    if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits)
        return fail("Unsupported cluster size: 2^{}", h.cluster_bits);
    const uint64_t cs = h.cluster_size();
    h.size = be64(p + 24);
    h.crypt_method = be32(p + 32);
    h.l1_size = be32(p + 36);
    h.l1_table_offset = be64(p + 40);
    h.refcount_table_offset = be64(p + 48);
    h.refcount_table_clusters = be32(p + 56);
    h.nb_snapshots = be32(p + 60);
    h.snapshots_offset = be64(p + 64);
    if (h.version == 3) {
        if (head.size() < kV3HeaderLength) return fail("qcow2 header too short");
        h.incompatible_features = be64(p + 72);
        h.compatible_features = be64(p + 80);
        h.autoclear_features = be64(p + 88);
        h.refcount_order = be32(p + 96);
        h.header_length = be32(p + 100);
        if (h.header_length < kV3HeaderLength) return fail("qcow2 header too short");
        if (h.header_length > cs) return fail("qcow2 header exceeds cluster size");
        if (h.header_length % 8) return fail("qcow2 header length is not a multiple of 8");
        if (h.header_length > head.size()) return fail("qcow2 header exceeds the file size");
    }
    if (h.backing_file_offset > cs) return fail("Invalid backing file offset");

    // Header extensions, between header_length and the end of the first cluster.
    std::span<const uint8_t> features;
    uint64_t ext = h.header_length;
    const uint64_t ext_end = std::min<uint64_t>(
        h.backing_file_offset ? h.backing_file_offset : cs, std::min<uint64_t>(cs, head.size()));
    {
        for (;;) {
            if (ext + 8 > ext_end) break; // no end marker before the limit: QEMU stops too
            const uint32_t type = be32(p + ext);
            const uint32_t len = be32(p + ext + 4);
            ext += 8;
            if (type == kExtEnd) break;
            if (len > ext_end - ext) return fail("Invalid header extension (length {} too large)", len);
            std::span<const uint8_t> data(p + ext, len);
            if (type == kExtBackingFormat) {
                if (len > 15) return fail("ERROR: ext_backing_format: len={} too large (>=16)", len);
                h.backing_format.assign(reinterpret_cast<const char*>(data.data()), len);
            } else if (type == kExtFeatureTable) {
                features = data;
            }
            h.extensions.push_back(HeaderExtension{type, {data.begin(), data.end()}});
            ext += (uint64_t{len} + 7) & ~uint64_t{7};
        }
    }

    if (h.incompatible_features & ~kIncompatKnown)
        return fail("Unsupported qcow2 feature(s): {}",
                    feature_names(h, features, h.incompatible_features & ~kIncompatKnown));
    if (h.incompatible_features & kIncompatDataFile)
        return fail("qcow2 images with an external data file are not supported");
    if (h.incompatible_features & kIncompatExtendedL2)
        return fail("qcow2 images with extended L2 entries (subclusters) are not supported");
    const uint8_t ctype = h.header_length > kV3HeaderLength ? p[104] : 0;
    if (h.incompatible_features & kIncompatCompression) {
        if (ctype == 0) return fail("Compression type incompatible feature bit must not be set");
        if (ctype != 1) return fail("Unknown compression type {}", ctype);
        h.compression = Compression::Zstd;
    } else if (ctype != 0) {
        return fail("Compression type incompatible feature bit must be set");
    }

    if (h.refcount_order > 6) return fail("Reference count entry width too large; may not exceed 64 bits");
    if (h.version == 2) h.refcount_order = 4;
    if (h.crypt_method > 2) return fail("Unsupported encryption method: {}", h.crypt_method);
    if (h.crypt_method != 0) return fail("Encrypted qcow2 images are not supported");

    if (h.size > (uint64_t{1} << 62)) return fail("Image is too big");
    if (uint64_t{h.refcount_table_clusters} > kMaxRefTableBytes / cs) return fail("Reference count table too large");
    if (h.refcount_table_clusters == 0 ||
        !table_ok(h.refcount_table_offset, uint64_t{h.refcount_table_clusters} * cs, cs, file_size))
        return fail("Invalid reference count table offset");
    if (h.nb_snapshots > kMaxSnapshots) return fail("Snapshot table too large");
    if (h.nb_snapshots && !table_ok(h.snapshots_offset, 40ull * h.nb_snapshots, cs, file_size))
        return fail("Invalid snapshot table offset");
    if (uint64_t{h.l1_size} > kMaxL1Bytes / 8) return fail("Active L1 table too large");
    const uint64_t l2_span = cs * (cs / 8);
    const uint64_t l1_needed = (h.size + l2_span - 1) / l2_span;
    if (h.l1_size < l1_needed) return fail("L1 table is too small");
    if (h.l1_size && !table_ok(h.l1_table_offset, uint64_t{h.l1_size} * 8, cs, file_size))
        return fail("Invalid L1 table offset");

    if (h.backing_file_offset) {
        h.backing_file_size = std::min<uint32_t>(h.backing_file_size, 0xffffffffu);
        if (h.backing_file_size > kMaxBackingName || h.backing_file_size > cs - h.backing_file_offset)
            return fail("Backing file name too long");
        if (h.backing_file_offset + h.backing_file_size > head.size()) return fail("Invalid backing file offset");
        h.backing_file.assign(reinterpret_cast<const char*>(p + h.backing_file_offset), h.backing_file_size);
    }
    return h;
}

void encode_header_fields(const Header& h, std::span<uint8_t> buf) {
    uint8_t* p = buf.data();
    put_be32(p, kMagic);
    put_be32(p + 4, h.version);
    put_be64(p + 8, h.backing_file_offset);
    put_be32(p + 16, h.backing_file_size);
    put_be32(p + 20, h.cluster_bits);
    put_be64(p + 24, h.size);
    put_be32(p + 32, h.crypt_method);
    put_be32(p + 36, h.l1_size);
    put_be64(p + 40, h.l1_table_offset);
    put_be64(p + 48, h.refcount_table_offset);
    put_be32(p + 56, h.refcount_table_clusters);
    put_be32(p + 60, h.nb_snapshots);
    put_be64(p + 64, h.snapshots_offset);
    if (h.version >= 3) {
        put_be64(p + 72, h.incompatible_features);
        put_be64(p + 80, h.compatible_features);
        put_be64(p + 88, h.autoclear_features);
        put_be32(p + 96, h.refcount_order);
        put_be32(p + 100, h.header_length);
        if (h.header_length > kV3HeaderLength) p[104] = static_cast<uint8_t>(h.compression);
    }
}

Result<std::vector<Snapshot>> read_snapshots(BlockNode& file, const Header& h, uint64_t file_size,
                                             uint64_t* table_end) {
    std::vector<Snapshot> out;
    uint64_t off = h.snapshots_offset;
    const uint64_t cs = h.cluster_size();
    for (uint32_t i = 0; i < h.nb_snapshots; ++i) {
        off = (off + 7) & ~uint64_t{7};
        uint8_t fixed[40];
        if (off + sizeof fixed > file_size) return fail("Snapshot table exceeds the file size");
        TRY(file_pread(file, off, fixed));
        Snapshot s;
        s.l1_table_offset = be64(fixed);
        s.l1_size = be32(fixed + 8);
        const uint16_t id_len = be16(fixed + 12), name_len = be16(fixed + 14);
        s.date_sec = be32(fixed + 16);
        s.date_nsec = be32(fixed + 20);
        s.vm_clock_nsec = be64(fixed + 24);
        s.vm_state_size = be32(fixed + 32);
        const uint32_t extra_len = be32(fixed + 36);
        if (extra_len > kMaxSnapshotExtra) return fail("Too much extra metadata in snapshot table entry {}", i);
        const uint64_t var_len = uint64_t{extra_len} + id_len + name_len;
        off += sizeof fixed;
        if (off + var_len > file_size) return fail("Snapshot table exceeds the file size");
        std::vector<uint8_t> var(var_len);
        TRY(file_pread(file, off, var));
        off += var_len;
        if (extra_len >= 8) s.vm_state_size = be64(var.data());
        if (extra_len >= 24) {
            s.has_icount = true;
            s.icount = be64(var.data() + 16);
        }
        s.id.assign(reinterpret_cast<const char*>(var.data() + extra_len), id_len);
        s.name.assign(reinterpret_cast<const char*>(var.data() + extra_len + id_len), name_len);
        if (uint64_t{s.l1_size} > kMaxL1Bytes / 8) return fail("Snapshot L1 table too large");
        if (s.l1_size && (s.l1_table_offset & (cs - 1) || s.l1_table_offset + uint64_t{s.l1_size} * 8 > file_size))
            return fail("Snapshot L1 table offset invalid");
        out.push_back(std::move(s));
    }
    if (table_end) *table_end = off;
    return out;
}

Json snapshots_json(const std::vector<Snapshot>& list) {
    Json arr = Json::array();
    for (const auto& s : list) {
        Json j = Json::object();
        if (s.has_icount) j["icount"] = s.icount;
        j["vm-clock-nsec"] = s.vm_clock_nsec % 1000000000ull;
        j["name"] = s.name;
        j["date-sec"] = s.date_sec;
        j["date-nsec"] = s.date_nsec;
        j["vm-clock-sec"] = s.vm_clock_nsec / 1000000000ull;
        j["id"] = s.id;
        j["vm-state-size"] = s.vm_state_size;
        arr.push_back(std::move(j));
    }
    return arr;
}

} // namespace nemu::block::qcow2
