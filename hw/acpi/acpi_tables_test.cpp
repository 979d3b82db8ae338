// Fixed-layout tables: field offsets from ACPI 6.5 chapter 5, checksums.
#include "hw/acpi/acpi_tables.h"

#include <gtest/gtest.h>

namespace nemu::acpi {
namespace {

uint64_t le(const std::vector<uint8_t>& b, size_t off, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{b.at(off + i)} << (8 * i);
    return v;
}
std::string str(const std::vector<uint8_t>& b, size_t off, size_t n) {
    return std::string(b.begin() + static_cast<ptrdiff_t>(off), b.begin() + static_cast<ptrdiff_t>(off + n));
}

TEST(AcpiTables, HeaderFieldsAndChecksum) {
    const uint8_t body[] = {1, 2, 3, 4, 5};
    auto t = make_table("TEST", 3, body);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->size(), 41u);
    EXPECT_EQ(str(*t, 0, 4), "TEST");
    EXPECT_EQ(le(*t, 4, 4), 41u);
    EXPECT_EQ((*t)[8], 3);
    EXPECT_EQ(str(*t, 10, 6), "NEMU  ");
    EXPECT_EQ(str(*t, 16, 8), "NEMUVIRT");
    EXPECT_EQ(str(*t, 28, 4), "NEMU");
    EXPECT_EQ(byte_sum(*t), 0);
    EXPECT_EQ((*t)[40], 5);
    (*t)[40] = 9;
    EXPECT_NE(byte_sum(*t), 0);
    fix_table_checksum(*t);
    EXPECT_EQ(byte_sum(*t), 0);
    EXPECT_FALSE(make_table("TOOLONG", 1, body).has_value());
}

TEST(AcpiTables, Rsdp) {
    auto r = build_rsdp(0x000E1234);
    ASSERT_EQ(r.size(), 36u);
    EXPECT_EQ(str(r, 0, 8), "RSD PTR ");
    EXPECT_EQ(byte_sum(std::span(r).first(20)), 0);
    EXPECT_EQ(byte_sum(r), 0);
    EXPECT_EQ(str(r, 9, 6), "NEMU  ");
    EXPECT_EQ(r[15], 2);
    EXPECT_EQ(le(r, 16, 4), 0u);
    EXPECT_EQ(le(r, 20, 4), 36u);
    EXPECT_EQ(le(r, 24, 8), 0xE1234u);
}

TEST(AcpiTables, Xsdt) {
    const uint64_t gpas[] = {0xE0100, 0x1'0000'0000};
    auto x = build_xsdt(gpas);
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(x->size(), 36u + 16u);
    EXPECT_EQ(str(*x, 0, 4), "XSDT");
    EXPECT_EQ(le(*x, 36, 8), 0xE0100u);
    EXPECT_EQ(le(*x, 44, 8), 0x100000000u);
    EXPECT_EQ(byte_sum(*x), 0);
}

TEST(AcpiTables, FadtHardwareReduced) {
    FadtConfig c;
    c.dsdt_gpa = 0xE0040;
    c.sleep_control = mmio_byte_register(0xFEA01000);
    c.sleep_status = mmio_byte_register(0xFEA01001);
    c.reset_reg = mmio_byte_register(0xFEA01002);
    c.reset_value = 0x42;
    auto f = build_fadt(c);
    ASSERT_TRUE(f.has_value());
    const auto& b = *f;
    ASSERT_EQ(b.size(), 276u);
    EXPECT_EQ(str(b, 0, 4), "FACP");
    EXPECT_EQ(b[8], 6);                 // major version
    EXPECT_EQ(b[131], 5);               // minor version: ACPI 6.5
    EXPECT_EQ(byte_sum(b), 0);
    EXPECT_EQ(le(b, 36, 4), 0u);        // FIRMWARE_CTRL: no FACS
    EXPECT_EQ(le(b, 40, 4), 0u);        // DSDT: X_DSDT is used
    EXPECT_EQ(le(b, 140, 8), 0xE0040u); // X_DSDT
    EXPECT_EQ(le(b, 109, 2), 0x24u);    // VGA Not Present | CMOS RTC Not Present
    uint32_t flags = static_cast<uint32_t>(le(b, 112, 4));
    EXPECT_TRUE(flags & (1u << 20));    // HW_REDUCED_ACPI
    EXPECT_TRUE(flags & (1u << 10));    // RESET_REG_SUP
    EXPECT_FALSE(flags & (1u << 4));    // PWR_BUTTON
    // RESET_REG GAS: SystemMemory, 8 bits, offset 0, byte access.
    EXPECT_EQ(b[116], 0);
    EXPECT_EQ(b[117], 8);
    EXPECT_EQ(b[118], 0);
    EXPECT_EQ(b[119], 1);
    EXPECT_EQ(le(b, 120, 8), 0xFEA01002u);
    EXPECT_EQ(b[128], 0x42);
    EXPECT_EQ(le(b, 244 + 4, 8), 0xFEA01000u);  // SLEEP_CONTROL_REG
    EXPECT_EQ(b[244 + 1], 8);
    EXPECT_EQ(le(b, 256 + 4, 8), 0xFEA01001u);  // SLEEP_STATUS_REG
    EXPECT_EQ(str(b, 268, 8), std::string("NEMU\0\0\0\0", 8));
    // No legacy PM blocks.
    for (size_t off = 56; off < 88; ++off) EXPECT_EQ(b[off], 0) << off;
    c.hypervisor_vendor = "TOOLONGVENDOR";
    EXPECT_FALSE(build_fadt(c).has_value());
}

TEST(AcpiTables, MadtXapicX2apicAndOnlineCapable) {
    MadtConfig c;
    c.cpus = {{0, 0, true}, {1, 254, false}, {2, 255, true}, {3, 300, false}};
    auto m = build_madt(c);
    ASSERT_TRUE(m.has_value());
    const auto& b = *m;
    EXPECT_EQ(str(b, 0, 4), "APIC");
    EXPECT_GE(b[8], 5);  // Online Capable needs MADT revision >= 5
    EXPECT_EQ(byte_sum(b), 0);
    EXPECT_EQ(le(b, 36, 4), 0xFEE00000u);
    EXPECT_EQ(le(b, 40, 4), 0u);  // no PCAT_COMPAT
    size_t off = 44;
    // cpu 0: Local APIC, enabled.
    EXPECT_EQ(b[off], 0);
    EXPECT_EQ(b[off + 1], 8);
    EXPECT_EQ(b[off + 2], 0);
    EXPECT_EQ(b[off + 3], 0);
    EXPECT_EQ(le(b, off + 4, 4), 1u);
    off += 8;
    // cpu 1: Local APIC id 254, online capable only.
    EXPECT_EQ(b[off], 0);
    EXPECT_EQ(b[off + 2], 1);
    EXPECT_EQ(b[off + 3], 254);
    EXPECT_EQ(le(b, off + 4, 4), 2u);
    off += 8;
    // cpu 2: x2APIC id 255, enabled, uid 2.
    EXPECT_EQ(b[off], 9);
    EXPECT_EQ(b[off + 1], 16);
    EXPECT_EQ(le(b, off + 4, 4), 255u);
    EXPECT_EQ(le(b, off + 8, 4), 1u);
    EXPECT_EQ(le(b, off + 12, 4), 2u);
    off += 16;
    // cpu 3: x2APIC id 300, online capable.
    EXPECT_EQ(b[off], 9);
    EXPECT_EQ(le(b, off + 4, 4), 300u);
    EXPECT_EQ(le(b, off + 8, 4), 2u);
    EXPECT_EQ(le(b, off + 12, 4), 3u);
    off += 16;
    // IOAPIC id 0 at 0xFEC00000, GSI base 0.
    EXPECT_EQ(b[off], 1);
    EXPECT_EQ(b[off + 1], 12);
    EXPECT_EQ(b[off + 2], 0);
    EXPECT_EQ(le(b, off + 4, 4), 0xFEC00000u);
    EXPECT_EQ(le(b, off + 8, 4), 0u);
    EXPECT_EQ(off + 12, b.size());

    c.cpus = {{0, 0xFFFFFFFF, true}};
    EXPECT_FALSE(build_madt(c).has_value());
}

} // namespace
} // namespace nemu::acpi
