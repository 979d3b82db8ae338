#include "util/strconv.h"

#include <gtest/gtest.h>

namespace nemu {
namespace {

TEST(Strconv, Integers) {
    EXPECT_EQ(parse_uint64("42"), 42u);
    EXPECT_EQ(parse_uint64("0x10"), 16u);
    EXPECT_EQ(parse_uint64("-1"), std::nullopt);
    EXPECT_EQ(parse_uint64("12a"), std::nullopt);
    EXPECT_EQ(parse_uint64(""), std::nullopt);
    EXPECT_EQ(parse_uint64("18446744073709551616"), std::nullopt);
    EXPECT_EQ(parse_int64("-7"), -7);
    EXPECT_EQ(parse_int64("9223372036854775808"), std::nullopt);
}

TEST(Strconv, Sizes) {
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("1G"), 1ull << 30);
    EXPECT_EQ(parse_size("1.5k"), 1536u);
    EXPECT_EQ(parse_size("512", 'M'), 512ull << 20);
    EXPECT_EQ(parse_size("2E"), 2ull << 60);
    EXPECT_EQ(parse_size("16E"), std::nullopt);
    EXPECT_EQ(parse_size("5X"), std::nullopt);
    EXPECT_EQ(parse_size("-1"), std::nullopt);
    EXPECT_EQ(parse_size("1GB"), std::nullopt);
    EXPECT_EQ(parse_size("G"), std::nullopt);
}

} // namespace
} // namespace nemu
