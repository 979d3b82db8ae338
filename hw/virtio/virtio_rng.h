#pragma once
// "virtio-rng-device" (virtio 1.2, 5.4 Entropy Device; QEMU 7.2 hw/virtio/virtio-rng.c): one
// request queue of at most 8 entries, no feature bits, no configuration space. Each chain the
// driver makes available is a set of device-writable buffers the device fills with entropy
// from its rng backend (5.4.6); a driver-readable buffer in the queue, or a chain with nothing
// to write, breaks 5.4.6.1 and sets the device to NEEDS_RESET through activation.broken.
//
// Properties (QEMU's names, types and defaults; the virtio-pci proxy "virtio-rng-pci"
// forwards them): "rng" (link<rng-backend>: the id or QOM path of an -object rng-*; without
// it the device makes its own rng-builtin child "default-backend", as QEMU 7.2 does),
// "max-bytes" (uint64, INT64_MAX) and "period" (uint32, ms, 65536): at most max-bytes bytes
// per period. QEMU's limiter: the period timer starts with the first request after it last
// expired, and its expiry refills the quota. The link is resolved at realize from the root of
// the QOM tree the device sits in (qom::resolve_path: "r0" finds /objects/r0), with QEMU's
// messages ("Device 'nope' not found", "Invalid parameter type for 'rng', expected:
// rng-backend").
//
// One chain is served at a time: popped, one backend request of at most min(its writable
// bytes, the quota, RngBackend::kMaxRequestBytes), filled, pushed with the bytes written.
// Thread: main loop (activation.main_loop): kicks, backend answers and the period timer.

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"

namespace nemu::backends {
class RngBackend;
}

namespace nemu::hw::virtio {

// The rate limiter's period timer: one-shot, firing on the main loop. The device makes a
// timerfd one; tests hand in a fake through set_timer_factory() and fire it themselves.
class PeriodTimer {
public:
    virtual ~PeriodTimer() = default;
    virtual void arm_ms(uint32_t ms) = 0;   // (re)arm: fire once, ms from now
    virtual void cancel() = 0;
};
using PeriodTimerFactory =
    std::function<Result<std::unique_ptr<PeriodTimer>>(EventLoop& loop, std::function<void()> fired)>;
// CLOCK_MONOTONIC timerfd watched by `loop`; removed from the loop on destruction.
// FIXME(#5): QEMU counts the period on QEMU_CLOCK_VIRTUAL (stopped while the VM is paused,
// stepped by qtest's clock_step); move to hw::VirtualClock once the main loop runs its timers.
Result<std::unique_ptr<PeriodTimer>> make_timerfd_period_timer(EventLoop& loop, std::function<void()> fired);

class VirtioRng final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 8;   // QEMU 7.2: virtio_add_queue(vdev, 8, ...)
    static constexpr uint64_t kMaxBytesLimit = std::numeric_limits<int64_t>::max();

    VirtioRng();
    ~VirtioRng() override;

    uint16_t device_id() const override { return kDeviceIdEntropy; }
    uint64_t device_features() const override { return 0; }
    std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
    Result<> activate(const VirtioActivation& activation) override;
    void deactivate() override;

    // The backend in use once realized (the linked one or "default-backend").
    backends::RngBackend* backend() const;
    // Bytes the guest may still get in the current period.
    uint64_t quota_remaining() const { return m_quota; }
    // Before the first activate(): tests replace the timerfd timer.
    void set_timer_factory(PeriodTimerFactory factory) { m_timer_factory = std::move(factory); }

    // Properties.
    std::string m_rng;                      // "rng": as given; resolved at realize
    uint64_t m_max_bytes = kMaxBytesLimit;  // "max-bytes"
    uint32_t m_period_ms = 1u << 16;        // "period"

protected:
    Result<> realize() override;

private:
    void process();
    void on_entropy(uint64_t generation, std::span<const uint8_t> bytes);
    void on_period_end();
    void mark_broken(const std::string& why);
    void cancel_request();

    // Realized state.
    backends::RngBackend* m_backend = nullptr;
    std::weak_ptr<void> m_backend_alive;
    bool m_backend_claimed = false;
    uint64_t m_quota = 0;

    // The period timer lives from the first activation to destruction: a reset must not
    // refill the quota early.
    PeriodTimerFactory m_timer_factory;
    std::unique_ptr<PeriodTimer> m_timer;
    bool m_timer_armed = false;

    // Activation.
    bool m_active = false;
    bool m_broken = false;
    EventLoop* m_loop = nullptr;
    Virtqueue* m_vq = nullptr;
    const EventFd* m_kick = nullptr;
    bool m_kick_watched = false;
    uint16_t m_queue_index = 0;
    VirtioInterrupt* m_interrupt = nullptr;
    std::function<void(const std::string&)> m_broken_cb;
    std::optional<DescChain> m_chain;   // popped, waiting for entropy
    uint64_t m_ticket = 0;              // the backend request outstanding, 0 if none
    uint64_t m_generation = 0;          // bumped by deactivate(): stale answers are dropped
    std::shared_ptr<int> m_alive;       // expires with the device, for backend callbacks
};

// "virtio-rng-device"; the abstract "virtio-device" must be registered before, and the
// proxy "virtio-rng-pci" (register_virtio_pci_proxies) after.
void register_virtio_rng_type(qom::TypeRegistry& registry);

} // namespace nemu::hw::virtio
