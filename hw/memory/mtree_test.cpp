#include <gtest/gtest.h>

#include "hw/memory/mtree.h"

namespace nemu::memory {
namespace {

struct NullDevice : MmioHandler {
    uint64_t read(uint64_t, unsigned) override { return 0; }
    void write(uint64_t, uint64_t, unsigned) override {}
};

// The expected text is what `qemu-system-x86_64 -M none -m 64M` prints for `info mtree`.
TEST(Mtree, MatchesQemuMachineNone) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto io = MemoryRegion::container("io", 0x10000);
    auto ram = MemoryRegion::ram("ram", 64 << 20);
    ASSERT_TRUE(ram.has_value());
    sys->add_subregion(0, **ram);
    AddressSpace io_as("I/O", *io);
    AddressSpace mem_as("memory", *sys);
    const AddressSpace* both[] = {&io_as, &mem_as};
    EXPECT_EQ(format_mtree(both),
              "address-space: I/O\n"
              "  0000000000000000-000000000000ffff (prio 0, i/o): io\n"
              "\n"
              "address-space: memory\n"
              "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
              "    0000000000000000-0000000003ffffff (prio 0, ram): ram\n"
              "\n");
}

TEST(Mtree, AliasesSharedRootsAndOrder) {
    auto sys = MemoryRegion::container("system", kWholeSpace);
    auto pci = MemoryRegion::container("pci", kWholeSpace);
    auto bios = MemoryRegion::ram("pc.bios", 0x40000);
    ASSERT_TRUE(bios.has_value());
    NullDevice dev;
    auto ioapic = MemoryRegion::mmio("ioapic", 0x1000, dev);
    auto isa_bios = MemoryRegion::alias("isa-bios", **bios, 0x20000, 0x20000);
    sys->add_subregion(0xfec00000, *ioapic);
    sys->add_subregion(0, *pci, -1);
    pci->add_subregion(0xe0000, *isa_bios, 1);
    pci->add_subregion(0xfffc0000, **bios);
    isa_bios->set_enabled(true);
    AddressSpace a("cpu-memory-0", *sys), b("memory", *sys);
    const AddressSpace* both[] = {&a, &b};
    EXPECT_EQ(format_mtree(both),
              "address-space: cpu-memory-0\n"
              "address-space: memory\n"
              "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
              "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
              "      00000000000e0000-00000000000fffff (prio 1, ram): alias isa-bios @pc.bios "
              "0000000000020000-000000000003ffff\n"
              "      00000000fffc0000-00000000ffffffff (prio 0, ram): pc.bios\n"
              "    00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\n"
              "\n"
              "memory-region: pc.bios\n"
              "  00000000fffc0000-00000000ffffffff (prio 0, ram): pc.bios\n"
              "\n");
    ioapic->set_enabled(false);
    EXPECT_NE(format_mtree(a).find("ioapic [disabled]\n"), std::string::npos);
}

} // namespace
} // namespace nemu::memory
