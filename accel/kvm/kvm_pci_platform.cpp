#include "accel/kvm/kvm_pci_platform.h"

#include <mutex>
#include <optional>

#include "accel/kvm/kvm_vm.h"
#include "util/event_fd.h"

namespace nemu::kvm {

namespace {

// One vector: an eventfd bound to a GSI whose route carries the vector's MSI message. The GSI
// and irqfd exist from the first message on (a vector the guest never programs costs nothing).
class KvmMsiRoute final : public hw::pci::MsiRoute {
public:
    KvmMsiRoute(KvmVm& vm, EventFd fd) : m_vm(vm), m_fd(std::move(fd)) {}
    ~KvmMsiRoute() override {
        std::lock_guard lock(m_lock);
        if (!m_gsi) return;
        (void)m_vm.remove_irqfd(*m_gsi, m_fd.fd());
        m_vm.remove_msi_route(*m_gsi);
    }

    Result<> set_message(const hw::pci::MsiMessage& m) override {
        std::lock_guard lock(m_lock);
        if (m_gsi) return m_vm.update_msi_route(*m_gsi, m.address, m.data);
        uint32_t gsi = TRY(m_vm.add_msi_route(m.address, m.data));
        if (auto r = m_vm.add_irqfd(gsi, m_fd.fd()); !r) {
            m_vm.remove_msi_route(gsi);
            return r;
        }
        m_gsi = gsi;
        return {};
    }

    void fire() override {
        // No message yet: the guest enabled the vector without programming it; nothing to send.
        std::lock_guard lock(m_lock);
        if (m_gsi) m_fd.signal();
    }

    // The fd is bound to the GSI from the first set_message on; KVM_SET_GSI_ROUTING updates
    // the irqfd's message in place (api.rst 4.52), so a holder keeps the same fd across
    // message changes.
    const EventFd* irqfd() const override {
        std::lock_guard lock(m_lock);
        return m_gsi ? &m_fd : nullptr;
    }

private:
    KvmVm& m_vm;
    EventFd m_fd;
    mutable std::mutex m_lock;
    std::optional<uint32_t> m_gsi;
};

} // namespace

Result<std::unique_ptr<KvmPciPlatform>> KvmPciPlatform::create(KvmVm& vm, const memory::AddressSpace& dma, EventLoop& loop) {
    return std::unique_ptr<KvmPciPlatform>(new KvmPciPlatform(vm, dma, loop));
}

Result<std::unique_ptr<hw::pci::MsiRoute>> KvmPciPlatform::create_msi_route() {
    auto fd = TRY(EventFd::create());
    return std::unique_ptr<hw::pci::MsiRoute>(std::make_unique<KvmMsiRoute>(m_vm, std::move(fd)));
}

Result<bool> KvmPciPlatform::add_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) {
    TRY(m_vm.add_ioeventfd(gpa, len, false, fd.fd()));
    return true;
}

void KvmPciPlatform::remove_ioeventfd(uint64_t gpa, unsigned len, const EventFd& fd) {
    (void)m_vm.remove_ioeventfd(gpa, len, false, fd.fd());
}

} // namespace nemu::kvm
