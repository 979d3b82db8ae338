#pragma once
// The VHD hard disk footer (Microsoft "Virtual Hard Disk Image Format Specification" 1.0,
// "Hard Disk Footer Format"): 512 bytes, big endian, "conectix" cookie, at the end of every
// image and, for dynamic disks, also copied at offset 0. This file parses and checks it and
// computes the virtual size the way QEMU 7.2's block/vpc.c does.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "util/result.h"

namespace nemu::block::vhd {

constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kFooterSize = 512;
constexpr std::string_view kFooterCookie = "conectix";

// Spec "Disk Type" field values.
enum class DiskType : uint32_t { Fixed = 2, Dynamic = 3, Differencing = 4 };

// The largest disk QEMU opens: 0xff000000 sectors (2040 GiB), block/vpc.c VHD_MAX_SECTORS.
constexpr uint64_t kMaxSectors = 0xff000000ULL;
// The "maximum" CHS geometry 65535 x 16 x 255: QEMU then trusts current_size instead.
constexpr uint64_t kMaxGeometrySectors = 65535ULL * 16 * 255;

// How the virtual size is derived (QEMU's vpc runtime option force_size_calc).
enum class SizeCalc { Auto, Chs, CurrentSize };
std::optional<SizeCalc> parse_size_calc(std::string_view s); // "chs", "current_size"

// Byte offsets of the fields (spec table "Hard Disk Footer Format").
namespace footer_field {
constexpr size_t kCookie = 0, kFeatures = 8, kVersion = 12, kDataOffset = 16, kTimestamp = 24,
                 kCreatorApp = 28, kCreatorVersion = 32, kCreatorOs = 36, kOriginalSize = 40,
                 kCurrentSize = 48, kCylinders = 56, kHeads = 58, kSectorsPerTrack = 59,
                 kDiskType = 60, kChecksum = 64, kUniqueId = 68, kSavedState = 84;
}

struct VhdFooter {
    std::array<uint8_t, kFooterSize> raw{}; // the bytes as read (rewritten verbatim on growth)
    uint64_t data_offset = 0;               // dynamic header offset (0xffff... for fixed)
    std::array<char, 4> creator_app{};
    uint64_t current_size = 0;
    uint16_t cylinders = 0;
    uint8_t heads = 0;
    uint8_t sectors_per_track = 0;
    uint32_t disk_type = 0;
    uint32_t checksum = 0;
};

// Spec: "one's complement of the sum of all the bytes in the footer without the checksum
// field" (the 4 checksum bytes count as zero). The dynamic header uses the same rule.
uint32_t vhd_checksum(std::span<const uint8_t> bytes, size_t checksum_offset);

bool has_footer_cookie(std::span<const uint8_t> bytes);
// Decodes the fields and verifies the checksum ("Incorrect header checksum" as QEMU).
Result<VhdFooter> parse_footer(std::span<const uint8_t, kFooterSize> bytes);

// The guest-visible size in bytes, as QEMU's vpc_open computes it: C*H*S sectors, unless
// the creator app is one that sizes by current_size ("win ", "qem2", "d2v ", "CTXS",
// "tap\0"), the geometry is the maximum one, or calc forces a method. EFBIG ("File too
// large") past kMaxSectors.
Result<uint64_t> virtual_size(const VhdFooter& f, SizeCalc calc);

// Big-endian helpers shared by the VHD files.
uint16_t load_be16(const uint8_t* p);
uint32_t load_be32(const uint8_t* p);
uint64_t load_be64(const uint8_t* p);
void store_be32(uint8_t* p, uint32_t v);

} // namespace nemu::block::vhd
