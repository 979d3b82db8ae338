#pragma once
// What the command line asks for, gathered in one pass before anything is created
// (QEMU's qemu_init first pass): options are validated here, acted on by main().

#include <optional>
#include <string>
#include <vector>

#include "system/cmdline.h"
#include "system/cmdline_block.h"
#include "system/cmdline_chardev.h"
#include "system/cmdline_net.h"
#include "system/cmdline_misc.h"
#include "util/result.h"

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu {

struct StartupConfig {
    // Help and version requests print and exit before anything else.
    std::optional<std::string> print_and_exit;

    std::string machine = "none";
    std::vector<std::pair<std::string, std::string>> machine_props;
    std::vector<std::string> accels;       // in order of preference ("kvm:tcg" splits)
    std::vector<std::string> m_args, smp_args;
    std::vector<std::string> objects;      // raw -object texts
    std::vector<std::string> devices;
    // -blockdev (options as BlockdevOptions JSON) and -drive, with their option texts.
    struct Blockdev {
        Json options;
        std::string where;
    };
    struct DriveArg {
        cmdline::DriveSpec spec;
        std::string where;
    };
    std::vector<Blockdev> blockdevs;
    std::vector<DriveArg> drives;
    // -netdev, checked (net/netdev.h), with its option text.
    struct Netdev {
        cmdline::NetdevArg arg;
        std::string where;
    };
    std::vector<Netdev> netdevs;
    // Chardev specs with the option text they came from (for error locations).
    struct Chr {
        cmdline::ChardevSpec spec;
        std::string where;   // "-qmp unix:/x,server=on"
    };
    std::vector<Chr> chardevs, serials, qmps, qmp_prettys;
    std::vector<std::string> mon_specs;
    std::vector<std::string> monitor_specs;
    std::vector<cmdline::GlobalProp> globals;
    std::optional<Chr> qtest;
    std::optional<std::string> qtest_log;
    std::optional<std::string> name, uuid, pidfile;
    bool mem_lock = false;
    bool start_paused = false, daemonize = false, preconfig = false;
    bool no_shutdown = false, no_reboot = false;
    bool snapshot = false; // -snapshot: snapshot=on for every -drive that does not say otherwise
    // Direct kernel boot (-kernel/-initrd/-append) and the CPU model (-cpu host,+feat,...).
    std::optional<std::string> kernel, initrd, append;
    std::string cpu_model = "host";
    // -nographic: serial and monitor on stdio (a muxed "mon:stdio") unless given elsewhere;
    // -nodefaults: no default serial port.
    bool nographic = false, nodefaults = false;
    // -mem-path / -mem-prealloc: the legacy options for the machine's own RAM backend.
    std::optional<std::string> mem_path;
    bool mem_prealloc = false;
};

// errors carry QEMU's location prefix ("-m 5X: ...").
Result<StartupConfig> gather_config(const std::vector<cmdline::ParsedOption>& options,
                                    const qom::TypeRegistry& types);

} // namespace nemu
