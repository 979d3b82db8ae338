#pragma once
// The abstract QOM "machine" type and the family data every board declares (QEMU's
// MachineClass fields that query-machines and -machine help report). A board builds its
// memory map and devices in init(); the QOM object is /machine.
// Thread: main loop.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hw/memory/address_space.h"
#include "hw/memory/memory_region.h"
#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu::hw {

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
};

class Machine : public qom::Object {
public:
    static constexpr std::string_view kTypeSuffix = "-machine";

    Machine();
    ~Machine() override;

    const MachineClassData& class_data() const;
    // Build memory map and on-board devices. Called once, after -object backends exist.
    virtual Result<> init(const MachineConfig& config);

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
