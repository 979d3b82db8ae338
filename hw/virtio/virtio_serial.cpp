// virtio-serial-device: queues, configuration space and the control protocol (virtio 1.2,
// 5.3); the ports' own side (properties, realize, chardev events) is in virtio_serial_port.cpp.
#include "hw/virtio/virtio_serial.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "hw/core/device_backends.h"
#include "hw/pci/pci_bus.h"
#include "hw/virtio/virtio_pci.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {

namespace {

// Queue index of port `id`'s receiveq (transmitq = +1), 5.3.2.
uint32_t rx_queue_of(uint32_t id) { return id == 0 ? 0 : 2 * id + 2; }
// The port a data queue belongs to (index 2 and 3 are the control queues).
uint32_t port_of_queue(uint32_t index) { return index < 2 ? 0 : index / 2 - 1; }
constexpr uint32_t kControlRx = 2, kControlTx = 3;
// One receive buffer is offered to the chardev at a time; cap what we announce.
constexpr size_t kMaxReceiveChunk = 64 * 1024;

// Copy the first out.size() bytes of a chain's readable buffers; returns how many were there.
size_t gather(const DescChain& c, std::span<uint8_t> out) {
    size_t done = 0;
    for (const iovec& iov : c.readable) {
        size_t n = std::min(iov.iov_len, out.size() - done);
        std::memcpy(out.data() + done, iov.iov_base, n);
        done += n;
        if (done == out.size()) break;
    }
    return done;
}

size_t scatter(const DescChain& c, std::span<const uint8_t> in) {
    size_t done = 0;
    for (const iovec& iov : c.writable) {
        if (done == in.size()) break;
        size_t n = std::min(iov.iov_len, in.size() - done);
        std::memcpy(iov.iov_base, in.data() + done, n);
        done += n;
    }
    return done;
}

} // namespace

VirtioSerial::VirtioSerial() : m_alive(std::make_shared<int>(0)) {}

void VirtioSerial::warn(const std::string& msg) const {
    if (m_log) m_log(msg);
    else std::fprintf(stderr, "nemu-system-x86_64: %s\n", msg.c_str());
}

VirtioSerial::~VirtioSerial() {
    deactivate();
    // Ports outlive us in the tree (they sit under /machine/peripheral*): let them go.
    for (auto& [id, port] : m_ports) {
        port->m_serial = nullptr;
        port->m_plugged = false;
    }
}

Result<> VirtioSerial::realize() {
    // QEMU 7.2 virtio_serial_device_realize(), its checks and words.
    if (m_max_ports == 0) return fail("Maximum number of serial ports not specified");
    if (m_max_ports > kSerialMaxPorts) return fail("maximum ports supported: {}", kSerialMaxPorts);
    // The bus name: virtio-serial-pci names it "<id>.0" after its own id; otherwise qbus's
    // "<lower-case bus type>.<child bus count>".
    const auto* proxy = dynamic_cast<const hw::Device*>(parent());
    m_bus_name = proxy && !proxy->m_id.empty() ? proxy->m_id + ".0" : "virtio-serial-bus.0";
    if (auto* b = device_backends(*this)) m_main = &b->main_loop();
    return {};
}

uint64_t VirtioSerial::device_features() const {
    uint64_t f = 0;
    if (m_max_ports > 1) f |= feature_bit(kConsoleFMultiport);
    if (m_emergency_write) f |= feature_bit(kConsoleFEmergWrite);
    return f;
}

std::vector<uint16_t> VirtioSerial::queue_max_sizes() const {
    std::vector<uint16_t> q(2 + 2 * size_t(std::min(m_max_ports, kSerialMaxPorts)), kSerialPortQueueSize);
    q[kControlRx] = q[kControlTx] = kSerialControlQueueSize;
    return q;
}

void VirtioSerial::read_config(uint32_t offset, std::span<uint8_t> out) const {
    // struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr.
    uint8_t cfg[12] = {};
    store_le(cfg + 4, m_max_ports, 4);
    for (size_t i = 0; i < out.size(); i++) out[i] = offset + i < sizeof cfg ? cfg[offset + i] : 0;
}

void VirtioSerial::write_config(uint32_t offset, std::span<const uint8_t> in) {
    // 5.3.4: a write to emerg_wr sends its byte to port 0 (vCPU thread: hand it to the loop).
    if (!m_emergency_write || offset > 8 || offset + in.size() <= 8) return;
    uint8_t byte = in[8 - offset];
    if (byte == 0 || !m_main) return;
    m_main->post([this, byte, alive = std::weak_ptr<int>(m_alive)] {
        if (!alive.expired()) emergency_write(byte);
    });
}

void VirtioSerial::emergency_write(uint8_t byte) {
    VirtioSerialPort* port = find_port(0);
    if (port && port->m_chr) (void)port->m_chr->write(std::span<const uint8_t>(&byte, 1));
}

VirtioSerialPort* VirtioSerial::find_port(uint32_t id) const {
    auto it = m_ports.find(id);
    return it == m_ports.end() ? nullptr : it->second;
}

// --- activation ---------------------------------------------------------------------------

Result<> VirtioSerial::activate(const VirtioActivation& activation) {
    deactivate();
    if (!activation.main_loop) return fail("virtio-serial: activation needs the main loop");
    m_main = activation.main_loop;
    m_queues.assign(queue_max_sizes().size(), Queue{});
    for (const ActiveQueue& q : activation.queues) {
        if (q.index >= m_queues.size() || !q.queue || !q.kick)
            return fail("virtio-serial: activation with an unknown queue {}", q.index);
        m_queues[q.index] = Queue{q.queue, q.kick};
    }
    m_features = activation.features;
    m_interrupt = activation.interrupt;
    m_broken_cb = activation.broken;
    for (const ActiveQueue& q : activation.queues) {
        uint32_t index = q.index;
        auto r = m_main->add_fd(q.kick->fd(), EPOLLIN, [this, index](uint32_t) {
            m_queues[index].kick->drain();
            on_kick(index);
        });
        if (!r) {
            deactivate();
            return r;
        }
        m_watched.push_back(q.kick->fd());
    }
    m_active = true;
    m_broken = false;
    // Without MULTIPORT the driver drives port 0 alone, open from DRIVER_OK: QEMU's set_status
    // sets the flag alone (no VSERPORT_CHANGE; port 0 is a console, whose chardev stays open).
    if (!multiport())
        if (VirtioSerialPort* p0 = find_port(0)) p0->m_guest_connected = true;
    // Serve what the driver queued before DRIVER_OK, and let paused chardevs try again.
    for (const ActiveQueue& q : activation.queues)
        if (m_active) on_kick(q.index);
    return {};
}

void VirtioSerial::deactivate() {
    for (int fd : m_watched) m_main->remove_fd(fd);
    m_watched.clear();
    bool was_active = m_active;
    m_active = false;
    m_queues.clear();
    m_rx.clear();
    m_pending_control.clear();
    m_interrupt = nullptr;
    m_broken_cb = nullptr;
    m_features = 0;
    // QEMU's guest_reset: every port the guest had open is closed on the guest side.
    if (was_active)
        for (auto& [id, port] : m_ports)
            if (port->m_guest_connected) port->set_guest_connected(false);
}

VirtioSerial::Queue* VirtioSerial::queue(uint32_t index) {
    if (!m_active || m_broken || index >= m_queues.size() || !m_queues[index].vq) return nullptr;
    return &m_queues[index];
}

void VirtioSerial::mark_broken(const std::string& why) {
    m_broken = true;
    m_rx.clear();
    m_pending_control.clear();
    if (m_broken_cb) m_broken_cb(why);
}

void VirtioSerial::push(uint32_t index, const DescChain& chain, uint32_t written) {
    Queue* q = queue(index);
    if (!q) return;
    if (auto r = q->vq->push(chain, written); !r) return mark_broken(r.error().msg);
    if (m_interrupt && q->vq->should_notify()) m_interrupt->notify_queue(static_cast<uint16_t>(index));
}

void VirtioSerial::on_kick(uint32_t index) {
    if (index == kControlRx) return flush_control();
    if (index == kControlTx) return handle_control_tx();
    VirtioSerialPort* port = find_port(port_of_queue(index));
    if (index % 2 == 1) return handle_port_tx(port, index);
    // New receive buffers: a chardev paused on this port may deliver again.
    if (port) resume_input(*port);
}

// --- data -----------------------------------------------------------------------------------

void VirtioSerial::handle_port_tx(VirtioSerialPort* port, uint32_t index) {
    while (Queue* q = queue(index)) {
        auto popped = q->vq->pop();
        if (!popped) return mark_broken(popped.error().msg);
        if (!*popped) return;
        const DescChain& c = **popped;
        if (!c.writable.empty())
            return mark_broken(fmt::format("virtio-serial: queue {}: chain {} has a device-writable buffer in a transmitq (virtio 1.2, 5.3.6.1)",
                                           index, c.id));
        // QEMU discards what a port with no connected host side sends.
        if (port && port->m_host_connected && port->m_chr)
            for (const iovec& iov : c.readable)
                if (auto r = port->m_chr->write({static_cast<const uint8_t*>(iov.iov_base), iov.iov_len}); !r)
                    warn(fmt::format("virtio-serial: port {}: {}", port->m_nr, r.error().msg));
        push(index, c, 0);
    }
}

size_t VirtioSerial::port_can_receive(VirtioSerialPort& port) {
    uint32_t index = rx_queue_of(port.m_nr);
    Queue* q = queue(index);
    if (!q || (multiport() && !port.m_guest_connected)) return 0;
    if (!multiport() && port.m_nr != 0) return 0;
    PortRx& rx = m_rx[port.m_nr];
    if (!rx.chain) {
        auto popped = q->vq->pop();
        if (!popped) {
            mark_broken(popped.error().msg);
            return 0;
        }
        if (!*popped) return 0;
        if (!(*popped)->readable.empty() || (*popped)->writable_bytes == 0) {
            mark_broken(fmt::format("virtio-serial: queue {}: chain {} is not a device-writable buffer (virtio 1.2, 5.3.6.1)",
                                    index, (*popped)->id));
            return 0;
        }
        rx.chain = std::move(**popped);
    }
    return static_cast<size_t>(std::min<uint64_t>(rx.chain->writable_bytes, kMaxReceiveChunk));
}

void VirtioSerial::port_receive(VirtioSerialPort& port, std::span<const uint8_t> data) {
    // The chardev gives at most what can_receive() announced: one receive buffer's worth.
    while (!data.empty()) {
        if (port_can_receive(port) == 0) return;   // more than announced: dropped, as QEMU
        auto it = m_rx.find(port.m_nr);
        DescChain chain = std::move(*it->second.chain);
        it->second.chain.reset();
        size_t n = scatter(chain, data);
        data = data.subspan(n);
        push(rx_queue_of(port.m_nr), chain, static_cast<uint32_t>(n));
    }
}

void VirtioSerial::resume_input(VirtioSerialPort& port) {
    if (port.m_chr) port.m_chr->accept_input();
}

void VirtioSerial::port_host_connected(VirtioSerialPort& port, bool connected) {
    if (m_active && multiport()) send_control(port.m_nr, console_event::kPortOpen, connected ? 1 : 0);
}

// --- control --------------------------------------------------------------------------------

void VirtioSerial::send_control(uint32_t id, uint16_t event, uint16_t value, const std::string& extra) {
    if (!m_active || m_broken || !multiport()) return;
    if (m_pending_control.size() >= kSerialMaxPendingControl) {
        warn(fmt::format("virtio-serial: {} control messages wait for the driver: dropping event {} for port {}",
                         m_pending_control.size(), event, id));
        return;
    }
    std::vector<uint8_t> msg(kConsoleControlBytes + extra.size());
    store_le(msg.data(), id, 4);
    store_le(msg.data() + 4, event, 2);
    store_le(msg.data() + 6, value, 2);
    std::memcpy(msg.data() + kConsoleControlBytes, extra.data(), extra.size());
    m_pending_control.push_back(std::move(msg));
    flush_control();
}

void VirtioSerial::flush_control() {
    while (!m_pending_control.empty()) {
        Queue* q = queue(kControlRx);
        if (!q) return;
        auto popped = q->vq->pop();
        if (!popped) return mark_broken(popped.error().msg);
        if (!*popped) return;
        const DescChain& c = **popped;
        const std::vector<uint8_t>& msg = m_pending_control.front();
        if (!c.readable.empty() || c.writable_bytes < msg.size())
            return mark_broken(fmt::format("virtio-serial: control receiveq: chain {} is not a device-writable buffer of {} bytes",
                                           c.id, msg.size()));
        scatter(c, msg);
        uint32_t len = static_cast<uint32_t>(msg.size());
        m_pending_control.pop_front();
        push(kControlRx, c, len);
    }
}

void VirtioSerial::handle_control_tx() {
    while (Queue* q = queue(kControlTx)) {
        auto popped = q->vq->pop();
        if (!popped) return mark_broken(popped.error().msg);
        if (!*popped) return;
        DescChain c = std::move(**popped);
        if (!c.writable.empty())
            return mark_broken(fmt::format("virtio-serial: control transmitq: chain {} has a device-writable buffer (virtio 1.2, 5.3.6.1)", c.id));
        uint8_t msg[kConsoleControlBytes];
        size_t n = gather(c, msg);
        // Give the buffer back first: answers go to the other queue.
        push(kControlTx, c, 0);
        if (n < kConsoleControlBytes)
            return mark_broken(fmt::format("virtio-serial: control message of {} bytes, shorter than {}", n, kConsoleControlBytes));
        handle_control_message(msg);
    }
}

void VirtioSerial::handle_control_message(std::span<const uint8_t> msg) {
    namespace ev = console_event;
    uint32_t id = static_cast<uint32_t>(load_le(msg.data(), 4));
    uint16_t event = static_cast<uint16_t>(load_le(msg.data() + 4, 2));
    uint16_t value = static_cast<uint16_t>(load_le(msg.data() + 6, 2));
    if (event == ev::kDeviceReady) {
        if (!value) return warn(fmt::format("virtio-serial-bus: Guest failure in adding device {}", m_bus_name));
        for (auto& [pid, port] : m_ports) send_control(pid, ev::kDeviceAdd, 1);
        return;
    }
    if (event != ev::kPortReady && event != ev::kPortOpen)
        return mark_broken(fmt::format("virtio-serial: the driver sent control event {}, which only a device sends", event));
    if (id >= m_max_ports)
        return mark_broken(fmt::format("virtio-serial: control event {} for port {} beyond max_nr_ports {}", event, id, m_max_ports));
    VirtioSerialPort* port = find_port(id);
    if (!port) return warn(fmt::format("virtio-serial-bus: Unexpected port id {} for device {}", id, m_bus_name));
    if (event == ev::kPortOpen) {
        port->set_guest_connected(value != 0);
        if (value) resume_input(*port);
        return;
    }
    if (!value) return warn(fmt::format("virtio-serial-bus: Guest failure in adding port {} for device {}", id, m_bus_name));
    // QEMU's answers to PORT_READY, in its order.
    if (port->m_console) send_control(id, ev::kConsolePort, 1);
    if (!port->m_name.empty()) send_control(id, ev::kPortName, 1, port->m_name + std::string(1, '\0'));
    if (port->m_host_connected) send_control(id, ev::kPortOpen, 1);
}

// --- ports ----------------------------------------------------------------------------------

void VirtioSerial::unplug(VirtioSerialPort& port) {
    auto it = m_ports.find(port.m_nr);
    if (it == m_ports.end() || it->second != &port) return;
    m_ports.erase(it);
    m_rx.erase(port.m_nr);
    // Only the VM's teardown gets here for now, when guest RAM (under /objects) may be gone:
    // touch no ring. FIXME(#5): device_del of a port announces DEVICE_REMOVE (5.3.6.2).
}

VirtioSerial* find_virtio_serial_bus(const pci::PciBus& pci, std::string_view bus) {
    for (pci::PciDevice* dev : pci.devices()) {
        auto* proxy = dynamic_cast<VirtioPciDevice*>(dev);
        auto* serial = proxy ? dynamic_cast<VirtioSerial*>(&proxy->backend()) : nullptr;
        if (serial && (bus.empty() || serial->bus_name() == bus)) return serial;
    }
    return nullptr;
}

} // namespace nemu::hw::virtio
