#pragma once
// The PciPlatform of -accel qtest (and, until the KVM one lands, FIXME(#5), of KVM too): an
// MSI is what PCI 3.0 6.8 says it is, a 32-bit memory write of the message data to the
// message address in the machine's memory address space; there are no ioeventfds.
// Thread: any (AddressSpace writes are safe from any thread).

#include "hw/pci/pci_platform.h"

namespace nemu::hw::pci {

class QtestPciPlatform final : public PciPlatform {
public:
    // memory and loop must outlive the platform (and the routes it creates).
    QtestPciPlatform(const memory::AddressSpace& memory, EventLoop& loop) : m_memory(memory), m_loop(loop) {}

    const memory::AddressSpace& dma() override { return m_memory; }
    EventLoop& main_loop() override { return m_loop; }
    Result<std::unique_ptr<MsiRoute>> create_msi_route() override;
    Result<bool> add_ioeventfd(uint64_t, unsigned, const EventFd&) override { return false; }
    void remove_ioeventfd(uint64_t, unsigned, const EventFd&) override {}

private:
    const memory::AddressSpace& m_memory;
    EventLoop& m_loop;
};

} // namespace nemu::hw::pci
