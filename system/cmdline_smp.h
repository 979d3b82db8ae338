#pragma once
// -smp [[cpus=]n][,maxcpus=][,sockets=][,dies=][,clusters=][,cores=][,threads=] with QEMU
// 7.2's rules (hw/core/machine-smp.c machine_parse_smp_config).

#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace nemu::cmdline {

struct SmpOptions {
    unsigned cpus = 1, sockets = 1, dies = 1, clusters = 1, cores = 1, threads = 1, maxcpus = 1;
    bool zero_given = false; // QEMU warns "Deprecated CPU topology (considered invalid): ..."
};

// What the machine class declares (MachineClass smp_props, min/max_cpus, name).
struct SmpMachineProps {
    std::string machine_name = "x86-virt";
    unsigned min_cpus = 1;
    unsigned max_cpus = 288;
    bool dies_supported = true;     // x86: yes
    bool clusters_supported = false; // x86 in 7.2: no
    bool prefer_sockets = false;     // only pre-6.2 machine types
};

// All -smp arguments in order (QEMU merges them). Errors, verbatim from QEMU 7.2:
//   "Parameter 'smp.cpus' expects integer", "Parameter 'smp.foo' is unexpected"
//   "clusters not supported by this machine's CPU topology"
//   "Invalid CPU topology: product of the hierarchy must match maxcpus: sockets (3) * dies (1) * cores (1) * threads (1) != maxcpus (4)"
//   "Invalid CPU topology: maxcpus must be equal to or greater than smp: ... == maxcpus (2) < smp_cpus (4)"
//   "Invalid SMP CPUs 1000. The max CPUs supported by machine 'pc-i440fx-7.2' is 255"
Result<SmpOptions> parse_smp_options(std::span<const std::string> args,
                                     const SmpMachineProps& props = {});

} // namespace nemu::cmdline
