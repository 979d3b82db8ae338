// QMP handlers of the block layer (QEMU 7.2 qapi/block-core.json; blockdev.c, block/qapi.c).
// Errors are QEMU's texts, checked live against qemu-system-x86_64 -M none.
#include <cerrno>
#include <cstring>

#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "system/block_setup.h"
#include "system/vm.h"

namespace nemu::qapi {

// blockdev.c qmp_blockdev_add. The QAPI visitor has checked the members' types; the graph
// builder reads the same options as -blockdev's (the typed struct back to JSON).
Result<> qmp_blockdev_add(CommandContext& ctx, const BlockdevOptions& args) {
    TRY(ctx.vm().block_graph().add_blockdev(to_json(args)));
    return {};
}

// blockdev.c qmp_blockdev_del.
Result<> qmp_blockdev_del(CommandContext& ctx, const BlockdevDelArg& args) {
    return ctx.vm().block_graph().delete_blockdev(args.node_name);
}

// blockdev.c qmp_block_resize.
Result<> qmp_block_resize(CommandContext& ctx, const BlockResizeArg& args) {
    const auto& device = args.device;
    const auto& node_name = args.node_name;
    int64_t size = args.size;
    // QEMU 7.2 accepts both and looks the device up first (block.c bdrv_lookup_bs).
    auto node = TRY(ctx.vm().block_graph().lookup(device.value_or(""), node_name.value_or("")));
    if (size < 0) return fail("Parameter 'size' expects a >0 size");
    if (node->read_only()) return fail("Image is read-only");
    if (auto r = node->truncate(static_cast<uint64_t>(size)); !r) return make_error(std::move(r).error());
    return {};
}

} // namespace nemu::qapi

namespace nemu {

void emit_block_io_error(Vm& vm, const block::IoErrorReport& r) {
    using qapi::BlockErrorAction;
    BlockErrorAction a = r.action == block::ErrorAction::Stop     ? BlockErrorAction::Stop
                         : r.action == block::ErrorAction::Ignore ? BlockErrorAction::Ignore
                                                                  : BlockErrorAction::Report;
    // block-backend.c send_qmp_error_event: node-name whenever there is a root node,
    // "nospace" only when the backend keeps an io-status, reason strerror(errno).
    qapi::qapi_event_send_block_io_error(
        vm.events(), r.device, r.node_name.empty() ? std::nullopt : std::optional<std::string>(r.node_name),
        r.is_read ? qapi::IoOperationType::Read : qapi::IoOperationType::Write, a,
        r.iostatus_enabled ? std::optional<bool>(r.error == ENOSPC) : std::nullopt, std::strerror(r.error));
}

} // namespace nemu
