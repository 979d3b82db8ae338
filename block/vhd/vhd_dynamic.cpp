#include "block/vhd/vhd_dynamic.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "block/block_node.h"

namespace nemu::block::vhd {

namespace {
constexpr std::string_view kDynamicCookie = "cxsparse";
// The BAT is read in pieces of this size so a table far larger than the part nemu keeps
// (entries past the virtual size still count for free_offset, as in QEMU) needs no big buffer.
constexpr uint64_t kBatReadChunk = 64 * 1024;
constexpr std::string_view kTruncated =
    "block-vpc: free_data_block_offset points after the end of file. The image has been truncated.";

bool is_power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
    return a < b + blen && b < a + alen;
}

Result<> read_at(BlockNode& file, uint64_t offset, std::span<uint8_t> out) {
    iovec v{out.data(), out.size()};
    return file.read(offset, std::span<const iovec>(&v, 1));
}
} // namespace

Result<DynamicHeader> parse_dynamic_header(std::span<const uint8_t, kDynamicHeaderSize> bytes) {
    namespace D = dyn_field;
    if (std::memcmp(bytes.data(), kDynamicCookie.data(), kDynamicCookie.size()) != 0)
        return fail("Invalid header magic");
    DynamicHeader h;
    h.table_offset = load_be64(bytes.data() + D::kTableOffset);
    h.max_table_entries = load_be32(bytes.data() + D::kMaxTableEntries);
    h.block_size = load_be32(bytes.data() + D::kBlockSize);
    if (!is_power_of_two(h.block_size) || h.block_size < kMinBlockSize || h.block_size > kMaxBlockSize)
        return fail("Invalid block size {}", h.block_size);
    return h;
}

uint32_t bitmap_size_for(uint32_t block_size) {
    // Rounded up, as the spec says. QEMU rounds block_size / 4096 down first, which is the
    // same for every block size >= 4 KiB but gives a 0-byte bitmap below that.
    const uint32_t bits_bytes = (block_size / kSectorSize + 7) / 8;
    return (bits_bytes + 511) & ~uint32_t{511};
}

bool DynamicLayout::overlaps_metadata(uint32_t entry) const {
    const uint64_t start = block_start(entry);
    return ranges_overlap(start, block_span(), 0, kFooterSize) ||
           ranges_overlap(start, block_span(), header_offset, kDynamicHeaderSize) ||
           ranges_overlap(start, block_span(), bat_offset, bat_bytes);
}

Result<DynamicLayout> load_dynamic_layout(BlockNode& file, const VhdFooter& footer, uint64_t virtual_size) {
    const uint64_t file_size = file.length();
    DynamicLayout l;
    l.header_offset = footer.data_offset;
    // QEMU reads past the end of the file as zeroes, so a header there has no magic.
    if (footer.data_offset > file_size || file_size - footer.data_offset < kDynamicHeaderSize)
        return fail("Invalid header magic");
    std::array<uint8_t, kDynamicHeaderSize> hbuf{};
    if (auto r = read_at(file, footer.data_offset, hbuf); !r)
        return fail("Error reading dynamic VHD header: {}", r.error().msg);
    const DynamicHeader h = TRY(parse_dynamic_header(hbuf));

    l.block_size = h.block_size;
    l.bitmap_size = bitmap_size_for(h.block_size);
    l.bat_offset = h.table_offset;
    if (virtual_size / h.block_size > 0xffffffffULL) return fail("Too many blocks");
    if (uint64_t{h.max_table_entries} * h.block_size < virtual_size) return fail("Page table too small");
    if (h.max_table_entries > kMaxTableEntries)
        return fail("Max Table Entries too large ({})", h.max_table_entries);
    l.bat_bytes = uint64_t{h.max_table_entries} * 4;

    const uint64_t needed = (virtual_size + h.block_size - 1) / h.block_size;
    if (needed > kMaxBatEntriesInMemory)
        return fail("VHD block allocation table too large ({} entries, at most {})", needed,
                    kMaxBatEntriesInMemory);
    // QEMU reports a BAT past the end through its free-offset check; say the same.
    if (l.bat_offset > file_size || file_size - l.bat_offset < l.bat_bytes) return fail("{}", kTruncated);

    try {
        l.entries.reserve(needed);
    } catch (const std::bad_alloc&) {
        return fail("Unable to allocate memory for page table");
    }
    l.free_offset = (l.bat_offset + l.bat_bytes + 511) & ~uint64_t{511};
    std::vector<uint8_t> chunk(std::min<uint64_t>(kBatReadChunk, std::max<uint64_t>(l.bat_bytes, 4)));
    for (uint64_t done = 0; done < l.bat_bytes;) {
        const uint64_t n = std::min<uint64_t>(chunk.size(), l.bat_bytes - done);
        if (auto r = read_at(file, l.bat_offset + done, std::span<uint8_t>(chunk.data(), n)); !r)
            return fail("Error reading pagetable: {}", r.error().msg);
        for (uint64_t i = 0; i < n; i += 4) {
            const uint32_t e = load_be32(chunk.data() + i);
            if (l.entries.size() < needed) l.entries.push_back(e);
            if (e != kUnallocated) l.free_offset = std::max(l.free_offset, l.block_start(e) + l.block_span());
        }
        done += n;
    }
    if (l.free_offset > file_size) return fail("{}", kTruncated);
    return l;
}

} // namespace nemu::block::vhd
