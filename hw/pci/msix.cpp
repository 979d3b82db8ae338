#include "hw/pci/msix.h"

#include <cstdio>

namespace nemu::hw::pci {

Msix::Msix(PciPlatform& platform, unsigned vectors)
    : m_platform(platform), m_vectors(vectors), m_table(vectors), m_pba((vectors + 63) / 64),
      m_routes(vectors), m_route_stale(vectors, true), m_direct(vectors, false) {}

Msix::~Msix() = default;

bool Msix::enabled() const {
    std::lock_guard lock(m_lock);
    return m_enabled;
}

bool Msix::function_masked() const {
    std::lock_guard lock(m_lock);
    return m_function_masked;
}

bool Msix::vector_masked(unsigned vector) const {
    std::lock_guard lock(m_lock);
    return vector >= m_vectors || (m_table[vector].control & kVectorMasked);
}

bool Msix::pending(unsigned vector) const {
    std::lock_guard lock(m_lock);
    return vector < m_vectors && (m_pba[vector / 64] >> (vector % 64) & 1);
}

MsiMessage Msix::message(unsigned vector) const {
    std::lock_guard lock(m_lock);
    if (vector >= m_vectors) return {};
    const Entry& e = m_table[vector];
    return {uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data};
}

bool Msix::masked_locked(unsigned vector) const {
    return m_function_masked || (m_table[vector].control & kVectorMasked);
}

MsiRoute* Msix::route_locked(unsigned vector) {
    if (!m_routes[vector]) {
        auto r = m_platform.create_msi_route();
        if (!r) {
            // Out of GSIs or similar: the interrupt is lost, the device carries on.
            std::fprintf(stderr, "nemu-system-x86_64: MSI-X vector %u: %s\n", vector, r.error().msg.c_str());
            return nullptr;
        }
        m_routes[vector] = std::move(*r);
        m_route_stale[vector] = true;
    }
    if (m_route_stale[vector]) {
        const Entry& e = m_table[vector];
        auto r = m_routes[vector]->set_message({uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data});
        if (!r) {
            std::fprintf(stderr, "nemu-system-x86_64: MSI-X vector %u: %s\n", vector, r.error().msg.c_str());
            return nullptr;
        }
        m_route_stale[vector] = false;
    }
    return m_routes[vector].get();
}

void Msix::notify(unsigned vector) {
    MsiRoute* route = nullptr;
    {
        std::lock_guard lock(m_lock);
        if (vector >= m_vectors || !m_enabled) return;
        if (masked_locked(vector)) {
            m_pba[vector / 64] |= uint64_t{1} << (vector % 64);
            return;
        }
        route = route_locked(vector);
    }
    // Routes live as long as the Msix; fire() is safe from any thread.
    if (route) route->fire();
}

const EventFd* Msix::direct_fd(unsigned vector) {
    std::lock_guard lock(m_lock);
    if (vector >= m_vectors || !m_enabled || masked_locked(vector)) return nullptr;
    MsiRoute* route = route_locked(vector);
    if (!route) return nullptr;
    const EventFd* fd = route->irqfd();
    if (fd) m_direct[vector] = true;
    return fd;
}

void Msix::set_change_handler(std::function<void()> handler) {
    std::lock_guard lock(m_lock);
    m_on_change = std::move(handler);
}

void Msix::changed() {
    std::function<void()> handler;
    {
        std::lock_guard lock(m_lock);
        handler = m_on_change;
    }
    if (handler) handler();
}

void Msix::collect_unmasked_pending_locked(std::vector<unsigned>& out) {
    if (!m_enabled || m_function_masked) return;
    for (unsigned v = 0; v < m_vectors; ++v) {
        uint64_t bit = uint64_t{1} << (v % 64);
        if ((m_pba[v / 64] & bit) && !(m_table[v].control & kVectorMasked)) {
            m_pba[v / 64] &= ~bit;
            out.push_back(v);
        }
    }
}

void Msix::fire(const std::vector<unsigned>& vectors) {
    std::vector<MsiRoute*> routes;
    {
        std::lock_guard lock(m_lock);
        for (unsigned v : vectors)
            if (MsiRoute* r = route_locked(v)) routes.push_back(r);
    }
    for (MsiRoute* r : routes) r->fire();
}

void Msix::control_written(uint16_t control) {
    std::vector<unsigned> due;
    bool toggled;
    {
        std::lock_guard lock(m_lock);
        bool enabled = control & kControlEnable, masked = control & kControlFunctionMask;
        toggled = enabled != m_enabled || masked != m_function_masked;
        m_enabled = enabled;
        m_function_masked = masked;
        collect_unmasked_pending_locked(due);
    }
    // Holders of direct fds switch first: on a mask they must be polled before the guest's
    // next instruction; on an unmask the pending bits fired below are already cleared.
    if (toggled) changed();
    if (!due.empty()) fire(due);
}

void Msix::reset() {
    {
        std::lock_guard lock(m_lock);
        for (Entry& e : m_table) e = Entry{};
        for (uint64_t& p : m_pba) p = 0;
        for (size_t v = 0; v < m_route_stale.size(); ++v) m_route_stale[v] = true;
        for (size_t v = 0; v < m_direct.size(); ++v) m_direct[v] = false;
        m_enabled = m_function_masked = false;
    }
    changed();
}

// Table: 16 bytes per vector, DWORD or QWORD accesses (PCI 3.0, 6.8.2.6-9). The region's
// rules widen narrower accesses to 4 bytes; a QWORD is two DWORDs.
uint64_t Msix::TableHandler::read(uint64_t offset, unsigned size) {
    if (size == 8) return read(offset, 4) | read(offset + 4, 4) << 32;
    std::lock_guard lock(msix.m_lock);
    uint64_t vector = offset / kEntrySize;
    if (vector >= msix.m_vectors || offset % 4) return 0;
    const Entry& e = msix.m_table[vector];
    switch (offset % kEntrySize) {
    case 0: return e.addr_lo;
    case 4: return e.addr_hi;
    case 8: return e.data;
    default: return e.control;
    }
}

void Msix::TableHandler::write(uint64_t offset, uint64_t value, unsigned size) {
    if (size == 8) {
        write(offset, value & 0xffffffff, 4);
        write(offset + 4, value >> 32, 4);
        return;
    }
    std::vector<unsigned> due;
    bool mask_toggled = false;
    {
        std::lock_guard lock(msix.m_lock);
        uint64_t vector = offset / kEntrySize;
        if (vector >= msix.m_vectors || offset % 4) return;
        auto v = static_cast<unsigned>(vector);
        Entry& e = msix.m_table[v];
        const Entry before = e;
        uint32_t val = static_cast<uint32_t>(value);
        switch (offset % kEntrySize) {
        case 0: e.addr_lo = val & ~uint32_t{3}; break;   // DWORD aligned (6.8.2.6)
        case 4: e.addr_hi = val; break;
        case 8: e.data = val; break;
        default: {
            // Only the Mask Bit is defined; the rest is reserved (6.8.2.9).
            bool was_masked = e.control & kVectorMasked;
            e.control = val & kVectorMasked;
            if (was_masked && !(e.control & kVectorMasked)) msix.collect_unmasked_pending_locked(due);
            break;
        }
        }
        bool message_changed = e.addr_lo != before.addr_lo || e.addr_hi != before.addr_hi || e.data != before.data;
        if (offset % kEntrySize < 12) msix.m_route_stale[v] = true;
        // A direct fd's holder signals the route without asking: it must carry the new
        // message now (6.8.3.5 lets software change an unmasked entry; Linux masks first, but
        // other guests need not).
        if (message_changed && msix.m_direct[v] && msix.m_routes[v]) (void)msix.route_locked(v);
        mask_toggled = before.control != e.control;
    }
    // Holders switch before the pending bits fire (as in control_written).
    if (mask_toggled) msix.changed();
    if (!due.empty()) msix.fire(due);
}

uint64_t Msix::PbaHandler::read(uint64_t offset, unsigned size) {
    std::lock_guard lock(msix.m_lock);
    uint64_t word = offset / 8;
    if (word >= msix.m_pba.size()) return 0;
    uint64_t v = msix.m_pba[word] >> (8 * (offset % 8));
    return size >= 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1);
}

} // namespace nemu::hw::pci
