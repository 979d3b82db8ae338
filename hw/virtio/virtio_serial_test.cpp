// virtio-serial-device with virtconsole/virtserialport over real Virtqueues and the guest-side
// test driver: QEMU 7.2's properties and realize errors, the control handshake (virtio 1.2,
// 5.3.6.2), bytes both ways through a fake chardev, chardev backpressure (accept_input when
// the guest adds receive buffers or opens the port), and hostile drivers that break the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "hw/core/device_backends.h"
#include "hw/virtio/virtio_serial.h"
#include "tests/support/virtqueue_driver.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {
namespace {

namespace ev = console_event;

struct FakeChardev : chardev::Chardev {
    std::string written;
    int accepts = 0;   // update_input() calls: attach, detach, accept_input
    Result<size_t> write(std::span<const uint8_t> d) override {
        written.append(reinterpret_cast<const char*>(d.data()), d.size());
        return d.size();
    }
    std::string filename() const override { return "fake"; }
    Result<> open_backend(const chardev::ChardevOptions&) override { return {}; }
    void update_input() override { accepts++; }
    // Host -> guest the way a backend does it: only while the frontend takes bytes.
    size_t inject(std::string_view s) {
        size_t done = 0;
        while (done < s.size()) {
            size_t n = std::min(frontend_can_receive(), s.size() - done);
            if (n == 0) break;
            deliver({reinterpret_cast<const uint8_t*>(s.data()) + done, n});
            done += n;
        }
        return done;
    }
    void connect(bool c) { set_connected(c); }
};

struct FakeBackends : DeviceBackends {
    std::map<std::string, chardev::Chardev*, std::less<>> chardevs;
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view, std::string_view, std::string_view,
                                                              EventLoop&) override {
        return fail("no drives");
    }
    void detach_drive(std::string_view) override {}
    Result<EventLoop*> iothread_loop(std::string_view) override { return fail("no iothreads"); }
    EventLoop& main_loop() override { return *loop; }
    Result<chardev::Chardev*> chardev(std::string_view prop, std::string_view id) override {
        auto it = chardevs.find(id);
        if (it == chardevs.end()) return property_value_not_found(prop, id);
        return it->second;
    }
    MacAddressPool& mac_addresses() override { return macs; }
    void vserport_change(std::string_view id, bool open) override { vserport.emplace_back(id, open); }
    EventLoop* loop = nullptr;
    MacAddressPool macs;
    std::vector<std::pair<std::string, bool>> vserport;   // VSERPORT_CHANGE events
};

struct CountingInterrupt : VirtioInterrupt {
    void notify_queue(uint16_t q) override { notifies[q]++; }
    void notify_config() override {}
    std::map<uint16_t, int> notifies;
};

struct Msg {
    uint32_t id;
    uint16_t event, value;
    std::string extra;
    bool operator==(const Msg&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Msg& m) {
    return o << "{" << m.id << "," << m.event << "," << m.value << ",'" << m.extra << "'}";
}

class VirtioSerialTest : public ::testing::Test {
protected:
    static constexpr uint32_t kQueues = 10;   // max_ports=4: port 0, control, ports 1..3

    void SetUp() override {
        qom::register_base_types(m_types);
        hw::register_device_type(m_types);
        m_types.add(qom::TypeInfo{.name = "virtio-device", .parent = "device", .abstract = true});
        register_virtio_serial_types(m_types);
        m_root = std::move(*m_types.create("container"));
        m_loop = std::move(*EventLoop::create());
        m_backends.loop = m_loop.get();
        for (auto* c : {&m_c0, &m_c1, &m_c2}) c->connect(true);
        m_c0.set_label("c0");
        m_c1.set_label("c1");
        m_c2.set_label("c2");
        m_backends.chardevs = {{"c0", &m_c0}, {"c1", &m_c1}, {"c2", &m_c2}};
        for (uint32_t i = 0; i < kQueues; i++) {
            uint64_t base = 0x1000 + 0x3000ull * i;
            m_drv.push_back(std::make_unique<test::VirtqueueDriver>(
                m_mem, test::DriverRingConfig{.index = uint16_t(i), .size = 8, .desc = base, .driver = base + 0x1000,
                                               .device = base + 0x2000}));
            m_vq.push_back(std::move(*Virtqueue::create(m_mem.space(), m_drv.back()->config())));
            m_kick.push_back(std::move(*EventFd::create()));
        }
    }
    void TearDown() override { m_root.reset(); }

    Result<VirtioSerial*> make_serial(const Json& props) {
        auto obj = TRY(m_types.create("virtio-serial-device"));
        for (const auto& [k, v] : props.items()) TRY(obj->set_property(k, v));
        auto* dev = static_cast<VirtioSerial*>(obj.get());
        dev->set_log([this](const std::string& m) { m_log.push_back(m); });
        std::string name = "serial" + std::to_string(m_serials++);
        TRY(m_root->container("machine").add_child(name, std::move(obj)));
        if (auto r = dev->complete(); !r) {
            m_root->container("machine").remove_child(name);
            return make_error(std::move(r).error());
        }
        return dev;
    }
    Result<VirtioSerialPort*> add_port(VirtioSerial& s, const std::string& type, const Json& props,
                                       const std::string& id = "") {
        auto obj = TRY(m_types.create(type));
        for (const auto& [k, v] : props.items()) TRY(obj->set_property(k, v));
        auto* port = static_cast<VirtioSerialPort*>(obj.get());
        port->m_id = id;
        std::string name = "device[" + std::to_string(m_ports++) + "]";
        auto& anon = m_root->container("machine").container("peripheral-anon");
        TRY(anon.add_child(name, std::move(obj)));
        if (auto r = s.plug(*port, &m_backends); !r) {
            anon.remove_child(name);
            return make_error(std::move(r).error());
        }
        return port;
    }
    std::string port_error(VirtioSerial& s, const std::string& type, const Json& props) {
        auto r = add_port(s, type, props);
        return r ? "(no error)" : r.error().msg;
    }
    void activate(VirtioSerial& s, bool multiport = true, uint32_t nqueues = kQueues) {
        VirtioActivation a;
        a.features = s.device_features();
        if (!multiport) a.features &= ~feature_bit(kConsoleFMultiport);
        for (uint32_t i = 0; i < nqueues; i++) a.queues.push_back(ActiveQueue{uint16_t(i), m_vq[i].get(), &m_kick[i]});
        a.interrupt = &m_irq;
        a.memory = &m_mem.space();
        a.main_loop = m_loop.get();
        a.broken = [this](const std::string& why) { m_broken.push_back(why); };
        ASSERT_TRUE(s.activate(a));
    }
    void settle() {
        for (int i = 0; i < 5; i++) m_loop->run_once(0);
    }
    uint64_t alloc(uint32_t len) {
        uint64_t at = m_next;
        m_next += (len + 15) & ~15u;
        return at;
    }
    // Guest: make writable receive buffers available on queue q and kick.
    void post_rx(uint32_t q, int n, uint32_t len = 64) {
        for (int i = 0; i < n; i++) {
            uint64_t gpa = alloc(len);
            uint16_t id = *m_drv[q]->add({{gpa, len, true}});
            m_rx_gpa[q][id] = gpa;
        }
        m_kick[q].signal();
        settle();
    }
    // Guest: send bytes on a transmit queue and kick.
    void send(uint32_t q, const std::string& bytes) {
        uint64_t gpa = alloc(uint32_t(bytes.size()));
        m_mem.write(gpa, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
        ASSERT_TRUE(m_drv[q]->add({{gpa, uint32_t(bytes.size()), false}}));
        m_kick[q].signal();
        settle();
    }
    void control(uint32_t id, uint16_t event, uint16_t value) {
        uint8_t m[8];
        store_le(m, id, 4);
        store_le(m + 4, event, 2);
        store_le(m + 6, value, 2);
        send(3, std::string(reinterpret_cast<char*>(m), 8));
    }
    // What the device returned on a receive queue, as strings.
    std::vector<std::string> received(uint32_t q) {
        std::vector<std::string> out;
        while (auto u = m_drv[q]->get_used()) {
            std::string s(u->len, '\0');
            m_mem.read(m_rx_gpa[q][uint16_t(u->id)], {reinterpret_cast<uint8_t*>(s.data()), s.size()});
            out.push_back(s);
        }
        return out;
    }
    std::vector<Msg> control_received() {
        std::vector<Msg> out;
        for (const std::string& s : received(2)) {
            EXPECT_GE(s.size(), 8u);
            auto* p = reinterpret_cast<const uint8_t*>(s.data());
            out.push_back(Msg{uint32_t(load_le(p, 4)), uint16_t(load_le(p + 4, 2)), uint16_t(load_le(p + 6, 2)), s.substr(8)});
        }
        return out;
    }
    size_t used_count(uint32_t q) {
        size_t n = 0;
        while (m_drv[q]->get_used()) n++;
        return n;
    }
    // Port 0 a console on c0, port 1 a named serial port on c1, handshake done.
    VirtioSerial* ready_device() {
        VirtioSerial* s = *make_serial({{"max_ports", 4}});
        EXPECT_TRUE(add_port(*s, "virtconsole", {{"chardev", "c0"}}));
        EXPECT_TRUE(add_port(*s, "virtserialport", {{"chardev", "c1"}, {"name", "org.test.0"}}));
        activate(*s);
        post_rx(2, 8);
        control(0, ev::kDeviceReady, 1);
        control(0, ev::kPortReady, 1);
        control(1, ev::kPortReady, 1);
        control_received();
        return s;
    }

    FakeChardev m_c0, m_c1, m_c2;   // outlive the ports
    qom::TypeRegistry m_types;
    std::unique_ptr<qom::Object> m_root;
    std::unique_ptr<EventLoop> m_loop;
    FakeBackends m_backends;
    test::GuestMemory m_mem{1 << 20};
    std::vector<std::unique_ptr<test::VirtqueueDriver>> m_drv;
    std::vector<std::unique_ptr<Virtqueue>> m_vq;
    std::vector<EventFd> m_kick;
    std::map<uint32_t, std::map<uint16_t, uint64_t>> m_rx_gpa;
    uint64_t m_next = 0x40000;
    CountingInterrupt m_irq;
    std::vector<std::string> m_broken;
    std::vector<std::string> m_log;
    int m_serials = 0, m_ports = 0;
};

std::vector<std::string> props_of(const qom::TypeRegistry& t, const std::string& type) {
    std::vector<std::string> got;
    for (const auto* p : t.class_properties(type))
        if (!hw::is_qdev_plumbing_property(p->name))
            got.push_back(p->name + ":" + p->type + ":" + (p->default_value ? dump_json(*p->default_value) : "-"));
    return got;
}

TEST_F(VirtioSerialTest, IdentityAndPropertiesAsQemu) {
    // QEMU 7.2 device-list-properties (the devices' own ones, in its order).
    EXPECT_EQ(props_of(m_types, "virtio-serial-device"),
              (std::vector<std::string>{"max_ports:uint32:31", "emergency-write:bool:true"}));
    EXPECT_EQ(props_of(m_types, "virtconsole"),
              (std::vector<std::string>{"nr:uint32:4294967295", "name:str:-", "chardev:str:-"}));
    EXPECT_TRUE(m_types.is_a("virtconsole", "virtserialport"));
    auto* s = *make_serial(Json::object());
    EXPECT_EQ(s->device_id(), 3);
    EXPECT_EQ(s->device_features(), feature_bit(kConsoleFMultiport) | feature_bit(kConsoleFEmergWrite));
    auto q = s->queue_max_sizes();
    ASSERT_EQ(q.size(), 64u);
    EXPECT_EQ(q[0], 128);
    EXPECT_EQ(q[2], 32);
    EXPECT_EQ(q[3], 32);
    EXPECT_EQ(q[63], 128);
    EXPECT_EQ(s->config_size(), 12u);
    uint8_t cfg[12];
    s->read_config(0, cfg);
    EXPECT_EQ(load_le(cfg, 4), 0u);    // cols, rows
    EXPECT_EQ(load_le(cfg + 4, 4), 31u);
    EXPECT_EQ(s->bus_name(), "virtio-serial-bus.0");
    auto* one = *make_serial({{"max_ports", 1}, {"emergency-write", false}});
    EXPECT_EQ(one->device_features(), 0u);
    EXPECT_EQ(one->config_size(), 8u);
    EXPECT_EQ(one->queue_max_sizes().size(), 4u);
}

TEST_F(VirtioSerialTest, RealizeErrorsAsQemu) {
    EXPECT_EQ(make_serial({{"max_ports", 0}}).error().msg, "Maximum number of serial ports not specified");
    EXPECT_EQ(make_serial({{"max_ports", 512}}).error().msg, "maximum ports supported: 511");
    auto* s = *make_serial(Json::object());
    EXPECT_EQ(port_error(*s, "virtserialport", {{"nr", 0}}),
              "Port number 0 on virtio-serial devices reserved for virtconsole devices for backward compatibility.");
    EXPECT_EQ(port_error(*s, "virtserialport", {{"nr", 31}}),
              "virtio-serial-bus: Out-of-range port id specified, max. allowed: 30");
    EXPECT_EQ(port_error(*s, "virtserialport", {{"chardev", "nope"}}),
              "Property 'virtserialport.chardev' can't find value 'nope'");
    EXPECT_EQ(port_error(*s, "virtconsole", {{"chardev", "nope"}}),
              "Property 'virtconsole.chardev' can't find value 'nope'");
    EXPECT_EQ(port_error(*s, "virtserialport", {{"nr", 3}, {"name", "a"}, {"chardev", "c2"}}), "(no error)");
    EXPECT_EQ(port_error(*s, "virtserialport", {{"nr", 3}}), "virtio-serial-bus: A port already exists at id 3");
    EXPECT_EQ(port_error(*s, "virtserialport", {{"name", "a"}}), "virtio-serial-bus: A port already exists by name a");
    EXPECT_EQ(port_error(*s, "virtconsole", {{"chardev", "c2"}}),
              "Property 'virtconsole.chardev' can't take value 'c2': Device 'c2' is in use");
    // Automatic ids: a serial port never takes 0; the first console does.
    auto* p1 = *add_port(*s, "virtserialport", Json::object());
    auto* c0 = *add_port(*s, "virtconsole", Json::object());
    auto* c2 = *add_port(*s, "virtconsole", Json::object());
    EXPECT_EQ(p1->port_id(), 1u);
    EXPECT_EQ(c0->port_id(), 0u);
    EXPECT_EQ(c2->port_id(), 2u);
    EXPECT_EQ(*p1->get_property("nr"), 1);
    auto* small = *make_serial({{"max_ports", 1}});
    EXPECT_EQ(port_error(*small, "virtserialport", Json::object()),
              "virtio-serial-bus: Out-of-range port id specified, max. allowed: 0");
}

TEST_F(VirtioSerialTest, ControlHandshakeInQemuOrder) {
    VirtioSerial* s = *make_serial({{"max_ports", 4}});
    ASSERT_TRUE(add_port(*s, "virtconsole", {{"chardev", "c0"}}));
    ASSERT_TRUE(add_port(*s, "virtserialport", {{"chardev", "c1"}, {"name", "org.test.0"}}));
    EXPECT_TRUE(m_c0.frontend_open());    // a console is open from the start
    EXPECT_FALSE(m_c1.frontend_open());   // a serial port follows the guest
    activate(*s);
    // Messages queued before the driver gave control buffers wait for them.
    control(0, ev::kDeviceReady, 1);
    EXPECT_TRUE(control_received().empty());
    post_rx(2, 8);
    EXPECT_EQ(control_received(), (std::vector<Msg>{{0, ev::kDeviceAdd, 1, ""}, {1, ev::kDeviceAdd, 1, ""}}));
    control(0, ev::kPortReady, 1);
    EXPECT_EQ(control_received(), (std::vector<Msg>{{0, ev::kConsolePort, 1, ""}, {0, ev::kPortOpen, 1, ""}}));
    control(1, ev::kPortReady, 1);
    EXPECT_EQ(control_received(),
              (std::vector<Msg>{{1, ev::kPortName, 1, std::string("org.test.0\0", 11)}, {1, ev::kPortOpen, 1, ""}}));
    control(1, ev::kPortOpen, 1);
    EXPECT_TRUE(s->find_port(1)->guest_connected());
    EXPECT_TRUE(m_c1.frontend_open());
    // A port hot-added while the driver runs is announced at once.
    ASSERT_TRUE(add_port(*s, "virtserialport", {{"nr", 3}}));
    EXPECT_EQ(control_received(), (std::vector<Msg>{{3, ev::kDeviceAdd, 1, ""}}));
    // The host side going away and coming back.
    post_rx(2, 4);
    m_c1.connect(false);
    m_c1.connect(true);
    EXPECT_EQ(control_received(), (std::vector<Msg>{{1, ev::kPortOpen, 0, ""}, {1, ev::kPortOpen, 1, ""}}));
    EXPECT_GT(m_irq.notifies[2], 0);
    EXPECT_TRUE(m_broken.empty());
}

TEST_F(VirtioSerialTest, BytesBothWaysWithBackpressure) {
    VirtioSerial* s = ready_device();
    // Guest -> host on port 1's transmitq (queue 5) and port 0's (queue 1).
    send(5, "from the guest");
    send(1, "to the console");
    EXPECT_EQ(m_c1.written, "from the guest");
    EXPECT_EQ(m_c0.written, "to the console");
    EXPECT_EQ(used_count(5), 1u);
    // Host -> guest: port 1 is not open in the guest yet: nothing is taken.
    post_rx(4, 1, 16);
    EXPECT_EQ(m_c1.inject("0123456789abcdefXYZ"), 0u);
    int before = m_c1.accepts;
    control(1, ev::kPortOpen, 1);
    EXPECT_GT(m_c1.accepts, before);   // the paused chardev is told to read again
    // One receive buffer (16 bytes) is room for 16 bytes; the rest waits for the next.
    EXPECT_EQ(m_c1.inject("0123456789abcdefXYZ"), 16u);
    EXPECT_EQ(received(4), std::vector<std::string>{"0123456789abcdef"});
    EXPECT_EQ(m_c1.inject("XYZ"), 0u);
    before = m_c1.accepts;
    post_rx(4, 2, 16);
    EXPECT_GT(m_c1.accepts, before);
    EXPECT_EQ(m_c1.inject("XYZ"), 3u);
    EXPECT_EQ(received(4), std::vector<std::string>{"XYZ"});
    // The console (port 0) takes input once the guest opened it.
    control(0, ev::kPortOpen, 1);
    post_rx(0, 1, 8);
    EXPECT_EQ(m_c0.inject("hvc"), 3u);
    EXPECT_EQ(received(0), std::vector<std::string>{"hvc"});
    // Host side closed: what the guest sends is discarded but its buffers come back.
    m_c1.connect(false);
    send(5, "lost");
    EXPECT_EQ(m_c1.written, "from the guest");
    EXPECT_EQ(used_count(5), 1u);
    // Guest closes the port: no more input.
    control(1, ev::kPortOpen, 0);
    EXPECT_FALSE(m_c1.frontend_open());
    EXPECT_EQ(m_c1.inject("more"), 0u);
    EXPECT_TRUE(m_broken.empty());
    // A reset closes every port on the guest side.
    s->deactivate();
    EXPECT_FALSE(s->find_port(0)->guest_connected());
}

TEST_F(VirtioSerialTest, WithoutMultiportPortZeroIsOpenAtOnce) {
    VirtioSerial* s = *make_serial({{"max_ports", 4}});
    ASSERT_TRUE(add_port(*s, "virtconsole", {{"chardev", "c0"}}));
    activate(*s, /*multiport=*/false, 2);
    post_rx(0, 1, 32);
    EXPECT_EQ(m_c0.inject("early"), 5u);
    EXPECT_EQ(received(0), std::vector<std::string>{"early"});
    send(1, "out");
    EXPECT_EQ(m_c0.written, "out");
    // Emergency write (5.3.4): the byte goes to port 0's chardev, through the main loop.
    uint8_t w[4] = {'!', 0, 0, 0};
    s->write_config(8, w);
    settle();
    EXPECT_EQ(m_c0.written, "out!");
    EXPECT_TRUE(m_broken.empty());
}

TEST_F(VirtioSerialTest, VserportChangeForEveryPortOpenOfAPortWithAnId) {
    using Events = std::vector<std::pair<std::string, bool>>;
    VirtioSerial* s = *make_serial({{"max_ports", 4}});
    ASSERT_TRUE(add_port(*s, "virtconsole", {{"chardev", "c0"}}, "con0"));
    ASSERT_TRUE(add_port(*s, "virtserialport", {{"chardev", "c1"}, {"name", "org.test.0"}}, "ch1"));
    ASSERT_TRUE(add_port(*s, "virtserialport", {{"chardev", "c2"}}));   // no id: no events
    activate(*s);
    post_rx(2, 8);
    control(0, ev::kDeviceReady, 1);
    for (uint32_t p = 0; p < 3; p++) control(p, ev::kPortReady, 1);
    used_count(3);   // the control transmitq's descriptors come back (8 of them)
    EXPECT_EQ(m_backends.vserport, Events{});
    control(1, ev::kPortOpen, 1);
    control(1, ev::kPortOpen, 1);   // QEMU reports each message, changed or not
    control(0, ev::kPortOpen, 1);
    control(2, ev::kPortOpen, 1);
    control(1, ev::kPortOpen, 0);
    EXPECT_EQ(m_backends.vserport, (Events{{"ch1", true}, {"ch1", true}, {"con0", true}, {"ch1", false}}));
    // A reset closes what the guest had open: the console (ch1 is closed already).
    m_backends.vserport.clear();
    s->deactivate();
    EXPECT_EQ(m_backends.vserport, (Events{{"con0", false}}));
    EXPECT_TRUE(m_broken.empty());
}

TEST_F(VirtioSerialTest, WithoutMultiportPortZeroOpensSilentlyAndClosesOnReset) {
    VirtioSerial* s = *make_serial({{"max_ports", 4}});
    ASSERT_TRUE(add_port(*s, "virtconsole", {{"chardev", "c0"}}, "con0"));
    activate(*s, /*multiport=*/false, 2);
    EXPECT_TRUE(s->find_port(0)->guest_connected());
    EXPECT_TRUE(m_backends.vserport.empty());   // QEMU's set_status sets the flag alone
    s->deactivate();
    EXPECT_EQ(m_backends.vserport, (std::vector<std::pair<std::string, bool>>{{"con0", false}}));
}

TEST_F(VirtioSerialTest, UnknownInRangePortIsTolerated) {
    ready_device();
    control(2, ev::kPortOpen, 0);   // Linux does this for a port it just removed
    EXPECT_TRUE(m_broken.empty());
    EXPECT_EQ(m_log, std::vector<std::string>{"virtio-serial-bus: Unexpected port id 2 for device virtio-serial-bus.0"});
}

class VirtioSerialHostileTest : public VirtioSerialTest, public ::testing::WithParamInterface<int> {};

TEST_P(VirtioSerialHostileTest, BreaksTheDevice) {
    ready_device();
    uint64_t gpa = alloc(64);
    switch (GetParam()) {
    case 0: send(3, "short"); break;                           // control message < 8 bytes
    case 1: control(1, ev::kDeviceAdd, 1); break;              // an event only the device sends
    case 2: control(9, ev::kPortOpen, 1); break;               // id >= max_ports
    case 3:                                                    // writable buffer in a transmitq
        ASSERT_TRUE(m_drv[5]->add({{gpa, 8, true}}));
        m_kick[5].signal();
        settle();
        break;
    case 4:                                                    // readable buffer in a receiveq
        control(1, ev::kPortOpen, 1);
        ASSERT_TRUE(m_drv[4]->add({{gpa, 8, false}}));
        m_kick[4].signal();
        settle();
        EXPECT_EQ(m_c1.inject("x"), 0u);   // the chardev asks for room: the chain is checked
        break;
    case 5:                                                    // control buffer too small
        control(0, ev::kPortReady, 1);   // its two answers take the last two good buffers
        ASSERT_EQ(control_received().size(), 2u);
        ASSERT_TRUE(m_drv[2]->add({{gpa, 4, true}}));
        m_kick[2].signal();
        settle();
        control(0, ev::kPortReady, 1);
        break;
    }
    ASSERT_EQ(m_broken.size(), 1u) << "case " << GetParam();
    // A broken device stops touching its queues.
    send(5, "ignored");
    EXPECT_EQ(m_c1.written, "");
}

INSTANTIATE_TEST_SUITE_P(Cases, VirtioSerialHostileTest, ::testing::Range(0, 6));

} // namespace
} // namespace nemu::hw::virtio
