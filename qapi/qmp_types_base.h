#pragma once
// The stable, hand-written half of the QAPI interface: what the monitor and the rest of
// nemu include without pulling in the generated headers (qapi/qapi-types.h etc. in the build
// directory). The generated dispatch table (qapi/qapi-commands.h) is a span of CommandEntry;
// generated qapi_event_send_*() functions push events into an EventSink.

#include <string_view>

#include "util/json.h"
#include "util/result.h"

namespace nemu {
class CommandContext;   // defined by the monitor (monitor/command_context.h)
}

namespace nemu::qapi {

// One QMP command (QEMU qapi/qmp-registry.c QmpCommand). `call` takes the request's
// "arguments" object ({} when absent), converts it with the generated input visitor, runs the
// handler and converts its return value. Thread: main loop.
struct CommandEntry {
    std::string_view name;
    Result<Json> (*call)(CommandContext& ctx, const Json& args);
    bool allow_oob;
    bool allow_preconfig;
    bool success_response;
};

// Receiver of QAPI events. `data` is always an object ({} for events without data); the
// monitor adds "timestamp" and broadcasts (QEMU monitor/qmp.c, qapi/qmp-event.c).
struct EventSink {
    virtual ~EventSink() = default;
    virtual void emit_event(std::string_view name, Json data) = 0;
};

} // namespace nemu::qapi
