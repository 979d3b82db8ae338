#include "hw/core/machine.h"

namespace nemu::hw {

Machine::Machine()
    : m_system_memory(memory::MemoryRegion::container("system", memory::kWholeSpace)),
      m_system_io(memory::MemoryRegion::container("io", 0x10000)),
      m_as_memory(std::make_unique<memory::AddressSpace>("memory", *m_system_memory)),
      m_as_io(std::make_unique<memory::AddressSpace>("I/O", *m_system_io)) {
    m_as_io->set_unassigned_byte(0xff);
}

Machine::~Machine() {
    // The address spaces must go before the regions they render.
    m_as_io.reset();
    m_as_memory.reset();
    if (m_ram) m_system_memory->remove_subregion(*m_ram);
}

const MachineClassData& Machine::class_data() const {
    return std::any_cast<const MachineClassData&>(type().class_data);
}

Result<> Machine::init(const MachineConfig& config) {
    m_ram_size = config.ram_size_given ? config.ram_size : class_data().default_ram_size;
    if (config.ram_backing) {
        m_ram_size = config.ram_backing->size;
        m_ram = memory::MemoryRegion::ram_from_host(config.ram_backing->id, config.ram_backing->host, m_ram_size);
        m_system_memory->add_subregion(0, *m_ram);
    } else if (m_ram_size) {
        m_ram = TRY(memory::MemoryRegion::ram(class_data().default_ram_id.empty() ? "ram" : class_data().default_ram_id,
                                              m_ram_size));
        m_system_memory->add_subregion(0, *m_ram);
    }
    return {};
}

void register_machine(qom::TypeRegistry& registry, MachineClassData data,
                      std::function<std::unique_ptr<Machine>()> create) {
    qom::TypeInfo info;
    info.name = data.name + std::string(Machine::kTypeSuffix);
    info.parent = "machine";
    info.description = data.desc;
    info.create = [create = std::move(create)]() -> std::unique_ptr<qom::Object> { return create(); };
    info.class_data = std::move(data);
    registry.add(std::move(info));
}

namespace {

// QEMU's "none" board (hw/core/null-machine.c): no CPUs by default, RAM at 0 only if -m.
class NoneMachine : public Machine {};

// Read-only views of the configuration (QEMU's "smp" is settable before init; nemu takes it
// from -smp only).
qom::PropertyDef smp_property() {
    qom::PropertyDef d;
    d.name = "smp";
    d.type = "SMPConfiguration";
    d.description = "CPU topology";
    d.get = [](const qom::Object& o) -> Result<Json> {
        const SmpTopology& t = static_cast<const Machine&>(o).m_smp;
        return Json{{"cpus", t.cpus},   {"maxcpus", t.maxcpus},   {"threads", t.threads}, {"cores", t.cores},
                    {"dies", t.dies},   {"sockets", t.sockets},   {"clusters", t.clusters}};
    };
    return d;
}

qom::PropertyDef memory_property() {
    qom::PropertyDef d;
    d.name = "memory";
    d.type = "MemorySizeConfiguration";
    d.description = "Memory size configuration";
    d.get = [](const qom::Object& o) -> Result<Json> {
        const auto& m = static_cast<const Machine&>(o);
        Json j{{"size", m.ram_size()}};
        if (m.m_maxmem > m.ram_size()) j["max-size"] = m.m_maxmem;
        if (m.m_memory_slots) j["slots"] = m.m_memory_slots;
        return j;
    };
    return d;
}

std::vector<qom::PropertyDef> machine_properties() {
    using qom::prop;
    std::optional<std::string> none;
    return {
        prop("kernel", &Machine::m_kernel, none, "Linux kernel image file", "string"),
        prop("initrd", &Machine::m_initrd, none, "Linux initial ramdisk file", "string"),
        prop("append", &Machine::m_append, none, "Linux kernel command line", "string"),
        prop("firmware", &Machine::m_firmware, none, "Firmware image", "string"),
        prop("memory-backend", &Machine::m_memory_backend, none, "Set RAM backendValid value is ID of hostmem based backend",
             "link<memory-backend>"),
        prop("dump-guest-core", &Machine::m_dump_guest_core, std::optional<bool>(true), "Include guest memory in a core dump"),
        prop("mem-merge", &Machine::m_mem_merge, std::optional<bool>(true), "Enable/disable memory merge support"),
        prop("graphics", &Machine::m_graphics, std::optional<bool>(true), "Set on/off to enable/disable graphics emulation"),
        prop("suppress-vmdesc", &Machine::m_suppress_vmdesc, std::optional<bool>(false), "Set on to disable self-describing migration"),
        smp_property(),
        memory_property(),
    };
}

} // namespace

void register_machine_types(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "machine", .parent = "object", .abstract = true,
                               .properties = machine_properties()});
    register_machine(registry,
                     MachineClassData{.name = "none", .desc = "empty machine", .max_cpus = 1,
                                      .default_ram_id = "ram"},
                     [] { return std::make_unique<NoneMachine>(); });
}

} // namespace nemu::hw
