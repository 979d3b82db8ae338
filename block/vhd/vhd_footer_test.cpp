#include "block/vhd/vhd_footer.h"

#include <gtest/gtest.h>

#include <cstring>

#include "block/vhd/vhd_dynamic.h"

namespace nemu::block::vhd {
namespace {

void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void store_be64(uint8_t* p, uint64_t v) {
    store_be32(p, static_cast<uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<uint32_t>(v));
}

std::array<uint8_t, kFooterSize> make_footer(const char* app, uint16_t c, uint8_t h, uint8_t s, uint64_t size) {
    namespace F = footer_field;
    std::array<uint8_t, kFooterSize> b{};
    std::memcpy(b.data(), "conectix", 8);
    std::memcpy(b.data() + F::kCreatorApp, app, 4);
    store_be64(b.data() + F::kCurrentSize, size);
    store_be16(b.data() + F::kCylinders, c);
    b[F::kHeads] = h;
    b[F::kSectorsPerTrack] = s;
    store_be32(b.data() + F::kDiskType, 3);
    store_be32(b.data() + F::kChecksum, vhd_checksum(b, F::kChecksum));
    return b;
}

TEST(VhdFooter, ChecksumIsOnesComplementOfByteSumWithoutTheField) {
    std::array<uint8_t, 8> b{1, 2, 0xff, 0xff, 0xff, 0xff, 3, 4};
    EXPECT_EQ(vhd_checksum(b, 2), ~uint32_t{10});
}

TEST(VhdFooter, ParsesFieldsAndRejectsBadChecksum) {
    auto b = make_footer("qemu", 20, 16, 63, 12345 * 512);
    auto f = parse_footer(b);
    ASSERT_TRUE(f) << f.error().msg;
    EXPECT_EQ(f->cylinders, 20);
    EXPECT_EQ(f->heads, 16);
    EXPECT_EQ(f->sectors_per_track, 63);
    EXPECT_EQ(f->current_size, 12345u * 512);
    EXPECT_EQ(f->disk_type, 3u);
    b[100] ^= 1;
    auto bad = parse_footer(b);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().msg, "Incorrect header checksum");
    b[0] = 'x';
    EXPECT_EQ(parse_footer(b).error().msg, "invalid VPC image");
}

TEST(VhdFooter, VirtualSizeFollowsCreatorApp) {
    const uint64_t chs = 20ull * 16 * 63 * 512;
    const uint64_t cur = 1 << 20;
    struct Case {
        const char* app;
        uint64_t expect;
    } cases[] = {{"qemu", chs}, {"vpc ", chs}, {"tap ", chs}, {"qem2", cur}, {"win ", cur},
                 {"d2v ", cur}, {"CTXS", cur}, {"tap\0", cur}};
    for (const auto& c : cases) {
        auto f = parse_footer(make_footer(c.app, 20, 16, 63, cur + 100));
        ASSERT_TRUE(f);
        EXPECT_EQ(*virtual_size(*f, SizeCalc::Auto), c.expect) << c.app;
    }
    auto f = *parse_footer(make_footer("qemu", 20, 16, 63, cur));
    EXPECT_EQ(*virtual_size(f, SizeCalc::CurrentSize), cur);
    auto w = *parse_footer(make_footer("win ", 20, 16, 63, cur));
    EXPECT_EQ(*virtual_size(w, SizeCalc::Chs), chs);
}

TEST(VhdFooter, MaximumGeometryMeansCurrentSize) {
    auto f = *parse_footer(make_footer("qemu", 65535, 16, 255, 3ull << 40 >> 1));
    EXPECT_EQ(*virtual_size(f, SizeCalc::Chs), 3ull << 40 >> 1);
}

TEST(VhdFooter, TooLargeIsEfbig) {
    auto ok = *parse_footer(make_footer("qem2", 1, 1, 1, kMaxSectors * 512));
    EXPECT_EQ(*virtual_size(ok, SizeCalc::Auto), kMaxSectors * 512);
    auto big = *parse_footer(make_footer("qem2", 1, 1, 1, (kMaxSectors + 1) * 512));
    auto r = virtual_size(big, SizeCalc::Auto);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EFBIG);
    EXPECT_EQ(r.error().msg, "File too large");
}

TEST(VhdFooter, ParseSizeCalc) {
    EXPECT_EQ(parse_size_calc("chs"), SizeCalc::Chs);
    EXPECT_EQ(parse_size_calc("current_size"), SizeCalc::CurrentSize);
    EXPECT_FALSE(parse_size_calc("auto"));
}

TEST(VhdDynamic, HeaderChecksAndBitmapSize) {
    std::array<uint8_t, kDynamicHeaderSize> h{};
    EXPECT_EQ(parse_dynamic_header(h).error().msg, "Invalid header magic");
    std::memcpy(h.data(), "cxsparse", 8);
    for (uint32_t bad : {0u, 256u, 3000u, kMaxBlockSize * 2}) {
        store_be32(h.data() + dyn_field::kBlockSize, bad);
        auto r = parse_dynamic_header(h);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().msg, fmt::format("Invalid block size {}", bad));
    }
    store_be32(h.data() + dyn_field::kBlockSize, 2u << 20);
    store_be32(h.data() + dyn_field::kMaxTableEntries, 7);
    auto r = parse_dynamic_header(h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->block_size, 2u << 20);
    EXPECT_EQ(r->max_table_entries, 7u);
    EXPECT_EQ(bitmap_size_for(2u << 20), 512u);
    EXPECT_EQ(bitmap_size_for(512), 512u);
    EXPECT_EQ(bitmap_size_for(256u << 20), 65536u);
}

} // namespace
} // namespace nemu::block::vhd
