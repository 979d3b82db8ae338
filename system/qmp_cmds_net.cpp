// The VM's netdevs: -netdev creation and the QMP net commands (QEMU 7.2 qapi/net.json;
// net/net.c qmp_netdev_add, qmp_netdev_del, qmp_set_link, qmp_query_rx_filter). Messages were
// checked live against qemu-system-x86_64 -M none.
#include <fcntl.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "monitor/command_context.h"
#include "monitor/qmp_monitor.h"
#include "qapi/qapi-commands.h"
#include "system/cmdline_net.h"
#include "system/startup_config.h"
#include "system/vm.h"

namespace nemu {

namespace {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// fd=N as QEMU's monitor_fd_param: a number is an inherited descriptor (nemu owns it from
// now on, as QEMU closes it with the netdev); a name is one the QMP connection passed with
// getfd (taken out of its table). On the command line there is no monitor.
Result<UniqueFd> resolve_fd(monitor::QmpMonitor* mon, std::string_view name) {
    if (all_digits(name)) {
        int fd = std::atoi(std::string(name).c_str());
        if (::fcntl(fd, F_GETFD) < 0) return fail("Can't use file descriptor {}: {}", fd, std::strerror(errno));
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        return UniqueFd(fd);
    }
    if (!mon) return fail("Invalid file descriptor number '{}'", name);
    auto& fds = mon->named_fds();
    auto it = fds.find(name);
    if (it == fds.end()) return fail("File descriptor named '{}' has not been found", name);
    UniqueFd fd = std::move(it->second);
    fds.erase(it);
    return fd;
}

// The NIC a set_link/query-rx-filter name denotes: a netdev's peer by the NIC's name.
net::NetClient* find_by_nic(Vm& vm, std::string_view name) {
    for (net::NetClient* c : vm.netdevs().list())
        if (c->peer() && c->peer()->peer_name() == name) return c;
    return nullptr;
}

qapi::RxState rx_state(net::RxFilter::Mode m) {
    switch (m) {
    case net::RxFilter::Mode::None: return qapi::RxState::None;
    case net::RxFilter::Mode::All: return qapi::RxState::All;
    default: return qapi::RxState::Normal;
    }
}

qapi::RxFilterInfo rx_filter_info(const net::RxFilter& f) {
    qapi::RxFilterInfo i;
    i.name = f.name;
    i.promiscuous = f.promiscuous;
    i.multicast = rx_state(f.multicast);
    i.unicast = rx_state(f.unicast);
    i.vlan = rx_state(f.vlan);
    i.broadcast_allowed = f.broadcast_allowed;
    i.multicast_overflow = f.multicast_overflow;
    i.unicast_overflow = f.unicast_overflow;
    i.main_mac = net::format_mac(f.main_mac);
    i.vlan_table = f.vlan_table;
    for (const auto& m : f.unicast_table) i.unicast_table.push_back(net::format_mac(m));
    for (const auto& m : f.multicast_table) i.multicast_table.push_back(net::format_mac(m));
    return i;
}

} // namespace

Result<> create_netdevs(Vm& vm, const StartupConfig& config) {
    for (const auto& n : config.netdevs) {
        auto r = vm.netdevs().add(n.arg.options, n.arg.from_text,
                                  [](std::string_view name) { return resolve_fd(nullptr, name); });
        if (!r) return fail("{}: {}", n.where, r.error().msg);
    }
    return {};
}

} // namespace nemu

namespace nemu::qapi {

Result<> qmp_netdev_add(CommandContext& ctx, const Netdev& args) {
    monitor::QmpMonitor* mon = ctx.monitor();
    TRY(ctx.vm().netdevs().add(to_json(args), false, [mon](std::string_view name) { return resolve_fd(mon, name); }));
    return {};
}

Result<> qmp_netdev_del(CommandContext& ctx, const NetdevDelArg& args) { return ctx.vm().netdevs().remove(args.id); }

Result<> qmp_set_link(CommandContext& ctx, const SetLinkArg& args) {
    net::NetClient* c = ctx.vm().netdevs().find(args.name);
    if (!c) c = find_by_nic(ctx.vm(), args.name);
    if (!c) return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", args.name);
    c->set_link_up(args.up);
    return {};
}

Result<std::vector<RxFilterInfo>> qmp_query_rx_filter(CommandContext& ctx, const QueryRxFilterArg& args) {
    std::vector<RxFilterInfo> out;
    if (args.name) {
        if (net::NetClient* c = find_by_nic(ctx.vm(), *args.name)) {
            out.push_back(rx_filter_info(c->peer()->rx_filter()));
            return out;
        }
        if (ctx.vm().netdevs().find(*args.name)) return fail("net client({}) isn't a NIC", *args.name);
        return fail("invalid net client name: {}", *args.name);
    }
    // FIXME(#5): a NIC without a netdev is not listed (QEMU lists every NIC).
    for (net::NetClient* c : ctx.vm().netdevs().list())
        if (c->peer()) out.push_back(rx_filter_info(c->peer()->rx_filter()));
    return out;
}

} // namespace nemu::qapi
