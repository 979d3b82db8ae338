// Fixed-layout ACPI tables; section and table numbers refer to ACPI 6.5 chapter 5.
#include "hw/acpi/acpi_tables.h"

#include <algorithm>

namespace nemu::acpi {

namespace {

// A little-endian byte writer over a zero-filled table image.
class Writer {
public:
    explicit Writer(size_t size) : m_bytes(size, 0) {}
    void put(size_t offset, uint64_t value, unsigned bytes) {
        for (unsigned i = 0; i < bytes; ++i) m_bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
    }
    void put_str(size_t offset, std::string_view s, size_t width) {
        for (size_t i = 0; i < width; ++i) m_bytes[offset + i] = i < s.size() ? static_cast<uint8_t>(s[i]) : 0;
    }
    void put_gas(size_t offset, const Gas& g) {
        put(offset, static_cast<uint8_t>(g.space), 1);
        put(offset + 1, g.bit_width, 1);
        put(offset + 2, g.bit_offset, 1);
        put(offset + 3, static_cast<uint8_t>(g.access), 1);
        put(offset + 4, g.address, 8);
    }
    std::vector<uint8_t>& bytes() { return m_bytes; }

private:
    std::vector<uint8_t> m_bytes;
};

// FADT (Table 5.9) field offsets used here.
constexpr size_t kFadtDsdt = 40, kFadtIapcBootArch = 109, kFadtFlags = 112, kFadtResetReg = 116;
constexpr size_t kFadtResetValue = 128, kFadtMinorVersion = 131, kFadtXDsdt = 140;
constexpr size_t kFadtSleepControl = 244, kFadtSleepStatus = 256, kFadtHypervisorVendor = 268;
constexpr uint8_t kFadtMajorVersion = 6, kFadtMinor = 5;  // ACPI 6.5

// Fixed Feature Flags (Table 5.10).
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
// PWR_BUTTON (bit 4) stays 0 as the brief for issue 4 asks. On a HW_REDUCED_ACPI platform the
// fixed-feature power button does not exist (§4.1) and OSPM ignores the bit; the button the guest
// sees is the PNP0C0C device notified by the GED.
constexpr uint32_t kFadtFlagsValue = kFadtResetRegSup | kFadtHwReducedAcpi;

// IA-PC Boot Architecture Flags (Table 5.11): bit 0 LEGACY_DEVICES and bit 1 8042 stay clear;
// bit 2 VGA Not Present, bit 5 CMOS RTC Not Present.
constexpr uint16_t kIapcVgaNotPresent = 1u << 2, kIapcCmosRtcNotPresent = 1u << 5;
constexpr uint16_t kIapcBootArch = kIapcVgaNotPresent | kIapcCmosRtcNotPresent;

// MADT (§5.2.12): revision 6 in ACPI 6.5 (the Online Capable flag needs revision >= 5).
constexpr uint8_t kMadtRevision = 6;
constexpr uint8_t kMadtLocalApic = 0, kMadtIoApic = 1, kMadtLocalX2Apic = 9;
constexpr uint32_t kLapicEnabled = 1u << 0;
constexpr uint32_t kLapicOnlineCapable = 1u << 1;  // ACPI 6.3+; must be 0 when Enabled is set

} // namespace

uint8_t byte_sum(std::span<const uint8_t> bytes) {
    uint8_t sum = 0;
    for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
    return sum;
}

Result<std::vector<uint8_t>> make_table(std::string_view signature, uint8_t revision,
                                        std::span<const uint8_t> body) {
    if (signature.size() != 4) return fail("ACPI table signature '{}' is not 4 characters", signature);
    if (body.size() > 0xFFFFFFFFu - kHeaderSize) return fail("ACPI table {} is too large", signature);
    // System Description Table Header (§5.2.6, Table 5.4).
    Writer w(kHeaderSize + body.size());
    w.put_str(0, signature, 4);
    w.put(4, kHeaderSize + body.size(), 4);
    w.put(8, revision, 1);
    w.put_str(10, kOemId, 6);
    w.put_str(16, kOemTableId, 8);
    w.put(24, kOemRevision, 4);
    w.put_str(28, kCreatorId, 4);
    w.put(32, kCreatorRevision, 4);
    std::copy(body.begin(), body.end(), w.bytes().begin() + kHeaderSize);
    fix_table_checksum(w.bytes());
    return std::move(w.bytes());
}

void fix_table_checksum(std::span<uint8_t> table) {
    if (table.size() < kHeaderSize) return;
    table[9] = 0;
    table[9] = static_cast<uint8_t>(0x100 - byte_sum(table));
}

std::vector<uint8_t> build_rsdp(uint64_t xsdt_gpa) {
    // Root System Description Pointer (§5.2.5.3, Table 5.3).
    Writer w(kRsdpSize);
    w.put_str(0, "RSD PTR ", 8);
    w.put_str(9, kOemId, 6);
    w.put(15, 2, 1);   // Revision 2: ACPI 2.0+ layout with XSDT
    w.put(16, 0, 4);   // RsdtAddress: no RSDT, the XSDT is 64-bit
    w.put(20, kRsdpSize, 4);
    w.put(24, xsdt_gpa, 8);
    auto& b = w.bytes();
    // Checksum covers the first 20 bytes (the ACPI 1.0 part); Extended Checksum the whole.
    b[8] = static_cast<uint8_t>(0x100 - byte_sum(std::span(b).first(20)));
    b[32] = static_cast<uint8_t>(0x100 - byte_sum(b));
    return std::move(b);
}

Result<std::vector<uint8_t>> build_xsdt(std::span<const uint64_t> table_gpas) {
    Writer w(8 * table_gpas.size());
    for (size_t i = 0; i < table_gpas.size(); ++i) w.put(8 * i, table_gpas[i], 8);
    return make_table("XSDT", 1, w.bytes());
}

Gas mmio_byte_register(uint64_t address) {
    return Gas{GasSpace::SystemMemory, 8, 0, GasAccess::Byte, address};
}

Result<std::vector<uint8_t>> build_fadt(const FadtConfig& cfg) {
    if (cfg.hypervisor_vendor.size() > 8)
        return fail("FADT hypervisor vendor '{}' is longer than 8 characters", cfg.hypervisor_vendor);
    // Fields after the header, at their Table 5.9 offsets; build the whole image, then split
    // off the header that make_table writes.
    Writer w(kFadtSize);
    // FIRMWARE_CTRL/X_FIRMWARE_CTRL stay 0: no FACS on a hardware-reduced platform (§5.2.10).
    // DSDT stays 0 because X_DSDT is set (§5.2.9: "If the X_DSDT field contains a non-zero
    // value ... this field must be zero").
    w.put(kFadtDsdt, 0, 4);
    w.put(kFadtIapcBootArch, kIapcBootArch, 2);
    w.put(kFadtFlags, kFadtFlagsValue, 4);
    w.put_gas(kFadtResetReg, cfg.reset_reg);
    w.put(kFadtResetValue, cfg.reset_value, 1);
    w.put(kFadtMinorVersion, kFadtMinor, 1);
    w.put(kFadtXDsdt, cfg.dsdt_gpa, 8);
    w.put_gas(kFadtSleepControl, cfg.sleep_control);
    w.put_gas(kFadtSleepStatus, cfg.sleep_status);
    w.put_str(kFadtHypervisorVendor, cfg.hypervisor_vendor, 8);
    return make_table("FACP", kFadtMajorVersion, std::span(w.bytes()).subspan(kHeaderSize));
}

Result<std::vector<uint8_t>> build_madt(const MadtConfig& cfg) {
    std::vector<uint8_t> body;
    auto put = [&body](uint64_t v, unsigned n) {
        for (unsigned i = 0; i < n; ++i) body.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put(cfg.lapic_address, 4);
    put(0, 4);  // Flags: PCAT_COMPAT clear, there is no 8259 pair (Table 5.20)
    for (const auto& cpu : cfg.cpus) {
        uint32_t flags = cpu.present ? kLapicEnabled : kLapicOnlineCapable;
        if (cpu.apic_id <= 254 && cpu.uid <= 255) {
            // Processor Local APIC Structure (§5.2.12.2, Table 5.22).
            put(kMadtLocalApic, 1);
            put(8, 1);
            put(cpu.uid, 1);
            put(cpu.apic_id, 1);
            put(flags, 4);
        } else {
            if (cpu.apic_id == 0xFFFFFFFF) return fail("x2APIC id 0xffffffff is the broadcast id");
            // Processor Local x2APIC Structure (§5.2.12.12, Table 5.41).
            put(kMadtLocalX2Apic, 1);
            put(16, 1);
            put(0, 2);
            put(cpu.apic_id, 4);
            put(flags, 4);
            put(cpu.uid, 4);
        }
    }
    // I/O APIC Structure (§5.2.12.3, Table 5.24).
    put(kMadtIoApic, 1);
    put(12, 1);
    put(cfg.ioapic_id, 1);
    put(0, 1);
    put(cfg.ioapic_address, 4);
    put(cfg.ioapic_gsi_base, 4);
    return make_table("APIC", kMadtRevision, body);
}

} // namespace nemu::acpi
