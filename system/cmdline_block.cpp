// -drive and -blockdev parsing (QEMU 7.2 blockdev.c, util/keyval.c + the QAPI keyval input
// visitor). Every error text was checked live with qemu-system-x86_64 7.2.
#include "system/cmdline_block.h"

#include "system/keyval.h"
#include "util/size_parse.h"

namespace nemu::cmdline {

namespace {

// Keys -drive itself interprets (blockdev.c qemu_common_drive_opts + qemu_legacy_drive_opts).
constexpr std::string_view kDriveKeys[] = {
    "if", "file", "format", "id", "cache", "aio", "readonly", "read-only", "discard", "detect-zeroes",
    "werror", "rerror", "snapshot", "node-name", "media", "index", "bus", "unit", "copy-on-read",
    "auto-read-only", "force-share", "cache.direct", "cache.no-flush", "cache.writeback"};

// blockdev.c throttle options (THROTTLE_OPTS, QEMU_OPT_NUMBER but group) with drive_new's
// legacy aliases; the *-max-length ones have none.
struct ThrottleKey {
    std::string_view key, alias;
    uint64_t block::ThrottleLimits::*member;
};
constexpr ThrottleKey kThrottleKeys[] = {
    {"throttling.iops-total", "iops", &block::ThrottleLimits::iops},
    {"throttling.iops-read", "iops_rd", &block::ThrottleLimits::iops_rd},
    {"throttling.iops-write", "iops_wr", &block::ThrottleLimits::iops_wr},
    {"throttling.bps-total", "bps", &block::ThrottleLimits::bps},
    {"throttling.bps-read", "bps_rd", &block::ThrottleLimits::bps_rd},
    {"throttling.bps-write", "bps_wr", &block::ThrottleLimits::bps_wr},
    {"throttling.iops-total-max", "iops_max", &block::ThrottleLimits::iops_max},
    {"throttling.iops-read-max", "iops_rd_max", &block::ThrottleLimits::iops_rd_max},
    {"throttling.iops-write-max", "iops_wr_max", &block::ThrottleLimits::iops_wr_max},
    {"throttling.bps-total-max", "bps_max", &block::ThrottleLimits::bps_max},
    {"throttling.bps-read-max", "bps_rd_max", &block::ThrottleLimits::bps_rd_max},
    {"throttling.bps-write-max", "bps_wr_max", &block::ThrottleLimits::bps_wr_max},
    {"throttling.iops-total-max-length", "", &block::ThrottleLimits::iops_max_length},
    {"throttling.iops-read-max-length", "", &block::ThrottleLimits::iops_rd_max_length},
    {"throttling.iops-write-max-length", "", &block::ThrottleLimits::iops_wr_max_length},
    {"throttling.bps-total-max-length", "", &block::ThrottleLimits::bps_max_length},
    {"throttling.bps-read-max-length", "", &block::ThrottleLimits::bps_rd_max_length},
    {"throttling.bps-write-max-length", "", &block::ThrottleLimits::bps_wr_max_length},
    {"throttling.iops-size", "iops_size", &block::ThrottleLimits::iops_size},
};

bool is_drive_key(std::string_view k) {
    for (auto d : kDriveKeys)
        if (d == k) return true;
    for (const auto& t : kThrottleKeys)
        if (t.key == k || (!t.alias.empty() && t.alias == k)) return true;
    return k == "throttling.group" || k == "group";
}

// The option under its name or its legacy alias (QEMU's qemu_opt_rename refuses both).
Result<std::optional<std::string>> aliased(const KeyValList& kv, std::string_view key, std::string_view alias) {
    auto v = kv.get(key);
    if (alias.empty()) return v;
    auto a = kv.get(alias);
    if (v && a) return fail("'{}' and its alias '{}' can't be used at the same time", key, alias);
    return v ? v : a;
}

// blockdev.c extract_common_blockdev_options: the limits, then throttle_is_valid.
Result<block::ThrottleLimits> parse_throttling(const KeyValList& kv) {
    block::ThrottleLimits t;
    for (const auto& k : kThrottleKeys)
        if (auto v = TRY(aliased(kv, k.key, k.alias))) t.*k.member = TRY(parse_uint(*v, k.key));
    if (auto g = TRY(aliased(kv, "throttling.group", "group"))) t.group = *g;
    TRY(block::validate_throttle(t));
    return t;
}

} // namespace

Result<DriveSpec> parse_drive(std::string_view text) {
    KeyValList kv = TRY(parse_opts(text, "file"));
    DriveSpec d;
    std::string iface = kv.get("if").value_or("");
    if (iface != "none") {
        // nemu has no IDE/SCSI/floppy; virtio drives come with virtio-blk (issue #5).
        constexpr std::string_view kKnown[] = {"ide", "scsi", "floppy", "pflash", "mtd", "sd", "virtio", "xen"};
        bool known = iface.empty();
        for (auto k : kKnown) known = known || k == iface;
        if (!known) return fail("unsupported bus type '{}'", iface);
        if (iface.empty() || iface == "virtio")
            return fail("-drive if={} is not supported yet: use if=none with -device (virtio-blk, issue #5)",
                        iface.empty() ? "(default)" : iface);
        return fail("-drive if={} is not supported by nemu (no {} controller): use if=none", iface, iface);
    }
    if (auto id = kv.get("id")) {
        if (!id_wellformed(*id))
            return fail("Parameter 'id' expects an identifier\n"
                        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
        d.id = *id;
    }
    d.file = kv.get("file").value_or("");
    d.format = kv.get("format").value_or("");
    d.node_name = kv.get("node-name").value_or("");
    if (auto c = kv.get("cache")) {
        auto mode = block::parse_cache_mode(*c);
        if (!mode) return fail("invalid cache option");
        d.cache = *mode;
    }
    d.flags.cache = d.cache.cache;
    d.backend.write_cache = d.cache.write_cache;
    if (auto v = kv.get("cache.direct")) d.flags.cache.direct = TRY(parse_bool(*v, "cache.direct"));
    if (auto v = kv.get("cache.no-flush")) d.flags.cache.no_flush = TRY(parse_bool(*v, "cache.no-flush"));
    if (auto v = kv.get("cache.writeback")) d.backend.write_cache = TRY(parse_bool(*v, "cache.writeback"));
    if (auto a = kv.get("aio")) {
        auto m = block::parse_aio_mode(*a);
        if (!m) return fail("invalid aio option");
        d.flags.aio = *m;
        // blockdev.c: Linux AIO needs O_DIRECT.
        if (*m == block::AioMode::Native && !d.flags.cache.direct)
            return fail("aio=native was specified, but it requires cache.direct=on, which was not specified.");
    }
    d.backend.aio = d.flags.aio;
    d.backend.aio_explicit = kv.has("aio");
    // -drive readonly= is QemuOpts' alias of read-only (the message names read-only).
    if (auto v = kv.get("readonly")) d.flags.read_only = TRY(parse_bool(*v, "read-only"));
    if (auto v = kv.get("read-only")) d.flags.read_only = TRY(parse_bool(*v, "read-only"));
    if (auto v = kv.get("auto-read-only")) d.flags.auto_read_only = TRY(parse_bool(*v, "auto-read-only"));
    if (auto v = kv.get("discard")) {
        // bdrv_parse_discard_flags: "off"/"ignore" and "on"/"unmap".
        if (*v == "off" || *v == "ignore") d.flags.discard = block::DiscardMode::Ignore;
        else if (*v == "on" || *v == "unmap") d.flags.discard = block::DiscardMode::Unmap;
        else return fail("Invalid discard option");
    }
    if (auto v = kv.get("detect-zeroes")) {
        auto m = block::parse_detect_zeroes(*v);
        if (!m) return fail("invalid parameter value: {}", *v);
        if (*m == block::DetectZeroes::Unmap && d.flags.discard != block::DiscardMode::Unmap)
            return fail("setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
        d.flags.detect_zeroes = *m;
    }
    d.backend.detect_zeroes = d.flags.detect_zeroes;
    if (auto v = kv.get("werror")) {
        auto m = block::parse_on_error(*v);
        if (!m || *m == block::OnError::Auto) return fail("'{}' invalid write error action", *v);
        d.backend.on_write_error = *m;
    }
    if (auto v = kv.get("rerror")) {
        // blockdev.c parse_block_error_action: enospc is a write-only policy.
        auto m = block::parse_on_error(*v);
        if (!m || *m == block::OnError::Auto || *m == block::OnError::Enospc)
            return fail("'{}' invalid read error action", *v);
        d.backend.on_read_error = *m;
    }
    d.throttle = TRY(parse_throttling(kv));
    if (auto v = kv.get("snapshot")) {
        d.snapshot = TRY(parse_bool(*v, "snapshot"));
        d.snapshot_given = true;
    }
    for (const auto& item : kv.items)
        if (!is_drive_key(item.key)) d.format_options.emplace_back(item.key, item.value);
    return d;
}

namespace {

// BlockdevOptions scalars that are not strings (qapi/block-core.json 7.2), by member name.
constexpr std::string_view kBoolMembers[] = {
    "read-only", "auto-read-only", "force-share", "direct", "no-flush", "drop-cache", "x-check-cache-dropped",
    "lazy-refcounts", "pass-discard-request", "pass-discard-snapshot", "pass-discard-other"};
constexpr std::string_view kIntMembers[] = {"aio-max-batch", "cache-size", "l2-cache-size", "l2-cache-entry-size",
                                            "refcount-cache-size", "cache-clean-interval"};
// 'size'-typed in QEMU's raw options: suffixes allowed, with QEMU's hint on error.
constexpr std::string_view kSizeMembers[] = {"offset", "size"};

template <size_t N> bool in(const std::string_view (&set)[N], std::string_view s) {
    for (auto m : set)
        if (m == s) return true;
    return false;
}

Result<> type_keyval(Json& obj, const std::string& path) {
    for (auto& [key, value] : obj.items()) {
        std::string full = path + key;
        if (value.is_object()) {
            TRY(type_keyval(value, full + "."));
            continue;
        }
        if (!value.is_string()) continue;
        std::string s = value.get<std::string>();
        if (in(kBoolMembers, key)) {
            value = TRY(parse_bool(s, full));
        } else if (in(kIntMembers, key)) {
            value = TRY(parse_int(s, full));
        } else if (in(kSizeMembers, key)) {
            uint64_t v = 0;
            if (s.starts_with('-') || !parse_size(s))
                return fail("Parameter '{}' expects a non-negative number below 2^64\n"
                            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                            "and exabytes, respectively.", full);
            v = *parse_size(s);
            value = v;
        } else if (key == "backing" && s.empty()) {
            value = nullptr; // the keyval visitor reads an empty string as JSON null for an alternate with null
        }
    }
    return {};
}

} // namespace

Result<Json> parse_blockdev(std::string_view text) {
    if (text.starts_with('{')) return parse_json_option(text);
    Json j = TRY(parse_keyval(text, "driver"));
    TRY(type_keyval(j, ""));
    return j;
}

} // namespace nemu::cmdline
