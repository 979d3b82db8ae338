#pragma once
// One QMP monitor on one chardev (QEMU monitor/qmp.c): greeting on connect, capabilities
// negotiation, request dispatch, events. A connection survives every bad input: each error
// gets an error reply and the stream resynchronises.
// Thread: main loop.

#include <functional>
#include <map>
#include <span>
#include <string>

#include "chardev/chardev.h"
#include "monitor/json_streamer.h"
#include "monitor/qmp_dispatch.h"
#include "qapi/qmp_types_base.h"
#include "util/json.h"
#include "util/unique_fd.h"
#include "monitor/command_context.h"

namespace nemu::monitor {

class QmpMonitor;

// What a monitor needs from the VM, kept narrow so the monitor library stays below system/.
struct MonitorHost {
    virtual ~MonitorHost() = default;
    virtual std::span<const qapi::CommandEntry> commands() const = 0;
    virtual DispatchPhase phase() const = 0;
    virtual Json greeting_version() const = 0;   // VersionInfo
    virtual CommandContext make_context(QmpMonitor& monitor) = 0;
};

class QmpMonitor final : public chardev::CharFrontend {
public:
    QmpMonitor(chardev::Chardev& chr, MonitorHost& host, bool pretty);
    ~QmpMonitor() override;
    QmpMonitor(const QmpMonitor&) = delete;
    QmpMonitor& operator=(const QmpMonitor&) = delete;

    // CharFrontend
    size_t can_receive() override;
    void receive(std::span<const uint8_t> data) override;
    void on_event(chardev::ChardevEvent event) override;

    // qmp_capabilities: leave negotiation mode.
    void enter_command_mode(bool oob) {
        m_negotiating = false;
        m_oob = oob;
    }
    bool in_command_mode() const { return m_connected && !m_negotiating; }
    // Sends an event line if this connection is in command mode.
    void send_event(std::string_view name, const Json& data, const Json& timestamp);

    // getfd/closefd: fds received over the socket (SCM_RIGHTS) and named.
    chardev::Chardev& chardev() { return m_chr; }
    std::map<std::string, UniqueFd, std::less<>>& named_fds() { return m_fds; }

private:
    void handle(Result<Json> message);
    void send(const Json& j);

    chardev::Chardev& m_chr;
    MonitorHost& m_host;
    bool m_pretty;
    bool m_connected = false;
    bool m_negotiating = true;
    bool m_oob = false;
    JsonStreamer m_streamer;
    std::map<std::string, UniqueFd, std::less<>> m_fds;
};

// Fans events out to every QMP monitor in command mode, stamped with the wall clock as
// QEMU does ({"timestamp": {"seconds", "microseconds"}, "event", "data"}).
class EventBroadcaster final : public qapi::EventSink {
public:
    void add(QmpMonitor& m) { m_monitors.push_back(&m); }
    void remove(QmpMonitor& m) { std::erase(m_monitors, &m); }
    void emit_event(std::string_view name, Json data) override;

private:
    std::vector<QmpMonitor*> m_monitors;
};

} // namespace nemu::monitor
