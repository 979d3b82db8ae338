#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "accel/qtest/qtest_codec.h"
#include "accel/qtest/qtest_session.h"

namespace nemu::qtest {
namespace {

struct Port : memory::MmioHandler {
    std::vector<std::string> log;
    uint64_t read(uint64_t off, unsigned size) override {
        log.push_back(fmt::format("r {:x} {}", off, size));
        return 0x12345678 >> (8 * (4 - std::min(size, 4u)));
    }
    void write(uint64_t off, uint64_t v, unsigned size) override {
        log.push_back(fmt::format("w {:x} {:x} {}", off, v, size));
    }
};

struct FakeTarget : QtestTarget {
    std::unique_ptr<memory::MemoryRegion> sys = memory::MemoryRegion::container("system", memory::kWholeSpace);
    std::unique_ptr<memory::MemoryRegion> io_root = memory::MemoryRegion::container("io", 0x10000);
    std::unique_ptr<memory::MemoryRegion> ram = std::move(memory::MemoryRegion::ram("ram", 0x10000)).value();
    Port port;
    std::unique_ptr<memory::MemoryRegion> port_mr = memory::MemoryRegion::mmio("port", 4, port, {1, 4, false});
    memory::AddressSpace mem{"memory", *sys};
    memory::AddressSpace io_as{"I/O", *io_root};
    hw::VirtualClock vclock;
    hw::GpioList dev, dev2;
    std::vector<std::pair<unsigned, bool>> device_saw;

    FakeTarget() {
        sys->add_subregion(0, *ram);
        io_root->add_subregion(0x3f8, *port_mr);
        dev.add_in("", 4, [this](unsigned n, bool l) { device_saw.push_back({n, l}); });
        dev.add_in("named", 2, {});
        dev.add_out("", 2);
    }
    memory::AddressSpace& memory() override { return mem; }
    memory::AddressSpace& io() override { return io_as; }
    hw::VirtualClock& clock() override { return vclock; }
    Result<hw::GpioList*> find_gpios(std::string_view path) override {
        if (path == "/machine/dev" || path == "dev") return &dev;
        if (path == "/machine/dev2") return &dev2;
        return fail("Device '{}' not found", path);
    }
};

struct QtestTest : ::testing::Test {
    FakeTarget t;
    std::string out;
    QtestSession s{t, [this](std::string_view b) { out += b; }};
    std::string run(std::string_view line) {
        out.clear();
        s.feed(std::string(line) + "\n");
        return out;
    }
};

TEST_F(QtestTest, TypedReadsAndWrites) {
    EXPECT_EQ(run("writel 0x100 0xdeadbeef"), "OK\n");
    EXPECT_EQ(run("readl 0x100"), "OK 0x00000000deadbeef\n");
    EXPECT_EQ(run("readb 0x100"), "OK 0x00000000000000ef\n");
    EXPECT_EQ(run("readw 0x102"), "OK 0x000000000000dead\n");
    EXPECT_EQ(run("writeq 0x200 0x0102030405060708"), "OK\n");
    EXPECT_EQ(run("readq 0x200"), "OK 0x0102030405060708\n");
    EXPECT_EQ(run("writeb 0x300 0x1ff"), "OK\n");   // truncated to the access size
    EXPECT_EQ(run("readw 0x300"), "OK 0x00000000000000ff\n");
    EXPECT_EQ(run("writew 256 010"), "OK\n");       // decimal and octal, as strtoul base 0
    EXPECT_EQ(run("readw 0x100"), "OK 0x0000000000000008\n");
    EXPECT_EQ(run("readq 0x900000"), "OK 0x0000000000000000\n");   // unassigned reads 0
}

TEST_F(QtestTest, BulkReadWriteMemset) {
    EXPECT_EQ(run("write 0x10 4 0xa1b2c3"), "OK\n");   // short data: zero filled
    EXPECT_EQ(run("read 0x10 4"), "OK 0xa1b2c300\n");
    EXPECT_EQ(run("b64read 0x10 3"), "OK obLD\n");
    EXPECT_EQ(run("b64write 0x20 3 AQID"), "OK\n");
    EXPECT_EQ(run("read 0x20 3"), "OK 0x010203\n");
    EXPECT_EQ(run("memset 0x30 5 0xee"), "OK\n");
    EXPECT_EQ(run("read 0x2f 7"), "OK 0x00eeeeeeeeee00\n");
    EXPECT_EQ(run("memset 0x30 0 1"), "OK\n");
    EXPECT_EQ(run("b64read 0x30 0"), "OK \n");
    EXPECT_EQ(run("b64write 0x40 2 AQIDBA=="), "OK\n");   // longer data is truncated
    EXPECT_EQ(run("read 0x40 3"), "OK 0x010200\n");
}

TEST_F(QtestTest, PortIo) {
    EXPECT_EQ(run("outb 0x3f8 0x41"), "OK\n");
    EXPECT_EQ(run("outl 0x3f8 0x11223344"), "OK\n");
    EXPECT_EQ(run("inb 0x3f8"), "OK 0x0012\n");
    EXPECT_EQ(run("inl 0x3f8"), "OK 0x12345678\n");
    EXPECT_EQ(run("inw 0x10"), "OK 0x0000\n");
    EXPECT_EQ(t.port.log, (std::vector<std::string>{"w 0 41 1", "w 0 11223344 4", "r 0 1", "r 0 4"}));
    EXPECT_EQ(run("inb 0x10000"), "FAIL port 0x10000 out of range\n");
}

TEST_F(QtestTest, MiscCommands) {
    EXPECT_EQ(run("endianness"), "OK little\n");
    EXPECT_EQ(run("module_load block foo"), "FAIL\n");
    EXPECT_EQ(run("frobnicate 1 2"), "FAIL Unknown command 'frobnicate'\n");
    EXPECT_EQ(run(""), "FAIL Unknown command ''\n");
}

TEST_F(QtestTest, BadInputsFailAndSessionContinues) {
    EXPECT_EQ(run("readb"), "FAIL 'readb' needs 1 argument\n");
    EXPECT_EQ(run("writel 0x10"), "FAIL 'writel' needs 2 arguments\n");
    EXPECT_EQ(run("readb 0xzz"), "FAIL invalid number '0xzz'\n");
    EXPECT_EQ(run("readb  0x10"), "FAIL invalid number ''\n");   // double space: empty word
    EXPECT_EQ(run("readq 0x1ffffffffffffffff"), "FAIL invalid number '0x1ffffffffffffffff'\n");
    EXPECT_EQ(run("read 0 0"), "FAIL read of zero bytes\n");
    EXPECT_EQ(run("read 0 0xffffffffffff"),
              "FAIL size 281474976710655 exceeds the limit of 4194304 bytes\n");
    EXPECT_EQ(run("memset 0 0x10000000 1"),
              "FAIL size 268435456 exceeds the limit of 4194304 bytes\n");
    EXPECT_EQ(run("write 0 2 0xzz11"), "FAIL invalid hex data\n");
    EXPECT_EQ(run("write 0 2 0x"), "ERR invalid argument size\n");
    EXPECT_EQ(run("write 0 2 0x1"), "FAIL invalid hex data\n");   // odd digit count
    EXPECT_EQ(run("write 0 2 12345"), "FAIL invalid hex data\n");
    EXPECT_EQ(run("b64write 0 2 !!!!"), "FAIL invalid base64 data\n");
    EXPECT_EQ(run("clock_step abc"), "FAIL invalid number 'abc'\n");
    EXPECT_EQ(run("set_irq_in /machine/dev named 9 1"), "FAIL no gpio-in 'named' number 9\n");
    EXPECT_EQ(run("irq_intercept_in /nope"), "FAIL Unknown device\n");
    EXPECT_EQ(run("writeb 0x10 0x5"), "OK\n");
    EXPECT_EQ(run("readb 0x10"), "OK 0x0000000000000005\n");
}

TEST_F(QtestTest, FragmentedInputAndOverlongLine) {
    out.clear();
    for (char c : std::string("writeb 0x10 0x7\nread")) s.feed(std::string(1, c));
    EXPECT_EQ(out, "OK\n");
    s.feed(std::string("b 0x10\nendian"));
    EXPECT_EQ(out, "OK\nOK 0x0000000000000007\n");
    s.feed(std::string("ness\n"));
    EXPECT_EQ(out, "OK\nOK 0x0000000000000007\nOK little\n");
    out.clear();
    std::string big(QtestSession::kMaxLineLength + 10, 'x');
    s.feed(big.substr(0, 1000));
    s.feed(big.substr(1000));
    s.feed(std::string("yyy\nendianness\n"));
    EXPECT_EQ(out, fmt::format("FAIL line longer than {} bytes\nOK little\n",
                               QtestSession::kMaxLineLength));
}

TEST_F(QtestTest, IrqInterceptInReportsAndForwards) {
    EXPECT_EQ(run("irq_intercept_in /machine/dev"), "OK\n");
    EXPECT_EQ(run("irq_intercept_in /machine/dev"), "OK\n");   // same device again
    out.clear();
    t.dev.in("", 2)->raise();
    EXPECT_EQ(out, "IRQ raise 2\n");
    t.dev.in("", 2)->raise();   // no change: no report
    EXPECT_EQ(out, "IRQ raise 2\n");
    EXPECT_EQ(t.device_saw, (std::vector<std::pair<unsigned, bool>>{{2, true}, {2, true}}));
    EXPECT_EQ(run("set_irq_in /machine/dev unnamed-gpio-in 2 0"), "IRQ lower 2\nOK\n");
    EXPECT_EQ(run("set_irq_in dev unnamed-gpio-in 1 5"), "IRQ raise 1\nOK\n");
    EXPECT_EQ(run("set_irq_in dev named 1 1"), "OK\n");   // named arrays are not intercepted
    EXPECT_TRUE(t.dev.in("named", 1)->level());
}

TEST_F(QtestTest, IrqInterceptOutAndSecondDeviceRefused) {
    hw::IrqLine sink("sink");
    ASSERT_TRUE(t.dev.connect_out("", 1, sink));
    EXPECT_EQ(run("irq_intercept_out dev"), "OK\n");
    out.clear();
    t.dev.out("", 1)->raise();
    EXPECT_EQ(out, "IRQ raise 1\n");
    EXPECT_TRUE(sink.level());   // still forwarded to what it was connected to
    t.dev.out("", 1)->lower();
    EXPECT_EQ(out, "IRQ raise 1\nIRQ lower 1\n");
    EXPECT_EQ(run("irq_intercept_in /machine/dev"), "OK\n");   // already this device
    EXPECT_EQ(run("irq_intercept_in /machine/dev2"), "FAIL IRQ intercept already enabled\n");
}

TEST_F(QtestTest, InterceptorsRemovedWithSession) {
    {
        std::string o2;
        QtestSession s2(t, [&](std::string_view b) { o2 += b; });
        s2.feed(std::string("irq_intercept_in dev\n"));
        EXPECT_TRUE(t.dev.in("", 0)->intercepted());
    }
    EXPECT_FALSE(t.dev.in("", 0)->intercepted());
}

TEST_F(QtestTest, ClockStepFiresTimers) {
    std::vector<int64_t> fired;
    hw::Timer a(t.vclock, [&] { fired.push_back(t.vclock.now()); });
    hw::Timer b(t.vclock, [&] { fired.push_back(t.vclock.now()); });
    a.arm(1000);
    b.arm(5000);
    EXPECT_EQ(run("clock_step"), "OK 1000\n");
    EXPECT_EQ(fired, (std::vector<int64_t>{1000}));
    EXPECT_EQ(run("clock_step 100"), "OK 1100\n");
    EXPECT_EQ(run("clock_set 6000"), "OK 6000\n");
    EXPECT_EQ(fired, (std::vector<int64_t>{1000, 5000}));
    EXPECT_EQ(run("clock_set 10"), "OK 6000\n");   // never backwards
    EXPECT_EQ(run("clock_step"), "OK 6000\n");     // nothing armed
    EXPECT_EQ(run("clock_step -5"), "OK 6000\n");
}

TEST_F(QtestTest, LogFormat) {
    std::string log;
    s.set_log([&](std::string_view l) { log += l; });
    s.opened();
    run("readb 0x10");
    // "[I 0.000000] OPENED", "[R +t] readb 0x10", "[S +t] OK 0x..."
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < log.size()) {
        size_t nl = log.find('\n', pos);
        lines.push_back(log.substr(pos, nl - pos));
        pos = nl + 1;
    }
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].substr(0, 3), "[I ");
    EXPECT_EQ(lines[0].substr(lines[0].size() - 7), " OPENED");
    EXPECT_EQ(lines[1].substr(0, 4), "[R +");
    EXPECT_EQ(lines[1].substr(lines[1].find(']')), "] readb 0x10");
    EXPECT_EQ(lines[2].substr(0, 4), "[S +");
    EXPECT_EQ(lines[2].substr(lines[2].find(']')), "] OK 0x0000000000000000");
}

TEST(QtestCodec, Numbers) {
    EXPECT_EQ(parse_u64("0x10"), 16u);
    EXPECT_EQ(parse_u64("010"), 8u);
    EXPECT_EQ(parse_u64("0"), 0u);
    EXPECT_EQ(parse_u64("18446744073709551615"), UINT64_MAX);
    EXPECT_EQ(parse_u64("18446744073709551616"), std::nullopt);
    EXPECT_EQ(parse_u64("-1"), UINT64_MAX);
    EXPECT_EQ(parse_u64("0x"), std::nullopt);
    EXPECT_EQ(parse_u64("08"), std::nullopt);
    EXPECT_EQ(parse_i64("-9223372036854775808"), INT64_MIN);
    EXPECT_EQ(parse_i64("9223372036854775808"), std::nullopt);
}

TEST(QtestCodec, Base64RoundTrip) {
    for (size_t n = 0; n < 20; n++) {
        std::vector<uint8_t> v(n);
        for (size_t i = 0; i < n; i++) v[i] = uint8_t(i * 37 + 1);
        auto enc = base64_encode(v.data(), v.size());
        auto dec = base64_decode(enc);
        ASSERT_TRUE(dec.has_value());
        EXPECT_EQ(*dec, v);
    }
    EXPECT_EQ(base64_encode(reinterpret_cast<const uint8_t*>("hello"), 5), "aGVsbG8=");
    EXPECT_FALSE(base64_decode("a").has_value());
}

} // namespace
} // namespace nemu::qtest
