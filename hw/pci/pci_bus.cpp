#include "hw/pci/pci_bus.h"

#include <fmt/format.h>

#include "hw/memory/memory_region.h"

namespace nemu::hw::pci {

namespace {

// QEMU prints the other device's id as "%s" of a possibly NULL string: "(null)" when anonymous.
std::string id_or_null(const PciDevice& dev) { return dev.m_id.empty() ? "(null)" : dev.m_id; }

uint32_t all_ones(unsigned size) { return size >= 4 ? UINT32_MAX : (uint32_t{1} << (8 * size)) - 1; }

bool valid_access(uint32_t offset, unsigned size) {
    return (size == 1 || size == 2 || size == 4) && offset % size == 0 && offset + size <= kConfigSpaceSize;
}

} // namespace

PciBus::PciBus(std::string name, memory::MemoryRegion& memory, PciPlatform& platform, BarWindow mmio32,
               BarWindow mmio64)
    : m_name(std::move(name)), m_memory(memory), m_platform(platform), m_mmio32(mmio32), m_mmio64(mmio64),
      m_next32(mmio32.base), m_next64(mmio64.base) {}

PciBus::~PciBus() {
    for (PciDevice* dev : m_devices)
        if (dev) dev->detach();
}

// QEMU's do_pci_register_device and pci_init_multifunction rules and messages (QEMU 7.2).
Result<uint8_t> PciBus::choose_devfn(const PciDevice& dev) const {
    std::string_view type = dev.type_name();
    if (dev.m_addr == kDevfnAuto) {
        for (unsigned slot = 0; slot < kSlots; ++slot)
            if (!m_devices[make_devfn(slot, 0)]) return make_devfn(slot, 0);
        return fail("PCI: no slot/function available for {}, all in use or reserved", type);
    }
    if (dev.m_addr < 0 || dev.m_addr > 255) return fail("PCI: devfn {} is out of range", dev.m_addr);
    auto devfn = static_cast<uint8_t>(dev.m_addr);
    unsigned slot = devfn >> 3, fn = devfn & 7;
    if (const PciDevice* other = m_devices[devfn])
        return fail("PCI: slot {} function {} not available for {}, in use by {},id={}", slot, fn, type,
                    other->type_name(), id_or_null(*other));
    const PciDevice* fn0 = m_devices[make_devfn(slot, 0)];
    if (fn != 0 && fn0 && !fn0->m_multifunction)
        return fail("PCI: single function device can't be populated in function {:x}.{:x}", slot, fn);
    if (fn == 0 && !dev.m_multifunction)
        for (unsigned f = 1; f < kFunctions; ++f)
            if (m_devices[make_devfn(slot, f)])
                return fail("PCI: {:x}.0 indicates single function, but {:x}.{:x} is already populated.", slot,
                            slot, f);
    return devfn;
}

Result<> PciBus::plug(PciDevice& dev) {
    std::lock_guard lock(m_lock);
    if (dev.plugged()) return fail("PCI: {} is already plugged", dev.type_name());
    uint8_t devfn = TRY(choose_devfn(dev));
    int32_t requested = dev.m_addr;
    dev.attach(this, devfn);
    dev.m_addr = devfn;   // QEMU stores the chosen devfn back (info qtree: addr = 03.0)
    m_devices[devfn] = &dev;
    auto undo = [&] {
        m_devices[devfn] = nullptr;
        dev.detach();
        dev.m_addr = requested;
    };
    if (auto r = dev.complete(); !r) {
        undo();
        return r;
    }
    if (auto r = layout_bars(dev); !r) {
        undo();
        return r;
    }
    dev.take_power_on_snapshot();
    return {};
}

void PciBus::unplug(PciDevice& dev) {
    std::lock_guard lock(m_lock);
    if (dev.bus() != this) return;
    m_devices[dev.devfn()] = nullptr;
    dev.detach();
}

void PciBus::forget(PciDevice& dev) {
    std::lock_guard lock(m_lock);
    if (m_devices[dev.devfn()] == &dev) m_devices[dev.devfn()] = nullptr;
    dev.m_bus = nullptr;
}

std::vector<PciDevice*> PciBus::devices() const {
    std::lock_guard lock(m_lock);
    std::vector<PciDevice*> out;
    for (PciDevice* dev : m_devices)
        if (dev) out.push_back(dev);
    return out;
}

PciDevice* PciBus::find(uint8_t devfn) const {
    std::lock_guard lock(m_lock);
    return m_devices[devfn];
}

void PciBus::reset() {
    std::lock_guard lock(m_lock);
    for (PciDevice* dev : m_devices)
        if (dev) dev->reset();
}

Result<uint64_t> PciBus::allocate(BarWindow& window, uint64_t& next, uint64_t size, const PciDevice& dev) {
    uint64_t addr = (next + size - 1) & ~(size - 1);
    if (addr < next || addr - window.base > window.size || size > window.base + window.size - addr)
        return fail("PCI: no room for a {} KiB BAR of {} in the MMIO window at {:#x}", size >> 10, dev.type_name(),
                    window.base);
    next = addr + size;
    return addr;
}

// Direct boot has no firmware to assign BARs, so the bus does it: Linux (pcibios_resource_survey
// on x86, kernel 6.1) claims BARs that already sit inside a host bridge window and only
// reassigns the others. Largest-first would pack tighter; first-fit in order is enough for a
// handful of devices and keeps addresses predictable for tests.
//
// Memory decoding is left on, as SeaBIOS leaves devices on QEMU: the BARs decode from the
// start, so a device's bar_mapped() hook (virtio-pci's ioeventfds) runs at plug time, and a
// qtest driver may use a BAR at once. Linux's pci_enable_device sets the bit anyway. Bus
// mastering stays off until the driver enables it.
Result<> PciBus::layout_bars(PciDevice& dev) {
    uint64_t saved32 = m_next32, saved64 = m_next64;
    bool any = false;
    for (unsigned i = 0; i < kNumBars; ++i) {
        uint64_t size = dev.bar_size(i);
        if (!size) continue;
        bool wide = dev.bar_kind(i) != BarKind::Mmio32;
        auto addr = wide ? allocate(m_mmio64, m_next64, size, dev) : allocate(m_mmio32, m_next32, size, dev);
        if (!addr) {
            m_next32 = saved32;
            m_next64 = saved64;
            return make_error(std::move(addr).error());
        }
        dev.program_bar(i, *addr);
        any = true;
    }
    if (any) dev.set_command(static_cast<uint16_t>(dev.config_read(cfg::kCommand, 2) | cfg::kCommandMemory));
    return {};
}

uint32_t PciBus::config_read(uint8_t devfn, uint32_t offset, unsigned size) const {
    if (!valid_access(offset, size)) return all_ones(size);
    std::lock_guard lock(m_lock);
    PciDevice* dev = m_devices[devfn];
    if (!dev) return all_ones(size);
    return dev->config_read(offset, size) & all_ones(size);
}

void PciBus::config_write(uint8_t devfn, uint32_t offset, uint32_t value, unsigned size) {
    if (!valid_access(offset, size)) return;
    std::lock_guard lock(m_lock);
    if (PciDevice* dev = m_devices[devfn]) dev->config_write(offset, value & all_ones(size), size);
}

} // namespace nemu::hw::pci
