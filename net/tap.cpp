// -netdev tap on Linux (QEMU 7.2 net/tap.c net_init_tap and net/tap-linux.c, with their
// messages; the tun/tap ioctls per Linux Documentation/networking/tuntap.rst).
#include "net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace nemu::net {

namespace {

std::vector<std::string> split_colon(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t p = s.find(':', start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) return out;
        start = p + 1;
    }
}

bool no_script(const std::optional<std::string>& s) { return !s || s->empty() || *s == "no"; }

// Open one queue of interface `name` ("" lets the kernel pick tapN) through /dev/net/tun.
Result<UniqueFd> open_tun(std::string& name, bool vnet_hdr, bool multi_queue) {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return fail("could not open /dev/net/tun: {}", std::strerror(errno));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (vnet_hdr) ifr.ifr_flags |= IFF_VNET_HDR;
    if (multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
    if (name.size() >= IFNAMSIZ) return fail("could not configure /dev/net/tun ({}): {}", name, std::strerror(EINVAL));
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
        if (name.empty()) return fail("could not configure /dev/net/tun: {}", std::strerror(errno));
        return fail("could not configure /dev/net/tun ({}): {}", name, std::strerror(errno));
    }
    name = ifr.ifr_name;
    return fd;
}

} // namespace

Result<> check_tap_options(const TapOptions& o) {
    // net_init_tap's mutually exclusive groups, in its order.
    if (o.fd) {
        if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.helper || o.queues || o.fds || o.vhostfds)
            return fail("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= are "
                        "invalid with fd=");
    } else if (o.fds) {
        if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.helper || o.queues || o.vhostfd)
            return fail("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= are invalid "
                        "with fds=");
    } else if (o.helper) {
        if (o.ifname || o.script || o.downscript || o.vnet_hdr || o.queues || o.vhostfds)
            return fail("ifname=, script=, downscript=, vnet_hdr=, queues=, and vhostfds= are invalid with helper=");
        return fail("tap: helper= is not supported: nemu runs no helper programs (pass fd= or ifname=)");
    } else if (o.vhostfds) {
        return fail("vhostfds= is invalid if fds= wasn't specified");
    }
    // nemu runs no network scripts (QEMU's default is /etc/qemu-ifup and /etc/qemu-ifdown).
    if (!no_script(o.script))
        return fail("tap: script={} is not supported: nemu runs no network scripts (use script=no)", *o.script);
    if (!no_script(o.downscript))
        return fail("tap: downscript={} is not supported: nemu runs no network scripts (use downscript=no)",
                    *o.downscript);
    if (o.queues && *o.queues == 0) return fail("tap: queues must be at least 1");
    return {};
}

Result<std::unique_ptr<Tap>> Tap::create(const TapOptions& o, const FdResolver& resolve_fd) {
    TRY(check_tap_options(o));
    std::unique_ptr<Tap> tap(new Tap(o.id));
    tap->m_vhostforce = o.vhostforce.value_or(false);

    std::vector<UniqueFd> fds;
    if (o.fd || o.fds) {
        auto names = o.fd ? std::vector<std::string>{*o.fd} : split_colon(*o.fds);
        for (const auto& name : names) {
            UniqueFd fd = TRY(resolve_fd(name));
            fds.push_back(std::move(fd));
        }
        if (o.vhostfds && split_colon(*o.vhostfds).size() != names.size())
            return fail("The number of fds passed does not match the number of vhostfds passed");
        // Passed fds: the opener chose IFF_VNET_HDR (QEMU tap_probe_vnet_hdr reads the flags).
        ifreq ifr{};
        bool vnet = ::ioctl(fds[0].get(), TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR);
        if (::ioctl(fds[0].get(), TUNGETIFF, &ifr) == 0) tap->m_ifname = ifr.ifr_name;
        tap->m_vnet_hdr = vnet;
        for (auto& fd : fds) {
            int flags = ::fcntl(fd.get(), F_GETFL);
            if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
                return fail_errno(fmt::format("{}: fcntl", o.id), errno);
        }
    } else {
        uint32_t queues = o.queues.value_or(1);
        std::string name = o.ifname.value_or("");
        bool want_vnet = o.vnet_hdr.value_or(true);
        for (uint32_t i = 0; i < queues; ++i) {
            auto fd = open_tun(name, want_vnet, queues > 1);
            // Default vnet_hdr: use it when the kernel has it (QEMU's probe); on=required.
            if (!fd && i == 0 && want_vnet && !o.vnet_hdr) {
                want_vnet = false;
                fd = open_tun(name, false, queues > 1);
            }
            if (!fd) return make_error(std::move(fd).error());
            fds.push_back(std::move(*fd));
        }
        tap->m_ifname = name;
        tap->m_vnet_hdr = want_vnet;
    }
    for (auto& fd : fds) TRY(tap->setup_queue(fd.get(), tap->m_vnet_hdr, o.vnet_hdr.value_or(false), o.sndbuf));
    tap->m_fds = std::move(fds);
    TRY(tap->setup_vhost(o, resolve_fd));
    return tap;
}

Result<> Tap::setup_vhost(const TapOptions& o, const FdResolver& resolve_fd) {
    // QEMU 7.2 net_init_tap_one: vhost= decides; unset, vhostfd(s)= or vhostforce=on imply it.
    bool wanted = o.vhost ? *o.vhost : (o.vhostfd || o.vhostfds || o.vhostforce.value_or(false));
    if (!wanted) {
        if (o.vhostfd || o.vhostfds) return fail("vhostfd(s)= is not valid without vhost");
        return {};
    }
    // QEMU 7.2 warns without vhostforce and then fails anyway (an assertion in
    // net_client_init1 ends the process): nemu makes every vhost failure a plain error, so
    // vhost=on never falls back to the userspace datapath behind the user's back.
    std::vector<std::string> names;
    if (o.vhostfds) names = split_colon(*o.vhostfds);
    for (unsigned q = 0; q < m_fds.size(); ++q) {
        UniqueFd fd;
        if (o.vhostfd) {
            // One vhostfd= for every queue, as QEMU passes it: a second VHOST_SET_OWNER on the
            // same open file fails (EBUSY), so multiqueue needs vhostfds=.
            if (q == 0) fd = TRY(resolve_fd(*o.vhostfd));
            else fd = UniqueFd(::fcntl(m_vhost_nets[0]->fd(), F_DUPFD_CLOEXEC, 0));
        } else if (o.vhostfds) {
            fd = TRY(resolve_fd(names[q]));
        } else {
            fd = TRY(VhostNet::open_device());
        }
        m_vhost_nets.push_back(TRY(VhostNet::create(std::move(fd), m_vnet_hdr)));
    }
    m_vhost = true;
    return {};
}

Result<> Tap::setup_queue(int fd, bool vnet_hdr, bool required, std::optional<uint64_t> sndbuf) {
    // TUNSETSNDBUF: QEMU's default is INT_MAX (no limit on queued frames).
    int sb = sndbuf ? static_cast<int>(std::min<uint64_t>(*sndbuf ? *sndbuf : INT_MAX, INT_MAX)) : INT_MAX;
    if (::ioctl(fd, TUNSETSNDBUF, &sb) != 0 && errno != ENOTTY && errno != EINVAL)
        return fail("TUNSETSNDBUF ioctl failed: {}", std::strerror(errno));
    if (!vnet_hdr) {
        if (required) return fail("vnet_hdr=1 requested, but no kernel support for IFF_VNET_HDR available");
        return {};
    }
    int len = static_cast<int>(kVnetHdrSize);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &len) != 0) return fail("TUNSETVNETHDRSZ ioctl failed: {}", std::strerror(errno));
    // No offloads until the driver negotiates them (QEMU tap_fd_set_offload(0...) at start).
    if (::ioctl(fd, TUNSETOFFLOAD, 0UL) != 0) return fail("TUNSETOFFLOAD ioctl failed: {}", std::strerror(errno));
    return {};
}

Tap::~Tap() = default;

Result<> Tap::set_offloads(const Offloads& off) {
    if (!m_vnet_hdr) {
        if (off == Offloads{}) return {};
        return fail("netdev {}: offloads need a vnet header", id());
    }
    unsigned long flags = 0;
    if (off.csum) flags |= TUN_F_CSUM;
    if (off.tso4) flags |= TUN_F_TSO4;
    if (off.tso6) flags |= TUN_F_TSO6;
    if (off.ecn) flags |= TUN_F_TSO_ECN;
    for (auto& fd : m_fds)
        if (::ioctl(fd.get(), TUNSETOFFLOAD, flags) != 0)
            return fail("TUNSETOFFLOAD ioctl() failed: {}", std::strerror(errno));
    return {};
}

Result<> Tap::set_queue_enabled(unsigned q, bool enabled) {
    if (q >= m_fds.size()) return fail("netdev {}: no queue {}", id(), q);
    if (m_fds.size() == 1) return {};   // a single-queue tap cannot detach (TUNSETQUEUE needs IFF_MULTI_QUEUE)
    ifreq ifr{};
    ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    // EINVAL: the queue is attached (detached) already.
    if (::ioctl(m_fds[q].get(), TUNSETQUEUE, &ifr) != 0 && errno != EINVAL)
        return fail("netdev {}: TUNSETQUEUE: {}", id(), std::strerror(errno));
    return {};
}

} // namespace nemu::net
