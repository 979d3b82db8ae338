#include "accel/kvm/kvm_vm.h"

#include "accel/kvm/kvm_ioctls.h"

#include <sys/ioctl.h>

#include <cerrno>

namespace nemu::kvm {

namespace {
constexpr uint64_t kIdentityMapAddr = 0xFEFFC000;   // one page
constexpr uint64_t kTssAddr = 0xFEFFD000;           // three pages
// KVM_MAX_IRQ_ROUTES (include/linux/kvm_host.h, x86: 4096)
constexpr size_t kMaxIrqRoutes = 4096;
}

Result<std::unique_ptr<KvmVm>> KvmVm::create(KvmSystem& system) {
    std::unique_ptr<KvmVm> vm(new KvmVm(system));
    // KVM_CREATE_VM can fail with EINTR when a signal arrives; QEMU retries, so do we.
    int fd;
    do {
        fd = ::ioctl(system.fd(), KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail_errno("ioctl(KVM_CREATE_VM) failed", errno);
    vm->m_fd = UniqueFd(fd);
    return vm;
}

KvmVm::~KvmVm() = default;

Result<> KvmVm::create_irqchip() {
    uint64_t ident = kIdentityMapAddr;
    if (::ioctl(fd(), KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
        return fail_errno("KVM_SET_IDENTITY_MAP_ADDR failed", errno);
    if (::ioctl(fd(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(kTssAddr)) < 0)
        return fail_errno("KVM_SET_TSS_ADDR failed", errno);
    if (::ioctl(fd(), KVM_CREATE_IRQCHIP, 0) < 0)
        return fail_errno("Could not create in-kernel irqchip (KVM_CREATE_IRQCHIP)", errno);
    m_irqchip = true;
    return {};
}

Result<> KvmVm::set_ioapic_routing(unsigned pins) {
    std::lock_guard lock(m_routes_lock);
    m_ioapic_pins = pins;
    return commit_routes_locked();
}

Result<> KvmVm::commit_routes_locked() {
    size_t n = m_ioapic_pins + m_msi_routes.size();
    KvmArray<IrqRoutingHeader, kvm_irq_routing_entry> table(n);
    table.header().nr = static_cast<uint32_t>(n);
    table.header().flags = 0;
    for (unsigned i = 0; i < m_ioapic_pins; ++i) {
        kvm_irq_routing_entry& e = table.entries()[i];
        e = kvm_irq_routing_entry{};
        e.gsi = i;
        e.type = KVM_IRQ_ROUTING_IRQCHIP;
        e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        e.u.irqchip.pin = i;
    }
    for (size_t i = 0; i < m_msi_routes.size(); ++i) {
        kvm_irq_routing_entry& e = table.entries()[m_ioapic_pins + i];
        e = kvm_irq_routing_entry{};
        e.gsi = m_msi_routes[i].gsi;
        e.type = KVM_IRQ_ROUTING_MSI;
        e.u.msi.address_lo = static_cast<uint32_t>(m_msi_routes[i].address);
        e.u.msi.address_hi = static_cast<uint32_t>(m_msi_routes[i].address >> 32);
        e.u.msi.data = m_msi_routes[i].data;
    }
    if (::ioctl(fd(), kSetGsiRouting, table.data()) < 0) return fail_errno("KVM_SET_GSI_ROUTING failed", errno);
    return {};
}

Result<uint32_t> KvmVm::add_msi_route(uint64_t address, uint32_t data) {
    std::lock_guard lock(m_routes_lock);
    // The lowest GSI above the IOAPIC pins that no route uses (KVM allows up to
    // KVM_MAX_IRQ_ROUTES entries; the GSI number itself only has to be unique).
    uint32_t gsi = m_ioapic_pins;
    for (bool taken = true; taken; ) {
        taken = false;
        for (const auto& r : m_msi_routes)
            if (r.gsi == gsi) { taken = true; ++gsi; }
    }
    if (m_ioapic_pins + m_msi_routes.size() >= kMaxIrqRoutes) return fail("no free KVM GSI route for an MSI vector");
    m_msi_routes.push_back({gsi, address, data});
    if (auto r = commit_routes_locked(); !r) {
        m_msi_routes.pop_back();
        return make_error(r.error());
    }
    return gsi;
}

Result<> KvmVm::update_msi_route(uint32_t gsi, uint64_t address, uint32_t data) {
    std::lock_guard lock(m_routes_lock);
    for (auto& r : m_msi_routes)
        if (r.gsi == gsi) {
            r.address = address;
            r.data = data;
            return commit_routes_locked();
        }
    return fail("no KVM MSI route on GSI {}", gsi);
}

void KvmVm::remove_msi_route(uint32_t gsi) {
    std::lock_guard lock(m_routes_lock);
    std::erase_if(m_msi_routes, [gsi](const MsiRouteEntry& r) { return r.gsi == gsi; });
    (void)commit_routes_locked();
}

Result<> KvmVm::set_irq_line(uint32_t gsi, bool level) {
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    if (::ioctl(fd(), KVM_IRQ_LINE, &irq) < 0) return fail_errno("KVM_IRQ_LINE failed", errno);
    return {};
}

Result<> KvmVm::save_irqchip_reset_state() {
    m_irqchip_reset.clear();
    for (uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC}) {
        kvm_irqchip state{};
        state.chip_id = chip;
        if (::ioctl(fd(), KVM_GET_IRQCHIP, &state) < 0) return fail_errno("KVM_GET_IRQCHIP failed", errno);
        m_irqchip_reset.push_back(state);
    }
    return {};
}

Result<> KvmVm::restore_irqchip_reset_state() {
    for (auto state : m_irqchip_reset)
        if (::ioctl(fd(), KVM_SET_IRQCHIP, &state) < 0) return fail_errno("KVM_SET_IRQCHIP failed", errno);
    return {};
}

Result<> KvmVm::set_memory_slot(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = flags;
    region.guest_phys_addr = gpa;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (::ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail_errno(fmt::format("KVM_SET_USER_MEMORY_REGION (slot {}, gpa {:#x}, size {:#x}) failed", slot, gpa, size), errno);
    return {};
}

Result<> KvmVm::add_irqfd(uint32_t gsi, int efd, int resample_fd) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(efd);
    irqfd.gsi = gsi;
    if (resample_fd >= 0) {
        irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
        irqfd.resamplefd = static_cast<uint32_t>(resample_fd);
    }
    if (::ioctl(fd(), KVM_IRQFD, &irqfd) < 0) return fail_errno("KVM_IRQFD failed", errno);
    return {};
}

Result<> KvmVm::remove_irqfd(uint32_t gsi, int efd) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(efd);
    irqfd.gsi = gsi;
    irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
    if (::ioctl(fd(), KVM_IRQFD, &irqfd) < 0) return fail_errno("KVM_IRQFD (deassign) failed", errno);
    return {};
}

namespace {
kvm_ioeventfd make_ioeventfd(uint64_t addr, uint32_t len, bool pio, int fd, std::optional<uint64_t> datamatch) {
    kvm_ioeventfd io{};
    io.addr = addr;
    io.len = len;
    io.fd = fd;
    if (pio) io.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (datamatch) {
        io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        io.datamatch = *datamatch;
    }
    return io;
}
} // namespace

Result<> KvmVm::add_ioeventfd(uint64_t addr, uint32_t len, bool pio, int efd, std::optional<uint64_t> datamatch) {
    auto io = make_ioeventfd(addr, len, pio, efd, datamatch);
    if (::ioctl(fd(), KVM_IOEVENTFD, &io) < 0) return fail_errno("KVM_IOEVENTFD failed", errno);
    return {};
}

Result<> KvmVm::remove_ioeventfd(uint64_t addr, uint32_t len, bool pio, int efd, std::optional<uint64_t> datamatch) {
    auto io = make_ioeventfd(addr, len, pio, efd, datamatch);
    io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (::ioctl(fd(), KVM_IOEVENTFD, &io) < 0) return fail_errno("KVM_IOEVENTFD (deassign) failed", errno);
    return {};
}

// --- memory listener ------------------------------------------------------------------------

void KvmMemoryListener::region_add(const memory::RamSection& s) {
    uint32_t i = 0;
    while (i < m_slots.size() && m_slots[i].used) ++i;
    if (i < m_max_slots) {
        if (auto r = m_vm.set_memory_slot(i, s.gpa, s.size, s.host, 0); !r) {
            if (!m_error) m_error = r.error();
            return;
        }
        if (i == m_slots.size()) m_slots.emplace_back();
        m_slots[i] = Slot{true, s};
        return;
    }
    if (!m_error) m_error = Error{ErrorClass::GenericError, fmt::format("no free KVM memory slot for {:#x}+{:#x}", s.gpa, s.size)};
}

void KvmMemoryListener::region_del(const memory::RamSection& s) {
    for (uint32_t i = 0; i < m_slots.size(); ++i) {
        if (!m_slots[i].used || !(m_slots[i].section == s)) continue;
        // A zero-sized region deletes the slot (api.rst 4.35).
        if (auto r = m_vm.set_memory_slot(i, s.gpa, 0, s.host, 0); !r && !m_error) m_error = r.error();
        m_slots[i] = Slot{};
        return;
    }
}

size_t KvmMemoryListener::slots_in_use() const {
    size_t n = 0;
    for (const auto& s : m_slots) n += s.used;
    return n;
}

} // namespace nemu::kvm
