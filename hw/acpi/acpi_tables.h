#pragma once
// Builders for the fixed-layout ACPI tables (ACPI 6.5 chapter 5): the common System Description
// Table Header, RSDP, XSDT, FADT and MADT. Each returns the finished bytes with a valid
// checksum; where a table points at another, the caller passes the guest physical address.
//
// Threading: pure functions, called by whichever thread builds the tables (the main thread).

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nemu::acpi {

// Identity written into every table header (ACPI 6.5 §5.2.6, Table 5.4).
inline constexpr std::string_view kOemId = "NEMU  ";        // 6 bytes
inline constexpr std::string_view kOemTableId = "NEMUVIRT"; // 8 bytes
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::string_view kCreatorId = "NEMU";      // 4 bytes
inline constexpr uint32_t kCreatorRevision = 1;
inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;  // ACPI 6.5 Table 5.9, through Hypervisor Vendor Identity

// Byte sum modulo 256; a table is valid when the sum over its Length bytes is 0.
uint8_t byte_sum(std::span<const uint8_t> bytes);

// A System Description Table: 36-byte header (our OEM identity) followed by `body`, with Length
// and Checksum filled in. Fails if the signature is not 4 characters.
[[nodiscard]] Result<std::vector<uint8_t>> make_table(std::string_view signature, uint8_t revision,
                                                      std::span<const uint8_t> body);
// Recomputes the Checksum byte (offset 9) of a finished table after it was edited.
void fix_table_checksum(std::span<uint8_t> table);

// RSDP, revision 2 (ACPI 6.5 §5.2.5.3): both checksums, no RSDT, the XSDT address.
std::vector<uint8_t> build_rsdp(uint64_t xsdt_gpa);

// XSDT (§5.2.8): one 64-bit entry per table address.
[[nodiscard]] Result<std::vector<uint8_t>> build_xsdt(std::span<const uint64_t> table_gpas);

// Generic Address Structure (§5.2.3.2).
enum class GasSpace : uint8_t { SystemMemory = 0, SystemIO = 1 };
enum class GasAccess : uint8_t { Undefined = 0, Byte = 1, Word = 2, DWord = 3, QWord = 4 };
struct Gas {
    GasSpace space = GasSpace::SystemMemory;
    uint8_t bit_width = 0;
    uint8_t bit_offset = 0;
    GasAccess access = GasAccess::Undefined;
    uint64_t address = 0;
};
// An 8-bit register in system memory, byte access: the hardware-reduced sleep/reset registers.
Gas mmio_byte_register(uint64_t address);

// FADT for a hardware-reduced platform (§5.2.9, revision 6.5, 276 bytes).
struct FadtConfig {
    uint64_t dsdt_gpa = 0;          // goes to X_DSDT; the 32-bit DSDT field stays 0 (§5.2.9)
    Gas sleep_control;
    Gas sleep_status;
    Gas reset_reg;
    uint8_t reset_value = 0;
    std::string_view hypervisor_vendor = "NEMU";  // at most 8 characters, NUL padded
};
[[nodiscard]] Result<std::vector<uint8_t>> build_fadt(const FadtConfig& cfg);

// MADT (§5.2.12).
struct MadtCpu {
    uint32_t uid = 0;       // ACPI Processor UID, matches the Processor Device's _UID
    uint32_t apic_id = 0;
    bool present = false;   // Enabled if present, else Online Capable (hot-pluggable later)
};
struct MadtConfig {
    uint32_t lapic_address = 0xFEE00000;
    std::vector<MadtCpu> cpus;
    uint8_t ioapic_id = 0;
    uint32_t ioapic_address = 0xFEC00000;
    uint32_t ioapic_gsi_base = 0;
};
// Processor Local APIC entries (type 0) while apic id <= 254 and uid <= 255, Processor Local
// x2APIC entries (type 9) otherwise (§5.2.12.12: 255 is the xAPIC broadcast id).
[[nodiscard]] Result<std::vector<uint8_t>> build_madt(const MadtConfig& cfg);

} // namespace nemu::acpi
