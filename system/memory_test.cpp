// -m; expectations from "qemu-system-x86_64 -M none -accel tcg -display none -S -m <x>".
#include "system/cmdline_memory.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

Result<MemoryOptions> mem(std::vector<std::string> args) { return parse_memory_options(args); }

const std::string kHint = "\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                          "tera-, peta-\nand exabytes, respectively.";

TEST(Memory, Values) {
    EXPECT_EQ(mem({"1G"})->size, 1ULL << 30);
    EXPECT_EQ(mem({"512"})->size, 512ULL << 20); // suffix-less is MiB
    EXPECT_EQ(mem({"1.5G"})->size, 3ULL << 29);
    EXPECT_EQ(mem({"1k"})->size, 8192u);         // aligned up to 8 KiB
    EXPECT_EQ(mem({"0"})->size, 128ULL << 20);   // 0 and "" keep the default
    EXPECT_EQ(mem({""})->size, 128ULL << 20);
    auto r = mem({"size=1G,slots=4,maxmem=8G"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->slots, 4u);
    EXPECT_EQ(r->maxmem, 8ULL << 30);
    EXPECT_EQ(mem({"1G,size=2G"})->size, 2ULL << 30);
    EXPECT_EQ(mem({"maxmem=2G"})->maxmem, 2ULL << 30);
}

TEST(Memory, Errors) {
    // -m 5X ; -m -1 ; -m size=
    EXPECT_EQ(mem({"5X"}).error().msg,
              "-m 5X: Parameter 'size' expects a non-negative number below 2^64" + kHint);
    EXPECT_EQ(mem({"-1"}).error().msg,
              "-m -1: Parameter 'size' expects a non-negative number below 2^64" + kHint);
    // -m 16E
    EXPECT_EQ(mem({"16E"}).error().msg, "-m 16E: Value '16E' is out of range for parameter 'size'");
    // -m 99999999999999
    EXPECT_EQ(mem({"99999999999999"}).error().msg, "Parameter 'memory.size' expects size");
    // -m 1G,foo=1 ; -m 1G,1G
    EXPECT_EQ(mem({"1G,foo=1"}).error().msg, "-m 1G,foo=1: Invalid parameter 'foo'");
    EXPECT_EQ(mem({"1G,1G"}).error().msg, "-m 1G,1G: Invalid parameter '1G'");
    // -m 1G,maxmem=2G,slots=x
    EXPECT_EQ(mem({"1G,maxmem=2G,slots=x"}).error().msg,
              "-m 1G,maxmem=2G,slots=x: Parameter 'slots' expects a number");
    // -m size=1G,slots=4 ; -m 1G -m 2G,slots=1
    EXPECT_EQ(mem({"size=1G,slots=4"}).error().msg, "slots specified but no max-size");
    EXPECT_EQ(mem({"1G", "2G,slots=1"}).error().msg, "slots specified but no max-size");
    // -m size=1G,maxmem=512M
    EXPECT_EQ(mem({"size=1G,maxmem=512M"}).error().msg,
              "invalid value of maxmem: maximum memory size (0x20000000) must be at least the "
              "initial memory size (0x40000000)");
    // -m 1G,slots=4,maxmem=1G
    EXPECT_EQ(mem({"1G,slots=4,maxmem=1G"}).error().msg,
              "invalid value of maxmem: memory slots were specified but maximum memory size "
              "(0x40000000) is equal to the initial memory size (0x40000000)");
}

} // namespace
} // namespace nemu::cmdline
