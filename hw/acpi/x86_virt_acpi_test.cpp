// The x86 virt table set: layout, pointers, checksums, and every table disassembled by iasl
// (acpica-tools), the reference ACPI implementation's own parser.
#include "hw/acpi/x86_virt_acpi.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "hw/acpi/acpi_tables.h"
#include "hw/acpi/iasl_test_support.h"

namespace nemu::acpi {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

uint64_t le(const Bytes& b, size_t off, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{b.at(off + i)} << (8 * i);
    return v;
}

using namespace test;   // the iasl fixture and helpers (iasl_test_support.h)


// ---- Walking the built blobs like a guest would ------------------------------------------------

struct Tables {
    Bytes rsdp;
    std::map<std::string, Bytes> by_sig;  // "XSDT", "FACP", "APIC", "DSDT", extras
    std::map<std::string, uint64_t> gpa;
};

Tables walk(const std::vector<AcpiBlob>& blobs) {
    Tables t;
    EXPECT_EQ(blobs.size(), 2u);
    if (blobs.size() != 2) return t;
    const auto& area = blobs[1];
    auto table_at = [&](uint64_t gpa, const std::string& expect_sig) -> Bytes {
        EXPECT_GE(gpa, area.gpa);
        EXPECT_EQ(gpa % 8, 0u) << expect_sig;
        if (gpa < area.gpa || gpa - area.gpa + kHeaderSize > area.bytes.size()) return {};
        size_t off = gpa - area.gpa;
        size_t len = le(area.bytes, off + 4, 4);
        EXPECT_LE(off + len, area.bytes.size());
        Bytes b(area.bytes.begin() + static_cast<ptrdiff_t>(off),
                area.bytes.begin() + static_cast<ptrdiff_t>(std::min(off + len, area.bytes.size())));
        std::string sig(b.begin(), b.begin() + 4);
        if (!expect_sig.empty()) {
            EXPECT_EQ(sig, expect_sig);
        }
        EXPECT_EQ(byte_sum(b), 0) << sig << " checksum";
        t.by_sig[sig] = b;
        t.gpa[sig] = gpa;
        return b;
    };
    t.rsdp = blobs[0].bytes;
    EXPECT_EQ(t.rsdp.size(), kRsdpSize);
    if (t.rsdp.size() != kRsdpSize) return t;
    Bytes xsdt = table_at(le(t.rsdp, 24, 8), "XSDT");
    for (size_t off = kHeaderSize; off + 8 <= xsdt.size(); off += 8) {
        Bytes sub = table_at(le(xsdt, off, 8), "");
        if (sub.size() >= 148 && std::string(sub.begin(), sub.begin() + 4) == "FACP")
            table_at(le(sub, 140, 8), "DSDT");
    }
    return t;
}

X86VirtAcpiConfig small_config() {
    X86VirtAcpiConfig c;
    c.apic_ids = {0, 1, 2, 3};
    c.present_cpus = 2;
    return c;
}

TEST(X86VirtAcpi, LayoutPointersAndChecksums) {
    auto blobs = build_x86_virt_acpi(small_config());
    ASSERT_TRUE(blobs.has_value()) << blobs.error().msg;
    ASSERT_EQ(blobs->size(), 2u);
    EXPECT_EQ((*blobs)[0].gpa, 0xE0000u);
    EXPECT_EQ((*blobs)[1].gpa, 0xE0040u);
    EXPECT_LE((*blobs)[1].gpa + (*blobs)[1].bytes.size(), 0x100000u);
    auto t = walk(*blobs);
    EXPECT_EQ(byte_sum(std::span(t.rsdp).first(20)), 0);
    EXPECT_EQ(byte_sum(t.rsdp), 0);
    for (const char* sig : {"XSDT", "FACP", "APIC", "DSDT"}) {
        EXPECT_EQ(t.by_sig.count(sig), 1u) << sig;
    }
    EXPECT_EQ(t.gpa["DSDT"], 0xE0040u);  // first in the area
    auto dsdt = build_x86_virt_dsdt(small_config());
    ASSERT_TRUE(dsdt.has_value());
    EXPECT_EQ(t.by_sig["DSDT"], *dsdt);
}

TEST(X86VirtAcpi, ConfigErrors) {
    auto c = small_config();
    c.present_cpus = 0;
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
    c = small_config();
    c.present_cpus = 5;
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
    c = small_config();
    c.apic_ids = {0, 1, 1};
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
    c = small_config();
    c.uart_gsi = 16;
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
    c = small_config();
    c.rsdp_gpa = 0xE0040;  // inside the table area
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
    c = small_config();
    c.tables_end = 0xE0100;  // far too small
    auto r = build_x86_virt_acpi(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().msg.find("fit"), std::string::npos) << r.error().msg;
    // Many possible CPUs overflow the 128 KiB area through the MADT.
    c = small_config();
    c.apic_ids.clear();
    for (uint32_t i = 0; i < 9000; ++i) c.apic_ids.push_back(i);
    EXPECT_FALSE(build_x86_virt_acpi(c).has_value());
}

TEST_F(IaslTest, EveryTableDisassemblesCleanly) {
    auto blobs = build_x86_virt_acpi(small_config());
    ASSERT_TRUE(blobs.has_value()) << blobs.error().msg;
    auto t = walk(*blobs);

    // The RSDP is not a System Description Table (no Length at offset 4), and iasl 20200925
    // refuses it as a binary file; LayoutPointersAndChecksums checks it field by field.
    std::string xsdt = disassemble("xsdt", t.by_sig["XSDT"]);
    EXPECT_NE(xsdt.find("ACPI Table Address   0"), std::string::npos) << xsdt;
    EXPECT_NE(xsdt.find("ACPI Table Address   1"), std::string::npos) << xsdt;

    std::string fadt = disassemble("facp", t.by_sig["FACP"]);
    EXPECT_NE(fadt.find("Hardware Reduced (V5) : 1"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("Reset Register Supported (V2) : 1"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("Control Method Power Button (V1) : 0"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("CMOS RTC Not Present (V5) : 1"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("VGA Not Present (V4) : 1"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("8042 Present on ports 60/64 (V2) : 0"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("Legacy Devices Supported (V2) : 0"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("Table Length : 00000114"), std::string::npos) << fadt;  // 276
    EXPECT_NE(fadt.find("FADT Minor Revision : 05"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("00000000FEA01000"), std::string::npos) << fadt;  // sleep control
    EXPECT_NE(fadt.find("00000000FEA01002"), std::string::npos) << fadt;  // reset register
    EXPECT_NE(fadt.find("Value to cause reset : 42"), std::string::npos) << fadt;
    EXPECT_NE(fadt.find("Hypervisor ID : 00000000554D454E"), std::string::npos) << fadt;

    std::string madt = disassemble("apic", t.by_sig["APIC"]);
    EXPECT_NE(madt.find("Local Apic Address : FEE00000"), std::string::npos) << madt;
    EXPECT_NE(madt.find("PC-AT Compatibility : 0"), std::string::npos) << madt;
    EXPECT_NE(madt.find("Address : FEC00000"), std::string::npos) << madt;
    size_t lapics = 0;
    for (size_t p = 0; (p = madt.find("[Processor Local APIC]", p)) != std::string::npos; ++p) ++lapics;
    EXPECT_EQ(lapics, 4u) << madt;
    EXPECT_EQ(madt.find("Local x2APIC"), std::string::npos) << madt;

    std::string dsdt = disassemble("dsdt", t.by_sig["DSDT"]);
    for (const char* want : {"Device (C000)", "Device (C001)", "\"ACPI0007\"", "Device (COM1)",
                             "EisaId (\"PNP0501\")", "IO (Decode16,", "0x03F8,", "IRQNoFlags ()",
                             "{4}", "Device (GED0)", "\"ACPI0013\"", "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
                             "0x00000010,", "OperationRegion (EREG, SystemMemory, 0xFEA00000, 0x04)",
                             "Field (EREG, DWordAcc, NoLock, Preserve)", "ESEL,   32",
                             "Method (_EVT, 1, Serialized)", "Notify (\\_SB.PWRB, 0x80)",
                             "Device (PWRB)", "\"PNP0C0C\"", "_S5_", "0x05"})
        EXPECT_NE(dsdt.find(want), std::string::npos) << want << "\n" << dsdt;
    EXPECT_EQ(dsdt.find("Device (C002)"), std::string::npos) << "only present CPUs get a device";

    // Recompiling iasl's own reading of the DSDT gives back our AML byte for byte (the header
    // differs only in the compiler id fields).
    Bytes re = compile("dsdt");
    const Bytes& ours = t.by_sig["DSDT"];
    ASSERT_EQ(re.size(), ours.size());
    EXPECT_TRUE(std::equal(ours.begin() + kHeaderSize, ours.end(), re.begin() + kHeaderSize));
}

TEST_F(IaslTest, X2apicEntriesAboveApicId254) {
    X86VirtAcpiConfig c;
    c.apic_ids = {0, 1, 255, 256, 1000};
    c.present_cpus = 3;
    auto blobs = build_x86_virt_acpi(c);
    ASSERT_TRUE(blobs.has_value()) << blobs.error().msg;
    auto t = walk(*blobs);
    std::string madt = disassemble("apic", t.by_sig["APIC"]);
    size_t x2 = 0;
    for (size_t p = 0; (p = madt.find("[Processor Local x2APIC]", p)) != std::string::npos; ++p) ++x2;
    EXPECT_EQ(x2, 3u) << madt;
    EXPECT_NE(madt.find("Processor x2Apic ID : 000003E8"), std::string::npos) << madt;
    std::string dsdt = disassemble("dsdt", t.by_sig["DSDT"]);
    EXPECT_NE(dsdt.find("Device (C002)"), std::string::npos) << dsdt;
    EXPECT_EQ(dsdt.find("Device (C003)"), std::string::npos) << dsdt;
}

TEST_F(IaslTest, ExtensionPointsAddDevicesAndTables) {
    auto c = small_config();
    c.extra_sb_devices.push_back(aml::device("PCI0", {aml::name("_HID", aml::eisa_id("PNP0A08"))}));
    // MCFG (PCI Firmware spec 3.2 §4.1.2): 8 reserved bytes, one 16-byte allocation.
    Bytes mcfg_body(8 + 16, 0);
    mcfg_body[8 + 3] = 0xB0;  // base 0xB0000000
    mcfg_body[8 + 11] = 0xFF; // end bus 255
    auto mcfg = make_table("MCFG", 1, mcfg_body);
    ASSERT_TRUE(mcfg.has_value());
    c.extra_tables.push_back(*mcfg);
    auto blobs = build_x86_virt_acpi(c);
    ASSERT_TRUE(blobs.has_value()) << blobs.error().msg;
    auto t = walk(*blobs);
    ASSERT_EQ(t.by_sig.count("MCFG"), 1u);
    EXPECT_EQ(t.by_sig["MCFG"], *mcfg);
    EXPECT_EQ(t.by_sig["XSDT"].size(), kHeaderSize + 3 * 8);
    std::string dsdt = disassemble("dsdt", t.by_sig["DSDT"]);
    EXPECT_NE(dsdt.find("Device (PCI0)"), std::string::npos) << dsdt;
    EXPECT_NE(dsdt.find("EisaId (\"PNP0A08\")"), std::string::npos) << dsdt;
    std::string mcfg_dsl = disassemble("mcfg", t.by_sig["MCFG"]);
    EXPECT_NE(mcfg_dsl.find("00000000B0000000"), std::string::npos) << mcfg_dsl;
}

// Differential check of the builder against iasl's compiler for constructs the virt DSDT does not
// use yet (PCI windows, level/shared interrupts, Lock fields, ToUUID, Else, Arg/Local).
TEST_F(IaslTest, BuilderMatchesIaslCompiler) {
    const char* asl = R"(DefinitionBlock ("", "SSDT", 2, "NEMU  ", "NEMUVIRT", 0x00000001)
{
    Scope (\_SB)
    {
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))
            Name (_CRS, ResourceTemplate ()
            {
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
                    0x00000000, 0xC0000000, 0xFEBFFFFF, 0x00000000, 0x3EC00000, ,, , AddressRangeMemory, TypeStatic)
                QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Prefetchable, ReadWrite,
                    0x0000000000000000, 0x0000000100000000, 0x00000001FFFFFFFF, 0x0000000000000000,
                    0x0000000100000000, ,, , AddressRangeMemory, TypeStatic)
                Memory32Fixed (ReadWrite, 0xFEC00000, 0x00001000, )
                Interrupt (ResourceConsumer, Level, ActiveLow, Shared, ,, ) {5, 6}
            })
            Name (UUID, ToUUID ("e5c937d0-3553-4d7a-9117-ea4d19c3434d"))
            OperationRegion (PIO0, SystemIO, 0x0510, 0x0C)
            Field (PIO0, ByteAcc, Lock, WriteAsZeros)
            {
                Offset (0x01),
                BIT0,   1,
                WIDE,   64
            }
            Method (TEST, 2, NotSerialized)
            {
                Store (Arg1, Local7)
                If (LEqual (And (Arg0, One, Local1), Zero))
                {
                    Return (Package (0x03) { 0x0100, "x", 0x0000000100000000 })
                }
                Else
                {
                    Return (Or (Local7, Local1, ))
                }
            }
        }
    }
}
)";
    {
        std::ofstream(m_dir / "ref.dsl") << asl;
    }
    Bytes ref = compile("ref");
    ASSERT_GT(ref.size(), kHeaderSize);

    using namespace aml;  // NOLINT(google-build-using-namespace): reads like the ASL above
    AddressSpace lo;
    lo.min = 0xC0000000;
    lo.max = 0xFEBFFFFF;
    lo.length = 0x3EC00000;
    AddressSpace hi;
    hi.cacheable = Cacheable::Prefetchable;
    hi.min = 0x100000000;
    hi.max = 0x1FFFFFFFF;
    hi.length = 0x100000000;
    auto lo_res = dword_memory(lo);
    ASSERT_TRUE(lo_res.has_value());
    const uint32_t gsis[] = {5, 6};
    Aml pci0 = device("PCI0", {
        name("_HID", eisa_id("PNP0A08")),
        name("_CRS", resource_template({*lo_res, qword_memory(hi), memory32_fixed(0xFEC00000, 0x1000),
                                        interrupt(Trigger::Level, Polarity::ActiveLow, Sharing::Shared, gsis)})),
        name("UUID", to_uuid("e5c937d0-3553-4d7a-9117-ea4d19c3434d")),
        operation_region("PIO0", RegionSpace::SystemIO, 0x510, 0x0C),
        field("PIO0", FieldAccess::Byte, FieldLock::Lock, FieldUpdate::WriteAsZeros,
              {field_reserved(8), field_unit("BIT0", 1), field_unit("WIDE", 64)}),
        method("TEST", 2, false, {
            store(arg(1), local(7)),
            if_(lequal(and_(arg(0), one(), local(1)), zero()),
                {return_(package({integer(0x100), string("x"), integer(0x100000000)}))}),
            else_({return_(or_(local(7), local(1)))}),
        }),
    });
    auto ours = definition_block("SSDT", 2, {scope("\\_SB", {pci0})});
    ASSERT_TRUE(ours.has_value()) << ours.error().msg;
    ASSERT_EQ(ours->size(), ref.size());
    EXPECT_TRUE(std::equal(ours->begin() + kHeaderSize, ours->end(), ref.begin() + kHeaderSize));
}

} // namespace
} // namespace nemu::acpi
