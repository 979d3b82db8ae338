#pragma once
// Entropy backends (QEMU 7.2 backends/rng*.c): user-creatable objects a virtio-rng device
// draws its bytes from. The abstract "rng-backend" keeps the queue of requests; the concrete
// types are "rng-random" (a file, /dev/urandom by default: rng_random.cpp) and "rng-builtin"
// (getrandom(2): rng_builtin.cpp). Property "opened" is read-only and true once the object is
// completed (QEMU 7.2 dropped its setter: "Property 'rng-random.opened' is not writable").
//
// Requests are asynchronous: request() queues, and the bytes arrive later through the
// callback on the event loop given with the request — never from inside request() itself, so
// a device may call request() from anywhere in its own processing. Several devices may share
// one backend (QEMU allows it); each cancels only its own requests by ticket.
//
// Thread: main loop only.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>

#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu {
class EventLoop;
}

namespace nemu::backends {

class RngBackend : public qom::Object {
public:
    using Receive = std::function<void(std::span<const uint8_t>)>;
    // The most one request delivers: bounds the read buffer; a device asks again for more.
    static constexpr size_t kMaxRequestBytes = 64 * 1024;

    RngBackend();
    ~RngBackend() override;

    // Queue a request for 1..max_bytes bytes (max_bytes is clamped to kMaxRequestBytes; 0 is
    // a programmer error and refused). `done` runs later on `loop` with at least one byte.
    // All requests of one backend must use the same loop. Returns a ticket for cancel().
    Result<uint64_t> request(EventLoop& loop, size_t max_bytes, Receive done);
    // Drop a queued request; its callback will not run. Unknown tickets are ignored.
    void cancel(uint64_t ticket);
    void cancel_all();
    size_t pending() const { return m_queue.size(); }

    // Expires when the backend is destroyed: a device holding a pointer checks it first, so
    // the QOM tree may be torn down in any order.
    std::weak_ptr<void> lifetime() const { return m_lifetime; }

    // Devices that use the backend. A used backend cannot be deleted (object-del): nemu
    // refuses where QEMU 7.2 drops the id and keeps the object alive through its reference.
    void add_user() { m_users++; }
    void remove_user() { m_users = m_users ? m_users - 1 : 0; }
    Result<> check_can_remove() const override;

protected:
    struct Pending {
        uint64_t ticket;
        size_t max_bytes;
        Receive done;
    };
    // A request was queued (m_queue is not empty): make sure it will be served on m_loop.
    virtual void kick() = 0;
    // The queue became empty (delivered or cancelled): stop watching.
    virtual void idle() {}
    // Hand `bytes` (non-empty) to the oldest request and dequeue it. Safe against the
    // callback queueing, cancelling or (through its owner) anything else on this backend.
    void deliver_front(std::span<const uint8_t> bytes);

    std::deque<Pending> m_queue;
    EventLoop* m_loop = nullptr;

private:
    std::shared_ptr<int> m_lifetime;
    uint64_t m_next_ticket = 1;
    unsigned m_users = 0;
};

// "rng-backend" (abstract), "rng-random" and "rng-builtin".
void register_rng_backend_types(qom::TypeRegistry& registry);

// Registration halves, in rng_random.cpp and rng_builtin.cpp.
void register_rng_random_type(qom::TypeRegistry& registry);
void register_rng_builtin_type(qom::TypeRegistry& registry);

} // namespace nemu::backends
