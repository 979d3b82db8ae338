#include "chardev/mux.h"

#include <algorithm>
#include <string_view>

#include "chardev/backends.h"
#include "qom/type_registry.h"

namespace nemu::chardev {

namespace {
constexpr uint8_t kEscape = 0x01;  // C-a, QEMU's default -echr
constexpr std::string_view kHelp =
    "\n\r"
    "C-a h    print this help\n\r"
    "C-a x    exit emulator\n\r"
    "C-a c    switch between console and monitor\n\r"
    "C-a C-a  sends C-a\n\r";
} // namespace

MuxChardev::~MuxChardev() {
    if (m_base) m_base->detach(m_link);
}

void MuxChardev::set_base(std::unique_ptr<Chardev> base) { m_base = std::move(base); }

Result<> MuxChardev::open_backend(const ChardevOptions&) {
    if (!m_base) return fail("chardev: mux: no backend");
    TRY(m_base->attach(m_link));
    set_connected(m_base->is_connected());
    return {};
}

Result<size_t> MuxChardev::write(std::span<const uint8_t> data) { return m_base->write(data); }

Result<> MuxChardev::attach(CharFrontend& fe) {
    for (const Slot& s : m_frontends)
        if (s.fe == &fe) return {};
    // QEMU's qemu_chr_fe_init message.
    if (m_frontends.size() >= kMaxMuxFrontends)
        return fail("too many uses of multiplexed chardev '{}' (maximum is {})", label(), kMaxMuxFrontends);
    if (!m_frontends.empty()) m_frontends[m_focus].fe->on_event(ChardevEvent::MuxOut);
    m_frontends.push_back(Slot{&fe, {}});
    m_focus = m_frontends.size() - 1;
    if (is_connected()) fe.on_event(ChardevEvent::Opened);
    fe.on_event(ChardevEvent::MuxIn);
    update_input();
    return {};
}

void MuxChardev::detach(CharFrontend& fe) {
    auto it = std::find_if(m_frontends.begin(), m_frontends.end(), [&](const Slot& s) { return s.fe == &fe; });
    if (it == m_frontends.end()) return;
    size_t idx = static_cast<size_t>(it - m_frontends.begin());
    m_frontends.erase(it);
    if (m_focus > idx || m_focus >= m_frontends.size()) m_focus = m_focus > 0 ? m_focus - 1 : 0;
    update_input();
}

Result<> MuxChardev::check_can_remove() const {
    if (!m_frontends.empty()) return fail("Chardev '{}' is busy", label());
    return {};
}

void MuxChardev::set_focus(size_t index) {
    if (index >= m_frontends.size() || index == m_focus) return;
    m_frontends[m_focus].fe->on_event(ChardevEvent::MuxOut);
    m_focus = index;
    m_frontends[m_focus].fe->on_event(ChardevEvent::MuxIn);
    update_input();
}

void MuxChardev::update_input() {
    flush_pending();
    if (m_base) m_base->accept_input();
}

void MuxChardev::flush_pending() {
    if (m_frontends.empty()) return;
    Slot& s = m_frontends[m_focus];
    size_t n = std::min(s.pending.size(), s.fe->can_receive());
    if (n == 0) return;
    std::vector<uint8_t> chunk(s.pending.begin(), s.pending.begin() + static_cast<ptrdiff_t>(n));
    s.pending.erase(s.pending.begin(), s.pending.begin() + static_cast<ptrdiff_t>(n));
    s.fe->receive(chunk);
}

// Like QEMU's mux_chr_can_read: room in the focused frontend's buffer counts, so escape
// sequences get through even while the frontend is busy.
size_t MuxChardev::base_can_receive() {
    if (m_frontends.empty()) return 0;
    Slot& s = m_frontends[m_focus];
    if (s.pending.size() >= kMuxBufferSize) return 0;
    if (!s.pending.empty()) return kMuxBufferSize - s.pending.size();
    return std::max<size_t>(s.fe->can_receive(), 1);
}

void MuxChardev::base_receive(std::span<const uint8_t> data) {
    for (uint8_t b : data) process_byte(b);
    flush_pending();
}

void MuxChardev::process_byte(uint8_t b) {
    if (m_got_escape) {
        m_got_escape = false;
        switch (b) {
        case 'h':
        case '?': {
            auto help = std::span(reinterpret_cast<const uint8_t*>(kHelp.data()), kHelp.size());
            [[maybe_unused]] auto r = m_base->write(help);
            return;
        }
        case 'x':
            if (m_quit) m_quit();
            return;
        case 'c':
            if (!m_frontends.empty()) {
                flush_pending();
                set_focus((m_focus + 1) % m_frontends.size());
            }
            return;
        case kEscape:
            break;  // C-a C-a: the escape character itself
        default:
            return;  // s, b, t and unknown commands: not implemented, ignored
        }
    } else if (b == kEscape) {
        m_got_escape = true;
        return;
    }
    if (m_frontends.empty()) return;
    m_frontends[m_focus].pending.push_back(b);
}

void MuxChardev::base_event(ChardevEvent ev) {
    if (ev == ChardevEvent::Opened || ev == ChardevEvent::Closed) set_connected(ev == ChardevEvent::Opened);
    for (Slot& s : m_frontends) s.fe->on_event(ev);
}

void register_mux_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-mux";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<MuxChardev>(); };
    registry.add(std::move(t));
}

} // namespace nemu::chardev
