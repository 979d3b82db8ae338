#pragma once
// The qcow2 image header, its extensions and the internal snapshot table
// (QEMU docs/interop/qcow2.txt, "Header", "Header extensions", "Snapshots").
// Everything here is parsed from a hostile file: every field is checked against named limits.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "block/block_node.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::block::qcow2 {

inline constexpr uint32_t kMagic = 0x514649fb; // "QFI\xfb"
inline constexpr uint32_t kMinClusterBits = 9;
inline constexpr uint32_t kMaxClusterBits = 21; // QEMU's 2 MiB implementation limit
inline constexpr uint64_t kMaxL1Bytes = 32ull << 20;       // QCOW_MAX_L1_SIZE
inline constexpr uint64_t kMaxRefTableBytes = 8ull << 20;  // QCOW_MAX_REFTABLE_SIZE
inline constexpr uint32_t kMaxSnapshots = 65536;           // QCOW_MAX_SNAPSHOTS
inline constexpr uint32_t kMaxSnapshotExtra = 1024;        // QCOW_MAX_SNAPSHOT_EXTRA_DATA
inline constexpr uint32_t kMaxBackingName = 1023;
inline constexpr uint64_t kMaxHostOffset = 1ull << 56;     // L1/L2 offsets are bits 9-55
inline constexpr uint32_t kV2HeaderLength = 72;
inline constexpr uint32_t kV3HeaderLength = 104;

// Header extension types.
inline constexpr uint32_t kExtEnd = 0x00000000;
inline constexpr uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr uint32_t kExtFeatureTable = 0x6803f857;
inline constexpr uint32_t kExtDataFile = 0x44415441;

// incompatible_features bits.
inline constexpr uint64_t kIncompatDirty = 1ull << 0;
inline constexpr uint64_t kIncompatCorrupt = 1ull << 1;
inline constexpr uint64_t kIncompatDataFile = 1ull << 2;
inline constexpr uint64_t kIncompatCompression = 1ull << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1ull << 4;
inline constexpr uint64_t kIncompatKnown = kIncompatDirty | kIncompatCorrupt | kIncompatDataFile |
                                           kIncompatCompression | kIncompatExtendedL2;
// compatible_features bits.
inline constexpr uint64_t kCompatLazyRefcounts = 1ull << 0;

enum class Compression : uint8_t { Zlib = 0, Zstd = 1 };

struct HeaderExtension {
    uint32_t type = 0;
    std::vector<uint8_t> data; // unknown extensions are kept so a header rewrite preserves them
};

struct Header {
    uint32_t version = 3;
    uint64_t backing_file_offset = 0;
    uint32_t backing_file_size = 0;
    uint32_t cluster_bits = 16;
    uint64_t size = 0;
    uint32_t crypt_method = 0;
    uint32_t l1_size = 0;
    uint64_t l1_table_offset = 0;
    uint64_t refcount_table_offset = 0;
    uint32_t refcount_table_clusters = 0;
    uint32_t nb_snapshots = 0;
    uint64_t snapshots_offset = 0;
    uint64_t incompatible_features = 0;
    uint64_t compatible_features = 0;
    uint64_t autoclear_features = 0;
    uint32_t refcount_order = 4;
    uint32_t header_length = kV2HeaderLength;
    Compression compression = Compression::Zlib;

    std::string backing_file;
    std::string backing_format;
    std::vector<HeaderExtension> extensions; // every extension but the end marker, in order

    uint64_t cluster_size() const { return 1ull << cluster_bits; }
    uint32_t refcount_bits() const { return 1u << refcount_order; }
};

// Parses and validates the header from the image's first bytes (at least the first cluster,
// or the whole file if shorter). file_size bounds every table. Errors use QEMU's messages.
Result<Header> parse_header(std::span<const uint8_t> head, uint64_t file_size);

// Encodes the fixed header fields into buf (at least header_length bytes), big endian.
void encode_header_fields(const Header& h, std::span<uint8_t> buf);

// One entry of the internal snapshot table (QAPI SnapshotInfo, as `qemu-img info` lists it).
struct Snapshot {
    std::string id;
    std::string name;
    uint64_t l1_table_offset = 0;
    uint32_t l1_size = 0;
    uint64_t vm_state_size = 0;
    uint32_t date_sec = 0;
    uint32_t date_nsec = 0;
    uint64_t vm_clock_nsec = 0;
    bool has_icount = false;
    uint64_t icount = 0;
};

// Reads and validates the snapshot table (read-only: nemu lists snapshots, never applies them).
// table_end, if given, receives the file offset just past the table's last entry.
Result<std::vector<Snapshot>> read_snapshots(BlockNode& file, const Header& h, uint64_t file_size,
                                             uint64_t* table_end = nullptr);
// QEMU's ImageInfo "snapshots" list.
Json snapshots_json(const std::vector<Snapshot>& s);

// Big-endian helpers shared by the driver.
inline uint64_t be64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}
inline uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline void put_be64(uint8_t* p, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void put_be16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }

// Reads len bytes at off from a child node into a buffer (helper for metadata).
Result<> file_pread(BlockNode& file, uint64_t off, std::span<uint8_t> buf);
Result<> file_pwrite(BlockNode& file, uint64_t off, std::span<const uint8_t> buf);

} // namespace nemu::block::qcow2
