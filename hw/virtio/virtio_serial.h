#pragma once
// "virtio-serial-device" (virtio 1.2, 5.3 Console Device; QEMU 7.2 hw/char/virtio-serial-bus.c)
// and the ports that ride on its bus: "virtconsole" and "virtserialport" (abstract parent
// "virtio-serial-port"; QEMU's hw/char/virtio-console.c), each on a chardev.
//
// Queues (5.3.2): port 0 receiveq/transmitq = 0/1, control receiveq/transmitq = 2/3, port N > 0
// = 2N+2/2N+3; 2 + 2 * max_ports queues in all (QEMU: 128 entries per port queue, 32 per
// control queue). Features: MULTIPORT when max_ports > 1, EMERG_WRITE with "emergency-write"
// (QEMU never offers SIZE). Config (5.3.4): cols, rows (0), max_nr_ports, emerg_wr — 8 bytes
// without EMERG_WRITE, as QEMU.
//
// Control protocol (5.3.6.2), QEMU's order: the driver's DEVICE_READY(1) gets a PORT_ADD per
// port; PORT_READY(1) for a port gets CONSOLE_PORT (virtconsole), PORT_NAME (name= set) and
// PORT_OPEN(1) when the host side is connected; the driver's PORT_OPEN sets guest_connected.
// Without MULTIPORT only port 0 exists and counts as guest-connected from DRIVER_OK.
//
// Data: guest -> host bytes go to the port's chardev (discarded while the host side is closed,
// as QEMU); host -> guest bytes only while the guest has the port open, one receive buffer at a
// time: can_receive() is the size of the next receive buffer, 0 pauses the chardev, and a
// driver kick on the receiveq or a PORT_OPEN resumes it (Chardev::accept_input).
//
// Hostile driver → activation.broken (NEEDS_RESET): a device-writable buffer in a transmitq or
// a device-readable one in a receiveq (5.3.6.1), a control message shorter than its 8 bytes, a
// port id >= max_ports, an event only the device sends, a control receive buffer too small for
// the message. Tolerated with a log line, as QEMU: DEVICE_READY(0)/PORT_READY(0) and messages
// for an in-range id with no port (Linux sends PORT_OPEN(0) for a port it just removed).
//
// Thread: main loop (realize, activation, kicks, chardev callbacks). write_config (emerg_wr)
// comes from a vCPU thread and is posted to the main loop.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chardev/chardev.h"
#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"

namespace nemu::hw {
struct DeviceBackends;
}
namespace nemu::hw::pci {
class PciBus;
}

namespace nemu::hw::virtio {

// Feature bits (5.3.3).
inline constexpr unsigned kConsoleFSize = 0;
inline constexpr unsigned kConsoleFMultiport = 1;
inline constexpr unsigned kConsoleFEmergWrite = 2;

// Control events (5.3.6.2, struct virtio_console_control { le32 id; le16 event; le16 value; }).
namespace console_event {
inline constexpr uint16_t kDeviceReady = 0, kDeviceAdd = 1, kDeviceRemove = 2, kPortReady = 3,
                          kConsolePort = 4, kResize = 5, kPortOpen = 6, kPortName = 7;
}
inline constexpr uint32_t kConsoleControlBytes = 8;

inline constexpr uint32_t kSerialNoPortId = 0xFFFFFFFF;   // "nr" unset (VIRTIO_CONSOLE_BAD_ID)
inline constexpr uint32_t kSerialMaxPorts = 511;          // QEMU: VIRTIO_QUEUE_MAX / 2 - 1
inline constexpr uint16_t kSerialPortQueueSize = 128;
inline constexpr uint16_t kSerialControlQueueSize = 32;
// Control messages waiting for a control receive buffer (QEMU drops them; we keep a bounded
// backlog so a driver that refills late still learns about every port).
inline constexpr size_t kSerialMaxPendingControl = 4096;

class VirtioSerial;

// A port: "virtserialport", or "virtconsole" (is_console). Lives in the QOM tree where -device
// puts it (/machine/peripheral/ID); plugged into its VirtioSerial, which realizes it.
class VirtioSerialPort : public hw::Device, private chardev::CharFrontend {
public:
    explicit VirtioSerialPort(bool console) : m_console(console) {}
    ~VirtioSerialPort() override;

    bool is_console() const { return m_console; }
    uint32_t port_id() const { return m_nr; }
    VirtioSerial* serial() const { return m_serial; }
    chardev::Chardev* chardev() const { return m_chr; }
    bool host_connected() const { return m_host_connected; }
    bool guest_connected() const { return m_guest_connected; }

    // Properties (QEMU's): "nr", "name", "chardev".
    uint32_t m_nr = kSerialNoPortId;
    std::string m_name;
    std::string m_chardev;

protected:
    Result<> realize() override;

private:
    friend class VirtioSerial;
    size_t can_receive() override;
    void receive(std::span<const uint8_t> data) override;
    void on_event(chardev::ChardevEvent event) override;
    void set_guest_connected(bool connected);
    void release_chardev();

    bool m_console;
    VirtioSerial* m_serial = nullptr;          // set by plug(); cleared when either goes
    DeviceBackends* m_backends = nullptr;      // chardev= at realize; VSERPORT_CHANGE
    chardev::Chardev* m_chr = nullptr;
    bool m_host_connected = false;
    bool m_guest_connected = false;
    bool m_plugged = false;                    // in the serial's port table
};

class VirtioSerial final : public VirtioDevice {
public:
    VirtioSerial();
    ~VirtioSerial() override;

    uint16_t device_id() const override { return kDeviceIdConsole; }
    uint64_t device_features() const override;
    std::vector<uint16_t> queue_max_sizes() const override;
    uint32_t config_size() const override { return m_emergency_write ? 12 : 8; }
    void read_config(uint32_t offset, std::span<uint8_t> out) const override;
    void write_config(uint32_t offset, std::span<const uint8_t> in) override;
    Result<> activate(const VirtioActivation& activation) override;
    void deactivate() override;

    // The bus name ports give as bus=: "<proxy id>.0", or "virtio-serial-bus.0" (QEMU's qbus
    // naming for an anonymous device). Valid once realized.
    const std::string& bus_name() const { return m_bus_name; }
    // Plug a new port: check and assign its id (QEMU's messages), resolve its chardev through
    // `backends` (nullptr: the machine's), realize it, announce it to an active driver.
    Result<> plug(VirtioSerialPort& port, DeviceBackends* backends = nullptr);
    VirtioSerialPort* find_port(uint32_t id) const;
    bool multiport() const { return m_features & feature_bit(kConsoleFMultiport); }
    // Where tolerated driver mistakes are logged (default: stderr, as QEMU's error_report).
    void set_log(std::function<void(const std::string&)> log) { m_log = std::move(log); }

    // Properties (QEMU's): "max_ports", "emergency-write".
    uint32_t m_max_ports = 31;
    bool m_emergency_write = true;

protected:
    Result<> realize() override;

private:
    friend class VirtioSerialPort;
    struct Queue {
        Virtqueue* vq = nullptr;
        const EventFd* kick = nullptr;
    };
    struct PortRx {
        std::optional<DescChain> chain;   // popped receive buffer waiting for chardev bytes
    };

    void unplug(VirtioSerialPort& port);
    Queue* queue(uint32_t index);
    void on_kick(uint32_t index);
    void handle_control_tx();
    void handle_control_message(std::span<const uint8_t> msg);
    void handle_port_tx(VirtioSerialPort* port, uint32_t index);
    void send_control(uint32_t id, uint16_t event, uint16_t value, const std::string& extra = {});
    void flush_control();
    size_t port_can_receive(VirtioSerialPort& port);
    void port_receive(VirtioSerialPort& port, std::span<const uint8_t> data);
    void port_host_connected(VirtioSerialPort& port, bool connected);
    void resume_input(VirtioSerialPort& port);
    void push(uint32_t index, const DescChain& chain, uint32_t written);
    void mark_broken(const std::string& why);
    void emergency_write(uint8_t byte);

    void warn(const std::string& msg) const;

    std::string m_bus_name;
    std::function<void(const std::string&)> m_log;
    std::map<uint32_t, VirtioSerialPort*> m_ports;
    EventLoop* m_main = nullptr;   // for write_config's posts (realize or activation)

    // Activation.
    bool m_active = false;
    bool m_broken = false;
    uint64_t m_features = 0;
    std::vector<Queue> m_queues;   // by queue index; vq null when not enabled
    std::vector<int> m_watched;    // kick fds on the loop
    VirtioInterrupt* m_interrupt = nullptr;
    std::function<void(const std::string&)> m_broken_cb;
    std::deque<std::vector<uint8_t>> m_pending_control;
    std::map<uint32_t, PortRx> m_rx;
    std::shared_ptr<int> m_alive;   // expires with the device, for posted work
};

// The virtio-serial device a port with bus=`bus` goes on (empty: the first one on `pci`, in
// slot order, as QEMU's bus search finds it); nullptr when there is none.
VirtioSerial* find_virtio_serial_bus(const pci::PciBus& pci, std::string_view bus);

// "virtio-serial-device", "virtio-serial-port" (abstract), "virtserialport", "virtconsole".
// The abstract "virtio-device" first; the proxy "virtio-serial-pci" comes from
// register_virtio_pci_proxies afterwards.
void register_virtio_serial_types(qom::TypeRegistry& registry);

} // namespace nemu::hw::virtio
