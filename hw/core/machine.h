#pragma once
// The abstract QOM "machine" type and the family data every board declares (QEMU's
// MachineClass fields that query-machines and -machine help report). A board builds its
// memory map and devices in init(); the QOM object is /machine.
// Thread: main loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/memory/address_space.h"
#include "hw/memory/memory_region.h"
#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu {
class EventLoop;
}
namespace nemu::chardev {
class Chardev;
}
namespace nemu::hw::pci {
class PciBus;
}
namespace nemu::hw {
struct DeviceBackends;
}

namespace nemu::hw {

// What a board reports to the VM about the guest. Implemented by the VM; callable from any
// thread (vCPU threads call it from exits and device registers), it only queues work on the
// main loop.
struct MachineHost {
    virtual ~MachineHost() = default;
    virtual void guest_poweroff() = 0;                          // ACPI S5, a shutdown event
    virtual void guest_reset() = 0;                             // reboot, triple fault
    virtual void guest_internal_error(const std::string& report) = 0;   // KVM could not go on
};

// A vCPU as query-cpus-fast reports it.
struct CpuSlot {
    unsigned index = 0;
    std::string qom_path;
    int64_t thread_id = 0;
    std::optional<unsigned> socket_id, die_id, core_id, thread_in_core;
};

// One entry of the boot timeline (docs/boot-timeline.md).
struct TimelineMark {
    std::string name;
    uint64_t ns = 0;   // since process start
};

struct MachineClassData {
    std::string name;                 // "-machine NAME": the type name minus "-machine"
    std::string desc;
    bool is_default = false;
    unsigned max_cpus = 1;
    std::string default_cpu_type;     // empty: none
    std::string default_ram_id;       // empty: none (machine "none")
    uint64_t default_ram_size = 0;
    bool hotpluggable_cpus = false;
    bool numa_mem_supported = false;
    bool acpi = false;
    std::optional<std::string> alias;
};

// The -smp topology (QAPI SMPConfiguration), as the machine's "smp" property reports it.
struct SmpTopology {
    unsigned cpus = 1, maxcpus = 1, sockets = 1, dies = 1, clusters = 1, cores = 1, threads = 1;
};

// What a board needs from the VM while it initialises.
struct MachineConfig {
    uint64_t ram_size = 0;            // 0: the board's default
    bool ram_size_given = false;
    unsigned cpus = 0;
    std::string memory_backend_id;
    // Boards that run guest code: the accelerator ("kvm" or "qtest"), the VM to report to,
    // the -serial chardevs in order (nullptr for "none"), the -cpu model text, and
    // direct kernel boot (-kernel/-initrd/-append).
    std::string accel = "kvm";
    MachineHost* host = nullptr;
    std::vector<chardev::Chardev*> serials;
    std::string cpu_model = "host";
    std::string kernel, initrd, append;
    // RAM from -machine memory-backend= (or -mem-path): host memory owned by the backend.
    struct RamBacking {
        std::string id;
        uint8_t* host = nullptr;
        uint64_t size = 0;
    };
    std::optional<RamBacking> ram_backing;
    // Queue work on the main loop from any thread (chardev flow control from vCPU threads).
    std::function<void(std::function<void()>)> post_to_main_loop;
    // The main loop itself (device doorbells, PCI platform services). Owned by the VM.
    EventLoop* main_loop = nullptr;
};

class Machine : public qom::Object {
public:
    static constexpr std::string_view kTypeSuffix = "-machine";

    Machine();
    ~Machine() override;

    const MachineClassData& class_data() const;
    // Build memory map and on-board devices. Called once, after -object backends exist.
    virtual Result<> init(const MachineConfig& config);

    // Life cycle, driven by the VM on the main thread. A board without vCPUs ignores them.
    virtual void set_running(bool) {}
    // A full machine reset (system_reset, guest reboot): devices, vCPUs, boot state.
    virtual Result<> reset() { return {}; }
    // The ACPI power button (system_powerdown). false: the board has none.
    virtual bool press_power_button() { return false; }
    virtual std::vector<CpuSlot> cpu_slots() const { return {}; }
    virtual std::vector<TimelineMark> boot_timeline() const { return {}; }
    // The root PCI(e) bus ("pcie.0") that -device ...,bus= plugs into; nullptr: no PCI.
    virtual pci::PciBus* pci_root_bus() { return nullptr; }
    // Named backends for devices being realized (drives, iothreads, chardevs); set by the VM.
    DeviceBackends* backends() const { return m_backends; }
    void set_backends(DeviceBackends* b) { m_backends = b; }

    memory::MemoryRegion& system_memory() { return *m_system_memory; }
    memory::MemoryRegion& system_io() { return *m_system_io; }
    memory::AddressSpace& address_space_memory() { return *m_as_memory; }
    memory::AddressSpace& address_space_io() { return *m_as_io; }
    uint64_t ram_size() const { return m_ram_size; }

    // Properties (QEMU's machine properties that apply to us).
    std::string m_kernel, m_initrd, m_append, m_firmware, m_memory_backend;
    bool m_dump_guest_core = true, m_mem_merge = true, m_graphics = true, m_suppress_vmdesc = false;
    SmpTopology m_smp;
    uint64_t m_maxmem = 0, m_memory_slots = 0;

protected:
    uint64_t m_ram_size = 0;
    std::unique_ptr<memory::MemoryRegion> m_ram;

private:
    DeviceBackends* m_backends = nullptr;
    std::unique_ptr<memory::MemoryRegion> m_system_memory;
    std::unique_ptr<memory::MemoryRegion> m_system_io;
    std::unique_ptr<memory::AddressSpace> m_as_memory;
    std::unique_ptr<memory::AddressSpace> m_as_io;
};

// Register a board type "<data.name>-machine" deriving from "machine".
void register_machine(qom::TypeRegistry& registry, MachineClassData data,
                      std::function<std::unique_ptr<Machine>()> create);
// The abstract "machine" type and the "none" board.
void register_machine_types(qom::TypeRegistry& registry);

} // namespace nemu::hw
