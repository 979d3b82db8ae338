// Byte-exact AML encodings, hand-computed from ACPI 6.5 chapter 20 and §6.4.
#include "hw/acpi/aml_builder.h"

#include <gtest/gtest.h>

namespace nemu::acpi::aml {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes enc(const Aml& a) {
    auto r = a.encode();
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().msg);
    return r ? *r : Bytes{};
}

Bytes pkg(size_t body) {
    auto r = pkg_length(body);
    EXPECT_TRUE(r.has_value());
    return r ? *r : Bytes{};
}

TEST(AmlPkgLength, OneByteUpTo63IncludingItself) {
    EXPECT_EQ(pkg(0), (Bytes{0x01}));
    EXPECT_EQ(pkg(62), (Bytes{0x3F}));
}

TEST(AmlPkgLength, TwoBytes) {
    // 63 body bytes + 2 = 65 = 0x41: lead 0x40 | low nibble 1, then 65 >> 4 = 4.
    EXPECT_EQ(pkg(63), (Bytes{0x41, 0x04}));
    // Largest 2-byte value 0xFFF = 4093 + 2.
    EXPECT_EQ(pkg(4093), (Bytes{0x4F, 0xFF}));
}

TEST(AmlPkgLength, ThreeAndFourBytes) {
    // 4094 + 3 = 0x1001: lead 0x80 | 1, then 0x100 little-endian.
    EXPECT_EQ(pkg(4094), (Bytes{0x81, 0x00, 0x01}));
    EXPECT_EQ(pkg(0xFFFFC), (Bytes{0x8F, 0xFF, 0xFF}));
    // 0xFFFFD + 4 = 0x100001.
    EXPECT_EQ(pkg(0xFFFFD), (Bytes{0xC1, 0x00, 0x00, 0x01}));
    EXPECT_EQ(*pkg_length_raw(0x0FFFFFFF), (Bytes{0xCF, 0xFF, 0xFF, 0xFF}));
    EXPECT_FALSE(pkg_length_raw(0x10000000).has_value());
    EXPECT_FALSE(pkg_length(0x0FFFFFFC).has_value());
}

TEST(AmlInteger, ShortestEncoding) {
    EXPECT_EQ(enc(integer(0)), (Bytes{0x00}));
    EXPECT_EQ(enc(integer(1)), (Bytes{0x01}));
    EXPECT_EQ(enc(integer(~uint64_t{0})), (Bytes{0xFF}));
    EXPECT_EQ(enc(integer(2)), (Bytes{0x0A, 0x02}));
    EXPECT_EQ(enc(integer(0xFF)), (Bytes{0x0A, 0xFF}));
    EXPECT_EQ(enc(integer(0x100)), (Bytes{0x0B, 0x00, 0x01}));
    EXPECT_EQ(enc(integer(0x10000)), (Bytes{0x0C, 0x00, 0x00, 0x01, 0x00}));
    EXPECT_EQ(enc(integer(0xFEA00000)), (Bytes{0x0C, 0x00, 0x00, 0xA0, 0xFE}));
    EXPECT_EQ(enc(integer(0x100000000)), (Bytes{0x0E, 0, 0, 0, 0, 1, 0, 0, 0}));
    EXPECT_EQ(enc(word_const(1)), (Bytes{0x0B, 0x01, 0x00}));
    EXPECT_EQ(enc(dword_const(1)), (Bytes{0x0C, 0x01, 0, 0, 0}));
}

TEST(AmlName, Paths) {
    EXPECT_EQ(*name_string_bytes("_SB"), (Bytes{'_', 'S', 'B', '_'}));
    EXPECT_EQ(*name_string_bytes("\\_SB.COM1"),
              (Bytes{0x5C, 0x2E, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'}));
    EXPECT_EQ(*name_string_bytes("^^PCI0"), (Bytes{0x5E, 0x5E, 'P', 'C', 'I', '0'}));
    EXPECT_EQ(*name_string_bytes("\\_SB.PCI0.S08"),
              (Bytes{0x5C, 0x2F, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_'}));
    EXPECT_EQ(*name_string_bytes("\\"), (Bytes{0x5C, 0x00}));
    for (const char* bad : {"", "^", "1ABC", "ABCDE", "a", "\\_SB..X", "\\_SB.", "A-B"})
        EXPECT_FALSE(name_string_bytes(bad).has_value()) << bad;
    auto bad = name("1BAD", zero()).encode();
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().msg.find("1BAD"), std::string::npos);
}

TEST(AmlData, StringEisaIdUuid) {
    EXPECT_EQ(enc(string("ACPI0007")), (Bytes{0x0D, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00}));
    // "PNP": P=0x10, N=0x0E -> 0x41 0xD0; then the hex digits 05 01.
    EXPECT_EQ(enc(eisa_id("PNP0501")), (Bytes{0x0C, 0x41, 0xD0, 0x05, 0x01}));
    EXPECT_EQ(*eisa_id_value("PNP0C0C"), 0x0C0CD041u);
    EXPECT_FALSE(eisa_id("PNP050").encode().has_value());
    EXPECT_FALSE(eisa_id("pnp0501").encode().has_value());
    EXPECT_EQ(enc(to_uuid("E5C937D0-3553-4D7A-9117-EA4D19C3434D")),
              (Bytes{0x11, 0x13, 0x0A, 0x10, 0xD0, 0x37, 0xC9, 0xE5, 0x53, 0x35, 0x7A, 0x4D, 0x91,
                     0x17, 0xEA, 0x4D, 0x19, 0xC3, 0x43, 0x4D}));
    EXPECT_FALSE(to_uuid("E5C937D0-3553-4D7A-9117-EA4D19C3434").encode().has_value());
    const uint8_t three[] = {1, 2, 3};
    EXPECT_EQ(enc(buffer(three)), (Bytes{0x11, 0x06, 0x0A, 0x03, 1, 2, 3}));
}

TEST(AmlNamed, NameScopeDeviceMethodPackage) {
    EXPECT_EQ(enc(name("_UID", one())), (Bytes{0x08, '_', 'U', 'I', 'D', 0x01}));
    EXPECT_EQ(enc(scope("\\_SB")), (Bytes{0x10, 0x06, 0x5C, '_', 'S', 'B', '_'}));
    EXPECT_EQ(enc(device("COM1")), (Bytes{0x5B, 0x82, 0x05, 'C', 'O', 'M', '1'}));
    // Flags 0x09: one argument, serialized.
    EXPECT_EQ(enc(method("_EVT", 1, true)), (Bytes{0x14, 0x06, '_', 'E', 'V', 'T', 0x09}));
    EXPECT_EQ(enc(method("_STA", 0, false, {return_(integer(0x0F))})),
              (Bytes{0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F}));
    EXPECT_EQ(enc(name("\\_S5", package({integer(5), zero(), zero(), zero()}))),
              (Bytes{0x08, 0x5C, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0, 0, 0}));
    // A device grown after creation encodes the same as one built in one go.
    Aml d = device("PWRB");
    d.add(name("_UID", zero()));
    EXPECT_EQ(enc(d), enc(device("PWRB", {name("_UID", zero())})));
    // Children cannot be added to a leaf.
    Aml leaf = integer(3);
    leaf.add(zero());
    EXPECT_FALSE(leaf.encode().has_value());
    const uint8_t one_byte[] = {7};
    Aml buf = buffer(one_byte);
    buf.add(zero());
    EXPECT_FALSE(buf.encode().has_value());
}

TEST(AmlNamed, LongBodyUsesTwoBytePkgLength) {
    Aml s = scope("\\_SB");
    for (int i = 0; i < 20; ++i) s.add(name("_UID", one()));  // 20 * 6 = 120 bytes
    auto b = enc(s);
    // Body = 5 ("\\_SB_") + 120 = 125; + 2 = 127 = 0x7F -> lead 0x4F, then 0x07.
    ASSERT_GE(b.size(), 3u);
    EXPECT_EQ(b[0], 0x10);
    EXPECT_EQ(b[1], 0x4F);
    EXPECT_EQ(b[2], 0x07);
    EXPECT_EQ(b.size(), 1u + 127u);
}

TEST(AmlRegion, OperationRegionAndField) {
    EXPECT_EQ(enc(operation_region("EREG", RegionSpace::SystemMemory, 0xFEA00000, 4)),
              (Bytes{0x5B, 0x80, 'E', 'R', 'E', 'G', 0x00, 0x0C, 0x00, 0x00, 0xA0, 0xFE, 0x0A, 0x04}));
    EXPECT_EQ(enc(operation_region("PIO_", RegionSpace::SystemIO, 0x3F8, 8)),
              (Bytes{0x5B, 0x80, 'P', 'I', 'O', '_', 0x01, 0x0B, 0xF8, 0x03, 0x0A, 0x08}));
    EXPECT_EQ(enc(field("EREG", FieldAccess::DWord, FieldLock::NoLock, FieldUpdate::Preserve,
                        {field_unit("ESEL", 32)})),
              (Bytes{0x5B, 0x81, 0x0B, 'E', 'R', 'E', 'G', 0x03, 'E', 'S', 'E', 'L', 0x20}));
    // ByteAcc, Lock, WriteAsZeros = 0x01 | 0x10 | 0x40; an 8-bit gap, then a 1-bit field.
    EXPECT_EQ(enc(field("REGS", FieldAccess::Byte, FieldLock::Lock, FieldUpdate::WriteAsZeros,
                        {field_reserved(8), field_unit("BIT0", 1)})),
              (Bytes{0x5B, 0x81, 0x0D, 'R', 'E', 'G', 'S', 0x51, 0x00, 0x08, 'B', 'I', 'T', '0', 0x01}));
    // Field lengths of 64 bits and more use the 2-byte format.
    EXPECT_EQ(enc(field_unit("WIDE", 64)), (Bytes{'W', 'I', 'D', 'E', 0x40, 0x04}));
}

TEST(AmlStatements, EvtBody) {
    EXPECT_EQ(enc(store(name_ref("ESEL"), local(0))), (Bytes{0x70, 'E', 'S', 'E', 'L', 0x60}));
    EXPECT_EQ(enc(store(arg(1), local(7))), (Bytes{0x70, 0x69, 0x67}));
    Aml cond = if_(lequal(and_(local(0), integer(2)), integer(2)),
                   {notify(name_ref("\\_SB.PWRB"), integer(0x80))});
    EXPECT_EQ(enc(cond), (Bytes{0xA0, 0x16, 0x93, 0x7B, 0x60, 0x0A, 0x02, 0x00, 0x0A, 0x02,
                                0x86, 0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0A, 0x80}));
    EXPECT_EQ(enc(else_()), (Bytes{0xA1, 0x01}));
    EXPECT_EQ(enc(and_(arg(0), one(), local(1))), (Bytes{0x7B, 0x68, 0x01, 0x61}));
    EXPECT_EQ(enc(lnot(zero())), (Bytes{0x92, 0x00}));
    EXPECT_FALSE(local(8).encode().has_value());
    EXPECT_FALSE(arg(7).encode().has_value());
}

TEST(AmlResources, SmallDescriptors) {
    EXPECT_EQ(io_decode16(0x3F8, 0x3F8, 0, 8), (Bytes{0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08}));
    EXPECT_EQ(irq_no_flags(4), (Bytes{0x22, 0x10, 0x00}));
    EXPECT_EQ(irq_no_flags(12), (Bytes{0x22, 0x00, 0x10}));
    EXPECT_EQ(enc(resource_template({io_decode16(0x3F8, 0x3F8, 0, 8), irq_no_flags(4)})),
              (Bytes{0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08,
                     0x22, 0x10, 0x00, 0x79, 0x00}));
}

TEST(AmlResources, LargeDescriptors) {
    const uint32_t gsi16[] = {16};
    EXPECT_EQ(interrupt(Trigger::Edge, Polarity::ActiveHigh, Sharing::Exclusive, gsi16),
              (Bytes{0x89, 0x06, 0x00, 0x03, 0x01, 0x10, 0x00, 0x00, 0x00}));
    const uint32_t two[] = {5, 6};
    EXPECT_EQ(interrupt(Trigger::Level, Polarity::ActiveLow, Sharing::Shared, two),
              (Bytes{0x89, 0x0A, 0x00, 0x0D, 0x02, 5, 0, 0, 0, 6, 0, 0, 0}));
    EXPECT_EQ(memory32_fixed(0xFEC00000, 0x1000),
              (Bytes{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xC0, 0xFE, 0x00, 0x10, 0x00, 0x00}));
    AddressSpace a;
    a.min = 0xC0000000;
    a.max = 0xFEBFFFFF;
    a.length = 0x3EC00000;
    auto d = dword_memory(a);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, (Bytes{0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0,
                         0xFF, 0xFF, 0xBF, 0xFE, 0, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3E}));
    a.max = 0x1FFFFFFFF;
    EXPECT_FALSE(dword_memory(a).has_value());
    a.cacheable = Cacheable::Prefetchable;
    auto q = qword_memory(a);
    ASSERT_EQ(q.size(), 46u);
    EXPECT_EQ(q[0], 0x8A);
    EXPECT_EQ(q[1], 0x2B);
    EXPECT_EQ(q[5], 0x07);  // RW | Prefetchable << 1
    EXPECT_EQ(q[6 + 8 * 2 + 4], 0x01);  // _MAX bit 32
}

TEST(AmlDefinitionBlock, HeaderAndChecksum) {
    auto t = definition_block("SSDT", 2, {scope("\\_SB")});
    ASSERT_TRUE(t.has_value());
    ASSERT_EQ(t->size(), 36u + 7u);
    EXPECT_EQ(std::string(t->begin(), t->begin() + 4), "SSDT");
    EXPECT_EQ((*t)[4], 43);
    EXPECT_EQ((*t)[8], 2);
    uint8_t sum = 0;
    for (uint8_t b : *t) sum = static_cast<uint8_t>(sum + b);
    EXPECT_EQ(sum, 0);
    EXPECT_FALSE(definition_block("SSDT", 2, {device("bad")}).has_value());
}

} // namespace
} // namespace nemu::acpi::aml
