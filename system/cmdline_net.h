#pragma once
// -netdev (QEMU 7.2 net/net.c net_client_parse): JSON ('{' first, libvirt 9.0's form) or
// QemuOpts with the type implied ("tap,id=n0,..."), checked here against nemu's Netdev
// options so that errors carry the option's location before anything is created.

#include <string_view>

#include "util/json.h"
#include "util/result.h"

namespace nemu {
class Vm;
struct StartupConfig;
} // namespace nemu

namespace nemu::cmdline {

struct NetdevArg {
    Json options;           // {"type": "tap", "id": ..., ...}
    bool from_text = false; // QemuOpts strings, typed by net::parse_netdev_options
};

Result<NetdevArg> parse_netdev(std::string_view text);

} // namespace nemu::cmdline

namespace nemu {

// Creates the -netdev backends in command-line order (QEMU's net_init_clients: after the
// objects, before the devices). Defined with the QMP net commands (system/qmp_cmds_net.cpp).
Result<> create_netdevs(Vm& vm, const StartupConfig& config);

} // namespace nemu
