#pragma once
// "-netdev tap" (QEMU 7.2 net/tap.c, net/tap-linux.c): a Linux tap interface opened through
// /dev/net/tun (ifname=, queues=) or handed over as fds (fd=, fds=: numbers or names from
// QMP getfd), with IFF_VNET_HDR so frames carry a struct virtio_net_hdr_v1 and the NIC's
// offloads reach the kernel (TUNSETVNETHDRSZ, TUNSETOFFLOAD; Documentation/networking/
// tuntap.rst). nemu runs no helper scripts: script=/downscript= must be "no" or empty.
// vhost=on gives every queue a vhost-net device (net/vhost_net.h) at creation, so that a
// missing /dev/vhost-net or a bad vhostfd= is a -netdev error, as in QEMU.
// Thread: main loop (creation), then as NetClient.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/net_client.h"
#include "net/vhost_net.h"
#include "util/unique_fd.h"

namespace nemu::net {

// NetdevTapOptions (QEMU 7.2 qapi/net.json) as nemu reads them.
struct TapOptions {
    std::string id;
    std::optional<std::string> ifname, fd, fds, script, downscript, br, helper, vhostfd, vhostfds;
    std::optional<uint64_t> sndbuf;
    std::optional<bool> vnet_hdr, vhost, vhostforce;
    std::optional<uint32_t> queues, poll_us;
};

// A "fd=" value to an owned descriptor: a number (inherited from the parent, as libvirt
// passes them) or a name the monitor's getfd gave. The NetdevRegistry's caller supplies it.
using FdResolver = std::function<Result<UniqueFd>(std::string_view name)>;

// Checks TapOptions as QEMU's net_init_tap does, before anything is opened
// (e.g. "ifname=, script=, ... are invalid with fd=").
Result<> check_tap_options(const TapOptions& o);

class Tap final : public NetClient {
public:
    static Result<std::unique_ptr<Tap>> create(const TapOptions& options, const FdResolver& resolve_fd);
    ~Tap() override;

    std::string_view type() const override { return "tap"; }
    unsigned queue_count() const override { return static_cast<unsigned>(m_fds.size()); }
    int queue_fd(unsigned q) const override { return q < m_fds.size() ? m_fds[q].get() : -1; }
    bool has_vnet_hdr() const override { return m_vnet_hdr; }
    Result<> set_offloads(const Offloads& offloads) override;
    Result<> set_queue_enabled(unsigned q, bool enabled) override;

    VhostNet* vhost(unsigned q) const override { return q < m_vhost_nets.size() ? m_vhost_nets[q].get() : nullptr; }

    const std::string& ifname() const { return m_ifname; }

private:
    explicit Tap(std::string id) : NetClient(std::move(id)) {}
    Result<> setup_queue(int fd, bool want_vnet_hdr, bool required, std::optional<uint64_t> sndbuf);
    Result<> setup_vhost(const TapOptions& o, const FdResolver& resolve_fd);

    std::vector<UniqueFd> m_fds;
    std::vector<std::unique_ptr<VhostNet>> m_vhost_nets;  // one per queue with vhost, else empty
    std::string m_ifname;
    bool m_vnet_hdr = false;
};

} // namespace nemu::net
