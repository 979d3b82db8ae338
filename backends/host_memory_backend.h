#pragma once
// Memory backends (QEMU's "memory-backend" family): user-creatable objects that own guest RAM
// and are handed to a machine (-machine memory-backend=ID) or a memory device.
// This file has the abstract base and "memory-backend-ram" (anonymous memory); the file and
// memfd backends arrive with the KVM issue.
// Thread: main loop; the mapping is later read by vCPU and I/O threads through memory regions.

#include <cstdint>
#include <string>
#include <vector>

#include "hw/memory/mapping.h"
#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu::backends {

class HostMemoryBackend : public qom::Object {
public:
    Result<> on_complete() override;
    Result<> check_can_remove() const override;

    uint8_t* host() const { return m_mapping.data(); }
    uint64_t size() const { return m_size; }
    bool mapped() const { return m_mapping.data() != nullptr; }
    // A machine or device claims the backend; a claimed backend cannot be deleted
    // (QEMU: "object 'X' is in use, can not be deleted").
    void set_used(bool used) { m_used = used; }
    bool used() const { return m_used; }

    uint64_t m_size = 0;
    bool m_merge = true, m_dump = true, m_prealloc = false, m_share = false, m_reserve = true;
    uint32_t m_prealloc_threads = 1;
    std::string m_policy = "default";
    std::vector<uint16_t> m_host_nodes;
    std::string m_prealloc_context;
    bool m_canonical_ramblock_id = true;

protected:
    virtual Result<memory::Mapping> allocate() = 0;

private:
    Result<> apply_policy();
    memory::Mapping m_mapping;
    bool m_used = false;
};

void register_memory_backend_types(qom::TypeRegistry& registry);

} // namespace nemu::backends
