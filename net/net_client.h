#pragma once
// A network backend ("-netdev", QEMU's NetClientState of a netdev) as a NIC model sees it:
// one or more queues, each a non-blocking file descriptor that carries whole Ethernet frames
// prefixed by a struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6) when the backend supports it
// (tap with IFF_VNET_HDR, see tap.h). The NIC (virtio-net) reads, writes and watches the
// queues on its own event loop; the backend never calls the NIC but for link changes.
//
// Thread: created, attached and deleted on the main loop. receive()/send() and the watches
// run on the thread of the loop the NIC passes (one loop per client).

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace nemu {
class EventLoop;
}

namespace nemu::net {

class VhostNet;

// sizeof(struct virtio_net_hdr_v1): flags, gso_type, hdr_len, gso_size, csum_start,
// csum_offset, num_buffers (virtio 1.2, 5.1.6). VERSION_1 drivers always use it.
inline constexpr size_t kVnetHdrSize = 12;
// The largest frame a backend hands over: a 64 KiB GSO frame plus the Ethernet/VLAN header
// (QEMU's NET_BUFSIZE is 4096 + 65536).
inline constexpr size_t kMaxFrameBytes = 4096 + 65536;

using MacAddress = std::array<uint8_t, 6>;

// Offloads the NIC's driver accepts in frames it receives (tap's TUNSETOFFLOAD, Linux
// include/uapi/linux/if_tun.h TUN_F_*): what the kernel may then hand over unsegmented or
// with a partial checksum.
struct Offloads {
    bool csum = false;   // TUN_F_CSUM: partial checksums (virtio GUEST_CSUM)
    bool tso4 = false;   // TUN_F_TSO4 (GUEST_TSO4)
    bool tso6 = false;   // TUN_F_TSO6 (GUEST_TSO6)
    bool ecn = false;    // TUN_F_TSO_ECN (GUEST_ECN)
    bool operator==(const Offloads&) const = default;
};

// The receive filter a NIC reports for query-rx-filter (QEMU 7.2 RxFilterInfo).
struct RxFilter {
    enum class Mode { Normal, None, All };
    std::string name;   // the NIC's id (or QOM path when it has none)
    bool promiscuous = true;
    Mode multicast = Mode::Normal, unicast = Mode::Normal, vlan = Mode::All;
    bool broadcast_allowed = true;
    bool multicast_overflow = false, unicast_overflow = false;
    MacAddress main_mac{};
    std::vector<int64_t> vlan_table;
    std::vector<MacAddress> unicast_table, multicast_table;
};

// The NIC on the other end of a netdev (QEMU's peer), for set_link and query-rx-filter.
struct NetPeer {
    virtual ~NetPeer() = default;
    virtual std::string peer_name() const = 0;   // the NIC's id, else its QOM path
    virtual void link_changed(bool up) = 0;      // set_link on either end (main loop)
    virtual RxFilter rx_filter() const = 0;
};

// "aa:bb:cc:dd:ee:ff" <-> bytes (QEMU's qemu_macaddr / DEFINE_PROP_MACADDR forms).
std::optional<MacAddress> parse_mac(std::string_view text);
std::string format_mac(const MacAddress& mac);

class NetClient {
public:
    virtual ~NetClient() = default;
    NetClient(const NetClient&) = delete;
    NetClient& operator=(const NetClient&) = delete;

    const std::string& id() const { return m_id; }
    virtual std::string_view type() const = 0;   // QEMU's NetClientDriver name: "tap"

    // Queues: a tap with queues=N has N fds (one per virtio-net queue pair).
    virtual unsigned queue_count() const = 0;
    virtual int queue_fd(unsigned q) const = 0;
    // Frames carry a kVnetHdrSize header (IFF_VNET_HDR with TUNSETVNETHDRSZ 12).
    virtual bool has_vnet_hdr() const = 0;
    // Which offloads the driver accepts; false if the backend cannot (no vnet header).
    virtual Result<> set_offloads(const Offloads& offloads) = 0;
    // Multiqueue: a disabled queue gets no frames from the host (TUNSETQUEUE detach), so the
    // kernel steers nothing to queues the driver does not serve.
    virtual Result<> set_queue_enabled(unsigned q, bool enabled) = 0;

    // One frame (with the header when has_vnet_hdr()) into buf: its length, or nullopt
    // when none is waiting. Frames longer than buf are truncated by the kernel.
    Result<std::optional<size_t>> receive(unsigned q, std::span<uint8_t> buf);
    // One frame from iov: true when sent, false when the backend would block (watch for
    // EPOLLOUT and retry).
    Result<bool> send(unsigned q, std::span<const iovec> frame);

    // Watch queue q's fd on loop for `events` (EPOLLIN, EPOLLOUT), or change/stop watching.
    Result<> watch(unsigned q, EventLoop& loop, uint32_t events, std::function<void(uint32_t)> handler);
    Result<> modify_watch(unsigned q, EventLoop& loop, uint32_t events);
    void unwatch(unsigned q, EventLoop& loop);

    // vhost=on (or vhostfd=/vhostfds=/vhostforce=on, QEMU's rule): every queue has a kernel
    // datapath (net/vhost_net.h), set up when the netdev was created; vhost(q) is queue q's,
    // nullptr without vhost. The NIC hands its rings to it instead of reading queue_fd(q).
    bool vhost_requested() const { return m_vhost; }
    bool vhost_forced() const { return m_vhostforce; }
    virtual VhostNet* vhost(unsigned q) const { (void)q; return nullptr; }

    // The NIC using this netdev: one at most. QEMU's message names the property.
    Result<> attach(NetPeer& peer, std::string_view property);
    void detach(const NetPeer& peer);
    NetPeer* peer() const { return m_peer; }

    // set_link: QEMU keeps one link_down per end and reports both to the NIC.
    bool link_up() const { return m_link_up; }
    void set_link_up(bool up);

protected:
    explicit NetClient(std::string id) : m_id(std::move(id)) {}
    bool m_vhost = false, m_vhostforce = false;

private:
    std::string m_id;
    NetPeer* m_peer = nullptr;
    bool m_link_up = true;
};

} // namespace nemu::net
