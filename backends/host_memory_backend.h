#pragma once
// Memory backends (QEMU's "memory-backend" family, backends/hostmem*.c in QEMU 7.2):
// user-creatable objects that own guest RAM and are handed to a machine
// (-machine memory-backend=ID) or a memory device. The abstract base lives here; the
// concrete types are memory-backend-ram (hostmem_ram.cpp), memory-backend-memfd
// (hostmem_memfd.cpp) and memory-backend-file (hostmem_file.cpp).
// Completion maps the memory, applies merge/dump advice and the NUMA policy, then
// preallocates (QEMU host_memory_backend_memory_complete, in that order).
// Thread: main loop; the mapping is later read by vCPU and I/O threads through memory regions.

#include <cstdint>
#include <string>
#include <vector>

#include "backends/host_mapping.h"
#include "qom/object.h"
#include "qom/type_registry.h"
#include "util/unique_fd.h"

namespace nemu::backends {

class HostMemoryBackend : public qom::Object {
public:
    Result<> on_complete() override;
    Result<> check_can_remove() const override;

    uint8_t* host() const { return m_mapping.data(); }
    uint64_t size() const { return m_size; }
    bool mapped() const { return m_mapping.data() != nullptr; }
    // The descriptor behind the memory (memfd, file), -1 for anonymous memory. vhost-user
    // hands it to the other process; it stays open as long as the backend.
    int fd() const { return m_fd.get(); }
    // The mapping's page size: the huge page size for hugetlbfs/hugetlb memfd.
    size_t page_size() const { return m_page_size; }
    // The RAM block name migration uses (QEMU host_memory_backend_get_name): the canonical
    // path, or just the id when x-use-canonical-path-for-ramblock-id=off (implicit RAM).
    std::string ram_block_name() const;
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

    // Live property effects (qom-set after completion), as QEMU's setters do.
    void apply_merge();
    void apply_dump();
    Result<> preallocate();

    // What a concrete type's allocate() hands back.
    struct Allocation {
        HostMapping mapping;
        UniqueFd fd;       // empty for anonymous memory
        size_t page_size;  // of the mapping
        bool readonly = false;
    };

protected:
    virtual Result<Allocation> allocate() = 0;

private:
    Result<> apply_policy();
    HostMapping m_mapping;
    UniqueFd m_fd;
    size_t m_page_size = 0;
    bool m_mapped_readonly = false;
    bool m_used = false;
};

// RAM over a descriptor (QEMU 7.2 softmmu/physmem.c qemu_ram_alloc_from_fd + file_ram_alloc):
// page size from statfs, alignment and size checks with QEMU's messages, the file grown to
// the size when `truncate` (a new or empty file), then mapped. Errors, e.g.
//   "backing store size 0x100000 does not match 'size' option 0x200000"
//   "alignment 0x300000 must be a power of two", "unable to map backing store for guest RAM: ..."
struct FdRamOptions {
    uint64_t align = 0;
    bool shared = false, noreserve = false, readonly = false, pmem = false;
};
Result<HostMemoryBackend::Allocation> allocate_from_fd(UniqueFd fd, uint64_t size, const FdRamOptions& opts);

// The properties every memory backend type has, in QEMU's order.
std::vector<qom::PropertyDef> backend_properties();

// Registers memory-backend (abstract), memory-backend-ram, -memfd and -file.
void register_memory_backend_types(qom::TypeRegistry& registry);

// Per-type registration (hostmem_*.cpp), called by register_memory_backend_types().
void register_ram_backend(qom::TypeRegistry& registry);
void register_memfd_backend(qom::TypeRegistry& registry);
void register_file_backend(qom::TypeRegistry& registry);

// For the backend types' own property setters: `set` only while the backend is not mapped,
// else `frozen_msg` (QEMU's wording differs per property).
qom::PropertyDef frozen_when_mapped(qom::PropertyDef d, std::string frozen_msg);

} // namespace nemu::backends
