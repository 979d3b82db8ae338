#include "hw/i386/virt/x86_cpu.h"

#include "qom/property.h"

namespace nemu::hw::x86 {

void register_x86_cpu_types(qom::TypeRegistry& registry) {
    using qom::prop;
    registry.add(qom::TypeInfo{
        .name = "x86_64-cpu",
        .parent = "device",
        .abstract = true,
        .properties = {
            prop("apic-id", &X86Cpu::m_apic_id, std::optional<uint32_t>(0), "", "uint32"),
            prop("socket-id", &X86Cpu::m_socket_id, std::optional<int32_t>(0), "", "int32"),
            prop("die-id", &X86Cpu::m_die_id, std::optional<int32_t>(0), "", "int32"),
            prop("core-id", &X86Cpu::m_core_id, std::optional<int32_t>(0), "", "int32"),
            prop("thread-id", &X86Cpu::m_thread_id, std::optional<int32_t>(0), "", "int32"),
            prop("node-id", &X86Cpu::m_node_id, std::optional<int32_t>(-1), "", "int32"),
            prop("kvm", &X86Cpu::m_kvm, std::optional<bool>(true), "", "bool"),
            prop("migratable", &X86Cpu::m_migratable, std::optional<bool>(true), "", "bool"),
        },
    });
    for (const char* model : {"host", "max"}) {
        registry.add(qom::TypeInfo{
            .name = std::string(model) + "-x86_64-cpu",
            .parent = "x86_64-cpu",
            .create = [] { return std::make_unique<X86Cpu>(); },
        });
    }
}

} // namespace nemu::hw::x86
