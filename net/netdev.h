#pragma once
// The VM's netdevs (-netdev, netdev_add/netdev_del): options as QEMU 7.2's Netdev union
// (qapi/net.json; nemu has its 'tap' branch only), checked with QEMU's messages, and the
// registry the NICs look their netdev= up in.
// Thread: main loop.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/net_client.h"
#include "net/tap.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::net {

// Netdev options as a JSON object ({"type": "tap", "id": ..., members...}). from_text: the
// values are QemuOpts strings (-netdev tap,id=n0,queues=2) typed here as QEMU's opts visitor
// does; otherwise JSON types (-netdev '{...}', QMP netdev_add) are required.
Result<TapOptions> parse_netdev_options(const Json& options, bool from_text);

class NetdevRegistry {
public:
    // Creates the netdev. QEMU's duplicate message differs between -netdev (QemuOpts:
    // "Duplicate ID 'x' for netdev") and netdev_add ("Duplicate ID 'x'").
    Result<NetClient*> add(const Json& options, bool from_text, const FdResolver& resolve_fd);
    // netdev_del: "Device 'x' not found". A netdev a NIC still uses is refused
    // (FIXME(#5): QEMU detaches the NIC's peer instead).
    Result<> remove(std::string_view id);
    NetClient* find(std::string_view id) const;
    std::vector<NetClient*> list() const;

private:
    std::map<std::string, std::unique_ptr<NetClient>, std::less<>> m_clients;
    std::vector<std::string> m_order;   // creation order, as QEMU's net_clients list
};

} // namespace nemu::net
