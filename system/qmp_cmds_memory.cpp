// QMP handlers about guest memory (QEMU 7.2 qapi/machine.json: query-memdev,
// query-memory-size-summary; hw/core/machine-qmp-cmds.c, hw/mem/memory-device.c).

#include "backends/host_memory_backend.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/vm.h"

namespace nemu::qapi {

// Every memory backend under /objects (user -object ones and the machine's implicit RAM,
// e.g. "microvm.ram"). QEMU lists them in its hash table's order; nemu by id.
Result<std::vector<Memdev>> qmp_query_memdev(CommandContext& ctx) {
    std::vector<Memdev> out;
    for (const auto& [id, obj] : ctx.vm().objects().children()) {
        auto* b = dynamic_cast<const backends::HostMemoryBackend*>(obj.get());
        if (!b) continue;
        Memdev m;
        m.id = id;
        m.size = b->m_size;
        m.merge = b->m_merge;
        m.dump = b->m_dump;
        m.prealloc = b->m_prealloc;
        m.share = b->m_share;
        m.reserve = b->m_reserve;
        m.host_nodes = b->m_host_nodes;
        m.policy = TRY(parse_HostMemPolicy(b->m_policy));
        out.push_back(std::move(m));
    }
    return out;
}

// base-memory is the machine's RAM size (0 for -M none without -m). QEMU 7.2 on x86 always
// reports plugged-memory (memory devices are built in); it is the total of plugged DIMMs and
// virtio-mem devices, none of which exist yet.
Result<MemoryInfo> qmp_query_memory_size_summary(CommandContext& ctx) {
    MemoryInfo info;
    info.base_memory = ctx.vm().machine() ? ctx.vm().machine()->ram_size() : 0;
    info.plugged_memory = 0;
    return info;
}

} // namespace nemu::qapi
