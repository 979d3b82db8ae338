#pragma once
// MSI-X (PCI Local Bus 3.0, 6.8.2): a table of `vectors` 16-byte entries (message address
// lo/hi, data, vector control with the mask bit) and a Pending Bit Array, both in a BAR, plus
// the capability's Message Control (MSI-X Enable, Function Mask) in configuration space.
//
// notify(v): disabled -> nothing; vector or function masked -> the PBA bit is set; else the
// vector's MsiRoute fires. Unmasking a vector (or the function) with a pending bit set fires
// it and clears the bit (6.8.3.4). Routes come from PciPlatform::create_msi_route, lazily on
// the first fire, and follow every address/data change through set_message.
//
// A vector may also be raised without nemu (direct_fd: the route's KVM irqfd, handed to vhost
// as its call fd) while it is deliverable; the change handler tells the holder when that
// stops or starts being true, so it can switch to a polled eventfd of its own that ends in
// notify() (and thus in the PBA) while the vector is masked — QEMU's guest notifier masking
// (hw/virtio/virtio-pci.c virtio_pci_vector_mask/unmask).
//
// Threads: table/PBA MMIO from vCPU threads, control_written from the config-space path,
// notify from any thread (device iothreads, the main loop): one mutex inside. Routes are fired
// outside the mutex (an MSI under qtest is a memory write that could land on this very table).
// The change handler runs on the thread that made the change, outside the mutex.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hw/memory/memory_region.h"
#include "hw/pci/pci_platform.h"

namespace nemu::hw::pci {

class Msix {
public:
    static constexpr unsigned kMaxVectors = 2048;   // Table Size is 11 bits (6.8.2.3)
    static constexpr unsigned kEntrySize = 16;
    // Message Control bits (6.8.2.3).
    static constexpr uint16_t kControlEnable = 0x8000, kControlFunctionMask = 0x4000;
    static constexpr uint32_t kVectorMasked = 1;   // Vector Control bit 0 (6.8.2.9)

    // platform must outlive the Msix.
    Msix(PciPlatform& platform, unsigned vectors);
    ~Msix();
    Msix(const Msix&) = delete;
    Msix& operator=(const Msix&) = delete;

    unsigned vectors() const { return m_vectors; }
    bool enabled() const;
    bool function_masked() const;
    bool vector_masked(unsigned vector) const;
    bool pending(unsigned vector) const;
    MsiMessage message(unsigned vector) const;

    // Raise vector `vector` (out of range: ignored). Thread: any.
    void notify(unsigned vector);

    // The eventfd that raises `vector` with its current message and no step through nemu, while
    // the vector is deliverable (MSI-X enabled, neither function nor vector masked) and the
    // platform has one (MsiRoute::irqfd); nullptr otherwise. From then on the vector's message
    // changes reach its route at once (not at the next notify), since the holder fires it
    // behind nemu's back. Thread: any.
    const EventFd* direct_fd(unsigned vector);
    // `handler` runs after anything that may change direct_fd's answer for some vector: MSI-X
    // enable or function mask toggled, a vector's mask bit toggled, reset. (A message change
    // keeps the fd: the route follows it.)
    // It may call direct_fd and notify. Set once, before the guest runs (the transport's
    // realize); thread: the changing one (vCPU, config path, main loop).
    void set_change_handler(std::function<void()> handler);

    // The guest wrote Message Control (the capability's bytes 2-3).
    void control_written(uint16_t control);
    // Power-on state: every vector masked, address/data zero, nothing pending, disabled.
    void reset();

    // MMIO handlers for the table (vectors * 16 bytes) and the PBA (ceil(vectors/64) qwords).
    memory::MmioHandler& table_handler() { return m_table_handler; }
    memory::MmioHandler& pba_handler() { return m_pba_handler; }
    uint64_t table_size() const { return uint64_t{m_vectors} * kEntrySize; }
    uint64_t pba_size() const { return (uint64_t{m_vectors} + 63) / 64 * 8; }

private:
    struct Entry {
        uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = kVectorMasked;
    };
    struct TableHandler final : memory::MmioHandler {
        explicit TableHandler(Msix& m) : msix(m) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;
        Msix& msix;
    };
    struct PbaHandler final : memory::MmioHandler {
        explicit PbaHandler(Msix& m) : msix(m) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t, uint64_t, unsigned) override {}   // read-only (6.8.2.10)
        Msix& msix;
    };
    bool masked_locked(unsigned vector) const;
    // Fires (outside the lock) the vectors collected while the lock was held.
    void fire(const std::vector<unsigned>& vectors);
    // Collects unmasked pending vectors, clearing their bits. Lock held.
    void collect_unmasked_pending_locked(std::vector<unsigned>& out);
    MsiRoute* route_locked(unsigned vector);
    void changed();

    PciPlatform& m_platform;
    unsigned m_vectors;
    mutable std::mutex m_lock;
    std::vector<Entry> m_table;
    std::vector<uint64_t> m_pba;
    std::vector<std::unique_ptr<MsiRoute>> m_routes;
    std::vector<bool> m_route_stale;   // message changed since the route last got it
    std::vector<bool> m_direct;        // handed out by direct_fd: keep the route's message current
    std::function<void()> m_on_change;
    bool m_enabled = false, m_function_masked = false;
    TableHandler m_table_handler{*this};
    PbaHandler m_pba_handler{*this};
};

} // namespace nemu::hw::pci
