#pragma once
// The dynamic disk header ("cxsparse", spec "Dynamic Disk Header Format") and the Block
// Allocation Table it points to, loaded and checked the way QEMU 7.2's vpc_open does, plus
// nemu's own bounds: the image is hostile (block/README.md).

#include <cstdint>
#include <span>
#include <vector>

#include "block/vhd/vhd_footer.h"
#include "util/result.h"

namespace nemu::block {
class BlockNode;
}

namespace nemu::block::vhd {

constexpr uint64_t kDynamicHeaderSize = 1024;
constexpr uint32_t kUnallocated = 0xffffffff; // spec: BAT entry of a block not present

// QEMU accepts any power of two >= 512; nemu also caps it (the spec's default is 2 MiB) so a
// block's bitmap and a zero-fill stay small.
constexpr uint32_t kMinBlockSize = 512;
constexpr uint32_t kMaxBlockSize = 256u << 20;
// QEMU's limit on max_table_entries (INT_MAX / 4: the whole BAT in one buffer).
constexpr uint32_t kMaxTableEntries = 0x7fffffff / 4;
// nemu keeps in memory only the entries that cover the virtual size, at most this many
// (64 MiB of BAT: a 2040 GiB disk down to 128 KiB blocks).
constexpr uint64_t kMaxBatEntriesInMemory = 16u << 20;

// Byte offsets in the dynamic header (spec table "Dynamic Disk Header Format").
namespace dyn_field {
constexpr size_t kCookie = 0, kDataOffset = 8, kTableOffset = 16, kHeaderVersion = 24,
                 kMaxTableEntries = 28, kBlockSize = 32, kChecksum = 36;
}

struct DynamicHeader {
    uint64_t table_offset = 0;
    uint32_t max_table_entries = 0;
    uint32_t block_size = 0;
};

// Magic ("Invalid header magic") and block size ("Invalid block size N") checks. The
// header checksum is not verified: QEMU does not either, and images in the wild rely on it.
Result<DynamicHeader> parse_dynamic_header(std::span<const uint8_t, kDynamicHeaderSize> bytes);

// Spec: one bit per 512-byte sector, padded to a sector boundary.
uint32_t bitmap_size_for(uint32_t block_size);

// Everything a dynamic VhdNode needs, read from the file at open.
struct DynamicLayout {
    uint64_t header_offset = 0;
    uint64_t bat_offset = 0;
    uint64_t bat_bytes = 0;         // max_table_entries * 4, the on-disk BAT size
    uint32_t block_size = 0;
    uint32_t bitmap_size = 0;
    std::vector<uint32_t> entries;  // the BAT entries covering the virtual size
    uint64_t free_offset = 0;       // where the next block goes (QEMU's free_data_block_offset)

    uint64_t block_start(uint32_t entry) const { return uint64_t{entry} * kSectorSize; }
    uint64_t block_span() const { return uint64_t{bitmap_size} + block_size; }
    // Whether a block (bitmap + data) at this BAT entry overlaps the footer copy at 0, the
    // dynamic header or the BAT. QEMU does not check; nemu refuses I/O to such blocks so a
    // hostile BAT cannot make a write land in metadata.
    bool overlaps_metadata(uint32_t entry) const;
};

// Reads the dynamic header at footer.data_offset and the BAT from `file`, with QEMU's checks
// and messages ("Too many blocks", "Page table too small", "Max Table Entries too large (N)",
// "block-vpc: free_data_block_offset points after the end of file. The image has been
// truncated.") plus nemu's memory bound.
Result<DynamicLayout> load_dynamic_layout(BlockNode& file, const VhdFooter& footer, uint64_t virtual_size);

} // namespace nemu::block::vhd
