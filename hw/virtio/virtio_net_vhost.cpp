// virtio-net's data queues on the kernel's vhost-net (net/vhost_net.h), QEMU 7.2's
// vhost_net_start/vhost_net_stop in nemu's shape: at activation every queue pair the driver
// enabled is handed to its netdev queue's vhost device — negotiated features, the memory table
// (kept current by a MemoryListener on guest memory, as the KVM memslots are), each ring's
// host addresses and last_avail_idx, the transport's doorbell eventfd as the kick, an eventfd
// of ours as the call, and the tap queue as the backend. The control queue stays in userspace.
//
// Interrupts: vhost signals its call eventfd when the driver wants one (it applies EVENT_IDX /
// NO_INTERRUPT itself). While the queue's MSI-X vector is deliverable the call fd is the
// vector's KVM irqfd (VirtioInterrupt::queue_irqfd): the kernel injects the interrupt with no
// wake-up of nemu. Otherwise (vector or function masked, NO_VECTOR, MSI-X off, qtest) it is a
// polled eventfd of ours that the main loop relays to notify_queue, which sets the PBA pending
// bit while masked; the unmask then fires it. This is QEMU 7.2's guest notifier masking
// (virtio_pci_vector_mask/unmask -> vhost_virtqueue_mask). The transport's irqfd listener
// rebinds on every change, synchronously on the thread that made it (a vCPU masking the
// vector), and after each switch the polled fd is checked once so that a call vhost made
// just before it is not lost.
//
// Thread: main loop (activate/deactivate, set_link, memory listener callbacks), except
// rebind(), which also runs on the vCPU thread of a mask/unmask (VHOST_SET_VRING_CALL is one
// ioctl the kernel serializes with the vring's work); Vhost::bind_lock orders the two.

#include <sys/epoll.h>

#include <cstdio>
#include <map>
#include <mutex>

#include "hw/memory/address_space.h"
#include "hw/virtio/virtio_net.h"
#include "net/vhost_net.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {

struct VirtioNet::Vhost final : memory::MemoryListener {
    VirtioNet& net;
    memory::AddressSpace* memory = nullptr;
    std::map<uint64_t, memory::RamSection> sections;   // by gpa
    std::vector<unsigned> pairs;                       // started pairs, in index order
    // One vring's interrupt: the polled eventfd (watched by the main loop) and what vhost
    // signals now — the transport's irqfd, or nullptr for the polled fd.
    struct Call {
        uint16_t queue = 0;
        net::VhostNet* vhost = nullptr;
        unsigned index = 0;   // kVhostNetRx/Tx
        EventFd polled;
        const EventFd* bound = nullptr;
    };
    std::vector<Call> calls;
    VirtioInterrupt* interrupt = nullptr;
    std::mutex bind_lock;   // calls[].bound: the main loop and the irqfd listener's threads
    bool listening = false, rebinding = false;

    explicit Vhost(VirtioNet& n) : net(n) {}

    // Points each vring's call at the queue's irqfd when the transport has one now, else at
    // the polled fd. Thread: any (see the file comment).
    void rebind() {
        std::lock_guard lock(bind_lock);
        for (Call& c : calls) {
            const EventFd* want = interrupt->queue_irqfd(c.queue);
            if (want == c.bound) continue;
            if (auto r = c.vhost->set_vring_call(c.index, want ? want->fd() : c.polled.fd()); !r) {
                // The old binding stays: an irqfd that failed costs the fast path only; a
                // polled fd that failed lets a masked vector fire, which the log says.
                std::fprintf(stderr, "nemu-system-x86_64: vhost-net: queue %u: %s\n", c.queue, r.error().msg.c_str());
                continue;
            }
            c.bound = want;
            // A call vhost made on the polled fd before the switch (or one the main loop has
            // not read yet): deliver it now; notify_queue leaves it pending if still masked.
            if (c.polled.drain()) interrupt->notify_queue(c.queue);
        }
    }

    std::vector<net::VhostMemRegion> table() const {
        std::vector<net::VhostMemRegion> v;
        for (const auto& [gpa, s] : sections)
            v.push_back({s.gpa, s.size, reinterpret_cast<uint64_t>(s.host)});
        return net::build_mem_table(std::move(v));
    }

    Result<> push_table() {
        auto t = table();
        for (unsigned p : pairs) TRY(net.m_client->vhost(p)->set_mem_table(t));
        return {};
    }

    // RAM changed under a running device (memory hotplug, a remapped region): the kernel must
    // see the new table before it touches the rings again. A failure stops the device.
    void changed() {
        if (auto r = push_table(); !r) net.mark_broken(fmt::format("vhost-net: {}", r.error().msg));
    }
    void region_add(const memory::RamSection& s) override {
        sections[s.gpa] = s;
        changed();
    }
    void region_del(const memory::RamSection& s) override {
        sections.erase(s.gpa);
        changed();
    }
};

void VirtioNet::VhostDeleter::operator()(Vhost* v) const { delete v; }

namespace {

// Host addresses of a split ring's areas (virtio 1.2, 2.7: descriptor table 16 * n bytes,
// available ring 6 + 2 * n, used ring 6 + 8 * n with the event fields). Virtqueue::create
// checked they lie inside guest RAM.
Result<net::VhostVring> ring_setup(const memory::AddressSpace& mem, const Virtqueue& vq, unsigned index) {
    const VirtqueueConfig& c = vq.config();
    if (c.packed) return fail("vhost-net: queue {} is a packed ring", c.index);
    net::VhostVring r;
    r.index = index;
    r.num = c.size;
    uint8_t* desc = mem.ram_ptr(c.desc, 16ull * c.size);
    uint8_t* avail = mem.ram_ptr(c.driver, 6 + 2ull * c.size);
    uint8_t* used = mem.ram_ptr(c.device, 6 + 8ull * c.size);
    if (!desc || !avail || !used) return fail("vhost-net: queue {} is not in guest RAM", c.index);
    r.desc = reinterpret_cast<uint64_t>(desc);
    r.avail = reinterpret_cast<uint64_t>(avail);
    r.used = reinterpret_cast<uint64_t>(used);
    r.base = vq.state().next_avail;
    return r;
}

} // namespace

Result<> VirtioNet::vhost_start() {
    auto v = std::unique_ptr<Vhost, VhostDeleter>(new Vhost(*this));
    uint64_t acked = net::vhost_ack_features(m_act.features, m_client->has_vnet_hdr());
    for (auto& pp : m_pairs) {
        Pair& p = *pp;
        net::VhostNet* vh = m_client->vhost(p.index);
        if (!p.rx || !p.tx || !vh) continue;
        TRY(vh->set_features(acked));
        v->pairs.push_back(p.index);
    }
    m_vhost = std::move(v);
    Vhost& vs = *m_vhost;
    // The listener reports the current RAM at once; the table goes to every pair's device.
    // The AddressSpace is the machine's (mutable) guest memory, handed over as const because
    // devices only read it; listening does not change what it maps.
    vs.memory = const_cast<memory::AddressSpace*>(m_act.memory);
    vs.memory->add_listener(vs);
    vs.listening = true;
    TRY(vs.push_table());
    for (unsigned pi : vs.pairs) {
        Pair& p = *m_pairs[pi];
        net::VhostNet* vh = m_client->vhost(pi);
        for (auto [vq, kick, index] : {std::tuple{p.rx, p.rx_kick, net::kVhostNetRx},
                                       std::tuple{p.tx, p.tx_kick, net::kVhostNetTx}}) {
            net::VhostVring r = TRY(ring_setup(*m_act.memory, *vq, index));
            uint16_t qi = static_cast<uint16_t>(2 * pi + index);
            Vhost::Call call{qi, vh, index, TRY(EventFd::create()), nullptr};
            // Start on the polled fd; rebind() below moves to the irqfd where there is one.
            r.kick_fd = kick->fd();
            r.call_fd = call.polled.fd();
            TRY(vh->set_vring(r));
            uint64_t gen = m_generation;
            // Only a count read here is relayed: rebind() may have read it first.
            TRY(m_main->add_fd(call.polled.fd(), EPOLLIN, [this, qi, fd = call.polled.fd(), gen](uint32_t) {
                uint64_t n = 0;
                bool fired = ::read(fd, &n, sizeof n) == static_cast<ssize_t>(sizeof n) && n;
                if (fired && gen == m_generation && m_act.interrupt) m_act.interrupt->notify_queue(qi);
            }));
            vs.calls.push_back(std::move(call));
        }
    }
    vs.interrupt = m_act.interrupt;
    if (vs.interrupt) {
        vs.interrupt->set_irqfd_listener([&vs] { vs.rebind(); });
        vs.rebinding = true;
        vs.rebind();
    }
    if (link_is_up()) vhost_set_link(true);
    return {};
}

void VirtioNet::vhost_set_link(bool up) {
    if (!m_vhost) return;
    // QEMU stops vhost while the link is down: the rings stay where they are, no frame moves.
    for (unsigned pi : m_vhost->pairs) {
        net::VhostNet* vh = m_client->vhost(pi);
        int fd = up ? m_client->queue_fd(pi) : -1;
        for (unsigned index : {net::kVhostNetRx, net::kVhostNetTx})
            if (auto r = vh->set_backend(index, fd); !r) return mark_broken(fmt::format("vhost-net: {}", r.error().msg));
        // Doorbells rung while detached were not seen: let the kernel look at the rings.
        if (up) m_pairs[pi]->tx_kick->signal();
    }
}

void VirtioNet::vhost_stop() {
    if (!m_vhost) return;
    Vhost& vs = *m_vhost;
    // First, so that no vCPU rebinds while the vrings go (this waits for a running rebind).
    if (vs.rebinding) vs.interrupt->set_irqfd_listener({});
    for (unsigned pi : vs.pairs) {
        net::VhostNet* vh = m_client->vhost(pi);
        for (unsigned index : {net::kVhostNetRx, net::kVhostNetTx}) {
            (void)vh->set_backend(index, -1);
            // Where the kernel stopped (QEMU vhost_virtqueue_stop); nemu's rings are rebuilt
            // from the registers on the next DRIVER_OK, so the base is only checked here.
            auto base = vh->get_vring_base(index);
            if (!base) std::fprintf(stderr, "nemu-system-x86_64: vhost-net: %s\n", base.error().msg.c_str());
            (void)vh->set_vring_kick(index, -1);
            (void)vh->set_vring_call(index, -1);
        }
    }
    for (auto& c : vs.calls) m_main->remove_fd(c.polled.fd());
    if (vs.listening) vs.memory->remove_listener(vs);
    m_vhost.reset();
}

} // namespace nemu::hw::virtio
