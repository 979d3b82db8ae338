#include "hw/pci/pci_device.h"

#include <cassert>
#include <cstring>

#include "hw/memory/memory_region.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_bus.h"

namespace nemu::hw::pci {

namespace {

uint32_t get_le(std::span<const uint8_t> bytes, unsigned offset, unsigned size) {
    uint32_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint32_t{bytes[offset + i]} << (8 * i);
    return v;
}

void put_le(std::span<uint8_t> bytes, unsigned offset, uint32_t v, unsigned size) {
    for (unsigned i = 0; i < size; ++i) bytes[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

bool overlaps(unsigned offset, unsigned size, unsigned start, unsigned len) {
    return offset < start + len && start < offset + size;
}

bool is_64bit(BarKind kind) { return kind != BarKind::Mmio32; }

// PCIe capability (PCI Express Base 4.0, 7.5.3), version 2 with its 0x3C bytes.
constexpr uint8_t kExpressCapSize = 0x3c;
// Device/Port Type 1001b: Root Complex Integrated Endpoint (7.5.3.2). pci-lite has no root
// ports, so functions sit directly on the root complex, as QEMU makes them on q35's and
// gpex's pcie.0 (pcie_endpoint_cap_init picks PCI_EXP_TYPE_RC_END on a root bus). An RCiEP
// has no link, so Linux reads no link registers for it.
constexpr uint16_t kExpressFlags = 0x0002 | (0x9 << 4);
constexpr uint32_t kDevCapRoleBasedErrors = 1u << 15;
// Device Control defaults (7.5.3.4): relaxed ordering and no snoop enabled, 512-byte reads.
constexpr uint16_t kDevCtlDefault = 0x0010 | 0x0800 | 0x2000;
// Writable: error reporting enables, relaxed ordering, max payload, extended tags, no snoop,
// max read request.
constexpr uint16_t kDevCtlWritable = 0x000f | 0x0010 | 0x00e0 | 0x0100 | 0x0800 | 0x7000;
constexpr uint16_t kDevStaW1c = 0x000f;   // the four error-detected bits (7.5.3.5)

} // namespace

PciDevice::PciDevice() = default;

PciDevice::~PciDevice() {
    // A device destroyed while plugged: its subclass's BAR regions are already gone (they
    // detached themselves from system memory), so the bus only forgets the slot.
    if (m_bus) m_bus->forget(*this);
    if (m_msix_table && m_msix_table->parent())
        const_cast<memory::MemoryRegion*>(m_msix_table->parent())->remove_subregion(*m_msix_table);
    if (m_msix_pba && m_msix_pba->parent())
        const_cast<memory::MemoryRegion*>(m_msix_pba->parent())->remove_subregion(*m_msix_pba);
}

PciPlatform& PciDevice::platform() const {
    assert(m_bus && "platform() before the device is plugged");
    return m_bus->platform();
}

uint64_t PciDevice::bar_address(unsigned index) const {
    return index < kNumBars ? m_bars[index].mapped.load(std::memory_order_acquire) : 0;
}

uint64_t PciDevice::bar_size(unsigned index) const { return index < kNumBars ? m_bars[index].size : 0; }

BarKind PciDevice::bar_kind(unsigned index) const {
    return index < kNumBars ? m_bars[index].kind : BarKind::Mmio32;
}

memory::MemoryRegion* PciDevice::bar_region(unsigned index) const {
    return index < kNumBars ? m_bars[index].region : nullptr;
}

uint64_t PciDevice::bar_programmed(unsigned index) const {
    if (index >= kNumBars || !m_bars[index].size) return 0;
    unsigned at = cfg::kBar0 + 4 * index;
    uint64_t addr = get_le(m_config, at, 4) & ~uint32_t{0xf};
    if (is_64bit(m_bars[index].kind)) addr |= uint64_t{get_le(m_config, at + 4, 4)} << 32;
    return addr;
}

void PciDevice::set_ids(uint16_t vendor, uint16_t device, uint16_t subsystem_vendor, uint16_t subsystem,
                        uint32_t class_code, uint8_t revision) {
    put_le(m_config, cfg::kVendorId, vendor, 2);
    put_le(m_config, cfg::kDeviceId, device, 2);
    put_le(m_config, cfg::kSubsystemVendorId, subsystem_vendor, 2);
    put_le(m_config, cfg::kSubsystemId, subsystem, 2);
    m_config[cfg::kRevision] = revision;
    put_le(m_config, cfg::kClassProg, class_code & 0xffffff, 3);
}

void PciDevice::register_bar(unsigned index, memory::MemoryRegion& region, BarKind kind) {
    uint64_t size = static_cast<uint64_t>(region.size());
    // Programmer bugs, not guest input: a BAR's size is the device model's constant.
    assert(index + (is_64bit(kind) ? 1 : 0) < kNumBars);
    assert(size >= kMinBarSize && (size & (size - 1)) == 0);
    assert(kind != BarKind::Mmio32 || size <= (uint64_t{1} << 31));
    m_bars[index].region = &region;
    m_bars[index].size = size;
    m_bars[index].kind = kind;
    // The BAR's low bits say what it is (PCI 3.0, 6.2.5.1); the address bits below the size
    // are read-only zero, which is what makes the sizing protocol work: write all-ones, read
    // back ~(size - 1) | type.
    unsigned at = cfg::kBar0 + 4 * index;
    uint32_t type = 0;
    if (is_64bit(kind)) type |= cfg::kBarMem64;
    if (kind == BarKind::Mmio64Prefetch) type |= cfg::kBarPrefetch;
    put_le(m_config, at, type, 4);
    put_le(m_wmask, at, static_cast<uint32_t>(~(size - 1)) & ~uint32_t{0xf}, 4);
    if (is_64bit(kind)) {
        put_le(m_config, at + 4, 0, 4);
        put_le(m_wmask, at + 4, static_cast<uint32_t>(~(size - 1) >> 32), 4);
    }
}

uint8_t PciDevice::add_capability(uint8_t id, uint8_t size) {
    unsigned at = (m_next_cap + 3u) & ~3u;
    assert(size >= 2 && at + size <= 0x100 && "standard capability space exhausted");
    m_config[at] = id;
    m_config[at + 1] = 0;
    // Append to the list: walk from 0x34 (the list is ours, so it is well-formed).
    unsigned link = cfg::kCapabilityList;
    while (m_config[link] != 0) link = m_config[link] + 1u;
    m_config[link] = static_cast<uint8_t>(at);
    put_le(m_config, cfg::kStatus, get_le(m_config, cfg::kStatus, 2) | cfg::kStatusCapList, 2);
    m_next_cap = static_cast<uint8_t>(std::min(at + size, 0xffu));
    return static_cast<uint8_t>(at);
}

Result<> PciDevice::init_msix(unsigned vectors, unsigned bar, uint32_t table_offset, uint32_t pba_offset) {
    if (vectors == 0 || vectors > Msix::kMaxVectors) return fail("MSI-X: {} vectors is out of range 1-2048", vectors);
    if (bar >= kNumBars || !m_bars[bar].region) return fail("MSI-X: BAR {} is not registered", bar);
    memory::MemoryRegion& region = *m_bars[bar].region;
    if (region.kind() != memory::RegionKind::Container) return fail("MSI-X: BAR {} is not a container region", bar);
    uint64_t table_size = uint64_t{vectors} * Msix::kEntrySize;
    uint64_t pba_size = (uint64_t{vectors} + 63) / 64 * 8;
    uint64_t bar_size = m_bars[bar].size;
    // The BIR shares the offsets' low three bits: both are QWORD aligned (PCI 3.0, 6.8.2.4-5).
    if ((table_offset | pba_offset) & 7) return fail("MSI-X: table and PBA offsets must be 8-byte aligned");
    if (table_offset + table_size > bar_size || pba_offset + pba_size > bar_size ||
        overlaps(table_offset, static_cast<unsigned>(table_size), pba_offset, static_cast<unsigned>(pba_size)))
        return fail("MSI-X: table or PBA does not fit in BAR {}", bar);
    if (m_msix) return fail("MSI-X: already initialised");

    m_msix = std::make_unique<Msix>(platform(), vectors);
    // Table and PBA accesses are DWORD or QWORD (6.8.2); narrower ones are widened.
    m_msix_table = memory::MemoryRegion::mmio("msix-table", table_size, m_msix->table_handler(), {4, 8, false});
    m_msix_pba = memory::MemoryRegion::mmio("msix-pba", pba_size, m_msix->pba_handler(), {4, 8, false});
    region.add_subregion(table_offset, *m_msix_table, 1);
    region.add_subregion(pba_offset, *m_msix_pba, 1);

    m_msix_cap = add_capability(cfg::kCapIdMsix, 12);
    put_le(m_config, m_msix_cap + 2, vectors - 1, 2);   // Table Size is N - 1
    put_le(m_config, m_msix_cap + 4, table_offset | bar, 4);
    put_le(m_config, m_msix_cap + 8, pba_offset | bar, 4);
    // Only MSI-X Enable and Function Mask are writable (6.8.2.3).
    m_wmask[m_msix_cap + 3] = static_cast<uint8_t>((Msix::kControlEnable | Msix::kControlFunctionMask) >> 8);
    return {};
}

void PciDevice::add_express_capability() {
    uint8_t at = add_capability(cfg::kCapIdExpress, kExpressCapSize);
    put_le(m_config, at + 2, kExpressFlags, 2);
    put_le(m_config, at + 4, kDevCapRoleBasedErrors, 4);
    put_le(m_config, at + 8, kDevCtlDefault, 2);
    put_le(m_wmask, at + 8, kDevCtlWritable, 2);
    put_le(m_w1cmask, at + 10, kDevStaW1c, 2);
}

Result<> PciDevice::on_complete() {
    // The generic header's writable bits (PCI 3.0, 6.2.2): memory space, bus master, SERR#,
    // parity error response and INTx disable in Command; cache line size and interrupt line
    // are plain storage. No I/O space: pci-lite has no I/O window. Status error bits are RW1C.
    put_le(m_wmask, cfg::kCommand, cfg::kCommandMemory | cfg::kCommandMaster | 0x0040 | cfg::kCommandSerr |
                                       cfg::kCommandIntxDisable, 2);
    m_wmask[cfg::kCacheLineSize] = 0xff;
    m_wmask[cfg::kInterruptLine] = 0xff;
    put_le(m_w1cmask, cfg::kStatus, 0xf900, 2);
    if (m_multifunction) m_config[cfg::kHeaderType] |= cfg::kHeaderMultifunction;
    TRY(realize());
    if (m_express) add_express_capability();
    return {};
}

// A conventional function has 256 bytes of configuration space; beyond them ECAM reads
// all-ones and drops writes (QEMU pci_host_config_read_common: pci_config_size()).
unsigned PciDevice::config_size() const { return m_express ? kConfigSpaceSize : 256; }

uint32_t PciDevice::config_read(uint32_t offset, unsigned size) {
    if (size != 1 && size != 2 && size != 4) return UINT32_MAX;
    if (offset + size > config_size() || offset % size) return UINT32_MAX >> (32 - 8 * size);
    return get_le(m_config, offset, size);
}

void PciDevice::config_write(uint32_t offset, uint32_t value, unsigned size) {
    if ((size != 1 && size != 2 && size != 4) || offset + size > config_size() || offset % size) return;
    for (unsigned i = 0; i < size; ++i) {
        uint8_t v = static_cast<uint8_t>(value >> (8 * i));
        unsigned at = offset + i;
        uint8_t wm = m_wmask[at], w1c = m_w1cmask[at];
        m_config[at] = static_cast<uint8_t>(((m_config[at] & ~wm) | (v & wm)) & ~(v & w1c));
    }
    if (overlaps(offset, size, cfg::kCommand, 2) || overlaps(offset, size, cfg::kBar0, 4 * kNumBars))
        update_mappings();
    if (m_msix && overlaps(offset, size, m_msix_cap + 2u, 2))
        m_msix->control_written(static_cast<uint16_t>(get_le(m_config, m_msix_cap + 2, 2)));
}

void PciDevice::reset() {
    m_config = m_power_on;
    if (m_msix) m_msix->reset();
    update_mappings();
}

void PciDevice::attach(PciBus* bus, uint8_t devfn) {
    m_bus = bus;
    m_devfn = devfn;
}

void PciDevice::detach() {
    unmap_all();
    m_bus = nullptr;
}

void PciDevice::program_bar(unsigned index, uint64_t gpa) {
    unsigned at = cfg::kBar0 + 4 * index;
    uint32_t type = get_le(m_config, at, 4) & 0xf;
    put_le(m_config, at, static_cast<uint32_t>(gpa) | type, 4);
    if (is_64bit(m_bars[index].kind)) put_le(m_config, at + 4, static_cast<uint32_t>(gpa >> 32), 4);
}

void PciDevice::set_command(uint16_t command) {
    put_le(m_config, cfg::kCommand, command, 2);
    update_mappings();
}

void PciDevice::take_power_on_snapshot() { m_power_on = m_config; }

// Where BAR i decodes now, or 0 (QEMU pci_bar_address's rules): memory space must be on, the
// address non-zero, and the BAR must not wrap or, for a 32-bit BAR, cross 4 GiB. The sizing
// protocol's all-ones value therefore never decodes.
void PciDevice::update_mappings() {
    if (!m_bus) return;
    bool memory_on = get_le(m_config, cfg::kCommand, 2) & cfg::kCommandMemory;
    for (unsigned i = 0; i < kNumBars; ++i) {
        Bar& bar = m_bars[i];
        if (!bar.size) continue;
        uint64_t addr = bar_programmed(i) & ~(bar.size - 1);
        uint64_t last = addr + bar.size - 1;
        bool decodes = memory_on && addr != 0 && last > addr && last != UINT64_MAX &&
                       (is_64bit(bar.kind) || last < UINT32_MAX);
        uint64_t want = decodes ? addr : 0;
        uint64_t have = bar.mapped.load(std::memory_order_relaxed);
        if (want == have) continue;
        if (have) {
            m_bus->memory().remove_subregion(*bar.region);
            bar.mapped.store(0, std::memory_order_release);
            bar_unmapped(i, have);
        }
        if (want) {
            // Below RAM and the board's devices (QEMU's PCI window sits at priority -1): a BAR
            // the guest puts over RAM or ECAM cannot shadow them.
            m_bus->memory().add_subregion(want, *bar.region, -1);
            bar.mapped.store(want, std::memory_order_release);
            bar_mapped(i, want);
        }
    }
}

void PciDevice::unmap_all() {
    if (!m_bus) return;
    for (unsigned i = 0; i < kNumBars; ++i) {
        uint64_t have = m_bars[i].mapped.exchange(0);
        if (!have) continue;
        m_bus->memory().remove_subregion(*m_bars[i].region);
        bar_unmapped(i, have);
    }
}

} // namespace nemu::hw::pci
