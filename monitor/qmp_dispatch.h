#pragma once
// QMP request validation and dispatch (docs/interop/qmp-spec.txt, QEMU qapi/qmp-dispatch.c):
// checks the request object's members, finds the command, enforces the preconfig and
// capabilities rules, runs the generated wrapper and shapes the reply. The reply's member
// order follows QEMU's ("return" before "id"; "id" before "error").

#include <span>
#include <string_view>

#include "util/json.h"

namespace nemu {
class CommandContext;
}
namespace nemu::qapi {
struct CommandEntry;
}

namespace nemu::monitor {

enum class DispatchPhase { Preconfig, Running };

struct DispatchRules {
    bool negotiating = false;   // before qmp_capabilities on this connection
    bool oob_enabled = false;
    DispatchPhase phase = DispatchPhase::Running;
};

// Returns the reply, or null for commands that send none (success-response: false).
Json dispatch_request(std::span<const qapi::CommandEntry> commands, const Json& request,
                      const DispatchRules& rules, CommandContext& ctx);

Json error_reply(std::string_view error_class, std::string_view desc, const Json* id = nullptr);

} // namespace nemu::monitor
