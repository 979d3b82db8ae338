// ACPI tables of the x86-64 `virt` machine. Layout and device set: the issue-4 memory map
// (RSDP at 0xE0000, tables after it in the reserved 0xE0000..0xFFFFF area, GED at 0xFEA00000,
// hardware-reduced registers at 0xFEA01000, COM1 at 0x3F8/GSI 4).
#include "hw/acpi/x86_virt_acpi.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "hw/acpi/acpi_tables.h"

namespace nemu::acpi {

// The builder's vocabulary reads like ASL; the directive is confined to this source file.
using namespace aml;  // NOLINT(google-build-using-namespace)

namespace {

constexpr size_t kMaxProcessorDevices = 0x1000;  // names C000..CFFF
constexpr uint8_t kDsdtRevision = 2;             // 64-bit integers (ACPI 6.5 §19.6.28)

// Device(Cnnn): a Processor Device (ACPI 6.5 §8.4), _UID matching the MADT Processor UID.
Aml processor_device(unsigned index) {
    return device(fmt::format("C{:03X}", index),
                  {name("_HID", string("ACPI0007")), name("_UID", integer(index))});
}

// Device(COM1): the 16550A at uart_io, 8 ports, on an ISA-style IRQ (edge, active high).
Aml com1_device(const X86VirtAcpiConfig& cfg) {
    return device("COM1", {
        name("_HID", eisa_id("PNP0501")),
        name("_UID", one()),
        name("_STA", integer(0x0F)),
        name("_CRS", resource_template({
            io_decode16(cfg.uart_io, cfg.uart_io, 0x00, 0x08),
            irq_no_flags(static_cast<uint8_t>(cfg.uart_gsi)),
        })),
    });
}

// Device(PWRB): the control-method power button (ACPI 6.5 §4.8.2.2.1.2), notified by the GED.
Aml power_button_device() {
    return device("PWRB", {name("_HID", string("PNP0C0C")), name("_UID", zero())});
}

// Device(GED0): Generic Event Device (ACPI 6.5 §5.6.9). OSPM calls _EVT with the GSI when the
// interrupt fires; _EVT reads (and thereby clears) the event selector and dispatches.
Aml ged_device(const X86VirtAcpiConfig& cfg) {
    const uint32_t gsi[] = {cfg.ged_gsi};
    return device("GED0", {
        name("_HID", string("ACPI0013")),
        name("_UID", zero()),
        name("_CRS", resource_template({
            interrupt(Trigger::Edge, Polarity::ActiveHigh, Sharing::Exclusive, gsi),
        })),
        operation_region("EREG", RegionSpace::SystemMemory, cfg.ged_base, kGedEselSize),
        field("EREG", FieldAccess::DWord, FieldLock::NoLock, FieldUpdate::Preserve,
              {field_unit("ESEL", 32)}),
        method("_EVT", 1, true, {
            store(name_ref("ESEL"), local(0)),
            if_(lequal(and_(local(0), integer(kGedEventPowerButton)),
                       integer(kGedEventPowerButton)),
                {notify(name_ref("\\_SB.PWRB"), integer(0x80))}),
        }),
    });
}

Result<> validate(const X86VirtAcpiConfig& cfg) {
    if (cfg.apic_ids.empty()) return fail("ACPI: no CPUs");
    if (cfg.present_cpus == 0 || cfg.present_cpus > cfg.apic_ids.size())
        return fail("ACPI: {} present CPUs out of {} possible", cfg.present_cpus, cfg.apic_ids.size());
    if (cfg.present_cpus > kMaxProcessorDevices)
        return fail("ACPI: at most {} present CPUs are supported", kMaxProcessorDevices);
    std::set<uint32_t> seen;
    for (uint32_t id : cfg.apic_ids)
        if (!seen.insert(id).second) return fail("ACPI: duplicate APIC id {}", id);
    if (cfg.uart_gsi >= 16) return fail("ACPI: UART GSI {} is not an ISA IRQ (0-15)", cfg.uart_gsi);
    if (cfg.rsdp_gpa % 16 != 0) return fail("ACPI: RSDP address 0x{:x} is not 16-byte aligned", cfg.rsdp_gpa);
    if (cfg.tables_gpa >= cfg.tables_end) return fail("ACPI: empty table area");
    bool rsdp_apart = cfg.rsdp_gpa + kRsdpSize <= cfg.tables_gpa || cfg.rsdp_gpa >= cfg.tables_end;
    if (!rsdp_apart) return fail("ACPI: RSDP at 0x{:x} overlaps the table area", cfg.rsdp_gpa);
    return {};
}

uint64_t align8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

} // namespace

Result<std::vector<uint8_t>> build_x86_virt_dsdt(const X86VirtAcpiConfig& cfg) {
    TRY(validate(cfg));
    Aml sb = scope("\\_SB");
    for (unsigned i = 0; i < cfg.present_cpus; ++i) sb.add(processor_device(i));
    sb.add(com1_device(cfg));
    sb.add(power_button_device());
    sb.add(ged_device(cfg));
    for (const auto& extra : cfg.extra_sb_devices) sb.add(extra);

    std::vector<Aml> terms;
    terms.push_back(std::move(sb));
    // \_S5: SLP_TYPa, SLP_TYPb and two reserved values (ACPI 6.5 §7.4.2). On a hardware-reduced
    // platform OSPM writes SLP_TYPa with SLP_EN to SLEEP_CONTROL_REG (§4.8.3.7).
    terms.push_back(name("\\_S5", package({integer(kSlpTypS5), zero(), zero(), zero()})));
    return definition_block("DSDT", kDsdtRevision, terms);
}

Result<std::vector<AcpiBlob>> build_x86_virt_acpi(const X86VirtAcpiConfig& cfg) {
    TRY(validate(cfg));
    auto dsdt = TRY(build_x86_virt_dsdt(cfg));

    MadtConfig madt_cfg;
    for (size_t i = 0; i < cfg.apic_ids.size(); ++i)
        madt_cfg.cpus.push_back(MadtCpu{static_cast<uint32_t>(i), cfg.apic_ids[i], i < cfg.present_cpus});
    auto madt = TRY(build_madt(madt_cfg));

    // Place DSDT, FADT, MADT and the extras first; the FADT needs the DSDT's address and the
    // XSDT, placed last, everyone else's.
    const uint64_t base = align8(cfg.tables_gpa);
    uint64_t cursor = base;
    auto place = [&cursor](size_t size) {
        uint64_t at = cursor;
        cursor = align8(cursor + size);
        return at;
    };
    const uint64_t dsdt_gpa = place(dsdt.size());
    const uint64_t fadt_gpa = place(kFadtSize);
    const uint64_t madt_gpa = place(madt.size());
    std::vector<uint64_t> xsdt_entries{fadt_gpa, madt_gpa};
    for (const auto& t : cfg.extra_tables) {
        if (t.size() < kHeaderSize) return fail("ACPI: extra table shorter than its header");
        xsdt_entries.push_back(place(t.size()));
    }
    auto xsdt = TRY(build_xsdt(xsdt_entries));
    const uint64_t xsdt_gpa = place(xsdt.size());
    const uint64_t end = xsdt_gpa + xsdt.size();
    if (end > cfg.tables_end)
        return fail("ACPI tables need {} bytes but only {} fit between 0x{:x} and 0x{:x}",
                    end - base, cfg.tables_end > base ? cfg.tables_end - base : 0, base,
                    cfg.tables_end);

    FadtConfig fadt_cfg;
    fadt_cfg.dsdt_gpa = dsdt_gpa;
    fadt_cfg.sleep_control = mmio_byte_register(cfg.acpi_regs_base + kGedRegSleepControl);
    fadt_cfg.sleep_status = mmio_byte_register(cfg.acpi_regs_base + kGedRegSleepStatus);
    fadt_cfg.reset_reg = mmio_byte_register(cfg.acpi_regs_base + kGedRegReset);
    fadt_cfg.reset_value = kGedResetValue;
    auto fadt = TRY(build_fadt(fadt_cfg));

    AcpiBlob tables{base, std::vector<uint8_t>(end - base, 0)};
    auto copy_at = [&tables, base](uint64_t gpa, const std::vector<uint8_t>& t) {
        std::copy(t.begin(), t.end(), tables.bytes.begin() + static_cast<ptrdiff_t>(gpa - base));
    };
    copy_at(dsdt_gpa, dsdt);
    copy_at(fadt_gpa, fadt);
    copy_at(madt_gpa, madt);
    for (size_t i = 0; i < cfg.extra_tables.size(); ++i) copy_at(xsdt_entries[2 + i], cfg.extra_tables[i]);
    copy_at(xsdt_gpa, xsdt);

    std::vector<AcpiBlob> blobs;
    blobs.push_back(AcpiBlob{cfg.rsdp_gpa, build_rsdp(xsdt_gpa)});
    blobs.push_back(std::move(tables));
    return blobs;
}

} // namespace nemu::acpi
