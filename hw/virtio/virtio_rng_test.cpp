// virtio-rng-device over a real Virtqueue and the guest-side test driver: QEMU 7.2's
// properties and realize errors, requests filled from a FIFO-backed rng-random (known bytes),
// the max-bytes/period limiter with a fake timer, and driver errors that break the device.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/rng_backend.h"
#include "hw/virtio/virtio_rng.h"
#include "tests/support/virtqueue_driver.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {
namespace {

struct FakeTimer : PeriodTimer {
    explicit FakeTimer(std::function<void()> f) : fired(std::move(f)) {}
    void arm_ms(uint32_t ms) override {
        armed_ms.push_back(ms);
        armed = true;
    }
    void cancel() override { armed = false; }
    void fire() {
        ASSERT_TRUE(armed);
        armed = false;
        fired();
    }
    std::function<void()> fired;
    std::vector<uint32_t> armed_ms;
    bool armed = false;
};

struct CountingInterrupt : VirtioInterrupt {
    void notify_queue(uint16_t q) override { queue_notifies += q == 0; }
    void notify_config() override {}
    int queue_notifies = 0;
};

class VirtioRngTest : public ::testing::Test {
protected:
    void SetUp() override {
        qom::register_base_types(m_types);
        hw::register_device_type(m_types);
        m_types.add(qom::TypeInfo{.name = "virtio-device", .parent = "device", .abstract = true});
        backends::register_rng_backend_types(m_types);
        register_virtio_rng_type(m_types);
        m_root = std::move(*m_types.create("container"));
        m_loop = std::move(*EventLoop::create());
        m_kick = std::move(*EventFd::create());
        std::string tmpl = (std::filesystem::temp_directory_path() / "nemu-vrng-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override {
        m_root.reset();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }

    Result<qom::Object*> add_object(const std::string& type, const std::string& id, const Json& props) {
        auto obj = TRY(m_types.create(type));
        for (const auto& [k, v] : props.items()) TRY(obj->set_property(k, v));
        qom::Object* o = TRY(m_root->container("objects").add_child(id, std::move(obj)));
        TRY(o->complete());
        return o;
    }
    // An rng-random on a FIFO the test writes known bytes into.
    void add_fifo_backend(const std::string& id) {
        std::string fifo = m_dir + "/" + id;
        ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
        ASSERT_TRUE(add_object("rng-random", id, {{"filename", fifo}}));
        m_writer = UniqueFd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
        ASSERT_TRUE(m_writer);
    }
    void feed(const std::string& bytes) {
        ASSERT_EQ(::write(m_writer.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
    Result<VirtioRng*> make_device(const Json& props, bool fake_timer = true) {
        auto obj = TRY(m_types.create("virtio-rng-device"));
        for (const auto& [k, v] : props.items()) TRY(obj->set_property(k, v));
        auto* dev = static_cast<VirtioRng*>(obj.get());
        if (fake_timer)
            dev->set_timer_factory([this](EventLoop&, std::function<void()> f) -> Result<std::unique_ptr<PeriodTimer>> {
                auto t = std::make_unique<FakeTimer>(std::move(f));
                m_timer = t.get();
                return std::unique_ptr<PeriodTimer>(std::move(t));
            });
        TRY(m_root->container("machine").add_child("rng0", std::move(obj)));
        if (auto r = dev->complete(); !r) {
            m_root->container("machine").remove_child("rng0");
            return make_error(std::move(r).error());
        }
        return dev;
    }
    std::string realize_error(const Json& props) {
        auto r = make_device(props);
        if (r) return "(no error)";
        return r.error().msg;
    }
    VirtioActivation activation() {
        VirtioActivation a;
        a.queues.push_back(ActiveQueue{0, m_vq.get(), &m_kick});
        a.interrupt = &m_irq;
        a.memory = &m_mem.space();
        a.main_loop = m_loop.get();
        a.broken = [this](const std::string& why) { m_broken.push_back(why); };
        return a;
    }
    void start(VirtioRng& dev) { ASSERT_TRUE(dev.activate(activation())); }
    // Kick and dispatch until `n` used buffers came back: everything here is ready at once
    // (data already in the FIFO, deferred calls), so a few non-blocking rounds settle it; with
    // `wait` a slow wake-up gets bounded blocking rounds too (never hangs, never a timing check).
    std::vector<test::UsedBuffer> kick_and_collect(size_t n, bool wait = true) {
        m_kick.signal();
        std::vector<test::UsedBuffer> used;
        for (int i = 0; i < (wait ? 110 : 10) && used.size() < n; i++) {
            m_loop->run_once(i < 10 ? 0 : 20);
            while (auto u = m_drv.get_used()) used.push_back(*u);
        }
        return used;
    }
    std::string guest(uint64_t gpa, size_t len) {
        std::string s(len, '\0');
        m_mem.read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), len));
        return s;
    }

    qom::TypeRegistry m_types;
    std::unique_ptr<qom::Object> m_root;
    std::unique_ptr<EventLoop> m_loop;
    EventFd m_kick;
    std::string m_dir;
    UniqueFd m_writer;
    test::GuestMemory m_mem{1 << 20};
    test::VirtqueueDriver m_drv{m_mem, {.size = 8}};
    std::unique_ptr<Virtqueue> m_vq = std::move(*Virtqueue::create(m_mem.space(), m_drv.config()));
    CountingInterrupt m_irq;
    std::vector<std::string> m_broken;
    FakeTimer* m_timer = nullptr;
};

TEST_F(VirtioRngTest, IdentityAndPropertiesAsQemu) {
    // QEMU 7.2 device-list-properties virtio-rng-device (its own three, in its order).
    std::vector<std::string> got;
    for (const auto& p : m_types.find("virtio-rng-device")->properties)
        got.push_back(p.name + ":" + p.type + ":" + (p.default_value ? dump_json(*p.default_value) : "-"));
    EXPECT_EQ(got, (std::vector<std::string>{"rng:link<rng-backend>:-", "period:uint32:65536",
                                             "max-bytes:uint64:9223372036854775807"}));
    auto* dev = *make_device(Json::object());
    EXPECT_EQ(dev->device_id(), 4);
    EXPECT_EQ(dev->device_features(), 0u);
    EXPECT_EQ(dev->queue_max_sizes(), std::vector<uint16_t>{8});
    EXPECT_EQ(dev->config_size(), 0u);
}

TEST_F(VirtioRngTest, RealizeErrorsAsQemu) {
    ASSERT_TRUE(add_object("rng-builtin", "r", Json::object()));
    EXPECT_EQ(realize_error({{"period", 0}}), "'period' parameter expects a positive integer");
    EXPECT_EQ(realize_error({{"max-bytes", 9223372036854775808ull}}),
              "'max-bytes' parameter must be non-negative, and less than 2^63");
    EXPECT_EQ(realize_error({{"rng", "nope"}}), "Device 'nope' not found");
    m_root->container("objects").container("notrng");
    EXPECT_EQ(realize_error({{"rng", "notrng"}}), "Invalid parameter type for 'rng', expected: rng-backend");
    EXPECT_EQ(realize_error({{"rng", "r"}, {"max-bytes", 9223372036854775807ull}, {"period", 1}}), "(no error)");
}

TEST_F(VirtioRngTest, DefaultBackendIsABuiltinChild) {
    auto* dev = *make_device(Json::object());
    qom::Object* child = dev->child("default-backend");
    ASSERT_NE(child, nullptr);
    EXPECT_EQ(child->type_name(), "rng-builtin");
    EXPECT_EQ(dev->backend(), child);
    EXPECT_EQ(*dev->get_property("rng"), "/machine/rng0/default-backend");
}

TEST_F(VirtioRngTest, LinkedBackendIsInUse) {
    auto* r = *add_object("rng-builtin", "r", Json::object());
    auto* dev = *make_device({{"rng", "r"}});
    EXPECT_EQ(dev->backend(), r);
    EXPECT_EQ(*dev->get_property("rng"), "/objects/r");
    auto e = r->check_can_remove();
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "object 'r' is in use, can not be deleted");
    m_root->container("machine").remove_child("rng0");
    EXPECT_TRUE(r->check_can_remove());
}

TEST_F(VirtioRngTest, FillsExactlyTheWritableBuffers) {
    add_fifo_backend("r");
    auto* dev = *make_device({{"rng", "r"}});
    start(*dev);
    feed("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?+-");   // 66 bytes
    m_mem.fill(0x10000, 0xEE, 0x100);
    uint16_t a = *m_drv.add({{0x10000, 10, true}});
    uint16_t b = *m_drv.add({{0x10100, 4, true}, {0x10200, 6, true}});
    auto used = kick_and_collect(2);
    ASSERT_EQ(used.size(), 2u);
    EXPECT_EQ(used[0].id, a);
    EXPECT_EQ(used[0].len, 10u);
    EXPECT_EQ(used[1].id, b);
    EXPECT_EQ(used[1].len, 10u);
    EXPECT_EQ(guest(0x10000, 11), std::string("0123456789\xEE"));
    EXPECT_EQ(guest(0x10100, 4), "abcd");
    EXPECT_EQ(guest(0x10200, 6), "efghij");
    EXPECT_GE(m_irq.queue_notifies, 1);
    EXPECT_TRUE(m_broken.empty());
}

TEST_F(VirtioRngTest, ServesWhatWasQueuedBeforeDriverOk) {
    auto* dev = *make_device(Json::object());   // rng-builtin
    uint16_t a = *m_drv.add({{0x10000, 64, true}});
    start(*dev);                                 // no kick: activate looks at the queue
    std::vector<test::UsedBuffer> used;
    for (int i = 0; i < 5 && used.empty(); i++) {
        m_loop->run_once(0);
        while (auto u = m_drv.get_used()) used.push_back(*u);
    }
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].id, a);
    EXPECT_EQ(used[0].len, 64u);
}

TEST_F(VirtioRngTest, RateLimitHoldsAcrossAPeriod) {
    auto* dev = *make_device({{"max-bytes", 100}, {"period", 1000}});
    start(*dev);
    ASSERT_NE(m_timer, nullptr);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(m_drv.add({{0x10000 + 0x100u * i, 64, true}}));
    auto used = kick_and_collect(3, false);
    // 64 + 36 = the quota; the third chain waits for the period to end.
    ASSERT_EQ(used.size(), 2u);
    EXPECT_EQ(used[0].len, 64u);
    EXPECT_EQ(used[1].len, 36u);
    EXPECT_EQ(dev->quota_remaining(), 0u);
    EXPECT_EQ(m_timer->armed_ms, std::vector<uint32_t>{1000});
    // More kicks in the same period change nothing.
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    m_timer->fire();
    used = kick_and_collect(1);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].len, 64u);
    EXPECT_EQ(dev->quota_remaining(), 36u);
    EXPECT_EQ(m_timer->armed_ms.size(), 2u);   // the new period started with that request
    // A period with no request: the quota refills and no timer runs until the next one.
    m_timer->fire();
    EXPECT_EQ(dev->quota_remaining(), 100u);
    EXPECT_FALSE(m_timer->armed);
    EXPECT_TRUE(m_broken.empty());
}

TEST_F(VirtioRngTest, ResetDoesNotRefillTheQuota) {
    auto* dev = *make_device({{"max-bytes", 8}, {"period", 1000}});
    start(*dev);
    ASSERT_TRUE(m_drv.add({{0x10000, 64, true}}));
    ASSERT_EQ(kick_and_collect(1).size(), 1u);
    EXPECT_EQ(dev->quota_remaining(), 0u);
    dev->deactivate();
    EXPECT_EQ(dev->quota_remaining(), 0u);
    EXPECT_TRUE(m_timer->armed);
}

TEST_F(VirtioRngTest, ReadableBufferBreaksTheDevice) {
    auto* dev = *make_device(Json::object());
    start(*dev);
    ASSERT_TRUE(m_drv.add({{0x10000, 16, false}, {0x10100, 16, true}}));
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    ASSERT_EQ(m_broken.size(), 1u);
    EXPECT_NE(m_broken[0].find("driver-readable"), std::string::npos) << m_broken[0];
    // Broken: later chains are left alone until a reset.
    ASSERT_TRUE(m_drv.add({{0x10200, 16, true}}));
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    EXPECT_EQ(m_broken.size(), 1u);
}

TEST_F(VirtioRngTest, ChainWithNothingToWriteBreaksTheDevice) {
    auto* dev = *make_device(Json::object());
    start(*dev);
    ASSERT_TRUE(m_drv.add({{0x10000, 0, true}}));
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    ASSERT_EQ(m_broken.size(), 1u);
}

TEST_F(VirtioRngTest, RingErrorBreaksTheDevice) {
    auto* dev = *make_device(Json::object());
    start(*dev);
    m_drv.set_avail_idx(100);   // an avail index jumping past the queue size
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    ASSERT_EQ(m_broken.size(), 1u);
}

TEST_F(VirtioRngTest, DeactivateCancelsAndIsIdempotent) {
    add_fifo_backend("r");
    auto* dev = *make_device({{"rng", "r"}});
    auto* backend = dev->backend();
    dev->deactivate();   // before any activate
    start(*dev);
    ASSERT_TRUE(m_drv.add({{0x10000, 8, true}}));
    EXPECT_TRUE(kick_and_collect(1, false).empty());   // the FIFO is empty: the request waits
    EXPECT_EQ(backend->pending(), 1u);
    dev->deactivate();
    dev->deactivate();
    EXPECT_EQ(backend->pending(), 0u);
    feed("12345678");
    m_kick.signal();
    for (int i = 0; i < 3; i++) m_loop->run_once(0);
    EXPECT_FALSE(m_drv.get_used());   // no kick watch, no request after deactivate

    // A failed activate leaves nothing behind; a good one after it works.
    VirtioActivation bad = activation();
    bad.queues.clear();
    EXPECT_FALSE(dev->activate(bad));
    dev->deactivate();
    // Fresh rings for the new activation (the transport's job on a reset).
    test::VirtqueueDriver drv(m_mem, {.size = 8, .desc = 0x4000, .driver = 0x5000, .device = 0x6000});
    auto vq = std::move(*Virtqueue::create(m_mem.space(), drv.config()));
    VirtioActivation good = activation();
    good.queues[0].queue = vq.get();
    ASSERT_TRUE(dev->activate(good));
    ASSERT_TRUE(drv.add({{0x11000, 8, true}}));
    m_kick.signal();
    std::optional<test::UsedBuffer> u;
    for (int i = 0; i < 100 && !u; i++) {
        m_loop->run_once(20);
        u = drv.get_used();
    }
    ASSERT_TRUE(u);
    EXPECT_EQ(u->len, 8u);
    EXPECT_EQ(guest(0x11000, 8), "12345678");
}

TEST_F(VirtioRngTest, BackendGoneBeforeTheDevice) {
    add_fifo_backend("r");
    auto* dev = *make_device({{"rng", "r"}});
    start(*dev);
    ASSERT_TRUE(m_drv.add({{0x10000, 8, true}}));
    EXPECT_TRUE(kick_and_collect(1, false).empty());
    // Tree teardown in any order: the device notices through the backend's lifetime.
    m_root->container("objects").remove_child("r");
    EXPECT_EQ(dev->backend(), nullptr);
    dev->deactivate();
    m_root->container("machine").remove_child("rng0");
}

TEST_F(VirtioRngTest, TimerFdPeriodTimerFires) {
    int fired = 0;
    auto t = std::move(*make_timerfd_period_timer(*m_loop, [&] { fired++; }));
    t->arm_ms(1);
    for (int i = 0; i < 100 && !fired; i++) m_loop->run_once(50);
    EXPECT_EQ(fired, 1);
    t->arm_ms(60000);
    t->cancel();
    m_loop->run_once(0);
    EXPECT_EQ(fired, 1);
}

} // namespace
} // namespace nemu::hw::virtio
