#pragma once
// The PCI platform services under KVM (hw/pci/pci_platform.h): an MSI(-X) vector is a GSI with
// an MSI routing entry plus an irqfd, so a device thread raises it with one eventfd write and
// the kernel injects it without a vCPU exit (api.rst 4.52 KVM_SET_GSI_ROUTING, 4.75 KVM_IRQFD);
// a doorbell register is an ioeventfd, so the guest's notify write completes in the kernel
// (api.rst 4.59 KVM_IOEVENTFD).
// Thread: see pci_platform.h; routes are committed under KvmVm's routing lock.

#include <memory>

#include "hw/pci/pci_platform.h"

namespace nemu::kvm {

class KvmVm;

class KvmPciPlatform final : public hw::pci::PciPlatform {
public:
    static Result<std::unique_ptr<KvmPciPlatform>> create(KvmVm& vm, const memory::AddressSpace& dma, EventLoop& loop);

    const memory::AddressSpace& dma() override { return m_dma; }
    EventLoop& main_loop() override { return m_loop; }
    Result<std::unique_ptr<hw::pci::MsiRoute>> create_msi_route() override;
    Result<bool> add_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) override;
    void remove_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) override;

private:
    KvmPciPlatform(KvmVm& vm, const memory::AddressSpace& dma, EventLoop& loop) : m_vm(vm), m_dma(dma), m_loop(loop) {}
    KvmVm& m_vm;
    const memory::AddressSpace& m_dma;
    EventLoop& m_loop;
};

} // namespace nemu::kvm
