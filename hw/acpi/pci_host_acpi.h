#pragma once
// ACPI for pci-lite's PCIe host bridge: the MCFG table (PCI Firmware Specification 3.2, 4.1.2)
// and the DSDT's \_SB.PCI0 (ACPI 6.5, 6.1-6.2; PCI Firmware 3.2, 4.5 for _OSC) with its
// motherboard-resources child RES0 reserving ECAM (PNP0C02), which Linux's MMCONFIG check
// (arch/x86/pci/mmconfig-shared.c, "not reserved in ACPI motherboard resources") requires.
// Modelled on QEMU 7.2's hw/pci-host/gpex-acpi.c, as microvm,pcie=on describes its gpex.
// Threading: pure functions (main thread, while the machine is built).

#include <cstdint>
#include <vector>

#include "hw/acpi/aml_builder.h"
#include "util/result.h"

namespace nemu::acpi {

struct PciHostAcpiConfig {
    uint64_t ecam_base = 0;
    uint8_t bus_start = 0, bus_end = 255;   // ECAM covers (bus_end - bus_start + 1) MiB
    uint64_t mmio32_base = 0, mmio32_size = 0;
    uint64_t mmio64_base = 0, mmio64_size = 0;
};

// MCFG with one allocation: segment 0, buses bus_start..bus_end at ecam_base.
[[nodiscard]] Result<std::vector<uint8_t>> build_mcfg(const PciHostAcpiConfig& cfg);
// Device (PCI0) for Scope(\_SB): _HID PNP0A08, _CID PNP0A03, _SEG, _BBN, _UID, _CCA, _CRS
// (bus numbers, the 32- and 64-bit MMIO windows), _OSC granting native PCIe control, RES0.
[[nodiscard]] Result<aml::Aml> build_pci0_device(const PciHostAcpiConfig& cfg);

} // namespace nemu::acpi
