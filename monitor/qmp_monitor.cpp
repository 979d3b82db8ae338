#include "monitor/qmp_monitor.h"

#include <sys/time.h>

#include "qapi/qmp_types_base.h"
#include "monitor/command_context.h"

namespace nemu::monitor {

QmpMonitor::QmpMonitor(chardev::Chardev& chr, MonitorHost& host, bool pretty)
    : m_chr(chr), m_host(host), m_pretty(pretty), m_streamer([this](Result<Json> m) { handle(std::move(m)); }) {
    // A chardev takes one frontend; the caller checked it is free (QEMU: "Device 'X' is in use").
    (void)m_chr.attach(*this);
}

QmpMonitor::~QmpMonitor() { m_chr.detach(*this); }

size_t QmpMonitor::can_receive() { return 64 * 1024; }

void QmpMonitor::receive(std::span<const uint8_t> data) { m_streamer.feed(data); }

void QmpMonitor::on_event(chardev::ChardevEvent event) {
    if (event == chardev::ChardevEvent::Opened) {
        m_connected = true;
        m_negotiating = true;
        m_oob = false;
        m_streamer.reset();
        send(Json{{"QMP", Json{{"version", m_host.greeting_version()}, {"capabilities", Json::array({"oob"})}}}});
    } else {
        m_connected = false;
        m_negotiating = true;
        m_streamer.reset();
        // QEMU closes fds received with getfd when the connection goes away.
        m_fds.clear();
    }
}

void QmpMonitor::handle(Result<Json> message) {
    if (!message) {
        send(error_reply("GenericError", message.error().msg));
        return;
    }
    DispatchRules rules{.negotiating = m_negotiating, .oob_enabled = m_oob, .phase = m_host.phase()};
    CommandContext ctx = m_host.make_context(*this);
    Json reply = dispatch_request(m_host.commands(), *message, rules, ctx);
    if (!reply.is_null()) send(reply);
}

void QmpMonitor::send(const Json& j) {
    std::string text = dump_json_qmp(j, m_pretty);
    text += "\r\n";
    // A failed write means the peer is gone; the chardev reports Closed on its own.
    (void)m_chr.write({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

void QmpMonitor::send_event(std::string_view name, const Json& data, const Json& timestamp) {
    if (!in_command_mode()) return;
    Json ev = Json::object();
    ev["timestamp"] = timestamp;
    ev["event"] = name;
    if (!data.empty()) ev["data"] = data;
    send(ev);
}

void EventBroadcaster::emit_event(std::string_view name, Json data) {
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    Json ts{{"seconds", static_cast<int64_t>(tv.tv_sec)}, {"microseconds", static_cast<int64_t>(tv.tv_usec)}};
    for (QmpMonitor* m : m_monitors) m->send_event(name, data, ts);
}

} // namespace nemu::monitor
