#pragma once
// The ACPI tables of the x86-64 `virt` machine: RSDP, XSDT, FADT (hardware-reduced), MADT and a
// DSDT describing the CPUs, the COM1 16550, the Generic Event Device and the power button.
// The addresses and interrupts are those of docs' x86 virt memory map (issue 4); every value the
// machine may change is a field of X86VirtAcpiConfig.
//
// Threading: pure functions, called by the machine while it is being built (main thread).

#include <cstdint>
#include <vector>

#include "hw/acpi/aml_builder.h"
#include "hw/acpi/ged.h"
#include "util/result.h"

namespace nemu::acpi {

// The register layout (offsets, values, event bits) is the device model's: hw/acpi/ged.h.
inline constexpr uint64_t kGedEselSize = 4;

struct X86VirtAcpiConfig {
    std::vector<uint32_t> apic_ids;  // possible CPUs, index = cpu index = ACPI Processor UID
    unsigned present_cpus = 0;       // CPUs 0 .. present_cpus-1 exist at boot
    uint16_t uart_io = 0x3f8;
    uint32_t uart_gsi = 4;           // below 16: described with IRQNoFlags
    uint64_t ged_base = 0xFEA00000;
    uint32_t ged_gsi = 16;
    uint64_t acpi_regs_base = 0xFEA01000;
    uint64_t rsdp_gpa = 0xE0000;
    uint64_t tables_gpa = 0xE0040;
    uint64_t tables_end = 0x100000;

    // Extension points for devices added later (PCI0 host bridge, MCFG, ...):
    // AML nodes appended inside Scope(\_SB) after the built-in devices,
    std::vector<aml::Aml> extra_sb_devices;
    // and finished tables (header and checksum included, e.g. from make_table()) laid out after
    // the MADT and listed in the XSDT.
    std::vector<std::vector<uint8_t>> extra_tables;
};

// A piece of guest memory to fill before the guest starts.
struct AcpiBlob {
    uint64_t gpa = 0;
    std::vector<uint8_t> bytes;
};

// [0] the RSDP at rsdp_gpa; [1] DSDT, FADT, MADT, the extra tables and the XSDT laid out from
// tables_gpa (each 8-byte aligned, zero padding between them). Fails on an inconsistent config
// or if the tables do not fit below tables_end.
[[nodiscard]] Result<std::vector<AcpiBlob>> build_x86_virt_acpi(const X86VirtAcpiConfig& cfg);

// The DSDT alone (what build_x86_virt_acpi places first), for tests and dumps.
[[nodiscard]] Result<std::vector<uint8_t>> build_x86_virt_dsdt(const X86VirtAcpiConfig& cfg);

} // namespace nemu::acpi
