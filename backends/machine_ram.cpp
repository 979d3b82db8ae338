#include "backends/machine_ram.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nemu::backends {

std::vector<SugarGlobal> mem_prealloc_globals(const LegacyRamOptions& opts, unsigned smp_cpus) {
    if (!opts.mem_prealloc) return {};
    return {{"memory-backend", "prealloc-threads", std::to_string(smp_cpus ? smp_cpus : 1)},
            {"memory-backend", "prealloc", "on"}};
}

Result<> check_legacy_ram_options(const LegacyRamOptions& opts, std::string_view machine_memory_backend) {
    if (opts.mem_path && !machine_memory_backend.empty())
        return fail("'-mem-path' can't be used together with'-machine memory-backend'");
    return {};
}

Result<HostMemoryBackend*> create_machine_ram_backend(const qom::TypeRegistry& types, qom::Object& objects,
                                                      const std::string& id, uint64_t size,
                                                      const LegacyRamOptions& opts,
                                                      const std::function<void(qom::Object&)>& apply_globals) {
    auto obj = TRY(types.create(opts.mem_path ? "memory-backend-file" : "memory-backend-ram"));
    if (apply_globals) apply_globals(*obj);
    if (opts.mem_path) TRY(obj->set_property("mem-path", Json(*opts.mem_path)));
    TRY(obj->set_property("size", Json(size)));
    TRY(obj->set_property("x-use-canonical-path-for-ramblock-id", Json(false)));
    qom::Object* added = TRY(objects.add_child(id, std::move(obj)));
    if (auto done = added->complete(); !done) {
        objects.remove_child(id);
        return make_error(std::move(done).error());
    }
    return static_cast<HostMemoryBackend*>(added);
}

Result<> lock_all_memory() {
    if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) return fail("mlockall: {}", std::strerror(errno));
    return {};
}

} // namespace nemu::backends
