#pragma once
// The virtio network device ("virtio-net-device", wrapped as "virtio-net-pci"): virtio 1.2,
// 5.1, over a netdev (net/net_client.h) with the kernel's vhost-net datapath when the netdev
// has vhost=on (virtio_net_vhost.cpp), otherwise the userspace datapath: received frames are
// read from the backend into a bounce buffer and copied into the driver's receive chains
// (mergeable buffers: num_buffers); transmitted chains go to the backend as iovecs into guest
// RAM with their virtio_net_hdr_v1, which a tap with IFF_VNET_HDR takes as is (checksum and
// TSO offloads). The control queue serves RX mode, MAC table, VLAN, announce, MQ pairs and
// guest offloads. Property names, defaults and messages are QEMU 7.2's
// (hw/net/virtio-net.c, `-device virtio-net-device,help`).
//
// Threads: properties, realize, activate, deactivate, set_link and query-rx-filter on the
// main loop, which also serves the queues and the netdev. read_config() comes from vCPU
// threads: the fields it reads (mac, status) are atomics or fixed after realize.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"
#include "net/net_client.h"

namespace nemu {
class EventLoop;
}
namespace nemu::hw {
struct DeviceBackends;
}

namespace nemu::hw::virtio {

// Feature bits (virtio 1.2, 5.1.3).
inline constexpr unsigned kNetFCsum = 0, kNetFGuestCsum = 1, kNetFCtrlGuestOffloads = 2, kNetFMtu = 3,
                          kNetFMac = 5, kNetFGuestTso4 = 7, kNetFGuestTso6 = 8, kNetFGuestEcn = 9,
                          kNetFGuestUfo = 10, kNetFHostTso4 = 11, kNetFHostTso6 = 12, kNetFHostEcn = 13,
                          kNetFHostUfo = 14, kNetFMrgRxbuf = 15, kNetFStatus = 16, kNetFCtrlVq = 17,
                          kNetFCtrlRx = 18, kNetFCtrlVlan = 19, kNetFCtrlRxExtra = 20, kNetFGuestAnnounce = 21,
                          kNetFMq = 22, kNetFCtrlMacAddr = 23, kNetFSpeedDuplex = 63;
// Config status bits (5.1.4).
inline constexpr uint16_t kNetSLinkUp = 1, kNetSAnnounce = 2;
// Offsets in struct virtio_net_config (5.1.4); its size follows the offered features.
namespace net_config {
inline constexpr uint32_t kMac = 0, kStatus = 6, kMaxVirtqueuePairs = 8, kMtu = 10, kSpeed = 12, kDuplex = 16,
                          kSize = 17;
}
// Control queue classes and commands (5.1.6.5), acks.
inline constexpr uint8_t kNetCtrlRx = 0, kNetCtrlMac = 1, kNetCtrlVlan = 2, kNetCtrlAnnounce = 3, kNetCtrlMq = 4,
                         kNetCtrlGuestOffloads = 5;
inline constexpr uint8_t kNetOk = 0, kNetErr = 1;
inline constexpr uint16_t kNetMaxQueuePairs = 0x8000;   // VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX
inline constexpr uint32_t kNetMacTableEntries = 64;      // QEMU's MAC_TABLE_ENTRIES

class VirtioNet final : public VirtioDevice, public net::NetPeer {
public:
    VirtioNet();
    ~VirtioNet() override;

    // VirtioDevice
    uint16_t device_id() const override { return kDeviceIdNet; }
    uint64_t device_features() const override;
    uint64_t filter_features(uint64_t offered) const override;
    std::vector<uint16_t> queue_max_sizes() const override;
    // QEMU 7.2's virtio-net-pci: 2 * pairs + 2 with multiqueue, else 3.
    uint32_t default_msix_vectors() const override { return m_max_pairs > 1 ? 2u * m_max_pairs + 2 : 3; }
    uint32_t config_size() const override;
    void read_config(uint32_t offset, std::span<uint8_t> out) const override;
    Result<> activate(const VirtioActivation& activation) override;
    void deactivate() override;

    // NetPeer
    std::string peer_name() const override;
    void link_changed(bool up) override;
    net::RxFilter rx_filter() const override;

    // realize() with the backends given explicitly (unit tests).
    Result<> realize_with(DeviceBackends& backends);
    net::NetClient* client() const { return m_client; }
    uint16_t max_queue_pairs() const { return m_max_pairs; }
    uint16_t active_queue_pairs() const { return m_curr_pairs; }
    const net::MacAddress& mac() const { return m_mac; }

    // Properties (QEMU 7.2 names; register_virtio_net_type lists types and defaults).
    std::string m_mac_text, m_netdev, m_tx, m_duplex;
    bool m_csum = true, m_guest_csum = true, m_gso = true, m_guest_tso4 = true, m_guest_tso6 = true,
         m_guest_ecn = true, m_guest_ufo = true, m_host_tso4 = true, m_host_tso6 = true, m_host_ecn = true,
         m_host_ufo = true, m_mrg_rxbuf = true, m_status = true, m_ctrl_vq = true, m_ctrl_rx = true,
         m_ctrl_vlan = true, m_ctrl_rx_extra = true, m_ctrl_mac_addr = true, m_ctrl_guest_offloads = true,
         m_guest_announce = true, m_mq = false, m_rss = false, m_hash = false, m_guest_rsc_ext = false,
         m_failover = false, m_x_mtu_bypass_backend = true;
    uint16_t m_rx_queue_size = 256, m_tx_queue_size = 256, m_host_mtu = 0;
    int32_t m_speed = -1, m_x_txburst = 256;
    uint32_t m_rsc_interval = 300000, m_x_txtimer = 150000;

protected:
    Result<> realize() override;

private:
    struct Pair;
    // virtio_net_rxtx.cpp: the datapath on the main loop.
    void rx_flush(Pair& p);
    bool deliver_frame(Pair& p);   // false: the driver has no buffers yet
    void tx_flush(Pair& p);
    void update_tap_watch(Pair& p);
    void notify(Virtqueue* vq, uint16_t index);
    void mark_broken(const std::string& why);
    // virtio_net_ctrl.cpp
    void ctrl_flush();
    uint8_t ctrl_command(uint8_t cls, uint8_t cmd, std::span<const uint8_t> data);
    Result<> set_queue_pairs(uint16_t pairs);
    Result<> apply_offloads(uint64_t guest_offloads);
    void rx_filter_changed();
    std::optional<std::string> nic_id() const;
    // virtio_net_vhost.cpp: the pairs' rings handed to the netdev's vhost-net devices.
    struct Vhost;
    struct VhostDeleter {
        void operator()(Vhost* v) const;
    };
    bool uses_vhost() const { return m_client && m_client->vhost(0); }
    Result<> vhost_start();
    void vhost_stop();
    void vhost_set_link(bool up);

    bool has(unsigned feature) const { return (m_act.features >> feature) & 1; }
    bool link_is_up() const { return m_link_up.load(std::memory_order_relaxed); }

    // Set by realize.
    DeviceBackends* m_backends = nullptr;
    net::NetClient* m_client = nullptr;
    EventLoop* m_main = nullptr;
    net::MacAddress m_mac{};
    uint16_t m_max_pairs = 1;

    std::atomic<bool> m_link_up{true};

    // Between activate and deactivate (main loop).
    VirtioActivation m_act;
    std::vector<std::unique_ptr<Pair>> m_pairs;
    Virtqueue* m_ctrl = nullptr;
    const EventFd* m_ctrl_kick = nullptr;
    uint16_t m_curr_pairs = 1;
    std::unique_ptr<Vhost, VhostDeleter> m_vhost;   // the kernel serves the pairs (vhost=on)
    uint64_t m_generation = 0;   // deferred work from an older activation is dropped
    bool m_active = false;
    bool m_broken = false;

    // RX filter state (control queue; reported by query-rx-filter). Reset with the device.
    struct Filter {
        bool promisc = true, allmulti = false, alluni = false, nomulti = false, nouni = false, nobcast = false;
        std::vector<net::MacAddress> uni, multi;
        bool uni_overflow = false, multi_overflow = false;
        std::vector<uint16_t> vlans;
    } m_filter;
    // NIC_RX_FILTER_CHANGED is armed: sent once, re-armed when query-rx-filter reads the
    // filter (QEMU 7.2's rxfilter_notify_enabled; rx_filter() is query-rx-filter's, hence mutable).
    mutable bool m_rx_filter_notify = true;
};

// One receive/transmit queue pair and its netdev queue (virtio 1.2, 5.1.2: receiveqN is
// 2(N-1), transmitqN 2(N-1)+1).
struct VirtioNet::Pair {
    unsigned index = 0;
    Virtqueue* rx = nullptr;
    Virtqueue* tx = nullptr;
    const EventFd* rx_kick = nullptr;
    const EventFd* tx_kick = nullptr;
    bool enabled = false;          // within the driver's active pairs
    bool watching = false;         // the kicks and the netdev queue are on the loop
    uint32_t tap_events = 0;       // what the netdev queue is watched for
    // RX: one frame (virtio_net_hdr_v1 first) waiting for buffers, and the chains it filled.
    std::vector<uint8_t> frame;
    size_t frame_len = 0;
    size_t copied = 0;
    std::vector<DescChain> rx_chains;
    std::vector<uint32_t> rx_lens;
    // TX: a chain the netdev could not take yet (EAGAIN).
    std::optional<DescChain> tx_pending;
    bool tx_scheduled = false;
};

// "virtio-net-device" with QEMU 7.2's properties; the transport wraps it as "virtio-net-pci".
void register_virtio_net_type(qom::TypeRegistry& registry);

} // namespace nemu::hw::virtio
