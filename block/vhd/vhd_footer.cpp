#include "block/vhd/vhd_footer.h"

#include <cerrno>
#include <cstring>

namespace nemu::block::vhd {

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load_be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
uint64_t load_be64(const uint8_t* p) { return uint64_t{load_be32(p)} << 32 | load_be32(p + 4); }
void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

std::optional<SizeCalc> parse_size_calc(std::string_view s) {
    if (s == "chs") return SizeCalc::Chs;
    if (s == "current_size") return SizeCalc::CurrentSize;
    return std::nullopt;
}

uint32_t vhd_checksum(std::span<const uint8_t> bytes, size_t checksum_offset) {
    uint32_t sum = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i >= checksum_offset && i < checksum_offset + 4) continue;
        sum += bytes[i];
    }
    return ~sum;
}

bool has_footer_cookie(std::span<const uint8_t> bytes) {
    return bytes.size() >= kFooterCookie.size() &&
           std::memcmp(bytes.data(), kFooterCookie.data(), kFooterCookie.size()) == 0;
}

Result<VhdFooter> parse_footer(std::span<const uint8_t, kFooterSize> bytes) {
    namespace F = footer_field;
    if (!has_footer_cookie(bytes)) return fail("invalid VPC image");
    VhdFooter f;
    std::memcpy(f.raw.data(), bytes.data(), kFooterSize);
    const uint8_t* p = bytes.data();
    f.data_offset = load_be64(p + F::kDataOffset);
    std::memcpy(f.creator_app.data(), p + F::kCreatorApp, 4);
    f.current_size = load_be64(p + F::kCurrentSize);
    f.cylinders = load_be16(p + F::kCylinders);
    f.heads = p[F::kHeads];
    f.sectors_per_track = p[F::kSectorsPerTrack];
    f.disk_type = load_be32(p + F::kDiskType);
    f.checksum = load_be32(p + F::kChecksum);
    if (vhd_checksum(bytes, F::kChecksum) != f.checksum) return fail("Incorrect header checksum");
    return f;
}

namespace {
// block/vpc.c vpc_ignore_current_size(): creators known to size the disk by current_size.
bool creator_uses_current_size(const std::array<char, 4>& app) {
    static constexpr std::array<std::array<char, 4>, 5> kApps{{
        {'w', 'i', 'n', ' '},  // Hyper-V
        {'q', 'e', 'm', '2'},  // qemu-img with force_size=on
        {'d', '2', 'v', ' '},  // Disk2vhd
        {'C', 'T', 'X', 'S'},  // XenConverter
        {'t', 'a', 'p', '\0'}, // XenServer
    }};
    for (const auto& a : kApps)
        if (a == app) return true;
    return false;
}
} // namespace

Result<uint64_t> virtual_size(const VhdFooter& f, SizeCalc calc) {
    uint64_t sectors = uint64_t{f.cylinders} * f.heads * f.sectors_per_track;
    const bool use_chs = !creator_uses_current_size(f.creator_app) || calc == SizeCalc::Chs;
    if (!use_chs || sectors == kMaxGeometrySectors || calc == SizeCalc::CurrentSize)
        sectors = f.current_size / kSectorSize;
    if (sectors > kMaxSectors)
        return make_error(Error{ErrorClass::GenericError, "File too large", EFBIG});
    return sectors * kSectorSize;
}

} // namespace nemu::block::vhd
