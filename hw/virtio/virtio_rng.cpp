#include "hw/virtio/virtio_rng.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backends/rng_backend.h"
#include "qom/type_registry.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/unique_fd.h"

namespace nemu::hw::virtio {

namespace {

class TimerFdPeriodTimer final : public PeriodTimer {
public:
    TimerFdPeriodTimer(EventLoop& loop, UniqueFd fd, std::function<void()> fired)
        : m_loop(loop), m_fd(std::move(fd)), m_fired(std::move(fired)) {}
    ~TimerFdPeriodTimer() override {
        if (m_watched) m_loop.remove_fd(m_fd.get());
    }
    Result<> watch() {
        TRY(m_loop.add_fd(m_fd.get(), EPOLLIN, [this](uint32_t) { expired(); }));
        m_watched = true;
        return {};
    }
    void arm_ms(uint32_t ms) override {
        itimerspec its{};
        its.it_value.tv_sec = ms / 1000;
        its.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
        if (ms == 0) its.it_value.tv_nsec = 1;   // a zero it_value would disarm
        ::timerfd_settime(m_fd.get(), 0, &its, nullptr);
    }
    void cancel() override {
        itimerspec its{};
        ::timerfd_settime(m_fd.get(), 0, &its, nullptr);
    }

private:
    void expired() {
        uint64_t n = 0;
        if (::read(m_fd.get(), &n, sizeof n) == static_cast<ssize_t>(sizeof n) && n) m_fired();
    }
    EventLoop& m_loop;
    UniqueFd m_fd;
    std::function<void()> m_fired;
    bool m_watched = false;
};

qom::PropertyDef rng_link_property() {
    qom::PropertyDef d;
    d.name = "rng";
    d.type = "link<rng-backend>";
    // QEMU shows the target's canonical path once the link is set; here once resolved.
    d.get = [](const qom::Object& o) -> Result<Json> {
        const auto& dev = static_cast<const VirtioRng&>(o);
        if (auto* b = dev.backend()) return Json(b->canonical_path());
        return Json(dev.m_rng);
    };
    d.set = [](qom::Object& o, const Json& v) -> Result<> {
        TRY(qom::check_property_value("str", "rng", v));
        static_cast<VirtioRng&>(o).m_rng = v.get<std::string>();
        return {};
    };
    return d;
}

} // namespace

Result<std::unique_ptr<PeriodTimer>> make_timerfd_period_timer(EventLoop& loop, std::function<void()> fired) {
    UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!fd) return fail_errno("timerfd_create", errno);
    auto t = std::make_unique<TimerFdPeriodTimer>(loop, std::move(fd), std::move(fired));
    TRY(t->watch());
    return std::unique_ptr<PeriodTimer>(std::move(t));
}

VirtioRng::VirtioRng() : m_timer_factory(make_timerfd_period_timer), m_alive(std::make_shared<int>(0)) {}

VirtioRng::~VirtioRng() {
    deactivate();
    m_timer.reset();
    if (m_backend_claimed && !m_backend_alive.expired()) m_backend->remove_user();
}

backends::RngBackend* VirtioRng::backend() const { return m_backend_alive.expired() ? nullptr : m_backend; }

Result<> VirtioRng::realize() {
    // QEMU resolves the link when the property is set, before realize runs its checks.
    backends::RngBackend* backend = nullptr;
    if (!m_rng.empty()) {
        qom::Object* root = this;
        while (root->parent()) root = root->parent();
        bool ambiguous = false;
        qom::Object* target = qom::resolve_path(*root, m_rng, &ambiguous);
        if (!target) {
            if (ambiguous) return fail("Path '{}' does not uniquely identify an object", m_rng);
            return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", m_rng);
        }
        backend = dynamic_cast<backends::RngBackend*>(target);
        if (!backend) return fail("Invalid parameter type for 'rng', expected: rng-backend");
    }
    // QEMU 7.2 virtio_rng_device_realize(), its checks and words.
    if (m_period_ms == 0) return fail("'period' parameter expects a positive integer");
    if (m_max_bytes > kMaxBytesLimit) return fail("'max-bytes' parameter must be non-negative, and less than 2^63");
    if (!backend) {
        auto obj = TRY(registry().create("rng-builtin"));
        TRY(obj->complete());
        backend = static_cast<backends::RngBackend*>(TRY(add_child("default-backend", std::move(obj))));
    }
    m_backend = backend;
    m_backend_alive = backend->lifetime();
    m_backend->add_user();
    m_backend_claimed = true;
    m_quota = m_max_bytes;
    return {};
}

Result<> VirtioRng::activate(const VirtioActivation& activation) {
    deactivate();
    if (!m_backend) return fail("virtio-rng: activated before realize");
    if (activation.queues.size() != 1 || !activation.queues[0].queue || !activation.queues[0].kick ||
        !activation.main_loop)
        return fail("virtio-rng: activation needs the request queue, its doorbell and the main loop");
    if (!m_timer) m_timer = TRY(m_timer_factory(*activation.main_loop, [this] { on_period_end(); }));
    m_loop = activation.main_loop;
    m_vq = activation.queues[0].queue;
    m_queue_index = activation.queues[0].index;
    m_kick = activation.queues[0].kick;
    m_interrupt = activation.interrupt;
    m_broken_cb = activation.broken;
    if (auto r = m_loop->add_fd(m_kick->fd(), EPOLLIN, [this](uint32_t) {
            m_kick->drain();
            process();
        });
        !r) {
        deactivate();
        return r;
    }
    m_kick_watched = true;
    m_active = true;
    m_broken = false;
    // QEMU serves what is already queued when the driver sets DRIVER_OK (virtio_rng_set_status).
    process();
    return {};
}

void VirtioRng::deactivate() {
    if (m_kick_watched) m_loop->remove_fd(m_kick->fd());
    m_kick_watched = false;
    cancel_request();
    m_chain.reset();
    m_vq = nullptr;
    m_kick = nullptr;
    m_interrupt = nullptr;
    m_broken_cb = nullptr;
    m_active = false;
    m_generation++;
}

void VirtioRng::cancel_request() {
    if (m_ticket)
        if (auto* b = backend()) b->cancel(m_ticket);
    m_ticket = 0;
}

void VirtioRng::mark_broken(const std::string& why) {
    m_broken = true;
    cancel_request();
    m_chain.reset();
    if (m_broken_cb) m_broken_cb(why);
}

void VirtioRng::process() {
    if (!m_active || m_broken || m_ticket) return;
    backends::RngBackend* b = backend();
    if (!b) return;   // the backend was destroyed under us (tree teardown)
    if (!m_chain) {
        auto popped = m_vq->pop();
        if (!popped) return mark_broken(popped.error().msg);
        if (!*popped) return;
        DescChain& c = **popped;
        // virtio 1.2, 5.4.6.1: the driver MUST NOT place driver-readable buffers into the queue.
        if (!c.readable.empty())
            return mark_broken(fmt::format("virtio-rng: queue {}: chain {} has a driver-readable buffer (virtio 1.2, 5.4.6.1)",
                                           m_queue_index, c.id));
        if (c.writable_bytes == 0)
            return mark_broken(fmt::format("virtio-rng: queue {}: chain {} has no writable bytes", m_queue_index, c.id));
        m_chain = std::move(c);
    }
    // QEMU's limiter: the period starts with the first request after the last one ended.
    if (!m_timer_armed) {
        m_timer->arm_ms(m_period_ms);
        m_timer_armed = true;
    }
    if (m_quota == 0) return;   // the chain waits for the period to end
    uint64_t want = std::min<uint64_t>({m_chain->writable_bytes, m_quota, backends::RngBackend::kMaxRequestBytes});
    uint64_t generation = m_generation;
    auto ticket = b->request(*m_loop, static_cast<size_t>(want),
                             [this, generation, alive = std::weak_ptr<int>(m_alive)](std::span<const uint8_t> bytes) {
                                 if (!alive.expired()) on_entropy(generation, bytes);
                             });
    if (!ticket) return mark_broken(fmt::format("virtio-rng: {}", ticket.error().msg));
    m_ticket = *ticket;
}

void VirtioRng::on_entropy(uint64_t generation, std::span<const uint8_t> bytes) {
    if (generation != m_generation || !m_active || !m_chain) return;
    m_ticket = 0;
    size_t done = 0;
    for (const iovec& iov : m_chain->writable) {
        if (done == bytes.size()) break;
        size_t n = std::min(iov.iov_len, bytes.size() - done);
        std::memcpy(iov.iov_base, bytes.data() + done, n);
        done += n;
    }
    m_quota -= std::min<uint64_t>(m_quota, done);
    DescChain chain = std::move(*m_chain);
    m_chain.reset();
    if (auto r = m_vq->push(chain, static_cast<uint32_t>(done)); !r) return mark_broken(r.error().msg);
    if (m_interrupt && m_vq->should_notify()) m_interrupt->notify_queue(m_queue_index);
    process();
}

void VirtioRng::on_period_end() {
    m_timer_armed = false;
    m_quota = m_max_bytes;
    process();
}

void register_virtio_rng_type(qom::TypeRegistry& registry) {
    using qom::prop;
    // QEMU's device-list-properties order for virtio-rng-device: rng, period, max-bytes.
    registry.add(qom::TypeInfo{
        .name = "virtio-rng-device",
        .parent = "virtio-device",
        .category = "Misc devices",
        .properties = {rng_link_property(),
                       prop("period", &VirtioRng::m_period_ms, std::optional<uint32_t>(1u << 16)),
                       prop("max-bytes", &VirtioRng::m_max_bytes, std::optional<uint64_t>(VirtioRng::kMaxBytesLimit))},
        .create = [] { return std::make_unique<VirtioRng>(); }});
}

} // namespace nemu::hw::virtio
