#pragma once
// What the machine gives the PCI host bridge and its devices: guest memory for DMA, the main
// loop, MSI delivery and ioeventfds. KVM and qtest implement it differently:
//   KVM:   an MSI vector is a GSI route (KVM_SET_GSI_ROUTING, type MSI) plus an irqfd, so any
//          thread raises it with one eventfd write; ioeventfds let a notify write complete in
//          the kernel without a vCPU exit to userspace.
//   qtest: an MSI is what the PCI spec says it is, a 32-bit memory write of `data` to
//          `address` in guest memory (where libqos-style drivers point MSI-X entries and
//          poll); there are no ioeventfds, so the device's MMIO handler rings the same EventFd.
// Thread: create_msi_route/add_ioeventfd/remove_ioeventfd on the main loop or a vCPU thread
// (BAR programming and MSI-X table writes come from vCPUs); MsiRoute::fire from any thread.

#include <cstdint>
#include <memory>

#include "util/result.h"

namespace nemu {
class EventLoop;
class EventFd;
} // namespace nemu

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::hw::pci {

// An MSI message (PCI Local Bus 3.0, 6.8; x86: Intel SDM vol. 3, 10.11 address/data format).
struct MsiMessage {
    uint64_t address = 0;
    uint32_t data = 0;
    bool operator==(const MsiMessage&) const = default;
};

// One MSI(-X) vector's path to the interrupt controller.
class MsiRoute {
public:
    virtual ~MsiRoute() = default;
    // The vector's address/data changed (the guest wrote the MSI-X table entry).
    virtual Result<> set_message(const MsiMessage& message) = 0;
    // Deliver one interrupt with the current message. Thread: any.
    virtual void fire() = 0;
    // The eventfd whose signal delivers the current message without nemu (KVM: the irqfd bound
    // to the route's GSI), for a producer outside nemu such as vhost's call fd (QEMU's
    // irqfd-backed guest notifier). nullptr: the platform has none (qtest) or no message was
    // set yet. Stays valid as long as the route.
    virtual const EventFd* irqfd() const { return nullptr; }
};

class PciPlatform {
public:
    virtual ~PciPlatform() = default;
    virtual const memory::AddressSpace& dma() = 0;
    virtual EventLoop& main_loop() = 0;
    virtual Result<std::unique_ptr<MsiRoute>> create_msi_route() = 0;
    // Ring `fd` on a guest write of `len` bytes at guest-physical `gpa` without leaving the
    // kernel. false: not available (qtest); the caller's MMIO handler rings it instead.
    virtual Result<bool> add_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) = 0;
    virtual void remove_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) = 0;
};

} // namespace nemu::hw::pci
