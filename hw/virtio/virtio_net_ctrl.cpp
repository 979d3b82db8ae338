// virtio-net's control queue (virtio 1.2, 5.1.6.5): RX mode, MAC filter table and address,
// VLAN filter, announce acks, multiqueue pairs and guest offloads. nemu's tap path does not
// filter frames itself (the guest's stack drops what it does not want), so the filter state
// is kept for query-rx-filter and acknowledged, as QEMU does for what it cannot offload.

#include <algorithm>

#include "hw/core/device_backends.h"
#include "hw/virtio/virtio_net.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {

namespace {

constexpr size_t kMaxCtrlBytes = 8 + 2 * 4 + 2 * 6 * 1024;   // two MAC tables of up to 1024 entries

// Offload commands (5.1.6.5.6): the VIRTIO_NET_F_GUEST_* bits the driver wants now.
constexpr uint64_t kGuestOffloadBits = feature_bit(kNetFGuestCsum) | feature_bit(kNetFGuestTso4) |
                                       feature_bit(kNetFGuestTso6) | feature_bit(kNetFGuestEcn) |
                                       feature_bit(kNetFGuestUfo);

} // namespace

Result<> VirtioNet::apply_offloads(uint64_t offloads) {
    if (!m_client || !m_client->has_vnet_hdr()) return {};
    net::Offloads o;
    o.csum = offloads & feature_bit(kNetFGuestCsum);
    o.tso4 = o.csum && (offloads & feature_bit(kNetFGuestTso4));
    o.tso6 = o.csum && (offloads & feature_bit(kNetFGuestTso6));
    o.ecn = (o.tso4 || o.tso6) && (offloads & feature_bit(kNetFGuestEcn));
    return m_client->set_offloads(o);
}

uint8_t VirtioNet::ctrl_command(uint8_t cls, uint8_t cmd, std::span<const uint8_t> data) {
    switch (cls) {
    case kNetCtrlRx: {
        // PROMISC, ALLMULTI (CTRL_RX); ALLUNI, NOMULTI, NOUNI, NOBCAST (CTRL_RX_EXTRA): one byte.
        if (data.size() != 1 || !has(kNetFCtrlRx)) return kNetErr;
        if (cmd > 1 && !has(kNetFCtrlRxExtra)) return kNetErr;
        bool on = data[0] != 0;
        bool* flags[] = {&m_filter.promisc, &m_filter.allmulti, &m_filter.alluni,
                         &m_filter.nomulti, &m_filter.nouni,    &m_filter.nobcast};
        if (cmd >= std::size(flags)) return kNetErr;
        *flags[cmd] = on;
        return kNetOk;
    }
    case kNetCtrlMac: {
        if (cmd == 1) {   // VIRTIO_NET_CTRL_MAC_ADDR_SET
            if (data.size() != 6 || !has(kNetFCtrlMacAddr)) return kNetErr;
            std::copy(data.begin(), data.end(), m_mac.begin());
            return kNetOk;
        }
        if (cmd != 0 || !has(kNetFCtrlRx)) return kNetErr;   // VIRTIO_NET_CTRL_MAC_TABLE_SET
        // Two struct virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }: unicast, multicast.
        std::vector<net::MacAddress> tables[2];
        bool overflow[2] = {false, false};
        size_t pos = 0;
        for (int t = 0; t < 2; ++t) {
            if (data.size() - pos < 4) return kNetErr;
            uint64_t n = load_le(data.data() + pos, 4);
            pos += 4;
            if (n > (data.size() - pos) / 6) return kNetErr;
            for (uint64_t i = 0; i < n; ++i, pos += 6) {
                if (tables[t].size() >= kNetMacTableEntries) {
                    overflow[t] = true;
                    continue;
                }
                net::MacAddress m;
                std::copy(data.begin() + pos, data.begin() + pos + 6, m.begin());
                tables[t].push_back(m);
            }
        }
        if (pos != data.size()) return kNetErr;
        m_filter.uni = overflow[0] ? std::vector<net::MacAddress>{} : std::move(tables[0]);
        m_filter.multi = overflow[1] ? std::vector<net::MacAddress>{} : std::move(tables[1]);
        m_filter.uni_overflow = overflow[0];
        m_filter.multi_overflow = overflow[1];
        return kNetOk;
    }
    case kNetCtrlVlan: {
        if (data.size() != 2 || !has(kNetFCtrlVlan) || cmd > 1) return kNetErr;
        uint16_t vid = static_cast<uint16_t>(load_le(data.data(), 2));
        if (vid >= 4096) return kNetErr;
        auto it = std::find(m_filter.vlans.begin(), m_filter.vlans.end(), vid);
        if (cmd == 0 && it == m_filter.vlans.end()) m_filter.vlans.push_back(vid);
        if (cmd == 1 && it != m_filter.vlans.end()) m_filter.vlans.erase(it);
        return kNetOk;
    }
    case kNetCtrlAnnounce:
        // VIRTIO_NET_CTRL_ANNOUNCE_ACK: nemu never asks to announce, so there is nothing to clear.
        return cmd == 0 && has(kNetFGuestAnnounce) ? kNetOk : kNetErr;
    case kNetCtrlMq: {
        // VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (5.1.6.5.5); RSS and hash configuration are not offered.
        if (cmd != 0 || data.size() != 2 || !has(kNetFMq)) return kNetErr;
        uint16_t pairs = static_cast<uint16_t>(load_le(data.data(), 2));
        if (pairs < 1 || pairs > m_max_pairs) return kNetErr;
        return set_queue_pairs(pairs) ? kNetOk : kNetErr;
    }
    case kNetCtrlGuestOffloads: {
        // VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET: a subset of the negotiated GUEST_* bits.
        if (cmd != 0 || data.size() != 8 || !has(kNetFCtrlGuestOffloads)) return kNetErr;
        uint64_t want = load_le(data.data(), 8);
        if (want & ~(m_act.features & kGuestOffloadBits)) return kNetErr;
        return apply_offloads(want) ? kNetOk : kNetErr;
    }
    default:
        return kNetErr;
    }
}

// QEMU 7.2's rxfilter_notify: a successful RX mode, MAC or VLAN command sends
// NIC_RX_FILTER_CHANGED once; none follows until query-rx-filter read this NIC's filter, so a
// guest cannot flood the monitors. name: the NIC's id (the -pci proxy carries it), absent
// without one; path: this virtio device's QOM path.
void VirtioNet::rx_filter_changed() {
    if (!m_rx_filter_notify || !m_backends) return;
    m_rx_filter_notify = false;
    std::optional<std::string> id = nic_id();
    m_backends->nic_rx_filter_changed(id ? std::optional<std::string_view>(*id) : std::nullopt, canonical_path());
}

void VirtioNet::ctrl_flush() {
    if (!m_ctrl || m_broken) return;
    bool pushed = false;
    while (true) {
        auto popped = m_ctrl->pop();
        if (!popped) return mark_broken(popped.error().msg);
        if (!*popped) break;
        DescChain& chain = **popped;
        // 5.1.6.5: u8 class, u8 command, data (device-readable); u8 ack (device-writable).
        if (chain.readable_bytes < 2 || chain.writable_bytes < 1 || chain.readable_bytes > kMaxCtrlBytes)
            return mark_broken("virtio-net control message has an invalid layout");
        std::vector<uint8_t> msg;
        msg.reserve(chain.readable_bytes);
        for (const iovec& v : chain.readable) {
            auto* b = static_cast<const uint8_t*>(v.iov_base);
            msg.insert(msg.end(), b, b + v.iov_len);
        }
        uint8_t ack = ctrl_command(msg[0], msg[1], std::span<const uint8_t>(msg).subspan(2));
        if (ack == kNetOk && (msg[0] == kNetCtrlRx || msg[0] == kNetCtrlMac || msg[0] == kNetCtrlVlan))
            rx_filter_changed();
        for (const iovec& v : chain.writable)
            if (v.iov_len) {
                *static_cast<uint8_t*>(v.iov_base) = ack;
                break;
            }
        if (auto r = m_ctrl->push(chain, 1); !r) return mark_broken(r.error().msg);
        pushed = true;
    }
    if (pushed) notify(m_ctrl, static_cast<uint16_t>(2 * m_max_pairs));
}

} // namespace nemu::hw::virtio
