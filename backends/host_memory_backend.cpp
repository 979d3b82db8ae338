#include "backends/host_memory_backend.h"

#include "util/size_parse.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nemu::backends {

Result<> HostMemoryBackend::on_complete() {
    // QEMU backends/hostmem.c: size is mandatory and non-zero.
    if (m_size == 0) return fail("can't create backend with size 0");
    if (m_policy != "default" && m_policy != "preferred" && m_policy != "bind" && m_policy != "interleave")
        return fail("Parameter 'policy' does not accept value '{}'", m_policy);
    if (!m_prealloc_context.empty()) return fail("prealloc-context: thread-context objects are not supported yet");
    m_mapping = TRY(allocate());
    TRY(apply_policy());
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

// NUMA placement through mbind(2) (QEMU backends/hostmem.c host_memory_backend_memory_complete).
Result<> HostMemoryBackend::apply_policy() {
    // MPOL_* values from <linux/mempolicy.h>.
    constexpr int kMpolDefault = 0, kMpolPreferred = 1, kMpolBind = 2, kMpolInterleave = 3;
    constexpr unsigned kMaxNodes = 1024;
    int mode = m_policy == "preferred" ? kMpolPreferred : m_policy == "bind" ? kMpolBind
             : m_policy == "interleave" ? kMpolInterleave : kMpolDefault;
    if (m_host_nodes.empty()) {
        if (mode != kMpolDefault) return fail("host-nodes must be set for policy {}", m_policy);
        return {};
    }
    unsigned long mask[kMaxNodes / (8 * sizeof(unsigned long))] = {};
    for (uint16_t node : m_host_nodes) {
        if (node >= kMaxNodes) return fail("host-nodes: node {} is out of range (max {})", node, kMaxNodes - 1);
        mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
    }
    if (::syscall(SYS_mbind, m_mapping.data(), m_mapping.size(), mode, mask, kMaxNodes + 1, 0) != 0)
        return fail_errno("cannot bind memory to host NUMA nodes", errno);
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

// host-nodes: a list of NUMA node numbers; QEMU shows its type as "int". From the command
// line it is "N" or "N-M" (QEMU's string input visitor ranges).
qom::PropertyDef host_nodes_property() {
    qom::PropertyDef d;
    d.name = "host-nodes";
    d.type = "int";
    d.description = "Binds memory to the list of NUMA host nodes";
    d.text_type = "str";
    d.get = [](const qom::Object& o) -> Result<Json> { return Json(static_cast<const HostMemoryBackend&>(o).m_host_nodes); };
    d.set = [](qom::Object& o, const Json& v) -> Result<> {
        std::vector<uint16_t> nodes;
        auto add = [&](uint64_t n) -> Result<> {
            if (n > UINT16_MAX) return fail("Parameter 'host-nodes' expects uint16");
            nodes.push_back(static_cast<uint16_t>(n));
            return {};
        };
        if (v.is_string()) {
            const std::string& text = v.get_ref<const std::string&>();
            size_t dash = text.find('-');
            uint64_t lo = 0, hi = 0;
            bool ok = cmdline::strtou64(text.substr(0, dash), 10, lo) == cmdline::SizeError::None;
            hi = lo;
            if (ok && dash != std::string::npos) ok = cmdline::strtou64(text.substr(dash + 1), 10, hi) == cmdline::SizeError::None;
            if (!ok || hi < lo || hi - lo > 1024) return fail("Parameter 'host-nodes' expects an int64 value or range");
            for (uint64_t n = lo; n <= hi; n++) TRY(add(n));
        } else if (v.is_array()) {
            for (const auto& e : v) {
                if (!e.is_number_unsigned()) return fail("Invalid parameter type for 'host-nodes', expected: integer");
                TRY(add(e.get<uint64_t>()));
            }
        } else {
            return fail("Invalid parameter type for 'host-nodes', expected: array");
        }
        static_cast<HostMemoryBackend&>(o).m_host_nodes = std::move(nodes);
        return {};
    };
    return d;
}

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
        host_nodes_property(),
        prop("prealloc-context", &B::m_prealloc_context, std::optional<std::string>(),
             "Context to use for creating CPU threads for preallocation", "link<thread-context>"),
        prop("x-use-canonical-path-for-ramblock-id", &B::m_canonical_ramblock_id, std::optional<bool>(true)),
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
