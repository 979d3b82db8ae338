#include <gtest/gtest.h>

#include "hw/core/loader/e820.h"

namespace nemu::hw::loader {
namespace {

TEST(E820, LowRamOnly) {
    auto m = x86_virt_e820(256 << 20, 0);
    std::vector<E820Entry> want = {
        {0, 0x9fc00, kE820Ram},
        {0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
        {0x100000, (256 << 20) - 0x100000, kE820Ram},
    };
    EXPECT_EQ(m, want);
}

TEST(E820, HighRamAbove4G) {
    auto m = x86_virt_e820(3ULL << 30, 5ULL << 30);
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[2], (E820Entry{0x100000, (3ULL << 30) - 0x100000, kE820Ram}));
    EXPECT_EQ(m[3], (E820Entry{0x100000000ULL, 5ULL << 30, kE820Ram}));
}

TEST(E820, TinyRamKeepsTheReservedHole) {
    auto m = x86_virt_e820(0x80000, 0);
    std::vector<E820Entry> want = {
        {0, 0x80000, kE820Ram},
        {0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
    };
    EXPECT_EQ(m, want);
    EXPECT_EQ(x86_virt_e820(0x100000, 0).size(), 2u);
}

} // namespace
} // namespace nemu::hw::loader
