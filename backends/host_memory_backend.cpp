#include "backends/host_memory_backend.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nemu::backends {

Result<> HostMemoryBackend::on_complete() {
    // QEMU backends/hostmem.c: size is mandatory and non-zero.
    if (m_size == 0) return fail("can't create backend with size 0");
    if (m_policy != "default" && m_policy != "preferred" && m_policy != "bind" && m_policy != "interleave")
        return fail("Parameter 'policy' does not accept value '{}'", m_policy);
    m_mapping = TRY(allocate());
    if (!m_merge) ::madvise(m_mapping.data(), m_mapping.size(), MADV_UNMERGEABLE);
    if (!m_dump) ::madvise(m_mapping.data(), m_mapping.size(), MADV_DONTDUMP);
    if (m_prealloc) {
        // Touch every page now so the guest never faults memory in late (QEMU prealloc=on).
        // MADV_POPULATE_WRITE (Linux 5.14) does it in the kernel without writing data.
        if (::madvise(m_mapping.data(), m_mapping.size(), 23 /* MADV_POPULATE_WRITE */) != 0) {
            long page = ::sysconf(_SC_PAGESIZE);
            for (size_t off = 0; off < m_mapping.size(); off += page)
                reinterpret_cast<volatile uint8_t*>(m_mapping.data())[off] = 0;
        }
    }
    return {};
}

Result<> HostMemoryBackend::check_can_remove() const {
    if (m_used) return fail("object '{}' is in use, can not be deleted", name());
    return {};
}

namespace {

class RamBackend : public HostMemoryBackend {
protected:
    Result<memory::Mapping> allocate() override {
        // share=on needs a shared anonymous mapping for vhost-user; it lands with the memfd
        // backend (issue #4) rather than being silently ignored.
        if (m_share) return fail("memory-backend-ram: share=on is not supported yet");
        return memory::Mapping::anonymous(m_size);
    }
};

std::vector<qom::PropertyDef> backend_properties() {
    using qom::prop;
    using B = HostMemoryBackend;
    qom::PropertyDef size = prop("size", &B::m_size, std::optional<uint64_t>(), "Size of the memory region (ex: 500M)", "int");
    size.text_type = "size";
    size.required = true;
    return {
        size,
        prop("merge", &B::m_merge, std::optional<bool>(true), "Mark memory as mergeable"),
        prop("dump", &B::m_dump, std::optional<bool>(true), "Set to 'off' to exclude from core dump"),
        prop("prealloc", &B::m_prealloc, std::optional<bool>(false), "Preallocate memory"),
        prop("prealloc-threads", &B::m_prealloc_threads, std::optional<uint32_t>(1),
             "Number of CPU threads to use for prealloc", "int"),
        prop("share", &B::m_share, std::optional<bool>(false), "Mark the memory as private to QEMU or shared"),
        prop("reserve", &B::m_reserve, std::optional<bool>(true), "Reserve swap space (or huge pages) if applicable"),
        prop("policy", &B::m_policy, std::optional<std::string>("default"), "Set the NUMA policy", "HostMemPolicy"),
    };
}

} // namespace

void register_memory_backend_types(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "memory-backend", .parent = "object", .abstract = true,
                               .interfaces = {"user-creatable"}, .properties = backend_properties()});
    registry.add(qom::TypeInfo{.name = "memory-backend-ram", .parent = "memory-backend",
                               .create = [] { return std::make_unique<RamBackend>(); }});
}

} // namespace nemu::backends
