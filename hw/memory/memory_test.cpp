#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "hw/memory/address_space.h"

namespace nemu::memory {
namespace {

struct Access {
    bool write;
    uint64_t offset;
    uint64_t value;
    unsigned size;
    bool operator==(const Access&) const = default;
};

// Records accesses; reads return a pattern derived from the offset.
struct RecordingDevice : MmioHandler {
    std::vector<Access> log;
    uint64_t read(uint64_t offset, unsigned size) override {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++) v |= uint64_t(0x10 + offset + i) << (8 * i);
        log.push_back({false, offset, v, size});
        return v;
    }
    void write(uint64_t offset, uint64_t value, unsigned size) override {
        log.push_back({true, offset, value, size});
    }
};

std::unique_ptr<MemoryRegion> make_ram(const char* name, uint64_t size) {
    auto r = MemoryRegion::ram(name, size);
    EXPECT_TRUE(r.has_value());
    return std::move(r).value();
}

TEST(Memory, RamReadWrite) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("ram", 0x10000);
    sys->add_subregion(0x1000, *ram);
    AddressSpace as("memory", *sys);
    EXPECT_EQ(as.write_u32(0x1010, 0xdeadbeef), MemTxResult::Ok);
    EXPECT_EQ(as.read_u32(0x1010), 0xdeadbeefu);
    EXPECT_EQ(as.read_u8(0x1010), 0xefu);
    EXPECT_EQ(ram->host_ptr()[0x10], 0xef);
    EXPECT_EQ(as.ram_ptr(0x1000, 0x10000), ram->host_ptr());
    EXPECT_EQ(as.ram_ptr(0x1000, 0x10001), nullptr);
    EXPECT_EQ(as.ram_ptr(0x500, 1), nullptr);
}

TEST(Memory, UnassignedReadsZeroAndReportsError) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("ram", 0x1000);
    sys->add_subregion(0x1000, *ram);
    AddressSpace as("memory", *sys);
    std::memset(ram->host_ptr(), 0xab, 0x1000);
    uint8_t buf[8];
    std::memset(buf, 0xff, sizeof buf);
    // Straddles the start of RAM: 4 unassigned bytes then 4 RAM bytes.
    EXPECT_EQ(as.read(0xffc, buf), MemTxResult::Error);
    const uint8_t expect[8] = {0, 0, 0, 0, 0xab, 0xab, 0xab, 0xab};
    EXPECT_EQ(std::memcmp(buf, expect, 8), 0);
    EXPECT_EQ(as.write_u64(0x5000, 1), MemTxResult::Error);
    EXPECT_EQ(as.read_u64(0x5000), 0u);
}

TEST(Memory, PriorityAndOverlap) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    RecordingDevice low_dev, high_dev;
    auto low = MemoryRegion::mmio("low", 0x1000, low_dev);
    auto high = MemoryRegion::mmio("high", 0x100, high_dev);
    sys->add_subregion(0x0, *low, 0);
    sys->add_subregion(0x800, *high, 1);
    AddressSpace as("memory", *sys);
    auto fv = as.flat_view();
    ASSERT_EQ(fv->ranges.size(), 3u);
    EXPECT_EQ(fv->ranges[0], (FlatRange{0x0, 0x7ff, low.get(), 0}));
    EXPECT_EQ(fv->ranges[1], (FlatRange{0x800, 0x8ff, high.get(), 0}));
    EXPECT_EQ(fv->ranges[2], (FlatRange{0x900, 0xfff, low.get(), 0x900}));
    (void)as.read_u8(0x810);
    (void)as.read_u8(0x910);
    ASSERT_EQ(high_dev.log.size(), 1u);
    EXPECT_EQ(high_dev.log[0].offset, 0x10u);
    ASSERT_EQ(low_dev.log.size(), 1u);
    EXPECT_EQ(low_dev.log[0].offset, 0x910u);
}

TEST(Memory, EqualPriorityLaterAddedWins) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    RecordingDevice a_dev, b_dev;
    auto a = MemoryRegion::mmio("a", 0x100, a_dev);
    auto b = MemoryRegion::mmio("b", 0x100, b_dev);
    sys->add_subregion(0x0, *a);
    sys->add_subregion(0x80, *b);
    AddressSpace as("memory", *sys);
    EXPECT_EQ(as.flat_view()->lookup(0x90)->region, b.get());
    EXPECT_EQ(as.flat_view()->lookup(0x70)->region, a.get());
    // Re-adding a makes it the newest.
    sys->add_subregion(0x0, *a);
    EXPECT_EQ(as.flat_view()->lookup(0x90)->region, a.get());
    EXPECT_EQ(as.flat_view()->lookup(0x110)->region, b.get());
}

TEST(Memory, AliasAndNesting) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("pc.ram", 0x10000);
    auto low = MemoryRegion::alias("ram-below-4g", *ram, 0x0, 0x8000);
    auto high = MemoryRegion::alias("ram-above", *ram, 0x8000, 0x8000);
    sys->add_subregion(0x0, *low);
    sys->add_subregion(0x100000, *high);
    AddressSpace as("memory", *sys);
    EXPECT_EQ(as.write_u8(0x100004, 0x5a), MemTxResult::Ok);
    EXPECT_EQ(ram->host_ptr()[0x8004], 0x5a);
    EXPECT_EQ(as.ram_ptr(0x7fff, 1), ram->host_ptr() + 0x7fff);
    EXPECT_EQ(as.ram_ptr(0x8000, 1), nullptr);
    // A nested container: child offsets add up.
    auto sub = MemoryRegion::container("sub", 0x1000);
    RecordingDevice dev;
    auto m = MemoryRegion::mmio("m", 0x10, dev);
    sub->add_subregion(0x20, *m);
    sys->add_subregion(0x200000, *sub);
    (void)as.write_u8(0x200024, 7);
    ASSERT_EQ(dev.log.size(), 1u);
    EXPECT_EQ(dev.log[0], (Access{true, 4, 7, 1}));
}

TEST(Memory, RemovalAndDisable) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("ram", 0x1000);
    sys->add_subregion(0x0, *ram);
    AddressSpace as("memory", *sys);
    EXPECT_NE(as.ram_ptr(0, 1), nullptr);
    sys->remove_subregion(*ram);
    EXPECT_EQ(as.ram_ptr(0, 1), nullptr);
    EXPECT_TRUE(as.flat_view()->ranges.empty());
    sys->add_subregion(0x0, *ram);
    ram->set_enabled(false);
    EXPECT_TRUE(as.flat_view()->ranges.empty());
    ram->set_enabled(true);
    ram->set_offset(0x3000);
    EXPECT_EQ(as.ram_ptr(0x3000, 1), ram->host_ptr());
    {
        auto tmp = make_ram("tmp", 0x1000);
        sys->add_subregion(0x8000, *tmp);
        EXPECT_NE(as.ram_ptr(0x8000, 1), nullptr);
    }   // destroyed: detaches itself
    EXPECT_EQ(as.ram_ptr(0x8000, 1), nullptr);
}

TEST(Memory, AccessSplittingLittleEndian) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    RecordingDevice dev;
    auto m = MemoryRegion::mmio("bytes", 0x100, dev, AccessRules{1, 1, false});
    sys->add_subregion(0x1000, *m);
    AddressSpace as("memory", *sys);
    EXPECT_EQ(as.write_u32(0x1010, 0x44332211), MemTxResult::Ok);
    std::vector<Access> want = {{true, 0x10, 0x11, 1}, {true, 0x11, 0x22, 1},
                                {true, 0x12, 0x33, 1}, {true, 0x13, 0x44, 1}};
    EXPECT_EQ(dev.log, want);
    dev.log.clear();
    EXPECT_EQ(as.read_u16(0x1020), 0x3130u);   // bytes 0x30, 0x31 from the pattern
    EXPECT_EQ(dev.log.size(), 2u);
}

TEST(Memory, AccessWideningAndAlignment) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    RecordingDevice dev;
    auto m = MemoryRegion::mmio("regs", 0x100, dev, AccessRules{4, 4, false});
    sys->add_subregion(0x0, *m);
    AddressSpace as("memory", *sys);
    // A byte access to a 4-byte-only device becomes one 4-byte access, masked.
    EXPECT_EQ(as.read_u8(0x8), 0x18u);
    ASSERT_EQ(dev.log.size(), 1u);
    EXPECT_EQ(dev.log[0].size, 4u);
    dev.log.clear();
    // An 8-byte access at 0x10 splits into two 4-byte ones.
    (void)as.write_u64(0x10, 0x1122334455667788ull);
    std::vector<Access> want = {{true, 0x10, 0x55667788, 4}, {true, 0x14, 0x11223344, 4}};
    EXPECT_EQ(dev.log, want);
    dev.log.clear();
    // A misaligned 4-byte access at 0x22 is split by alignment: 2 + 2, each widened to 4.
    (void)as.read_u32(0x22);
    ASSERT_EQ(dev.log.size(), 2u);
    EXPECT_EQ(dev.log[0].offset, 0x22u);
    EXPECT_EQ(dev.log[1].offset, 0x24u);
}

struct RecordingListener : MemoryListener {
    std::vector<std::pair<char, RamSection>> events;
    void region_add(const RamSection& s) override { events.push_back({'+', s}); }
    void region_del(const RamSection& s) override { events.push_back({'-', s}); }
};

TEST(Memory, ListenerDiffs) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("ram", 0x4000);
    sys->add_subregion(0x0, *ram);
    AddressSpace as("memory", *sys);
    RecordingListener l;
    as.add_listener(l);
    ASSERT_EQ(l.events.size(), 1u);
    EXPECT_EQ(l.events[0].first, '+');
    EXPECT_EQ(l.events[0].second, (RamSection{0, 0x4000, ram->host_ptr(), ram.get()}));
    l.events.clear();
    // An MMIO hole splits the RAM section in two.
    RecordingDevice dev;
    auto hole = MemoryRegion::mmio("hole", 0x1000, dev);
    sys->add_subregion(0x1000, *hole, 1);
    ASSERT_EQ(l.events.size(), 3u);
    EXPECT_EQ(l.events[0].first, '-');
    EXPECT_EQ(l.events[1], (std::pair<char, RamSection>{'+', {0, 0x1000, ram->host_ptr(), ram.get()}}));
    EXPECT_EQ(l.events[2], (std::pair<char, RamSection>{
                               '+', {0x2000, 0x2000, ram->host_ptr() + 0x2000, ram.get()}}));
    l.events.clear();
    // Adding MMIO elsewhere changes no RAM section: no events.
    auto other = MemoryRegion::mmio("other", 0x1000, dev);
    sys->add_subregion(0x100000, *other);
    EXPECT_TRUE(l.events.empty());
    sys->remove_subregion(*hole);
    ASSERT_EQ(l.events.size(), 3u);
    EXPECT_EQ(l.events[2].second.size, 0x4000u);
    as.remove_listener(l);
}

TEST(Memory, ConcurrentReaderWhileRebuilding) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto ram = make_ram("ram", 0x1000);
    std::memset(ram->host_ptr(), 0x77, 0x1000);
    sys->add_subregion(0x0, *ram);
    AddressSpace as("memory", *sys);
    auto extra = make_ram("extra", 0x1000);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bad{0}, reads{0};
    std::thread reader([&] {
        while (!stop.load()) {
            // The base RAM never moves: its content must always be visible.
            if (as.read_u32(0x10) != 0x77777777u) bad++;
            (void)as.read_u32(0x10010);   // toggles between mapped and unassigned
            reads++;
        }
    });
    for (int i = 0; i < 2000; i++) {
        sys->add_subregion(0x10000, *extra);
        sys->remove_subregion(*extra);
    }
    while (reads.load() == 0) std::this_thread::yield();
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
}

TEST(Memory, WholeSpaceRam) {
    auto ram = make_ram("ram", 0x2000);
    auto sys = MemoryRegion::container("system", kWholeSpace);
    EXPECT_EQ(sys->size(), Size128(1) << 64);
    sys->add_subregion(0xffffffffffffe000ull, *ram);
    AddressSpace as("memory", *sys);
    EXPECT_EQ(as.write_u64(0xfffffffffffffff8ull, 42), MemTxResult::Ok);
    EXPECT_EQ(as.read_u64(0xfffffffffffffff8ull), 42u);
    EXPECT_NE(as.ram_ptr(0xffffffffffffe000ull, 0x2000), nullptr);
}

} // namespace
} // namespace nemu::memory
