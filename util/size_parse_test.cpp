// Sizes and scalars; expectations from QEMU 7.2 "-m <x>" runs (qemu_strtosz).
#include "util/size_parse.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

uint64_t sz(const char* s, char d = 'B') {
    uint64_t v = 0;
    EXPECT_EQ(strtosz(s, d, v), SizeError::None) << s;
    return v;
}
SizeError sze(const char* s) {
    uint64_t v = 0;
    return strtosz(s, 'B', v);
}

TEST(Size, Accepted) {
    EXPECT_EQ(sz("1G"), 1ULL << 30);
    EXPECT_EQ(sz("1g"), 1ULL << 30);       // qemu -m 1g runs
    EXPECT_EQ(sz("1.5G"), 3ULL << 29);     // qemu -m 1.5G runs
    EXPECT_EQ(sz("1.5k"), 1536u);
    EXPECT_EQ(sz("1.0001k"), 1024u);       // rounds, qemu -m 1.0001k runs
    EXPECT_EQ(sz("1."), 1u);
    EXPECT_EQ(sz("1.G"), 1ULL << 30);
    EXPECT_EQ(sz(" 1G"), 1ULL << 30);      // leading space, as strtoull
    EXPECT_EQ(sz("+1G"), 1ULL << 30);
    EXPECT_EQ(sz("1b"), 1u);
    EXPECT_EQ(sz("0x10"), 16u);
    EXPECT_EQ(sz("4", 'M'), 4ULL << 20);
    EXPECT_EQ(sz("15E"), 15ULL << 60);
}

TEST(Size, Rejected) {
    // qemu -m 5X / -1 / 1.5 / "1 G" / 1KiB / 0x1.8G / 1e3 / 0.5 is fine? no: fraction w/o suffix
    for (const char* s : {"5X", "-1", "1.5", "1 G", "1KiB", "0x1.8G", "1e3", ".5G", "1G ", "0x", "", "0.5"}) {
        EXPECT_EQ(sze(s), SizeError::Invalid) << s;
    }
    // qemu -m 16E ; qemu -m 99999999999999999999
    EXPECT_EQ(sze("16E"), SizeError::Range);
    EXPECT_EQ(sze("99999999999999999999"), SizeError::Range);
}

TEST(Size, Messages) {
    // qemu -m 5X
    EXPECT_EQ(parse_size("5X").error().msg, "Parameter 'size' expects a non-negative number below 2^64");
    // qemu -m 16E
    EXPECT_EQ(parse_size("16E").error().msg, "Value '16E' is out of range for parameter 'size'");
}

TEST(Bool, Values) {
    // qemu -msg timestamp=y|yes|true|n run; timestamp=On fails
    for (const char* s : {"on", "yes", "true", "y"}) EXPECT_TRUE(*parse_bool(s, "x")) << s;
    for (const char* s : {"off", "no", "false", "n"}) EXPECT_FALSE(*parse_bool(s, "x")) << s;
    EXPECT_EQ(parse_bool("On", "timestamp").error().msg, "Parameter 'timestamp' expects 'on' or 'off'");
}

TEST(Numbers, UintAndInt) {
    EXPECT_EQ(*parse_uint("0x10", "n"), 16u);
    EXPECT_EQ(*parse_uint("010", "n"), 8u);
    // qemu -m 1G,maxmem=2G,slots=x
    EXPECT_EQ(parse_uint("x", "slots").error().msg, "Parameter 'slots' expects a number");
    // qemu -m 1G,maxmem=2G,slots=99999999999999999999999
    EXPECT_EQ(parse_uint("99999999999999999999999", "slots").error().msg,
              "Value '99999999999999999999999' is too large for parameter 'slots'");
    EXPECT_EQ(*parse_int("-1", "n"), -1);
    // qemu -M pc -smp x
    EXPECT_EQ(parse_int("x", "smp.cpus").error().msg, "Parameter 'smp.cpus' expects integer");
}

} // namespace
} // namespace nemu::cmdline
