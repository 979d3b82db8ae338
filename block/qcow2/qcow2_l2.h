#pragma once
// L1/L2 entries (docs/interop/qcow2.txt, "Cluster mapping") and compressed clusters.
// Standard L2 entries only: images with extended L2 entries are refused at open.

#include <cstdint>
#include <span>
#include <vector>

#include "block/qcow2/qcow2_header.h"
#include "util/result.h"

namespace nemu::block::qcow2 {

inline constexpr uint64_t kOflagCopied = 1ull << 63;
inline constexpr uint64_t kOflagCompressed = 1ull << 62;
inline constexpr uint64_t kOflagZero = 1ull << 0;
inline constexpr uint64_t kL1OffsetMask = 0x00fffffffffffe00ull;   // bits 9-55
inline constexpr uint64_t kL1Reserved = 0x7f000000000001ffull;     // bits 0-8, 56-62
inline constexpr uint64_t kL2OffsetMask = 0x00fffffffffffe00ull;
inline constexpr uint64_t kL2Reserved = 0x3f000000000001feull;     // bits 1-8, 56-61

enum class ClusterKind { Unallocated, Zero, Normal, Compressed };

struct Mapping {
    ClusterKind kind = ClusterKind::Unallocated;
    uint64_t host = 0;     // Normal (and a preallocated Zero): host cluster offset
    bool copied = false;   // refcount exactly 1: may be written in place
    uint64_t coffset = 0;  // Compressed: byte offset of the data
    uint64_t csize = 0;    // Compressed: bytes that may hold the data
    uint64_t first_sector = 0, nb_sectors = 0; // Compressed: what its refcounts cover
};

// Decodes a standard L2 entry; EIO on reserved bits, misaligned offsets or offsets at/after
// file_end (checked against the file the entry must point into).
Result<Mapping> decode_l2_entry(uint64_t entry, uint32_t cluster_bits, uint64_t file_end);

// Decompresses a compressed cluster's bytes into out (exactly one cluster): zlib raw deflate
// (window bits -12, as QEMU writes it) or a zstd frame. EIO on malformed data.
Result<> decompress_cluster(Compression type, std::span<const uint8_t> in, std::span<uint8_t> out);

} // namespace nemu::block::qcow2
