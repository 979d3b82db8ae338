#include "hw/acpi/pci_host_acpi.h"

#include "hw/acpi/acpi_tables.h"

namespace nemu::acpi {

using namespace aml;   // NOLINT: the builder's vocabulary, local to this file

namespace {

void put_le(std::vector<uint8_t>& out, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// WordBusNumber (ACPI 6.5, 6.4.3.5.3): a Word Address Space Descriptor of resource type 2.
Resource word_bus_number(uint16_t min, uint16_t max) {
    Resource r{0x88, 0x0D, 0x00, 0x02};   // tag, length 13, resource type: bus number range
    r.push_back(0x0C);                    // general flags: MaxFixed, MinFixed, PosDecode, ResourceProducer
    r.push_back(0x00);                    // type-specific flags
    auto word = [&](uint16_t v) { r.push_back(static_cast<uint8_t>(v)); r.push_back(static_cast<uint8_t>(v >> 8)); };
    word(0);                              // granularity
    word(min);
    word(max);
    word(0);                              // translation
    word(static_cast<uint16_t>(max - min + 1));
    return r;
}

// CreateDWordField (source, index, name) — ACPI 6.5, 20.2.5.2 DefCreateDWordField.
Aml create_dword_field(Aml source, uint64_t index, std::string_view name) {
    auto src = source.encode();
    auto idx = integer(index).encode();
    auto nm = name_string_bytes(name);
    if (!src || !idx || !nm) return Aml::invalid("CreateDWordField: bad operand");
    std::vector<uint8_t> b{0x8A};
    b.insert(b.end(), src->begin(), src->end());
    b.insert(b.end(), idx->begin(), idx->end());
    b.insert(b.end(), nm->begin(), nm->end());
    return Aml::raw(std::move(b));
}

Aml lnotequal(Aml a, Aml b) { return lnot(lequal(std::move(a), std::move(b))); }

// _OSC for a PCIe host bridge (PCI Firmware 3.2, 4.5.1-4.5.2), as QEMU's
// acpi_dsdt_add_pci_osc: the OS gets control of everything it asks for among native PCIe
// hot-plug, SHPC hot-plug, PME, AER and the PCIe capability structure (mask 0x1F).
Aml osc_method() {
    return method("_OSC", 4, false, {
        create_dword_field(arg(3), 0, "CDW1"),
        if_(lequal(arg(0), to_uuid("33DB4D5B-1FF7-401C-9657-7441C03DD766")), {
            create_dword_field(arg(3), 4, "CDW2"),
            create_dword_field(arg(3), 8, "CDW3"),
            store(name_ref("CDW2"), name_ref("SUPP")),
            store(name_ref("CDW3"), name_ref("CTRL")),
            and_(name_ref("CTRL"), integer(0x1F), name_ref("CTRL")),
            if_(lnotequal(arg(1), one()), {
                or_(name_ref("CDW1"), integer(0x08), name_ref("CDW1")),   // unknown revision
            }),
            if_(lnotequal(name_ref("CDW3"), name_ref("CTRL")), {
                or_(name_ref("CDW1"), integer(0x10), name_ref("CDW1")),   // capabilities masked
            }),
            store(name_ref("CTRL"), name_ref("CDW3")),
        }),
        else_({
            or_(name_ref("CDW1"), integer(0x04), name_ref("CDW1")),       // unrecognized UUID
        }),
        return_(arg(3)),
    });
}

} // namespace

Result<std::vector<uint8_t>> build_mcfg(const PciHostAcpiConfig& cfg) {
    if (cfg.bus_end < cfg.bus_start) return fail("ACPI: MCFG bus range {}-{} is empty", cfg.bus_start, cfg.bus_end);
    std::vector<uint8_t> body(8, 0);   // reserved
    put_le(body, cfg.ecam_base, 8);
    put_le(body, 0, 2);                // PCI segment group 0
    body.push_back(cfg.bus_start);
    body.push_back(cfg.bus_end);
    put_le(body, 0, 4);                // reserved
    return make_table("MCFG", 1, body);
}

Result<Aml> build_pci0_device(const PciHostAcpiConfig& cfg) {
    if (!cfg.mmio32_size || !cfg.mmio64_size) return fail("ACPI: PCI0 needs both MMIO windows");
    AddressSpace m32;
    m32.min = cfg.mmio32_base;
    m32.max = cfg.mmio32_base + cfg.mmio32_size - 1;
    m32.length = cfg.mmio32_size;
    AddressSpace m64 = m32;
    m64.min = cfg.mmio64_base;
    m64.max = cfg.mmio64_base + cfg.mmio64_size - 1;
    m64.length = cfg.mmio64_size;
    Resource dword = TRY(dword_memory(m32));
    uint64_t ecam_size = (uint64_t{cfg.bus_end} - cfg.bus_start + 1) << 20;
    if (cfg.ecam_base + ecam_size > (uint64_t{1} << 32)) return fail("ACPI: ECAM must lie below 4 GiB");

    return device("PCI0", {
        name("_HID", eisa_id("PNP0A08")),
        name("_CID", eisa_id("PNP0A03")),
        name("_SEG", zero()),
        name("_BBN", integer(cfg.bus_start)),
        name("_UID", zero()),
        name("_CCA", one()),   // DMA is cache-coherent (ACPI 6.5, 6.2.17)
        name("_CRS", resource_template({word_bus_number(cfg.bus_start, cfg.bus_end), dword, qword_memory(m64)})),
        name("SUPP", zero()),
        name("CTRL", zero()),
        osc_method(),
        device("RES0", {
            name("_HID", eisa_id("PNP0C02")),
            name("_CRS", resource_template({memory32_fixed(static_cast<uint32_t>(cfg.ecam_base),
                                                           static_cast<uint32_t>(ecam_size))})),
        }),
    });
}

} // namespace nemu::acpi
