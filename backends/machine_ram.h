#pragma once
// The machine's implicit RAM backend and the legacy memory options around it
// (QEMU 7.2 softmmu/vl.c create_default_memdev, -mem-path, -mem-prealloc,
// -overcommit mem-lock=on). Nothing here knows the VM: the caller passes the registry, the
// /objects container and a hook that applies -global defaults.
// Thread: main loop, during start-up.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/host_memory_backend.h"

namespace nemu::backends {

// -mem-path DIR|FILE and -mem-prealloc as given on the command line.
struct LegacyRamOptions {
    std::optional<std::string> mem_path;
    bool mem_prealloc = false;
};

// -mem-prealloc is sugar for two -global defaults on every memory backend (user -object ones
// included): memory-backend.prealloc=on and memory-backend.prealloc-threads=<-smp cpus>.
// Empty when -mem-prealloc is not given.
struct SugarGlobal {
    std::string driver, property, value;
};
std::vector<SugarGlobal> mem_prealloc_globals(const LegacyRamOptions& opts, unsigned smp_cpus);

// "-mem-path" with "-machine memory-backend=ID" is refused with QEMU's message (sic, no space):
// "'-mem-path' can't be used together with'-machine memory-backend'".
Result<> check_legacy_ram_options(const LegacyRamOptions& opts, std::string_view machine_memory_backend);

// Creates, names and completes the machine's RAM backend /objects/<id> (id: the board's
// default_ram_id, e.g. "microvm.ram"): memory-backend-file with mem-path when -mem-path is
// given, memory-backend-ram otherwise; x-use-canonical-path-for-ramblock-id=off so the RAM
// block is called <id> as in QEMU. apply_globals runs right after creation (-global and the
// -mem-prealloc sugar), before size and mem-path are set. On failure nothing is left in
// `objects` and the error is the backend's (e.g. "can't open backing store ... for guest RAM: ...").
Result<HostMemoryBackend*> create_machine_ram_backend(const qom::TypeRegistry& types, qom::Object& objects,
                                                      const std::string& id, uint64_t size,
                                                      const LegacyRamOptions& opts,
                                                      const std::function<void(qom::Object&)>& apply_globals = {});

// -overcommit mem-lock=on: mlockall(MCL_CURRENT | MCL_FUTURE). QEMU prints two lines on
// failure, "mlockall: <strerror>" then "locking memory failed", and exits 1; the error here
// is the first line, the caller reports both.
Result<> lock_all_memory();

} // namespace nemu::backends
