// QMP handlers for chardevs, I/O threads, command-line introspection and migration state
// (QEMU qapi/char.json, qapi/misc.json, qapi/migration.json).

#include "chardev/chardev.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/iothread.h"
#include "system/vm.h"

namespace nemu::qapi {

Result<std::vector<ChardevInfo>> qmp_query_chardev(CommandContext& ctx) {
    std::vector<ChardevInfo> out;
    for (const auto& [id, obj] : ctx.vm().chardevs().children()) {
        auto* chr = static_cast<const chardev::Chardev*>(obj.get());
        out.push_back(ChardevInfo{id, chr->filename(), chr->frontend_open()});
    }
    return out;
}

Result<std::vector<ChardevBackendInfo>> qmp_query_chardev_backends(CommandContext& ctx) {
    std::vector<ChardevBackendInfo> out;
    constexpr std::string_view kPrefix = "chardev-";
    for (const qom::TypeInfo* t : ctx.vm().types().list("chardev"))
        if (t->name.starts_with(kPrefix)) out.push_back(ChardevBackendInfo{t->name.substr(kPrefix.size())});
    return out;
}

Result<std::vector<IOThreadInfo>> qmp_query_iothreads(CommandContext& ctx) {
    std::vector<IOThreadInfo> out;
    for (const auto& [id, obj] : ctx.vm().objects().children()) {
        auto* io = dynamic_cast<const IoThread*>(obj.get());
        if (!io) continue;
        out.push_back(IOThreadInfo{id, io->thread_id(), io->m_poll_max_ns, io->m_poll_grow, io->m_poll_shrink,
                                   io->m_aio_max_batch});
    }
    return out;
}

namespace {

using P = CommandLineParameterType;
struct OptionParams {
    std::string_view option;
    std::vector<std::pair<std::string_view, P>> params;
};

// The QemuOpts-style options nemu parses and their parameters, as query-command-line-options
// reports them (QEMU lists its QemuOptsLists; libvirt looks for options and parameters here).
const std::vector<OptionParams>& option_table() {
    static const std::vector<OptionParams> kTable = {
        {"machine", {{"type", P::String}, {"accel", P::String}, {"kernel", P::String}, {"initrd", P::String},
                     {"append", P::String}, {"dump-guest-core", P::Boolean}, {"mem-merge", P::Boolean},
                     {"firmware", P::String}, {"suppress-vmdesc", P::Boolean}, {"memory-backend", P::String}}},
        {"sandbox", {{"enable", P::Boolean}, {"obsolete", P::String}, {"elevateprivileges", P::String},
                     {"spawn", P::String}, {"resourcecontrol", P::String}}},
        {"action", {{"shutdown", P::String}, {"reboot", P::String}, {"panic", P::String}, {"watchdog", P::String}}},
        {"numa", {}},
        {"name", {{"guest", P::String}, {"process", P::String}, {"debug-threads", P::Boolean}}},
        {"msg", {{"timestamp", P::Boolean}, {"guest-name", P::Boolean}}},
        {"overcommit", {{"mem-lock", P::Boolean}, {"cpu-pm", P::Boolean}}},
        {"object", {}},
        {"boot-opts", {{"order", P::String}, {"once", P::String}, {"menu", P::Boolean}, {"splash", P::String},
                       {"splash-time", P::Number}, {"reboot-timeout", P::Number}, {"strict", P::Boolean}}},
        {"smp-opts", {{"cpus", P::Number}, {"sockets", P::Number}, {"dies", P::Number}, {"clusters", P::Number},
                      {"cores", P::Number}, {"threads", P::Number}, {"maxcpus", P::Number}}},
        {"memory", {{"size", P::Size}, {"slots", P::Number}, {"maxmem", P::Size}}},
        {"accel", {}},
        {"trace", {{"enable", P::String}, {"events", P::String}, {"file", P::String}}},
        {"mon", {{"mode", P::String}, {"chardev", P::String}, {"pretty", P::Boolean}}},
        {"global", {{"driver", P::String}, {"property", P::String}, {"value", P::String}}},
        {"rtc", {{"base", P::String}, {"clock", P::String}, {"driftfix", P::String}}},
        {"netdev", {}},
        {"device", {}},
        {"chardev", {{"backend", P::String}, {"path", P::String}, {"host", P::String}, {"port", P::String},
                     {"fd", P::String}, {"wait", P::Boolean}, {"server", P::Boolean}, {"nodelay", P::Boolean},
                     {"reconnect", P::Number}, {"telnet", P::Boolean}, {"tls-creds", P::String},
                     {"signal", P::Boolean}, {"size", P::Size}, {"append", P::Boolean}, {"mux", P::Boolean},
                     {"logfile", P::String}, {"logappend", P::Boolean}}},
    };
    return kTable;
}

} // namespace

Result<std::vector<CommandLineOptionInfo>> qmp_query_command_line_options(CommandContext&,
                                                                          const QueryCommandLineOptionsArg& args) {
    std::vector<CommandLineOptionInfo> out;
    for (const auto& o : option_table()) {
        if (args.option && *args.option != o.option) continue;
        CommandLineOptionInfo info;
        info.option = std::string(o.option);
        for (const auto& [name, type] : o.params) info.parameters.push_back(CommandLineParameterInfo{std::string(name), type, {}, {}});
        out.push_back(std::move(info));
    }
    if (args.option && out.empty()) return fail("invalid option name: {}", *args.option);
    return out;
}

// Migration lands with its own issue. Until then the state queries answer as QEMU does before
// any migration (every capability off, no status), and setting anything is refused.
Result<std::vector<MigrationCapabilityStatus>> qmp_query_migrate_capabilities(CommandContext&) {
    std::vector<MigrationCapabilityStatus> out;
    for (size_t i = 0; i < kMigrationCapabilityCount; i++)
        out.push_back(MigrationCapabilityStatus{static_cast<MigrationCapability>(i), false});
    return out;
}

Result<> qmp_migrate_set_capabilities(CommandContext&, const MigrateSetCapabilitiesArg&) {
    return fail("migrate-set-capabilities: live migration is not supported yet");
}

Result<MigrationInfo> qmp_query_migrate(CommandContext&) { return MigrationInfo{}; }

Result<MigrationParameters> qmp_query_migrate_parameters(CommandContext&) {
    // QEMU 7.2's defaults (migration/migration.c DEFAULT_MIGRATE_*).
    MigrationParameters p;
    p.announce_initial = 50;
    p.announce_max = 550;
    p.announce_rounds = 5;
    p.announce_step = 100;
    p.compress_level = 1;
    p.compress_threads = 8;
    p.compress_wait_thread = true;
    p.decompress_threads = 2;
    p.throttle_trigger_threshold = 50;
    p.cpu_throttle_initial = 20;
    p.cpu_throttle_increment = 10;
    p.cpu_throttle_tailslow = false;
    p.tls_creds = "";
    p.tls_hostname = "";
    p.tls_authz = "";
    p.max_bandwidth = 134217728;
    p.downtime_limit = 300;
    p.x_checkpoint_delay = 20000;
    p.block_incremental = false;
    p.multifd_channels = 2;
    p.xbzrle_cache_size = 67108864;
    p.max_postcopy_bandwidth = 0;
    p.max_cpu_throttle = 99;
    p.multifd_compression = MultiFDCompression::None;
    p.multifd_zlib_level = 1;
    p.multifd_zstd_level = 1;
    return p;
}

Result<> qmp_migrate_set_parameters(CommandContext&, const MigrateSetParameters&) {
    return fail("migrate-set-parameters: live migration is not supported yet");
}

} // namespace nemu::qapi
