// QMP queries of the block layer and block_set_io_throttle (QEMU 7.2 qapi/block-core.json;
// block/qapi.c bdrv_block_device_info / bdrv_query_image_info / bdrv_query_bds_stats,
// blockdev.c qmp_block_set_io_throttle). Shapes compared live with qemu-system-x86_64 -M none
// in tests/qmp/test_block.py.
#include "block/block_filename.h"
#include "block/file_node.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/vm.h"

namespace nemu::qapi {

namespace {

using block::BlockNode;

// QEMU's bdrv_get_full_backing_filename: a relative name is relative to the overlay's
// directory (as the overlay was named, so a relative overlay gives a relative result).
std::string full_backing_name(const std::string& overlay, const std::string& backing) {
    if (backing.starts_with('/')) return backing;
    auto slash = overlay.rfind('/');
    return slash == std::string::npos ? backing : overlay.substr(0, slash + 1) + backing;
}

ImageInfo image_info(const BlockNode& node, bool with_backing) {
    block::NodeInfo ni = node.info();
    ImageInfo ii;
    ii.filename = block::node_filename(node);
    ii.format = std::string(node.driver());
    // QEMU reports dirty-flag whenever the driver answers bdrv_get_info; every nemu driver does.
    ii.dirty_flag = ni.dirty_flag;
    if (ni.actual_size >= 0) ii.actual_size = ni.actual_size;
    // bdrv_getlength counts whole 512-byte sectors: a file of 196616 bytes reports 197120.
    ii.virtual_size = static_cast<int64_t>((ni.virtual_size + 511) / 512 * 512);
    if (ni.cluster_size) ii.cluster_size = static_cast<int64_t>(ni.cluster_size);
    if (!ni.backing_filename.empty()) {
        ii.backing_filename = ni.backing_filename;
        ii.full_backing_filename = full_backing_name(ni.filename, ni.backing_filename);
        if (!ni.backing_format.empty()) ii.backing_filename_format = ni.backing_format;
    }
    if (with_backing && node.backing_child())
        ii.backing_image = std::make_shared<ImageInfo>(image_info(*node.backing_child(), true));
    if (ni.format_specific.is_object()) {
        ImageInfoSpecific spec;
        // A driver's member this schema does not declare drops the whole member rather than
        // sending something QEMU would not.
        if (from_json(ni.format_specific, spec, InPath::root())) ii.format_specific = std::move(spec);
    }
    return ii;
}

// The drive whose graph (root, file children, backing chain) holds node, or null.
const block::Drive* drive_of(block::BlockGraph& g, const BlockNode& node) {
    for (const block::Drive* d : g.drives()) {
        std::vector<const BlockNode*> todo{d->root.get()};
        while (!todo.empty()) {
            const BlockNode* n = todo.back();
            todo.pop_back();
            if (!n) continue;
            if (n == &node) return d;
            todo.push_back(n->file_child());
            todo.push_back(n->backing_child());
        }
    }
    return nullptr;
}

// bdrv_block_device_info. drive: the backend whose root this is (query-block), or null;
// graph_drive: the drive whose graph holds the node (-drive's cache= reaches every node).
BlockDeviceInfo device_info(const BlockNode& node, const block::Drive* drive, const block::Drive* graph_drive,
                            bool flat) {
    BlockDeviceInfo d;
    block::NodeInfo ni = node.info();
    d.file = block::node_filename(node);
    if (!node.node_name().empty()) d.node_name = node.node_name();
    d.ro = node.read_only();
    d.drv = std::string(node.driver());
    // bs->backing_file: the backing node's file name (opened from the header: the name
    // combined with the overlay's directory; given explicitly: that node's own name); none
    // without a backing child (backing=null).
    if (const BlockNode* b = node.backing_child()) d.backing_file = block::node_filename(*b);
    d.backing_file_depth = flat ? 0 : static_cast<int64_t>(block::BlockGraph::backing_depth(node));
    d.encrypted = false;
    d.detect_zeroes = BlockdevDetectZeroesOptions::Off;
    if (drive) {
        switch (drive->options.detect_zeroes) {
        case block::DetectZeroes::On: d.detect_zeroes = BlockdevDetectZeroesOptions::On; break;
        case block::DetectZeroes::Unmap: d.detect_zeroes = BlockdevDetectZeroesOptions::Unmap; break;
        default: break;
        }
        const block::ThrottleLimits& t = drive->throttle;
        auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
        d.bps = i(t.bps), d.bps_rd = i(t.bps_rd), d.bps_wr = i(t.bps_wr);
        d.iops = i(t.iops), d.iops_rd = i(t.iops_rd), d.iops_wr = i(t.iops_wr);
        if (t.enabled()) {
            // block/qapi.c: a burst limit and its length only when the burst is set.
            auto burst = [&](uint64_t max, uint64_t len, std::optional<int64_t>& m, std::optional<int64_t>& l) {
                if (max) m = i(max), l = i(len);
            };
            burst(t.bps_max, t.bps_max_length, d.bps_max, d.bps_max_length);
            burst(t.bps_rd_max, t.bps_rd_max_length, d.bps_rd_max, d.bps_rd_max_length);
            burst(t.bps_wr_max, t.bps_wr_max_length, d.bps_wr_max, d.bps_wr_max_length);
            burst(t.iops_max, t.iops_max_length, d.iops_max, d.iops_max_length);
            burst(t.iops_rd_max, t.iops_rd_max_length, d.iops_rd_max, d.iops_rd_max_length);
            burst(t.iops_wr_max, t.iops_wr_max_length, d.iops_wr_max, d.iops_wr_max_length);
            if (t.iops_size) d.iops_size = i(t.iops_size);
            d.group = t.group.empty() ? drive->name : t.group;
        }
    }
    d.image = image_info(node, !flat);
    // The cache mode is each node's own open flags: the drive's for its graph, a file node's
    // O_DIRECT otherwise; a node whose opener recorded its flags (-blockdev, a snapshot
    // overlay) reports those.
    d.cache.writeback = drive ? drive->options.write_cache : true;
    if (node.open_cache()) {
        d.cache.direct = node.open_cache()->direct;
        d.cache.no_flush = node.open_cache()->no_flush;
    } else if (graph_drive) {
        d.cache.direct = graph_drive->cache.direct;
        d.cache.no_flush = graph_drive->cache.no_flush;
    } else if (auto* f = dynamic_cast<const block::FileNode*>(&node)) {
        d.cache.direct = f->direct();
    }
    d.write_threshold = 0;
    return d;
}

BlockDeviceStats zero_stats() {
    BlockDeviceStats s;
    s.timed_stats = {};
    return s;
}

BlockDeviceStats backend_stats(const block::BlockBackend& b) {
    block::BlockStats st = b.stats();
    BlockDeviceStats s = zero_stats();
    auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
    s.rd_bytes = i(st.rd_bytes), s.wr_bytes = i(st.wr_bytes), s.unmap_bytes = i(st.unmap_bytes);
    s.rd_operations = i(st.rd_operations), s.wr_operations = i(st.wr_operations);
    s.flush_operations = i(st.flush_operations), s.unmap_operations = i(st.unmap_operations);
    s.rd_total_time_ns = i(st.rd_total_time_ns), s.wr_total_time_ns = i(st.wr_total_time_ns);
    s.flush_total_time_ns = i(st.flush_total_time_ns), s.unmap_total_time_ns = i(st.unmap_total_time_ns);
    s.wr_highest_offset = st.wr_highest_offset;
    s.rd_merged = i(st.rd_merged), s.wr_merged = i(st.wr_merged), s.unmap_merged = i(st.unmap_merged);
    if (st.idle_time_ns) s.idle_time_ns = *st.idle_time_ns;
    s.failed_rd_operations = i(st.failed_rd_operations), s.failed_wr_operations = i(st.failed_wr_operations);
    s.failed_flush_operations = i(st.failed_flush_operations);
    s.failed_unmap_operations = i(st.failed_unmap_operations);
    s.invalid_rd_operations = i(st.invalid_rd_operations), s.invalid_wr_operations = i(st.invalid_wr_operations);
    s.invalid_flush_operations = i(st.invalid_flush_operations);
    s.invalid_unmap_operations = i(st.invalid_unmap_operations);
    // -drive's stats-account-invalid/-failed default to on (blockdev.c).
    s.account_invalid = true;
    s.account_failed = true;
    return s;
}

// bdrv_query_bds_stats: node-level counters (nemu counts at the backend only, so a node's
// own numbers are zero), the primary (file) child as parent, the backing chain at blk level.
BlockStats node_stats(const BlockNode& node, bool blk_level) {
    BlockStats s;
    if (!node.node_name().empty()) s.node_name = node.node_name();
    s.stats = zero_stats();
    if (node.driver() == "file" || node.driver() == "host_device") {
        // FIXME(#6): the file node keeps no discard counters yet; QEMU's are zero until a
        // discard reaches the host too.
        BlockStatsSpecific spec;
        spec.driver = node.driver() == "file" ? BlockdevDriver::File : BlockdevDriver::Host_device;
        BlockStatsSpecificFile f{};
        if (spec.driver == BlockdevDriver::File) spec.file = f;
        else spec.host_device = f;
        s.driver_specific = std::move(spec);
    }
    if (node.file_child()) s.parent = std::make_shared<BlockStats>(node_stats(*node.file_child(), blk_level));
    if (blk_level && node.backing_child())
        s.backing = std::make_shared<BlockStats>(node_stats(*node.backing_child(), blk_level));
    return s;
}

} // namespace

// qmp_query_block: every named backend (QEMU lists only backends, not -blockdev nodes).
Result<std::vector<BlockInfo>> qmp_query_block(CommandContext& ctx) {
    std::vector<BlockInfo> out;
    for (block::Drive* d : ctx.vm().block_graph().drives()) {
        BlockInfo b;
        b.device = d->name;
        if (!d->qdev.empty()) b.qdev = d->qdev;
        // "unknown": QEMU 7.2 no longer knows a drive's type (BlockInfo.type is deprecated text).
        b.type = "unknown";
        // An if=none drive is removable and unlocked until a device says otherwise.
        b.removable = true;
        b.locked = false;
        if (d->root) b.inserted = device_info(*d->root, d, d, false);
        // Only a device that keeps an io-status (virtio-blk) under a policy that can stop
        // shows one (QEMU blk_iostatus_is_enabled).
        if (d->backend && d->backend->iostatus_enabled())
            b.io_status = TRY(parse_BlockDeviceIoStatus(block::io_status_name(d->backend->iostatus())));
        out.push_back(std::move(b));
    }
    return out;
}

// bdrv_named_nodes_list: every node with a name (auto "#block" names included), newest first.
Result<std::vector<BlockDeviceInfo>> qmp_query_named_block_nodes(CommandContext& ctx,
                                                                 const QueryNamedBlockNodesArg& args) {
    std::vector<BlockDeviceInfo> out;
    bool flat = args.flat.value_or(false);
    block::BlockGraph& g = ctx.vm().block_graph();
    for (const auto& n : g.nodes()) out.push_back(device_info(*n, nullptr, drive_of(g, *n), flat));
    return out;
}

Result<std::vector<BlockStats>> qmp_query_blockstats(CommandContext& ctx, const QueryBlockstatsArg& args) {
    std::vector<BlockStats> out;
    block::BlockGraph& g = ctx.vm().block_graph();
    if (args.query_nodes.value_or(false)) {
        // bdrv_next_node walks the nodes oldest first (the reverse of query-named-block-nodes).
        auto nodes = g.nodes();
        for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) out.push_back(node_stats(**it, false));
        return out;
    }
    for (block::Drive* d : g.drives()) {
        BlockStats s;
        if (d->root) s = node_stats(*d->root, true);
        else s.stats = zero_stats();
        s.device = d->name;
        if (!d->qdev.empty()) s.qdev = d->qdev;
        if (d->backend) s.stats = backend_stats(*d->backend);
        out.push_back(std::move(s));
    }
    return out;
}

// blockdev.c qmp_block_set_io_throttle.
Result<> qmp_block_set_io_throttle(CommandContext& ctx, const BlockIOThrottle& a) {
    if (a.device.has_value() == a.id.has_value()) return fail("Need exactly one of 'device' and 'id'");
    block::Drive* drive = nullptr;
    for (block::Drive* d : ctx.vm().block_graph().drives())
        if (a.device ? d->name == *a.device : (!d->qdev.empty() && d->qdev == *a.id)) drive = d;
    if (!drive) return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", a.device ? *a.device : *a.id);
    if (!drive->root) return fail("Device '{}' has no medium inserted", a.device ? *a.device : *a.id);
    block::ThrottleLimits t;
    // Negative values wrap to huge ones, which validate_throttle refuses with QEMU's range text.
    auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    t.bps = u(a.bps), t.bps_rd = u(a.bps_rd), t.bps_wr = u(a.bps_wr);
    t.iops = u(a.iops), t.iops_rd = u(a.iops_rd), t.iops_wr = u(a.iops_wr);
    t.bps_max = u(a.bps_max.value_or(0)), t.bps_rd_max = u(a.bps_rd_max.value_or(0));
    t.bps_wr_max = u(a.bps_wr_max.value_or(0)), t.iops_max = u(a.iops_max.value_or(0));
    t.iops_rd_max = u(a.iops_rd_max.value_or(0)), t.iops_wr_max = u(a.iops_wr_max.value_or(0));
    t.bps_max_length = u(a.bps_max_length.value_or(1)), t.bps_rd_max_length = u(a.bps_rd_max_length.value_or(1));
    t.bps_wr_max_length = u(a.bps_wr_max_length.value_or(1));
    t.iops_max_length = u(a.iops_max_length.value_or(1));
    t.iops_rd_max_length = u(a.iops_rd_max_length.value_or(1));
    t.iops_wr_max_length = u(a.iops_wr_max_length.value_or(1));
    t.iops_size = u(a.iops_size.value_or(0));
    TRY(block::validate_throttle(t));
    // QEMU names the throttle group after the device (or id) when none is given.
    if (t.enabled()) t.group = a.group.value_or(a.device ? *a.device : *a.id);
    if (drive->backend) TRY(drive->backend->set_throttle(t));
    drive->throttle = t;
    return {};
}

} // namespace nemu::qapi
