// virtio-net: properties, realize, features, configuration space, the activate/deactivate
// hand-over and the NetPeer side (set_link, query-rx-filter). The datapath is in
// virtio_net_rxtx.cpp, the control queue in virtio_net_ctrl.cpp.

#include "hw/virtio/virtio_net.h"

#include <sys/epoll.h>

#include "hw/core/device_backends.h"
#include "net/vhost_net.h"
#include "qom/property.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {

VirtioNet::VirtioNet() = default;

VirtioNet::~VirtioNet() {
    if (m_active) deactivate();
    // FIXME(#5): belongs in an unrealize hook (device_del), which Device does not have yet.
    if (m_client) m_client->detach(*this);
}

// --- realize ---------------------------------------------------------------------------------

Result<> VirtioNet::realize() {
    DeviceBackends* backends = device_backends(*this);
    if (!backends) return fail("virtio-net-device: not part of a machine");
    return realize_with(*backends);
}

Result<> VirtioNet::realize_with(DeviceBackends& backends) {
    // QEMU 7.2 virtio_net_device_realize, in its order and with its messages.
    auto pow2 = [](uint16_t v) { return v && !(v & (v - 1)); };
    if (m_rx_queue_size < 256 || m_rx_queue_size > 1024 || !pow2(m_rx_queue_size))
        return fail("Invalid rx_queue_size (= {}), must be a power of 2 between 256 and 1024.", m_rx_queue_size);
    if (m_tx_queue_size < 256 || m_tx_queue_size > 1024 || !pow2(m_tx_queue_size))
        return fail("Invalid tx_queue_size (= {}), must be a power of 2 between 256 and 1024", m_tx_queue_size);
    if (m_host_mtu && m_host_mtu < 68) return fail("'host_mtu' must be at least 68");
    if (!m_duplex.empty() && m_duplex != "half" && m_duplex != "full")
        return fail("'duplex' must be 'half' or 'full'");
    if (m_speed < -1) return fail("'speed' must be between 0 and INT_MAX");
    if (m_rss || m_hash) return fail("virtio-net: rss and hash are not supported by nemu");
    std::optional<net::MacAddress> mac;
    if (!m_mac_text.empty()) mac = *net::parse_mac(m_mac_text);   // checked by the setter
    m_mac = backends.mac_addresses().claim(mac);
    m_backends = &backends;
    m_main = &backends.main_loop();
    if (!m_netdev.empty()) {
        constexpr std::string_view prop = "virtio-net-device.netdev";   // as QEMU names it
        net::NetClient* c = TRY(backends.net_client(prop, m_netdev));
        TRY(c->attach(*this, prop));
        m_client = c;
        m_link_up = c->link_up();
        m_max_pairs = static_cast<uint16_t>(std::min<unsigned>(c->queue_count(), kNetMaxQueuePairs));
    }
    return {};
}

// --- what the transport offers --------------------------------------------------------------

// QEMU's virtio_net_config_size: the structure ends after the last field a feature it offers
// needs (virtio 1.2, 5.1.4); the transport reads bytes past it as all-ones.
uint32_t VirtioNet::config_size() const {
    uint64_t f = device_features();
    if (f & feature_bit(kNetFSpeedDuplex)) return net_config::kSize;
    if (f & feature_bit(kNetFMtu)) return net_config::kSpeed;
    if (f & feature_bit(kNetFMq)) return net_config::kMtu;
    if (f & feature_bit(kNetFStatus)) return net_config::kMaxVirtqueuePairs;
    return net_config::kStatus;
}

uint64_t VirtioNet::device_features() const {
    // QEMU 7.2: MAC always, SPEED_DUPLEX only when duplex= is given (virtio_net_device_realize);
    // the offloads only with a backend that has the vnet header (virtio_net_get_features
    // clears them otherwise).
    uint64_t f = feature_bit(kNetFMac);
    if (!m_duplex.empty()) f |= feature_bit(kNetFSpeedDuplex);
    auto set = [&](bool on, unsigned bit) {
        if (on) f |= feature_bit(bit);
    };
    bool vnet = m_client && m_client->has_vnet_hdr();
    set(vnet && m_csum, kNetFCsum);
    set(vnet && m_csum && m_host_tso4, kNetFHostTso4);
    set(vnet && m_csum && m_host_tso6, kNetFHostTso6);
    set(vnet && m_csum && m_host_ecn, kNetFHostEcn);
    set(vnet && m_guest_csum, kNetFGuestCsum);
    set(vnet && m_guest_csum && m_guest_tso4, kNetFGuestTso4);
    set(vnet && m_guest_csum && m_guest_tso6, kNetFGuestTso6);
    set(vnet && m_guest_csum && m_guest_ecn, kNetFGuestEcn);
    // No UFO: Linux taps no longer take TUN_F_UFO from new users of it.
    set(m_mrg_rxbuf, kNetFMrgRxbuf);
    set(m_status, kNetFStatus);
    set(m_host_mtu != 0, kNetFMtu);
    if (m_ctrl_vq) {
        f |= feature_bit(kNetFCtrlVq);
        set(m_ctrl_rx, kNetFCtrlRx);
        set(m_ctrl_vlan, kNetFCtrlVlan);
        set(m_ctrl_rx && m_ctrl_rx_extra, kNetFCtrlRxExtra);
        set(m_ctrl_mac_addr, kNetFCtrlMacAddr);
        set(m_ctrl_guest_offloads && vnet && m_guest_csum, kNetFCtrlGuestOffloads);
        set(m_guest_announce && m_status, kNetFGuestAnnounce);
        set(m_mq, kNetFMq);
    }
    return f;
}

uint64_t VirtioNet::filter_features(uint64_t offered) const {
    net::VhostNet* vhost = m_client ? m_client->vhost(0) : nullptr;
    if (!vhost) return offered;
    // QEMU 7.2 virtio_net_get_features: vhost_net_get_features masks what the kernel lacks
    // (RING_PACKED, MTU ...); MTU comes back with x-mtu-bypass-backend (the default).
    uint64_t f = net::vhost_mask_features(offered, vhost->kernel_features());
    if (m_x_mtu_bypass_backend && (offered & feature_bit(kNetFMtu))) f |= feature_bit(kNetFMtu);
    return f;
}

std::vector<uint16_t> VirtioNet::queue_max_sizes() const {
    // QEMU: max_queue_pairs RX/TX pairs then the control queue. TX queues stay at 256 for
    // every backend but vhost-user (virtio_net_max_tx_queue_size).
    std::vector<uint16_t> sizes;
    uint16_t tx = std::min<uint16_t>(m_tx_queue_size, 256);
    for (uint16_t i = 0; i < m_max_pairs; ++i) {
        sizes.push_back(m_rx_queue_size);
        sizes.push_back(tx);
    }
    if (m_ctrl_vq) sizes.push_back(64);
    return sizes;
}

void VirtioNet::read_config(uint32_t offset, std::span<uint8_t> out) const {
    using namespace net_config;
    uint8_t cfg[kSize + 7] = {};
    std::copy(m_mac.begin(), m_mac.end(), cfg + kMac);
    store_le(cfg + kStatus, link_is_up() ? kNetSLinkUp : 0, 2);
    store_le(cfg + kMaxVirtqueuePairs, m_max_pairs, 2);
    store_le(cfg + kMtu, m_host_mtu, 2);
    store_le(cfg + kSpeed, static_cast<uint32_t>(m_speed), 4);
    cfg[kDuplex] = m_duplex == "full" ? 1 : m_duplex == "half" ? 0 : 0xFF;   // 0xff: unknown
    for (size_t i = 0; i < out.size(); ++i) out[i] = offset + i < kSize ? cfg[offset + i] : 0;
}

// --- life cycle -------------------------------------------------------------------------------

Result<> VirtioNet::activate(const VirtioActivation& activation) {
    if (!m_main) return fail("virtio-net: activated before realize");
    if (m_active) deactivate();
    m_act = activation;
    ++m_generation;
    m_pairs.clear();
    m_ctrl = nullptr;
    m_ctrl_kick = nullptr;
    for (const ActiveQueue& aq : activation.queues) {
        if (!aq.queue || !aq.kick) return fail("virtio-net: queue {} has no ring or doorbell", aq.index);
        if (m_ctrl_vq && aq.index == 2 * m_max_pairs) {
            m_ctrl = aq.queue;
            m_ctrl_kick = aq.kick;
            continue;
        }
        unsigned pi = aq.index / 2;
        if (pi >= m_max_pairs) continue;
        while (m_pairs.size() <= pi) {
            m_pairs.push_back(std::make_unique<Pair>());
            m_pairs.back()->index = static_cast<unsigned>(m_pairs.size() - 1);
        }
        Pair& p = *m_pairs[pi];
        (aq.index % 2 ? p.tx : p.rx) = aq.queue;
        (aq.index % 2 ? p.tx_kick : p.rx_kick) = aq.kick;
    }
    m_filter = Filter{};
    m_broken = false;
    m_active = true;
    if (m_client) {
        // Offloads as negotiated (QEMU virtio_net_apply_guest_offloads at set_features).
        if (auto r = apply_offloads(m_act.features); !r) {
            deactivate();
            return r;
        }
    }
    // vhost=on: the kernel takes the data queues; the control queue stays here.
    if (uses_vhost()) {
        if (auto r = vhost_start(); !r) {
            deactivate();
            return r;
        }
    }
    // Without MQ only the first pair runs (5.1.6.5.5: until VQ_PAIRS_SET, one pair).
    if (auto r = set_queue_pairs(1); !r) {
        deactivate();
        return r;
    }
    if (m_ctrl && !m_main->add_fd(m_ctrl_kick->fd(), EPOLLIN, [this](uint32_t) {
            m_ctrl_kick->drain();
            ctrl_flush();
        })) {
        deactivate();
        return fail("virtio-net: cannot watch the control queue doorbell");
    }
    if (m_ctrl) ctrl_flush();
    return {};
}

void VirtioNet::deactivate() {
    if (!m_active) return;
    vhost_stop();
    for (auto& p : m_pairs) {
        if (!p->watching) continue;
        if (p->rx_kick) m_main->remove_fd(p->rx_kick->fd());
        if (p->tx_kick) m_main->remove_fd(p->tx_kick->fd());
        if (m_client && p->index < m_client->queue_count()) m_client->unwatch(p->index, *m_main);
    }
    if (m_ctrl_kick) m_main->remove_fd(m_ctrl_kick->fd());
    if (m_client) {
        (void)m_client->set_offloads(net::Offloads{});
        for (unsigned q = 0; q < m_client->queue_count(); ++q) (void)m_client->set_queue_enabled(q, true);
    }
    ++m_generation;
    m_pairs.clear();
    m_ctrl = nullptr;
    m_ctrl_kick = nullptr;
    m_act = VirtioActivation{};
    m_curr_pairs = 1;
    m_active = false;
}

// --- NetPeer ----------------------------------------------------------------------------------

// The NIC's id: the proxy's (virtio-net-pci carries it), else this device's own.
std::optional<std::string> VirtioNet::nic_id() const {
    if (auto* proxy = dynamic_cast<const hw::Device*>(parent()); proxy && !proxy->m_id.empty()) return proxy->m_id;
    if (!m_id.empty()) return m_id;
    return std::nullopt;
}

std::string VirtioNet::peer_name() const {
    // QEMU names a NIC by its device's id, else "<type>.<n>".
    if (auto id = nic_id()) return *id;
    return canonical_path();
}

void VirtioNet::link_changed(bool up) {
    if (m_link_up.exchange(up) == up) return;
    // 5.1.4: the status field changed; the driver learns it through a config interrupt.
    if (m_active && has(kNetFStatus) && m_act.interrupt) m_act.interrupt->notify_config();
    if (m_vhost) return vhost_set_link(up);
    if (up && m_active)
        for (auto& p : m_pairs)
            if (p->enabled) rx_flush(*p);
}

net::RxFilter VirtioNet::rx_filter() const {
    net::RxFilter f;
    using Mode = net::RxFilter::Mode;
    f.name = peer_name();
    f.promiscuous = m_filter.promisc;
    f.main_mac = m_mac;
    f.multicast = m_filter.nomulti ? Mode::None : m_filter.allmulti ? Mode::All : Mode::Normal;
    f.unicast = m_filter.nouni ? Mode::None : m_filter.alluni ? Mode::All : Mode::Normal;
    // QEMU 7.2 reports its nobcast flag under broadcast-allowed (as it prints it).
    f.broadcast_allowed = m_filter.nobcast;
    f.multicast_overflow = m_filter.multi_overflow;
    f.unicast_overflow = m_filter.uni_overflow;
    f.unicast_table = m_filter.uni;
    f.multicast_table = m_filter.multi;
    if (m_active && has(kNetFCtrlVlan)) {
        f.vlan = Mode::Normal;
        for (uint16_t v : m_filter.vlans) f.vlan_table.push_back(v);
    } else {
        f.vlan = Mode::All;
    }
    m_rx_filter_notify = true;   // QEMU's virtio_net_query_rxfilter re-enables the event
    return f;
}

// --- QOM type -------------------------------------------------------------------------------

namespace {

qom::PropertyDef string_prop(std::string name, std::string VirtioNet::*member, std::string description = {}) {
    qom::PropertyDef d = qom::prop(name, member, std::optional<std::string>(), std::move(description));
    d.text_type = "str";
    return d;
}

qom::PropertyDef mac_prop() {
    qom::PropertyDef d = string_prop("mac", &VirtioNet::m_mac_text, "Ethernet 6-byte MAC Address, example: 52:54:00:12:34:56");
    d.set = [](qom::Object& o, const Json& v) -> Result<> {
        if (!v.is_string()) return fail("Invalid parameter type for 'mac', expected: string");
        const std::string& s = v.get_ref<const std::string&>();
        if (!net::parse_mac(s)) return fail("Property 'virtio-net-device.mac' doesn't take value '{}'", s);
        static_cast<VirtioNet&>(o).m_mac_text = s;
        return {};
    };
    return d;
}

} // namespace

void register_virtio_net_type(qom::TypeRegistry& registry) {
    using qom::prop;
    std::optional<bool> yes(true), no(false);
    using V = VirtioNet;
    registry.add(qom::TypeInfo{
        .name = "virtio-net-device",
        .parent = "virtio-device",
        .category = "Network devices",
        .properties = {
            prop("csum", &V::m_csum, yes, "on/off"),
            prop("guest_csum", &V::m_guest_csum, yes, "on/off"),
            prop("gso", &V::m_gso, yes, "on/off"),
            prop("guest_tso4", &V::m_guest_tso4, yes, "on/off"),
            prop("guest_tso6", &V::m_guest_tso6, yes, "on/off"),
            prop("guest_ecn", &V::m_guest_ecn, yes, "on/off"),
            prop("guest_ufo", &V::m_guest_ufo, yes, "on/off"),
            prop("guest_announce", &V::m_guest_announce, yes, "on/off"),
            prop("host_tso4", &V::m_host_tso4, yes, "on/off"),
            prop("host_tso6", &V::m_host_tso6, yes, "on/off"),
            prop("host_ecn", &V::m_host_ecn, yes, "on/off"),
            prop("host_ufo", &V::m_host_ufo, yes, "on/off"),
            prop("mrg_rxbuf", &V::m_mrg_rxbuf, yes, "on/off"),
            prop("status", &V::m_status, yes, "on/off"),
            prop("ctrl_vq", &V::m_ctrl_vq, yes, "on/off"),
            prop("ctrl_rx", &V::m_ctrl_rx, yes, "on/off"),
            prop("ctrl_vlan", &V::m_ctrl_vlan, yes, "on/off"),
            prop("ctrl_rx_extra", &V::m_ctrl_rx_extra, yes, "on/off"),
            prop("ctrl_mac_addr", &V::m_ctrl_mac_addr, yes, "on/off"),
            prop("ctrl_guest_offloads", &V::m_ctrl_guest_offloads, yes, "on/off"),
            prop("mq", &V::m_mq, no, "on/off"),
            prop("rss", &V::m_rss, no, "on/off"),
            prop("hash", &V::m_hash, no, "on/off"),
            prop("guest_rsc_ext", &V::m_guest_rsc_ext, no, "on/off"),
            prop("rsc_interval", &V::m_rsc_interval, std::optional<uint32_t>(300000)),
            mac_prop(),
            string_prop("netdev", &V::m_netdev, "ID of a netdev to use as a backend"),
            prop("x-txtimer", &V::m_x_txtimer, std::optional<uint32_t>(150000)),
            prop("x-txburst", &V::m_x_txburst, std::optional<int32_t>(256)),
            string_prop("tx", &V::m_tx),
            prop("rx_queue_size", &V::m_rx_queue_size, std::optional<uint16_t>(256)),
            prop("tx_queue_size", &V::m_tx_queue_size, std::optional<uint16_t>(256)),
            prop("host_mtu", &V::m_host_mtu, std::optional<uint16_t>(0)),
            prop("x-mtu-bypass-backend", &V::m_x_mtu_bypass_backend, yes),
            prop("speed", &V::m_speed, std::optional<int32_t>(-1)),
            string_prop("duplex", &V::m_duplex),
            prop("failover", &V::m_failover, no),
        },
        .create = [] { return std::make_unique<VirtioNet>(); }});
}

} // namespace nemu::hw::virtio
