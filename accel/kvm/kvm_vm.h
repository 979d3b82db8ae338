#pragma once
// A KVM VM fd: memory slots (fed by KvmMemoryListener), the in-kernel irqchip (LAPIC, IOAPIC,
// and the PIC that KVM always creates with it and that our guests never program), interrupt
// lines, irqfd and ioeventfd (Documentation/virt/kvm/api.rst, sections 4.x).
// Thread: slots and irqfd/ioeventfd registration on the main thread; set_irq_line from any
// thread (KVM_IRQ_LINE is safe to call concurrently).

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "accel/kvm/kvm_system.h"
#include "hw/memory/address_space.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::kvm {

class KvmVm {
public:
    static Result<std::unique_ptr<KvmVm>> create(KvmSystem& system);
    ~KvmVm();

    KvmSystem& system() { return m_system; }
    int fd() const { return m_fd.get(); }

    // x86: TSS and identity-map pages (needed by VMX real mode; placed in the MMIO hole where
    // nothing else lives, 0xFEFFC000..0xFF000000), then KVM_CREATE_IRQCHIP. KVM routes GSIs
    // 0..23 to the IOAPIC pins by default.
    Result<> create_irqchip();
    bool has_irqchip() const { return m_irqchip; }
    // GSI n -> IOAPIC pin n for the first `pins` GSIs, and nothing else. KVM's default routing
    // also feeds GSIs 0..15 to the in-kernel 8259 PIC, which a machine without a PIC must not
    // have: the never-initialised PIC forwards a raised line as an ExtINT with vector 0+irq
    // (an exception vector) to any vCPU whose LINT0 accepts ExtINT.
    Result<> set_ioapic_routing(unsigned pins);
    // MSI routes (KVM_IRQ_ROUTING_MSI) on GSIs above the IOAPIC pins, for irqfd-delivered
    // MSI-X vectors. KVM_SET_GSI_ROUTING replaces the whole table, so every change commits the
    // IOAPIC entries and all MSI routes again. Thread: any (a mutex orders the commits).
    Result<uint32_t> add_msi_route(uint64_t address, uint32_t data);
    Result<> update_msi_route(uint32_t gsi, uint64_t address, uint32_t data);
    void remove_msi_route(uint32_t gsi);
    // Level of a GSI (KVM_IRQ_LINE); edge-triggered IOAPIC pins see the rising edge.
    Result<> set_irq_line(uint32_t gsi, bool level);
    // The power-on state of the in-kernel PIC/IOAPIC, captured after creation and restored by
    // a machine reset (KVM_GET_IRQCHIP/KVM_SET_IRQCHIP).
    Result<> save_irqchip_reset_state();
    Result<> restore_irqchip_reset_state();

    Result<> set_memory_slot(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags);

    Result<> add_irqfd(uint32_t gsi, int fd, int resample_fd = -1);
    Result<> remove_irqfd(uint32_t gsi, int fd);
    // An ioeventfd for a guest write of len bytes at addr (pio: I/O port space); datamatch
    // restricts it to one written value.
    Result<> add_ioeventfd(uint64_t addr, uint32_t len, bool pio, int fd, std::optional<uint64_t> datamatch = {});
    Result<> remove_ioeventfd(uint64_t addr, uint32_t len, bool pio, int fd, std::optional<uint64_t> datamatch = {});

private:
    explicit KvmVm(KvmSystem& s) : m_system(s) {}
    Result<> commit_routes_locked();
    KvmSystem& m_system;
    UniqueFd m_fd;
    bool m_irqchip = false;
    std::mutex m_routes_lock;
    unsigned m_ioapic_pins = 0;
    struct MsiRouteEntry {
        uint32_t gsi = 0;
        uint64_t address = 0;
        uint32_t data = 0;
    };
    std::vector<MsiRouteEntry> m_msi_routes;
    std::vector<kvm_irqchip> m_irqchip_reset;
};

// Keeps KVM memory slots equal to the RAM sections of an address space (QEMU kvm_region_add/
// kvm_region_del). Thread: main thread (memory listeners run where the tree changes).
class KvmMemoryListener final : public memory::MemoryListener {
public:
    explicit KvmMemoryListener(KvmVm& vm) : m_vm(vm), m_max_slots(vm.system().nr_memslots()) {}
    void region_add(const memory::RamSection& s) override;
    void region_del(const memory::RamSection& s) override;
    // The first error a listener callback hit (callbacks cannot return one); checked by the
    // machine after building its memory map.
    const std::optional<Error>& error() const { return m_error; }
    size_t slots_in_use() const;

private:
    struct Slot {
        bool used = false;
        memory::RamSection section;
    };
    KvmVm& m_vm;
    // KVM_CAP_NR_MEMSLOTS is 32764 on current kernels while a VM uses a handful: the table
    // grows on demand up to it (sized up front it was 1.25 MiB of the VMM's resident memory).
    uint32_t m_max_slots;
    std::vector<Slot> m_slots;
    std::optional<Error> m_error;
};

} // namespace nemu::kvm
