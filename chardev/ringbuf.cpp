#include "chardev/ringbuf.h"

#include "chardev/backends.h"
#include "qom/type_registry.h"

namespace nemu::chardev {

// The ring lives in memory; bound it like other user-sized allocations.
constexpr uint64_t kMaxRingbufSize = uint64_t(1) << 30;

Result<> RingbufChardev::open_backend(const ChardevOptions& o) {
    // QEMU's message; it lets 0 through, which is no power of two either.
    if (o.size == 0 || (o.size & (o.size - 1)) != 0) return fail("size of ringbuf chardev must be power of two");
    if (o.size > kMaxRingbufSize) return fail("size of ringbuf chardev must not exceed {}", kMaxRingbufSize);
    m_buf.assign(static_cast<size_t>(o.size), 0);
    set_connected(true);
    return {};
}

Result<size_t> RingbufChardev::write(std::span<const uint8_t> data) {
    const uint64_t mask = m_buf.size() - 1;
    for (uint8_t b : data) m_buf[static_cast<size_t>(m_prod++ & mask)] = b;
    if (m_prod - m_cons > m_buf.size()) m_cons = m_prod - m_buf.size();
    return data.size();
}

std::vector<uint8_t> RingbufChardev::read(size_t max) {
    const uint64_t mask = m_buf.size() - 1;
    std::vector<uint8_t> out;
    out.reserve(std::min(max, count()));
    while (out.size() < max && m_cons != m_prod) out.push_back(m_buf[static_cast<size_t>(m_cons++ & mask)]);
    return out;
}

void register_ringbuf_types(qom::TypeRegistry& registry) {
    // QEMU: "chardev-memory" is a legacy subclass of "chardev-ringbuf".
    for (const char* name : {"chardev-ringbuf", "chardev-memory"}) {
        qom::TypeInfo t;
        t.name = name;
        t.parent = t.name == "chardev-memory" ? "chardev-ringbuf" : "chardev";
        t.create = [] { return std::make_unique<RingbufChardev>(); };
        registry.add(std::move(t));
    }
}

} // namespace nemu::chardev
