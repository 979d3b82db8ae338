// virtio-net's userspace datapath on the main loop (virtio 1.2, 5.1.6.3 and 5.1.6.4):
// frames from the netdev into receive chains (through a bounce buffer, spread over several
// chains with VIRTIO_NET_F_MRG_RXBUF), transmit chains to the netdev as iovecs into guest RAM.
// Level-triggered epoll on the netdev queue paces RX; a budget per round keeps one busy
// queue from starving the loop.

#include <sys/epoll.h>

#include <algorithm>
#include <cstring>

#include "hw/virtio/virtio_net.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {

namespace {

constexpr int kBudget = 256;                 // chains per queue per loop round
constexpr size_t kNumBuffersOffset = 10;     // virtio_net_hdr_v1.num_buffers

size_t copy_to_iov(const std::vector<iovec>& iov, const uint8_t* src, size_t n) {
    size_t done = 0;
    for (const iovec& v : iov) {
        if (done == n) break;
        size_t k = std::min(v.iov_len, n - done);
        std::memcpy(v.iov_base, src + done, k);
        done += k;
    }
    return done;
}

// Writes `len` bytes at byte `offset` of the buffers (a field that may straddle two).
void write_iov_at(const std::vector<iovec>& iov, size_t offset, const uint8_t* src, size_t len) {
    for (const iovec& v : iov) {
        if (!len) return;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t k = std::min(v.iov_len - offset, len);
        std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset, src, k);
        src += k;
        len -= k;
        offset = 0;
    }
}

// The buffers after the first `skip` bytes.
std::vector<iovec> skip_bytes(const std::vector<iovec>& iov, size_t skip) {
    std::vector<iovec> out;
    for (const iovec& v : iov) {
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        out.push_back({static_cast<uint8_t*>(v.iov_base) + skip, v.iov_len - skip});
        skip = 0;
    }
    return out;
}

} // namespace

void VirtioNet::mark_broken(const std::string& why) {
    if (m_broken) return;
    m_broken = true;
    if (m_act.broken) m_act.broken(why);
}

void VirtioNet::notify(Virtqueue* vq, uint16_t index) {
    if (vq->should_notify() && m_act.interrupt) m_act.interrupt->notify_queue(index);
}

void VirtioNet::update_tap_watch(Pair& p) {
    if (!m_client || !p.watching) return;
    // Read while the driver has room (or a frame is not waiting for it); write-wait while
    // the netdev refused a frame.
    uint32_t ev = 0;
    if (p.frame_len == 0 || p.rx->has_available()) ev |= EPOLLIN;
    if (p.tx_pending) ev |= EPOLLOUT;
    if (ev == p.tap_events) return;
    if (m_client->modify_watch(p.index, *m_main, ev)) p.tap_events = ev;
}

// --- receive ----------------------------------------------------------------------------------

bool VirtioNet::deliver_frame(Pair& p) {
    bool mergeable = has(kNetFMrgRxbuf);
    while (p.copied < p.frame_len) {
        auto popped = p.rx->pop();
        if (!popped) {
            mark_broken(popped.error().msg);
            return false;
        }
        if (!*popped) return false;   // wait for the driver's buffers (it kicks RX)
        DescChain chain = std::move(**popped);
        if (chain.writable_bytes < (p.rx_chains.empty() ? net::kVnetHdrSize : 1)) {
            mark_broken(fmt::format("virtio-net: receive buffer of {} bytes on queue {}", chain.writable_bytes,
                                    2 * p.index));
            return false;
        }
        size_t n = copy_to_iov(chain.writable, p.frame.data() + p.copied, p.frame_len - p.copied);
        p.copied += n;
        p.rx_chains.push_back(std::move(chain));
        p.rx_lens.push_back(static_cast<uint32_t>(n));
        // Without mergeable buffers one chain holds the frame; the rest is cut off (Linux
        // posts 64 KiB "big" buffers when it negotiates TSO without MRG_RXBUF).
        if (!mergeable) break;
    }
    uint16_t num = static_cast<uint16_t>(p.rx_chains.size());
    uint8_t le[2] = {static_cast<uint8_t>(num), static_cast<uint8_t>(num >> 8)};
    write_iov_at(p.rx_chains.front().writable, kNumBuffersOffset, le, 2);
    for (size_t i = 0; i < p.rx_chains.size(); ++i)
        if (auto r = p.rx->push(p.rx_chains[i], p.rx_lens[i]); !r) {
            mark_broken(r.error().msg);
            return false;
        }
    p.rx_chains.clear();
    p.rx_lens.clear();
    p.frame_len = p.copied = 0;
    return true;
}

void VirtioNet::rx_flush(Pair& p) {
    if (!p.enabled || m_broken || !m_client) return;
    bool pushed = false;
    for (int budget = kBudget; budget > 0; --budget) {
        if (p.frame_len == 0) {
            // With a vnet header the backend fills it; otherwise a zero header (no offloads).
            bool vnet = m_client->has_vnet_hdr();
            size_t off = vnet ? 0 : net::kVnetHdrSize;
            if (!vnet) std::fill(p.frame.begin(), p.frame.begin() + net::kVnetHdrSize, 0);
            auto r = m_client->receive(p.index, std::span<uint8_t>(p.frame.data() + off, p.frame.size() - off));
            if (!r || !r->has_value()) break;
            if (**r + off < net::kVnetHdrSize || !link_is_up()) continue;   // runt, or link down: dropped
            p.frame_len = **r + off;
            p.copied = 0;
        }
        if (!deliver_frame(p)) break;
        pushed = true;
    }
    if (m_broken) return;
    update_tap_watch(p);
    if (pushed) notify(p.rx, static_cast<uint16_t>(2 * p.index));
}

// --- transmit ---------------------------------------------------------------------------------

void VirtioNet::tx_flush(Pair& p) {
    if (!p.enabled || m_broken) return;
    bool pushed = false;
    int budget = kBudget;
    // 2.7.10: no kicks while this pass drains the queue (each would be another exit and another
    // wake-up of this loop, for chains the pass takes anyway; QEMU's tx=bh path does the same).
    // Re-armed only when the queue is found empty (Virtqueue::rearm_notification). While the
    // netdev is full or the budget is spent they stay off: EPOLLOUT or our own doorbell brings
    // the next pass.
    p.tx->enable_notification(false);
    for (;;) {
        for (; budget > 0; --budget) {
            DescChain chain;
            if (p.tx_pending) {
                chain = std::move(*p.tx_pending);
                p.tx_pending.reset();
            } else {
                auto popped = p.tx->pop();
                if (!popped) return mark_broken(popped.error().msg);
                if (!*popped) break;
                chain = std::move(**popped);
            }
            // 5.1.6.2: every packet starts with the header (QEMU: "virtio-net header incorrect").
            if (chain.readable_bytes < net::kVnetHdrSize)
                return mark_broken(fmt::format("virtio-net header incorrect on queue {}", 2 * p.index + 1));
            if (m_client && link_is_up()) {
                std::vector<iovec> frame =
                    m_client->has_vnet_hdr() ? chain.readable : skip_bytes(chain.readable, net::kVnetHdrSize);
                auto sent = m_client->send(p.index, frame);
                if (sent && !*sent) {
                    p.tx_pending = std::move(chain);   // the netdev is full: wait for EPOLLOUT
                    break;
                }
                // A hard send error drops the frame, as a wire would.
            }
            if (auto r = p.tx->push(chain, 0); !r) return mark_broken(r.error().msg);
            pushed = true;
        }
        if (budget == 0 || p.tx_pending || !p.tx->rearm_notification()) break;
    }
    // Budget spent with chains left: come back on the next loop round through our own doorbell.
    if (budget == 0 && !p.tx_pending) p.tx_kick->signal();
    update_tap_watch(p);
    if (pushed) notify(p.tx, static_cast<uint16_t>(2 * p.index + 1));
}

// --- queue pairs ------------------------------------------------------------------------------

Result<> VirtioNet::set_queue_pairs(uint16_t pairs) {
    for (auto& pp : m_pairs) {
        Pair& p = *pp;
        bool want = p.index < pairs && p.rx && p.tx;
        if (m_client && p.index < m_client->queue_count()) TRY(m_client->set_queue_enabled(p.index, want));
        if (want == p.enabled) continue;
        p.enabled = want;
        if (m_vhost) continue;   // the kernel serves the pair's rings (virtio_net_vhost.cpp)
        if (want) {
            if (p.frame.empty()) p.frame.resize(net::kVnetHdrSize + net::kMaxFrameBytes);
            // A TX pass cut short before the pair went down (netdev full, budget spent) left
            // kicks off: one pass now takes what the driver queued meanwhile and re-enables them.
            p.tx_kick->signal();
            Pair* pp2 = &p;
            TRY(m_main->add_fd(p.rx_kick->fd(), EPOLLIN, [this, pp2](uint32_t) {
                pp2->rx_kick->drain();
                rx_flush(*pp2);
            }));
            TRY(m_main->add_fd(p.tx_kick->fd(), EPOLLIN, [this, pp2](uint32_t) {
                pp2->tx_kick->drain();
                tx_flush(*pp2);
            }));
            if (m_client && p.index < m_client->queue_count()) {
                TRY(m_client->watch(p.index, *m_main, EPOLLIN, [this, pp2](uint32_t ev) {
                    if (ev & EPOLLOUT) tx_flush(*pp2);
                    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) rx_flush(*pp2);
                }));
                p.tap_events = EPOLLIN;
            }
            p.watching = true;
            rx_flush(p);
            tx_flush(p);
        } else if (p.watching) {
            m_main->remove_fd(p.rx_kick->fd());
            m_main->remove_fd(p.tx_kick->fd());
            if (m_client && p.index < m_client->queue_count()) m_client->unwatch(p.index, *m_main);
            p.tap_events = 0;
            p.watching = false;
        }
    }
    m_curr_pairs = pairs;
    return {};
}

} // namespace nemu::hw::virtio
