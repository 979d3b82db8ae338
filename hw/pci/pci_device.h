#pragma once
// A PCI Express function on pci-lite's root bus: the 4 KiB configuration space (PCI Local Bus
// 3.0, 6.1; PCI Express Base 4.0, 7.5) with per-byte write and write-1-to-clear masks, type-0
// header BARs with the sizing protocol (PCI 3.0, 6.2.5.1), the standard capability list at 0x34
// (6.7), a PCI Express capability (PCIe 4.0, 7.5.3) and optional MSI-X (PCI 3.0, 6.8.2).
//
// Life cycle: a subclass sets its identity, BARs and capabilities in realize(); PciBus::plug
// realizes the device (complete()), lays out its BARs inside the host bridge windows and takes
// the power-on snapshot that reset() returns to.
//
// QOM: the abstract type "pci-device" (QEMU's TYPE_PCI_DEVICE) with QEMU's "addr"
// (pci-devfn: "SLOT" or "SLOT.FN" in hex, or an int32 devfn, -1 = auto) and "multifunction".
// "rombar"/"romfile" are not implemented (no option ROMs without firmware).
//
// Threads: config_read/config_write come from vCPU threads (ECAM exits) and reset() from the
// main loop; PciBus serializes all of them with its lock. bar_address() and msix() may be read
// from any thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hw/core/device.h"

namespace nemu::memory {
class MemoryRegion;
}

namespace nemu::hw::pci {

class Msix;
class PciBus;
class PciPlatform;

inline constexpr unsigned kConfigSpaceSize = 4096;   // PCIe extended configuration space
inline constexpr unsigned kNumBars = 6;              // type-0 header
inline constexpr unsigned kSlots = 32;
inline constexpr unsigned kFunctions = 8;
inline constexpr int32_t kDevfnAuto = -1;
inline constexpr uint64_t kMinBarSize = 4096;        // one page, so BARs never share a page

constexpr uint8_t make_devfn(unsigned slot, unsigned function) {
    return static_cast<uint8_t>((slot & 0x1f) << 3 | (function & 7));
}

// Type-0 configuration header offsets and bits (PCI Local Bus 3.0, 6.1/6.2).
namespace cfg {
inline constexpr unsigned kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06;
inline constexpr unsigned kRevision = 0x08, kClassProg = 0x09, kCacheLineSize = 0x0c;
inline constexpr unsigned kHeaderType = 0x0e, kBar0 = 0x10, kSubsystemVendorId = 0x2c;
inline constexpr unsigned kSubsystemId = 0x2e, kRomAddress = 0x30, kCapabilityList = 0x34;
inline constexpr unsigned kInterruptLine = 0x3c, kInterruptPin = 0x3d;
inline constexpr unsigned kHeaderEnd = 0x40;        // capabilities live in [0x40, 0x100)
inline constexpr uint16_t kCommandMemory = 0x0002, kCommandMaster = 0x0004;
inline constexpr uint16_t kCommandSerr = 0x0100, kCommandIntxDisable = 0x0400;
inline constexpr uint16_t kStatusCapList = 0x0010;
inline constexpr uint8_t kHeaderMultifunction = 0x80;
inline constexpr uint32_t kBarMem64 = 0x4, kBarPrefetch = 0x8;
inline constexpr uint8_t kCapIdPm = 0x01, kCapIdVendor = 0x09, kCapIdExpress = 0x10;
inline constexpr uint8_t kCapIdMsix = 0x11;
} // namespace cfg

enum class BarKind { Mmio32, Mmio64, Mmio64Prefetch };

class PciDevice : public hw::Device {
public:
    PciDevice();
    ~PciDevice() override;

    // Where the device sits. devfn() is valid once plugged.
    uint8_t devfn() const { return m_devfn; }
    unsigned slot() const { return m_devfn >> 3; }
    unsigned function() const { return m_devfn & 7; }
    PciBus* bus() const { return m_bus; }
    bool plugged() const { return m_bus != nullptr; }
    // Guest memory, the main loop, MSI routes and ioeventfds. Valid once plugged.
    PciPlatform& platform() const;
    // MSI-X state, nullptr without MSI-X (init_msix not called).
    Msix* msix() const { return m_msix.get(); }

    // The configuration bytes (little-endian) and the masks config_write applies.
    std::span<uint8_t> config() { return m_config; }
    std::span<const uint8_t> config() const { return m_config; }
    std::span<uint8_t> write_mask() { return m_wmask; }
    std::span<uint8_t> w1c_mask() { return m_w1cmask; }

    // BARs: the guest-physical address while the BAR decodes (memory space on, programmed),
    // else 0. Thread: any.
    uint64_t bar_address(unsigned index) const;
    uint64_t bar_size(unsigned index) const;   // 0: no BAR at index
    BarKind bar_kind(unsigned index) const;
    memory::MemoryRegion* bar_region(unsigned index) const;
    // The BAR's address as programmed in config space (whether or not it decodes).
    uint64_t bar_programmed(unsigned index) const;

    // 4096 for a PCI Express function, 256 for a conventional one.
    unsigned config_size() const;
    // Configuration access (1, 2 or 4 bytes, naturally aligned, offset < 4096; PciBus checks).
    // The default implements the masks, the BAR sizing protocol, the command register's
    // memory-space bit and MSI-X's Message Control. Subclasses may override and call the base.
    virtual uint32_t config_read(uint32_t offset, unsigned size);
    virtual void config_write(uint32_t offset, uint32_t value, unsigned size);

    // Device reset: configuration back to the power-on snapshot (BARs as laid out at plug
    // time), MSI-X table masked and disabled. Subclasses override and call the base.
    virtual void reset();

    // A PCI Express function (4 KiB config space, a PCIe capability of type RCiEP added after
    // realize) or a conventional one (256 bytes, the default). Set before plug. QEMU 7.2 makes
    // virtio-pci functions on a root bus conventional (virtio_pci_realize drops
    // QEMU_PCI_CAP_EXPRESS when pci_bus_is_root), which is where pci-lite puts every device.
    bool m_express = false;
    // Properties: "addr" (devfn, -1 = first free slot) and "multifunction".
    int32_t m_addr = kDevfnAuto;
    bool m_multifunction = false;

protected:
    // For realize(): identity, BARs, capabilities and MSI-X.
    void set_ids(uint16_t vendor, uint16_t device, uint16_t subsystem_vendor, uint16_t subsystem,
                 uint32_t class_code, uint8_t revision);
    // region's size must be a power of two >= 4 KiB (asserted: a programmer bug). A 64-bit BAR
    // takes slots index and index + 1. The region is mapped by the bus when decoding.
    void register_bar(unsigned index, memory::MemoryRegion& region, BarKind kind);
    // Appends a capability of `size` bytes to the list at 0x34 and returns its offset; the ID
    // and next pointer are filled, the rest is zero and read-only until the caller sets
    // write_mask(). Asserts when the 192 bytes of standard capability space run out.
    uint8_t add_capability(uint8_t id, uint8_t size);
    // MSI-X capability with `vectors` entries; table and PBA are MMIO subregions of BAR `bar`'s
    // region (which must be a container and already registered) at the given offsets.
    Result<> init_msix(unsigned vectors, unsigned bar, uint32_t table_offset, uint32_t pba_offset);

    // Called when BAR `index` starts decoding at gpa, stops decoding, or moves (unmapped at
    // the old address, then mapped at the new one). Thread: the thread that wrote config space.
    virtual void bar_mapped(unsigned /*index*/, uint64_t /*gpa*/) {}
    virtual void bar_unmapped(unsigned /*index*/, uint64_t /*gpa*/) {}

    Result<> on_complete() override;

private:
    friend class PciBus;
    struct Bar {
        memory::MemoryRegion* region = nullptr;
        uint64_t size = 0;
        BarKind kind = BarKind::Mmio32;
        std::atomic<uint64_t> mapped{0};   // gpa while decoding, else 0
    };
    // PciBus: attach/detach, BAR placement, the power-on snapshot.
    void attach(PciBus* bus, uint8_t devfn);
    void detach();
    void program_bar(unsigned index, uint64_t gpa);
    void set_command(uint16_t command);
    void take_power_on_snapshot();
    void update_mappings();
    void unmap_all();
    void add_express_capability();

    std::array<uint8_t, kConfigSpaceSize> m_config{};
    std::array<uint8_t, kConfigSpaceSize> m_wmask{};
    std::array<uint8_t, kConfigSpaceSize> m_w1cmask{};
    std::array<uint8_t, kConfigSpaceSize> m_power_on{};
    std::array<Bar, kNumBars> m_bars;
    uint8_t m_next_cap = cfg::kHeaderEnd;
    uint8_t m_msix_cap = 0;
    std::unique_ptr<Msix> m_msix;
    std::unique_ptr<memory::MemoryRegion> m_msix_table, m_msix_pba;
    PciBus* m_bus = nullptr;
    uint8_t m_devfn = 0;
};

// The abstract "pci-device" type (properties addr, multifunction) and the interfaces
// "pci-express-device" and "conventional-pci-device".
void register_pci_device_type(qom::TypeRegistry& registry);

// QEMU's pci-devfn text: "SLOT" or "SLOT.FN", hex, slot < 32, function < 8. nullopt: invalid.
std::optional<uint8_t> parse_devfn(std::string_view text);

} // namespace nemu::hw::pci
