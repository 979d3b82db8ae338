#include "backends/host_memory_backend.h"

#include "backends/prealloc.h"
#include "util/size_parse.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace nemu::backends {

namespace {
constexpr unsigned kMaxNodes = 128;  // QEMU include/sysemu/numa.h MAX_NODES
constexpr unsigned kBitsPerLong = 8 * sizeof(unsigned long);
} // namespace

Result<> HostMemoryBackend::on_complete() {
    // QEMU backends/hostmem.c: size is mandatory and non-zero (the setter refuses 0, a
    // backend created without it fails here).
    if (m_size == 0) return fail("can't create backend with size 0");
    if (m_policy != "default" && m_policy != "preferred" && m_policy != "bind" && m_policy != "interleave")
        return fail("Parameter 'policy' does not accept value '{}'", m_policy);
    if (!m_prealloc_context.empty()) return fail("prealloc-context: thread-context objects are not supported yet");
    Allocation a = TRY(allocate());
    m_mapping = std::move(a.mapping);
    m_fd = std::move(a.fd);
    m_page_size = a.page_size;
    m_mapped_readonly = a.readonly;
    auto undo = [this](Error e) {
        m_mapping.reset();
        m_fd.reset();
        return make_error(std::move(e));
    };
    if (m_merge) apply_merge();
    if (!m_dump) apply_dump();
    if (auto r = apply_policy(); !r) return undo(std::move(r).error());
    // After the policy, so that the pages land on the requested nodes.
    if (m_prealloc)
        if (auto r = preallocate(); !r) return undo(std::move(r).error());
    return {};
}

// KSM and core dumps follow the properties, also when changed at run time (qom-set).
void HostMemoryBackend::apply_merge() {
    if (mapped()) (void)::madvise(host(), m_mapping.size(), m_merge ? MADV_MERGEABLE : MADV_UNMERGEABLE);
}

void HostMemoryBackend::apply_dump() {
    if (mapped()) (void)::madvise(host(), m_mapping.size(), m_dump ? MADV_DODUMP : MADV_DONTDUMP);
}

Result<> HostMemoryBackend::preallocate() {
    if (!mapped()) return {};
    return prealloc_memory(host(), m_mapping.size(), m_page_size, m_prealloc_threads, m_mapped_readonly);
}

std::string HostMemoryBackend::ram_block_name() const { return m_canonical_ramblock_id ? canonical_path() : name(); }

// NUMA placement through mbind(2) (QEMU host_memory_backend_memory_complete).
Result<> HostMemoryBackend::apply_policy() {
    // MPOL_* values from <linux/mempolicy.h>.
    constexpr int kMpolDefault = 0, kMpolPreferred = 1, kMpolBind = 2, kMpolInterleave = 3;
    constexpr unsigned kMpolMfStrict = 1, kMpolMfMove = 2;
    int mode = m_policy == "preferred" ? kMpolPreferred : m_policy == "bind" ? kMpolBind
             : m_policy == "interleave" ? kMpolInterleave : kMpolDefault;
    // One bit more than MAX_NODES: the kernel ignores the last bit of the mask it is given.
    unsigned long mask[(kMaxNodes + 1 + kBitsPerLong - 1) / kBitsPerLong] = {};
    unsigned maxnode = 0;
    for (uint16_t node : m_host_nodes) {
        mask[node / kBitsPerLong] |= 1ul << (node % kBitsPerLong);
        maxnode = std::max(maxnode, node + 1u);
    }
    if (maxnode && mode == kMpolDefault)
        return fail("host-nodes must be empty for policy default, or you should explicitly specify a policy other than default");
    if (!maxnode && mode != kMpolDefault) return fail("host-nodes must be set for policy {}", m_policy);
    if (maxnode && ::syscall(SYS_mbind, host(), m_mapping.size(), mode, mask, maxnode + 1, kMpolMfStrict | kMpolMfMove) != 0)
        return fail_errno("cannot bind memory to host NUMA nodes", errno);
    return {};
}

Result<> HostMemoryBackend::check_can_remove() const {
    if (m_used) return fail("object '{}' is in use, can not be deleted", name());
    return {};
}

qom::PropertyDef frozen_when_mapped(qom::PropertyDef d, std::string frozen_msg) {
    d.set_before_realize_only = false;  // the backend answers with QEMU's own message
    d.set = [inner = std::move(d.set), msg = std::move(frozen_msg)](qom::Object& o, const Json& v) -> Result<> {
        if (static_cast<const HostMemoryBackend&>(o).mapped()) return fail("{}", msg);
        return inner(o, v);
    };
    return d;
}

namespace {

using B = HostMemoryBackend;

// A property whose setter also runs `after` (live effects), settable at any time.
qom::PropertyDef live(qom::PropertyDef d, std::function<Result<>(B&, const Json&)> check,
                      std::function<Result<>(B&)> after = {}) {
    d.set_before_realize_only = false;
    d.set = [inner = std::move(d.set), check = std::move(check), after = std::move(after)](qom::Object& o,
                                                                                           const Json& v) -> Result<> {
        auto& b = static_cast<B&>(o);
        if (check) TRY(check(b, v));
        TRY(inner(o, v));
        if (after) TRY(after(b));
        return {};
    };
    return d;
}

// QEMU's wording for zero sizes and thread counts ("property 'size' of memory-backend-ram
// doesn't take value '0'").
std::function<Result<>(B&, const Json&)> nonzero(std::string name) {
    return [name](B& b, const Json& v) -> Result<> {
        if (v.is_number_integer() && v.get<int64_t>() == 0)
            return fail("property '{}' of {} doesn't take value '0'", name, b.type_name());
        return {};
    };
}

// host-nodes: a list of NUMA node numbers; QEMU shows its type as "int". From the command
// line it is "N" or "N-M" (QEMU's string input visitor ranges).
qom::PropertyDef host_nodes_property() {
    qom::PropertyDef d;
    d.name = "host-nodes";
    d.type = "int";
    d.description = "Binds memory to the list of NUMA host nodes";
    d.text_type = "str";
    d.set_before_realize_only = false;
    d.get = [](const qom::Object& o) -> Result<Json> { return Json(static_cast<const B&>(o).m_host_nodes); };
    d.set = [](qom::Object& o, const Json& v) -> Result<> {
        std::vector<uint16_t> nodes;
        auto add = [&](uint64_t n) -> Result<> {
            if (n > UINT16_MAX) return fail("Parameter 'host-nodes' expects uint16");
            if (n >= kMaxNodes) return fail("Invalid host-nodes value: {}", n);
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
                if (!e.is_number_integer()) return fail("Invalid parameter type for 'host-nodes', expected: integer");
                if (e.get<int64_t>() < 0) return fail("Parameter 'host-nodes' expects uint16");
                TRY(add(e.get<uint64_t>()));
            }
        } else {
            return fail("Invalid parameter type for 'host-nodes', expected: array");
        }
        static_cast<B&>(o).m_host_nodes = std::move(nodes);
        return {};
    };
    return d;
}

Result<> check_policy(B&, const Json& v) {
    if (!v.is_string()) return fail("Invalid parameter type for 'policy', expected: string");
    const std::string& p = v.get_ref<const std::string&>();
    if (p != "default" && p != "preferred" && p != "bind" && p != "interleave")
        return fail("Parameter 'policy' does not accept value '{}'", p);
    return {};
}

} // namespace

std::vector<qom::PropertyDef> backend_properties() {
    using qom::prop;
    qom::PropertyDef size = prop("size", &B::m_size, std::optional<uint64_t>(), "Size of the memory region (ex: 500M)", "int");
    size.text_type = "size";
    size.required = true;
    size.set_before_realize_only = false;
    size.set = [inner = size.set](qom::Object& o, const Json& v) -> Result<> {
        auto& b = static_cast<B&>(o);
        // (sic: QEMU's message ends with a space)
        if (b.mapped()) return fail("cannot change property size of {} ", b.type_name());
        TRY(inner(o, v));
        if (b.m_size == 0) return fail("property 'size' of {} doesn't take value '0'", b.type_name());
        return {};
    };
    auto incompatible = [](bool prealloc, bool reserve) -> Result<> {
        if (prealloc && !reserve) return fail("'prealloc=on' and 'reserve=off' are incompatible");
        return {};
    };
    return {
        size,
        live(prop("merge", &B::m_merge, std::optional<bool>(true), "Mark memory as mergeable"), {},
             [](B& b) -> Result<> { b.apply_merge(); return {}; }),
        live(prop("dump", &B::m_dump, std::optional<bool>(true), "Set to 'off' to exclude from core dump"), {},
             [](B& b) -> Result<> { b.apply_dump(); return {}; }),
        live(prop("prealloc", &B::m_prealloc, std::optional<bool>(false), "Preallocate memory"),
             [incompatible](B& b, const Json& v) -> Result<> { return incompatible(v.is_boolean() && v.get<bool>(), b.m_reserve); },
             // Turning prealloc on for mapped memory preallocates now (QEMU set_prealloc).
             [](B& b) -> Result<> {
                 if (!b.m_prealloc) return {};
                 auto r = b.preallocate();
                 if (!r) b.m_prealloc = false;  // as QEMU: the property stays off on failure
                 return r;
             }),
        live(prop("prealloc-threads", &B::m_prealloc_threads, std::optional<uint32_t>(1),
                  "Number of CPU threads to use for prealloc", "int"),
             nonzero("prealloc-threads")),
        frozen_when_mapped(prop("share", &B::m_share, std::optional<bool>(false), "Mark the memory as private to QEMU or shared"),
                           "cannot change property value"),
        frozen_when_mapped(live(prop("reserve", &B::m_reserve, std::optional<bool>(true),
                                     "Reserve swap space (or huge pages) if applicable"),
                                [incompatible](B& b, const Json& v) -> Result<> {
                                    return incompatible(b.m_prealloc, !v.is_boolean() || v.get<bool>());
                                }),
                           "cannot change property value"),
        live(prop("policy", &B::m_policy, std::optional<std::string>("default"), "Set the NUMA policy", "HostMemPolicy"),
             check_policy),
        host_nodes_property(),
        prop("prealloc-context", &B::m_prealloc_context, std::optional<std::string>(),
             "Context to use for creating CPU threads for preallocation", "link<thread-context>"),
        live(prop("x-use-canonical-path-for-ramblock-id", &B::m_canonical_ramblock_id, std::optional<bool>(true)), {}),
    };
}

void register_memory_backend_types(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "memory-backend", .parent = "object", .abstract = true,
                               .interfaces = {"user-creatable"}, .properties = backend_properties()});
    register_ram_backend(registry);
    register_memfd_backend(registry);
    register_file_backend(registry);
}

} // namespace nemu::backends
