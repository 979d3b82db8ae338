#include "backends/rng_backend.h"

#include <algorithm>

#include "util/event_loop.h"

namespace nemu::backends {

RngBackend::RngBackend() : m_lifetime(std::make_shared<int>(0)) {}

RngBackend::~RngBackend() = default;

Result<uint64_t> RngBackend::request(EventLoop& loop, size_t max_bytes, Receive done) {
    if (max_bytes == 0 || !done) return fail("{}: empty entropy request", type_name());
    if (m_loop && m_loop != &loop) return fail("{}: requests from two event loops", type_name());
    m_loop = &loop;
    uint64_t ticket = m_next_ticket++;
    m_queue.push_back(Pending{ticket, std::min(max_bytes, kMaxRequestBytes), std::move(done)});
    kick();
    return ticket;
}

void RngBackend::cancel(uint64_t ticket) {
    auto it = std::find_if(m_queue.begin(), m_queue.end(), [&](const Pending& p) { return p.ticket == ticket; });
    if (it == m_queue.end()) return;
    m_queue.erase(it);
    if (m_queue.empty()) idle();
}

void RngBackend::cancel_all() {
    if (m_queue.empty()) return;
    m_queue.clear();
    idle();
}

void RngBackend::deliver_front(std::span<const uint8_t> bytes) {
    Pending p = std::move(m_queue.front());
    m_queue.pop_front();
    if (m_queue.empty()) idle();
    p.done(bytes.first(std::min(bytes.size(), p.max_bytes)));
}

Result<> RngBackend::check_can_remove() const {
    // QEMU's wording for a backend a device still holds (hostmem's "is in use").
    if (m_users) return fail("object '{}' is in use, can not be deleted", name());
    return {};
}

void register_rng_backend_types(qom::TypeRegistry& registry) {
    qom::PropertyDef opened;
    opened.name = "opened";
    opened.type = "bool";
    opened.get = [](const qom::Object& o) -> Result<Json> { return Json(o.completed()); };
    registry.add(qom::TypeInfo{.name = "rng-backend", .parent = "object", .abstract = true,
                               .interfaces = {"user-creatable"}, .properties = {opened}});
    register_rng_random_type(registry);
    register_rng_builtin_type(registry);
}

} // namespace nemu::backends
