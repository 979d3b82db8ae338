// -smp: QEMU 7.2 converts the QemuOpts to the machine's "smp" property (keyval integers,
// so errors name "smp.<key>") and computes the topology in machine_parse_smp_config.
#include "system/cmdline_smp.h"

#include <array>
#include <optional>

#include "system/keyval.h"
#include "util/size_parse.h"

namespace nemu::cmdline {

namespace {

constexpr std::array<std::string_view, 7> kKeys = {"cpus", "maxcpus", "sockets", "dies",
                                                    "clusters", "cores", "threads"};

std::string hierarchy(const SmpMachineProps& p, unsigned sockets, unsigned dies,
                      unsigned clusters, unsigned cores, unsigned threads) {
    std::string s = fmt::format("sockets ({})", sockets);
    if (p.dies_supported) s += fmt::format(" * dies ({})", dies);
    if (p.clusters_supported) s += fmt::format(" * clusters ({})", clusters);
    s += fmt::format(" * cores ({}) * threads ({})", cores, threads);
    return s;
}

} // namespace

Result<SmpOptions> parse_smp_options(std::span<const std::string> args,
                                     const SmpMachineProps& props) {
    std::array<std::optional<std::string>, kKeys.size()> text;
    for (const std::string& arg : args) {
        auto list = parse_opts(arg, "cpus");
        if (!list) return fail("-smp {}: {}", arg, list.error().msg);
        for (const auto& kv : list->items) {
            size_t k = 0;
            while (k < kKeys.size() && kKeys[k] != kv.key) k++;
            if (k == kKeys.size()) return fail("Parameter 'smp.{}' is unexpected", kv.key);
            text[k] = kv.value;
        }
    }
    // QAPI SMPConfiguration members are 'int'; machine-smp.c stores them in unsigned.
    std::array<std::optional<unsigned>, kKeys.size()> v;
    for (size_t k = 0; k < kKeys.size(); k++) {
        if (!text[k]) continue;
        int64_t n = TRY(parse_int(*text[k], fmt::format("smp.{}", kKeys[k])));
        v[k] = static_cast<unsigned>(n);
    }
    SmpOptions out;
    for (const auto& x : v) {
        if (x && *x == 0) out.zero_given = true;
    }
    unsigned cpus = v[0].value_or(0), maxcpus = v[1].value_or(0), sockets = v[2].value_or(0),
             dies = v[3].value_or(0), clusters = v[4].value_or(0), cores = v[5].value_or(0),
             threads = v[6].value_or(0);
    if (!props.dies_supported && dies > 1) {
        return fail("dies not supported by this machine's CPU topology");
    }
    if (!props.clusters_supported && clusters > 1) {
        return fail("clusters not supported by this machine's CPU topology");
    }
    dies = dies ? dies : 1;
    clusters = clusters ? clusters : 1;
    auto or1 = [](unsigned x) { return x ? x : 1U; };
    // The products wrap like QEMU's unsigned arithmetic; never divide by a wrapped zero.
    auto div = [](unsigned a, unsigned b) { return b ? a / b : 0U; };
    if (cpus == 0 && maxcpus == 0) {
        sockets = or1(sockets);
        cores = or1(cores);
        threads = or1(threads);
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (props.prefer_sockets) {
            if (sockets == 0) {
                cores = or1(cores);
                threads = or1(threads);
                sockets = div(maxcpus, dies * clusters * cores * threads);
            } else if (cores == 0) {
                threads = or1(threads);
                cores = div(maxcpus, sockets * dies * clusters * threads);
            }
        } else {
            // Since 6.2 QEMU prefers cores over sockets.
            if (cores == 0) {
                sockets = or1(sockets);
                threads = or1(threads);
                cores = div(maxcpus, sockets * dies * clusters * threads);
            } else if (sockets == 0) {
                threads = or1(threads);
                sockets = div(maxcpus, dies * clusters * cores * threads);
            }
        }
        if (threads == 0) threads = div(maxcpus, sockets * dies * clusters * cores);
    }
    maxcpus = maxcpus ? maxcpus : sockets * dies * clusters * cores * threads;
    cpus = cpus ? cpus : maxcpus;
    if (sockets * dies * clusters * cores * threads != maxcpus) {
        return fail("Invalid CPU topology: product of the hierarchy must match maxcpus: "
                    "{} != maxcpus ({})",
                    hierarchy(props, sockets, dies, clusters, cores, threads), maxcpus);
    }
    if (maxcpus < cpus) {
        return fail("Invalid CPU topology: maxcpus must be equal to or greater than smp: "
                    "{} == maxcpus ({}) < smp_cpus ({})",
                    hierarchy(props, sockets, dies, clusters, cores, threads), maxcpus, cpus);
    }
    // QEMU prints these with %d, so huge unsigned values show as negative.
    if (cpus < props.min_cpus) {
        return fail("Invalid SMP CPUs {}. The min CPUs supported by machine '{}' is {}",
                    static_cast<int>(cpus), props.machine_name, props.min_cpus);
    }
    if (maxcpus > props.max_cpus) {
        return fail("Invalid SMP CPUs {}. The max CPUs supported by machine '{}' is {}",
                    static_cast<int>(maxcpus), props.machine_name, props.max_cpus);
    }
    out.cpus = cpus;
    out.sockets = sockets;
    out.dies = dies;
    out.clusters = clusters;
    out.cores = cores;
    out.threads = threads;
    out.maxcpus = maxcpus;
    return out;
}

} // namespace nemu::cmdline
