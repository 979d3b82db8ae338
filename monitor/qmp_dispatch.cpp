#include "monitor/qmp_dispatch.h"

#include "qapi/qmp_types_base.h"
#include "monitor/command_context.h"

namespace nemu::monitor {

Json error_reply(std::string_view error_class, std::string_view desc, const Json* id) {
    Json reply = Json::object();
    if (id) reply["id"] = *id;
    reply["error"] = Json{{"class", error_class}, {"desc", desc}};
    return reply;
}

namespace {

// QEMU qapi/qmp-dispatch.c qmp_dispatch_check_obj(): every member is checked in order.
std::optional<std::string> check_request(const Json& req, bool oob_enabled) {
    for (const auto& [key, value] : req.items()) {
        if (key == "execute" || (key == "exec-oob" && oob_enabled)) {
            if (!value.is_string()) return fmt::format("QMP input member '{}' must be a string", key);
        } else if (key == "arguments") {
            if (!value.is_object()) return std::string("QMP input member 'arguments' must be an object");
        } else if (key != "id") {
            return fmt::format("QMP input member '{}' is unexpected", key);
        }
    }
    bool exec = req.contains("execute"), oob = req.contains("exec-oob");
    if (!exec && !oob) return std::string("QMP input lacks member 'execute'");
    if (exec && oob) return std::string("QMP input must not contain both 'execute' and 'exec-oob'");
    return std::nullopt;
}

} // namespace

Json dispatch_request(std::span<const qapi::CommandEntry> commands, const Json& request,
                      const DispatchRules& rules, CommandContext& ctx) {
    if (!request.is_object()) return error_reply("GenericError", "QMP input must be a JSON object");
    const Json* id = request.contains("id") ? &request["id"] : nullptr;
    if (auto bad = check_request(request, rules.oob_enabled)) return error_reply("GenericError", *bad, id);

    bool oob = request.contains("exec-oob");
    const std::string& name = (oob ? request["exec-oob"] : request["execute"]).get_ref<const std::string&>();
    const qapi::CommandEntry* cmd = nullptr;
    for (const auto& c : commands)
        if (c.name == name) cmd = &c;

    // QEMU swaps command tables during negotiation: only qmp_capabilities exists then, and a
    // miss is reported as the negotiation error (monitor/qmp.c monitor_qmp_dispatch).
    if (!cmd || (rules.negotiating && name != "qmp_capabilities")) {
        if (rules.negotiating)
            return error_reply("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", id);
        return error_reply("CommandNotFound", fmt::format("The command {} has not been found", name), id);
    }
    if (oob && !cmd->allow_oob)
        return error_reply("GenericError", fmt::format("The command {} does not support OOB", name), id);
    if (rules.phase == DispatchPhase::Preconfig && !cmd->allow_preconfig)
        return error_reply("GenericError",
                           fmt::format("The command '{}' is permitted only after machine initialization has completed",
                                       name),
                           id);
    if (!rules.negotiating && name == "qmp_capabilities")
        return error_reply("CommandNotFound", "Capabilities negotiation is already complete, command ignored", id);

    static const Json kNoArguments = Json::object();
    const Json& args = request.contains("arguments") ? request["arguments"] : kNoArguments;
    Result<Json> result = cmd->call(ctx, args);
    if (!result) return error_reply(error_class_name(result.error().cls), result.error().msg, id);
    if (!cmd->success_response) return nullptr;
    Json reply = Json::object();
    reply["return"] = std::move(*result);
    if (id) reply["id"] = *id;
    return reply;
}

} // namespace nemu::monitor
