#pragma once
// The x86 vCPU as a QOM device (QEMU's TYPE_X86_CPU "x86_64-cpu" and its "host-x86_64-cpu" /
// "max-x86_64-cpu" models): its topology properties are what libvirt reads with qom-get and
// what query-cpus-fast reports. The KVM vCPU itself is owned by the machine.
// Thread: main loop.

#include <cstdint>

#include "hw/core/device.h"

namespace nemu::hw::x86 {

class X86Cpu : public Device {
public:
    uint32_t m_apic_id = 0;
    int32_t m_socket_id = 0, m_die_id = 0, m_core_id = 0, m_thread_id = 0, m_node_id = -1;
    bool m_kvm = true, m_migratable = true;
};

void register_x86_cpu_types(qom::TypeRegistry& registry);

} // namespace nemu::hw::x86
