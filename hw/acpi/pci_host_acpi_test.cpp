// MCFG and \_SB.PCI0 for pci-lite, disassembled by iasl, placed through the x86 virt table set.
#include "hw/acpi/pci_host_acpi.h"

#include <gtest/gtest.h>

#include "hw/acpi/acpi_tables.h"
#include "hw/acpi/iasl_test_support.h"
#include "hw/acpi/x86_virt_acpi.h"

namespace nemu::acpi {
namespace {

using namespace test;   // the iasl fixture

PciHostAcpiConfig virt_config() {
    // The x86 virt map (docs/x86-virt-machine.md), the same windows as QEMU microvm,pcie=on.
    return {.ecam_base = 0xE000'0000, .bus_start = 0, .bus_end = 255,
            .mmio32_base = 0xC000'0000, .mmio32_size = 0x2000'0000,
            .mmio64_base = 0xC0'0000'0000, .mmio64_size = 0x40'0000'0000};
}

TEST(PciHostAcpi, McfgBytes) {
    auto mcfg = build_mcfg(virt_config());
    ASSERT_TRUE(mcfg) << mcfg.error().msg;
    ASSERT_EQ(mcfg->size(), kHeaderSize + 8 + 16);
    EXPECT_EQ(std::string(mcfg->begin(), mcfg->begin() + 4), "MCFG");
    EXPECT_EQ(byte_sum(*mcfg), 0);
    const uint8_t* a = mcfg->data() + kHeaderSize + 8;
    EXPECT_EQ(a[3], 0xE0);   // base 0xE0000000, little-endian
    EXPECT_EQ(a[8] | a[9] << 8, 0);   // segment
    EXPECT_EQ(a[10], 0);
    EXPECT_EQ(a[11], 255);
    auto bad = virt_config();
    bad.bus_start = 3;
    bad.bus_end = 2;
    EXPECT_FALSE(build_mcfg(bad));
}

TEST_F(IaslTest, McfgAndPci0DisassembleCleanly) {
    X86VirtAcpiConfig c;
    c.apic_ids = {0};
    c.present_cpus = 1;
    auto pci0 = build_pci0_device(virt_config());
    ASSERT_TRUE(pci0) << pci0.error().msg;
    c.extra_sb_devices.push_back(*pci0);
    c.extra_tables.push_back(*build_mcfg(virt_config()));
    auto dsdt = build_x86_virt_dsdt(c);
    ASSERT_TRUE(dsdt) << dsdt.error().msg;
    std::string dsl = disassemble("dsdt", *dsdt);
    for (const char* want :
         {"Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")", "Name (_SEG, Zero)", "Name (_BBN, Zero)",
          "Name (_CCA, One)", "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
          "0x00FF,", "0x0100,",
          "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
          "0xC0000000,", "0xDFFFFFFF,", "0x20000000,",
          "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
          "0x000000C000000000,", "0x000000FFFFFFFFFF,", "0x0000004000000000,",
          "Method (_OSC, 4, NotSerialized)", "CreateDWordField (Arg3, Zero, CDW1)",
          "ToUUID (\"33db4d5b-1ff7-401c-9657-7441c03dd766\")", "CreateDWordField (Arg3, 0x08, CDW3)",
          "CTRL &= 0x1F", "Device (RES0)", "EisaId (\"PNP0C02\")",
          "Memory32Fixed (ReadWrite,", "0xE0000000,", "0x10000000,"})
        EXPECT_NE(dsl.find(want), std::string::npos) << want << "\n" << dsl;
    // iasl's reading compiles back to the same AML.
    Bytes re = compile("dsdt");
    ASSERT_EQ(re.size(), dsdt->size());
    EXPECT_TRUE(std::equal(dsdt->begin() + kHeaderSize, dsdt->end(), re.begin() + kHeaderSize));

    std::string mcfg = disassemble("mcfg", *build_mcfg(virt_config()));
    for (const char* want : {"Base Address : 00000000E0000000", "Segment Group Number : 0000",
                             "Start Bus Number : 00", "End Bus Number : FF"})
        EXPECT_NE(mcfg.find(want), std::string::npos) << want << "\n" << mcfg;
}

} // namespace
} // namespace nemu::acpi
