// Building node graphs from BlockdevOptions (QEMU 7.2 qapi/block-core.json) and from image
// names (block.c bdrv_open_inherit / bdrv_open_backing_file). Errors are QEMU's texts,
// checked against qemu-system-x86_64 7.2 with -blockdev and blockdev-add.
#include "block/block_open.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "nemu-config.h"

#include "block/block_format.h"
#include "block/file_node.h"
#include "block/qcow2/qcow2_format.h"
#ifdef CONFIG_RBD
#include "block/rbd/rbd_node.h"
#endif

namespace nemu::block {

namespace {

// QEMU's node names: id_wellformed() (a letter, then letters, digits, '-', '.', '_') and
// shorter than sizeof(BlockDriverState.node_name) = 32 (block.c bdrv_assign_node_name).
constexpr size_t kMaxNodeName = 31;

bool node_name_wellformed(std::string_view s) {
    if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
    return true;
}

// BlockdevOptions base members (every driver).
constexpr std::string_view kCommonMembers[] = {"driver", "node-name", "discard", "cache", "read-only",
                                               "auto-read-only", "force-share", "detect-zeroes"};
// The driver-specific members of QEMU 7.2's BlockdevOptionsFile, BlockdevOptionsRaw,
// BlockdevOptionsQcow2 and BlockdevOptionsGenericFormat (vpc).
constexpr std::string_view kFileMembers[] = {"filename", "pr-manager", "locking", "aio", "aio-max-batch",
                                             "drop-cache", "x-check-cache-dropped"};
constexpr std::string_view kRawMembers[] = {"file", "offset", "size"};
constexpr std::string_view kQcow2Members[] = {
    "file", "backing", "lazy-refcounts", "pass-discard-request", "pass-discard-snapshot",
    "pass-discard-other", "overlap-check", "cache-size", "l2-cache-size", "l2-cache-entry-size",
    "refcount-cache-size", "cache-clean-interval", "encrypt", "data-file"};
constexpr std::string_view kVpcMembers[] = {"file"};
// BlockdevOptionsRbd (block/rbd/rbd_options.h reads them).
constexpr std::string_view kRbdMembers[] = {"pool", "namespace", "image", "conf", "snapshot",
                                            "encrypt", "user", "auth-client-required", "key-secret", "server"};

#ifdef CONFIG_RBD
constexpr bool kHaveRbd = true;
#else
constexpr bool kHaveRbd = false;
#endif

std::span<const std::string_view> driver_members(std::string_view driver) {
    if (driver == "file" || driver == "host_device") return kFileMembers;
    if (driver == "raw") return kRawMembers;
    if (driver == "qcow2") return kQcow2Members;
    if (driver == "vpc") return kVpcMembers;
    if (driver == "rbd") return kRbdMembers;
    return {};
}

bool is_driver(std::string_view d) {
    if (d == "file" || d == "host_device") return true;
    if (d == "rbd") return kHaveRbd;
    return find_block_format(d) != nullptr;
}

template <size_t N> bool contains(const std::string_view (&set)[N], std::string_view s) {
    for (auto m : set)
        if (m == s) return true;
    return false;
}
bool contains(std::span<const std::string_view> set, std::string_view s) {
    for (auto m : set)
        if (m == s) return true;
    return false;
}

// QAPI's input visitor messages (qapi/qobject-input-visitor.c).
Result<std::optional<bool>> opt_bool(const Json& o, const std::string& key, const std::string& path) {
    auto it = o.find(key);
    if (it == o.end()) return std::optional<bool>{};
    if (!it->is_boolean()) return fail("Invalid parameter type for '{}', expected: boolean", path + key);
    return std::optional<bool>{it->get<bool>()};
}

Result<std::optional<std::string>> opt_string(const Json& o, const std::string& key, const std::string& path) {
    auto it = o.find(key);
    if (it == o.end()) return std::optional<std::string>{};
    if (!it->is_string()) return fail("Invalid parameter type for '{}', expected: string", path + key);
    return std::optional<std::string>{it->get<std::string>()};
}

Result<std::optional<uint64_t>> opt_uint(const Json& o, const std::string& key, const std::string& path) {
    auto it = o.find(key);
    if (it == o.end()) return std::optional<uint64_t>{};
    if (it->is_number_unsigned()) return std::optional<uint64_t>{it->get<uint64_t>()};
    // QMP's typed arguments come back as signed JSON integers (qmp_blockdev_add's to_json).
    if (it->is_number_integer() && it->get<int64_t>() >= 0)
        return std::optional<uint64_t>{static_cast<uint64_t>(it->get<int64_t>())};
    if (it->is_number_integer())
        return fail("Parameter '{}' expects a non-negative number below 2^64", path + key);
    return fail("Invalid parameter type for '{}', expected: integer", path + key);
}

template <class T, class P>
Result<std::optional<T>> opt_enum(const Json& o, const std::string& key, const std::string& path, P parse) {
    auto s = TRY(opt_string(o, key, path));
    if (!s) return std::optional<T>{};
    auto v = parse(*s);
    if (!v) return fail("Parameter '{}' does not accept value '{}'", path + key, *s);
    return std::optional<T>{*v};
}

std::optional<Locking> parse_locking(std::string_view s) {
    if (s == "auto") return Locking::Auto;
    if (s == "on") return Locking::On;
    if (s == "off") return Locking::Off;
    return std::nullopt;
}

// Names already taken in this open_blockdev() call (nested objects may name nodes too).
struct OpenState {
    const NodeResolver& resolve;
    const UringProbe& probe;
    std::set<std::string> names;
};

// The file name of the bottom protocol node under `node` (for resolving relative backing names).
std::string protocol_filename(const BlockNode& node) {
    const BlockNode* n = &node;
    while (n->file_child()) n = n->file_child();
    return n->info().filename;
}

// A protocol prefix in an image name (block.c bdrv_find_protocol): "rbd:" is the only one nemu
// knows; every other name is a file (nemu has no other protocol that takes names).
bool has_rbd_prefix(std::string_view filename) { return filename.starts_with("rbd:"); }

Result<std::shared_ptr<BlockNode>> open_protocol(const std::string& filename, const OpenFlags& flags,
                                                 bool host_device) {
    if (!host_device && has_rbd_prefix(filename)) {
#ifdef CONFIG_RBD
        return open_rbd(TRY(parse_rbd_filename(filename)), flags);
#else
        return fail("Unknown protocol 'rbd'");
#endif
    }
    FileOptions fo;
    fo.filename = filename;
    fo.flags = flags;
    fo.host_device = host_device;
    return open_file(fo);
}

// QEMU's backing file name rules (block.c bdrv_get_full_backing_filename / path_combine): an
// absolute name is used as is, a relative one is relative to the overlay's directory.
std::string combine_backing_path(const std::string& overlay, const std::string& backing) {
    if (backing.starts_with('/') || has_rbd_prefix(backing)) return backing;
    auto slash = overlay.rfind('/');
    if (slash == std::string::npos) return backing;
    return overlay.substr(0, slash + 1) + backing;
}

// A chain opened from image headers: loop detection by (st_dev, st_ino) and a depth bound.
struct ChainState {
    std::set<std::pair<dev_t, ino_t>> seen;
    unsigned depth = 0;
};

Result<std::shared_ptr<BlockNode>> open_format_over(std::shared_ptr<BlockNode> file, const std::string& filename,
                                                    std::string format, const OpenFlags& flags, ChainState& chain);

// Backing files are opened read-only (block.c bdrv_backing_options: read-only=on,
// auto-read-only=off), keeping the overlay's cache mode.
OpenFlags backing_flags(const OpenFlags& overlay) {
    OpenFlags f = overlay;
    f.read_only = true;
    f.auto_read_only = false;
    f.detect_zeroes = DetectZeroes::Off;
    return f;
}

BackingOpener make_backing_opener(const std::string& overlay_name, const OpenFlags& overlay_flags,
                                  std::shared_ptr<ChainState> chain) {
    return [overlay_name, flags = backing_flags(overlay_flags), chain](const std::string& name,
                                                                       const std::string& format)
               -> Result<std::shared_ptr<BlockNode>> {
        if (name.starts_with("json:")) return fail("Backing file name '{}' is not supported by nemu", name);
        std::string path = combine_backing_path(overlay_name, name);
        if (chain->depth + 1 >= kMaxBackingChain)
            return fail("Backing chain of '{}' is deeper than {} images", overlay_name, kMaxBackingChain);
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && !chain->seen.insert({st.st_dev, st.st_ino}).second)
            return fail("Backing file '{}' forms a loop in the chain of '{}'", path, overlay_name);
        auto file = TRY(open_protocol(path, flags, false));
        chain->depth++;
        auto r = open_format_over(std::move(file), path, format, flags, *chain);
        chain->depth--;
        if (!r) return fail("Could not open backing file: {}", r.error().msg);
        return r;
    };
}

const BlockFormat& probe_node(BlockNode& file, const std::string& filename) {
    std::array<uint8_t, 512> head{};
    size_t n = static_cast<size_t>(std::min<uint64_t>(file.length(), head.size()));
    iovec iov{head.data(), n};
    if (n == 0 || !file.read(0, std::span<const iovec>(&iov, 1))) n = 0;
    return probe_block_format(std::span<const uint8_t>(head.data(), n), filename);
}

Result<std::shared_ptr<BlockNode>> open_format_over(std::shared_ptr<BlockNode> file, const std::string& filename,
                                                    std::string format, const OpenFlags& flags, ChainState& chain) {
    const BlockFormat* fmt = nullptr;
    if (format.empty()) fmt = &probe_node(*file, filename);
    else if (!(fmt = find_block_format(format))) return fail("Unknown driver '{}'", format);
    FormatOpenContext ctx;
    ctx.flags = flags;
    auto shared_chain = std::make_shared<ChainState>(chain);
    ctx.open_backing = make_backing_opener(filename, flags, shared_chain);
    return fmt->open(std::move(file), ctx);
}

Result<OpenFlags> parse_common(const Json& o, const std::string& path, OpenFlags flags) {
    if (auto v = TRY(opt_bool(o, "read-only", path))) flags.read_only = *v;
    if (auto v = TRY(opt_bool(o, "auto-read-only", path))) flags.auto_read_only = *v;
    if (auto v = TRY(opt_enum<DiscardMode>(o, "discard", path, parse_discard_mode))) flags.discard = *v;
    if (auto v = TRY(opt_enum<DetectZeroes>(o, "detect-zeroes", path, parse_detect_zeroes))) flags.detect_zeroes = *v;
    // force-share=on lets nemu open an image another process holds for writing; QEMU
    // requires read-only for it (block.c bdrv_open_inherit).
    if (auto v = TRY(opt_bool(o, "force-share", path)); v && *v) {
        if (!flags.read_only) return fail("force-share=on can only be used with read-only images");
        flags.locking = Locking::Off;
    }
    if (auto it = o.find("cache"); it != o.end()) {
        if (!it->is_object()) return fail("Invalid parameter type for '{}cache', expected: object", path);
        for (const auto& [k, v] : it->items())
            if (k != "direct" && k != "no-flush") return fail("Parameter '{}cache.{}' is unexpected", path, k);
        if (auto v = TRY(opt_bool(*it, "direct", path + "cache."))) flags.cache.direct = *v;
        if (auto v = TRY(opt_bool(*it, "no-flush", path + "cache."))) flags.cache.no_flush = *v;
    }
    if (flags.detect_zeroes == DetectZeroes::Unmap && flags.discard != DiscardMode::Unmap)
        return fail("setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
    return flags;
}

// block.c bdrv_inherited_options / bdrv_backing_options: a format's file child inherits
// read-only, auto-read-only and the cache flags, and passes discards down (discard=unmap).
OpenFlags child_defaults(const OpenFlags& parent) {
    OpenFlags f;
    f.read_only = parent.read_only;
    f.auto_read_only = parent.auto_read_only;
    f.cache = parent.cache;
    f.discard = DiscardMode::Unmap;
    // Not inherited in QEMU (they are file options); nemu's -drive sets them on the whole
    // graph and -blockdev children start from the same defaults either way.
    f.aio = parent.aio;
    f.locking = parent.locking;
    return f;
}

Result<std::shared_ptr<BlockNode>> open_node(const Json& o, const std::string& path, const OpenFlags& inherited,
                                             OpenState& st);

// BlockdevRef / BlockdevRefOrNull: a node-name string or nested options.
Result<std::shared_ptr<BlockNode>> open_ref(const Json& ref, const std::string& member, const OpenFlags& inherited,
                                            OpenState& st) {
    if (ref.is_string()) {
        std::string name = ref.get<std::string>();
        if (auto node = st.resolve(name)) return node;
        return fail("Cannot find device='{}' nor node-name='{}'", name, name);
    }
    if (!ref.is_object()) return fail("Invalid parameter type for '{}', expected: object", member);
    return open_node(ref, member + ".", inherited, st);
}

Result<std::shared_ptr<BlockNode>> open_node(const Json& o, const std::string& path, const OpenFlags& inherited,
                                             OpenState& st) {
    if (!o.is_object()) return fail("Invalid parameter type for '{}', expected: object", path.empty() ? "options" : path);
    auto driver = TRY(opt_string(o, "driver", path));
    if (!driver) return fail("Parameter '{}driver' is missing", path);
    if (!is_driver(*driver)) return fail("Parameter '{}driver' does not accept value '{}'", path, *driver);
    auto members = driver_members(*driver);
    for (const auto& [k, v] : o.items())
        if (!contains(kCommonMembers, k) && !contains(members, k)) return fail("Parameter '{}{}' is unexpected", path, k);

    auto node_name = TRY(opt_string(o, "node-name", path));
    if (node_name) {
        if (!node_name_wellformed(*node_name)) return fail("Invalid node-name: '{}'", *node_name);
        if (node_name->size() > kMaxNodeName) return fail("Node name too long");
        if (st.resolve(*node_name) || !st.names.insert(*node_name).second)
            return fail("Duplicate nodes with node-name='{}'", *node_name);
    }
    OpenFlags flags = TRY(parse_common(o, path, inherited));

    std::shared_ptr<BlockNode> node;
    if (*driver == "file" || *driver == "host_device") {
        auto filename = TRY(opt_string(o, "filename", path));
        if (!filename) return fail("Parameter '{}filename' is missing", path);
        const auto aio = TRY(opt_enum<AioMode>(o, "aio", path, parse_aio_mode));
        if (aio) flags.aio = *aio;
        if (auto v = TRY(opt_enum<Locking>(o, "locking", path, parse_locking))) flags.locking = *v;
        if (o.contains("pr-manager")) return fail("Parameter '{}pr-manager' is not supported by nemu", path);
        TRY(opt_uint(o, "aio-max-batch", path));
        TRY(opt_bool(o, "drop-cache", path));
        TRY(opt_bool(o, "x-check-cache-dropped", path));
        node = TRY(open_protocol(*filename, flags, *driver == "host_device"));
        // QEMU sets an explicit io_uring up when the node opens (file-posix.c
        // raw_open_common, after the file itself) and fails the -blockdev/blockdev-add.
        if (aio && *aio == AioMode::IoUring) TRY(st.probe());
        if (aio) node->set_open_aio(*aio);
#ifdef CONFIG_RBD
    } else if (*driver == "rbd") {
        node = TRY(open_rbd(TRY(rbd_options_from_json(o, path)), flags));
#endif
    } else {
        const BlockFormat* fmt = find_block_format(*driver);
        auto file_it = o.find("file");
        if (file_it == o.end()) return fail("Parameter '{}file' is missing", path);
        // QEMU visits the whole BlockdevOptions before opening anything, so type errors
        // win over errors from opening the children.
        if (*driver == "raw") {
            TRY(opt_uint(o, "offset", path));
            TRY(opt_uint(o, "size", path));
        }
        if (*driver == "qcow2") {
            // Encryption and external data files are not part of nemu's qcow2 (issue #6).
            if (o.contains("encrypt")) return fail("Parameter '{}encrypt' is not supported by nemu", path);
            if (o.contains("data-file")) return fail("Parameter '{}data-file' is not supported by nemu", path);
        }
        auto file = TRY(open_ref(*file_it, path + "file", child_defaults(flags), st));

        FormatOpenContext ctx;
        ctx.flags = flags;
        ctx.options = Json::object();
        for (const auto& [k, v] : o.items())
            if (!contains(kCommonMembers, k) && k != "file" && k != "backing") ctx.options[k] = v;
        if (*driver == "qcow2") {
            auto b = o.find("backing");
            if (b != o.end() && b->is_null()) {
                ctx.backing_disabled = true;
            } else if (b != o.end()) {
                ctx.backing_node = TRY(open_ref(*b, path + "backing", backing_flags(flags), st));
            } else {
                std::string overlay = protocol_filename(*file);
                auto chain = std::make_shared<ChainState>();
                struct stat sb {};
                if (::stat(overlay.c_str(), &sb) == 0) chain->seen.insert({sb.st_dev, sb.st_ino});
                ctx.open_backing = make_backing_opener(overlay, flags, chain);
            }
        }
        node = TRY(fmt->open(std::move(file), ctx));
    }
    if (node_name) node->set_node_name(*node_name);
    node->set_open_cache(flags.cache); // query-named-block-nodes' "cache" of this node
    return node;
}

} // namespace

Result<std::shared_ptr<BlockNode>> open_blockdev(const Json& options, const NodeResolver& resolve) {
    return open_blockdev(options, resolve, [] { return probe_io_uring(); });
}

Result<std::shared_ptr<BlockNode>> open_blockdev(const Json& options, const NodeResolver& resolve,
                                                 const UringProbe& probe) {
    OpenState st{resolve, probe, {}};
    try {
        return open_node(options, "", OpenFlags{}, st);
    } catch (const std::exception& e) {
        // nlohmann throws only on programmer error here; never let it escape (STYLE.md §3.2).
        return fail("Invalid block device options: {}", e.what());
    }
}

Result<std::shared_ptr<BlockNode>> open_image(const std::string& filename, const std::string& format,
                                              const OpenFlags& flags) {
    if (!format.empty() && !find_block_format(format)) return fail("Unknown driver '{}'", format);
    ChainState chain;
    struct stat sb {};
    if (::stat(filename.c_str(), &sb) == 0) chain.seen.insert({sb.st_dev, sb.st_ino});
    auto file = TRY(open_protocol(filename, child_defaults(flags), false));
    return open_format_over(std::move(file), filename, format, flags, chain);
}

Result<std::shared_ptr<BlockNode>> open_temp_snapshot(std::shared_ptr<BlockNode> base, const OpenFlags& flags) {
    // util/osdep.c get_tmp_filename: $TMPDIR, else /var/tmp.
    const char* dir = std::getenv("TMPDIR");
    std::string name = std::string(dir && *dir ? dir : "/var/tmp") + "/vl.XXXXXX";
    std::vector<char> buf(name.begin(), name.end());
    buf.push_back('\0');
    const int fd = ::mkstemp(buf.data());
    name = buf.data(); // mkstemp leaves its last try in the template, as QEMU's message shows
    if (fd < 0) return fail_errno("Could not open temporary file '" + name + "'", errno);
    ::close(fd);
    // bdrv_temp_snapshot_flags: the overlay is cache=unsafe whatever the drive says.
    OpenFlags of = flags;
    of.read_only = false;
    of.auto_read_only = false;
    of.cache.direct = false;
    of.cache.no_flush = true;
    auto file = open_protocol(name, child_defaults(of), false);
    // Unlinked before anything can fail or the process die: the open fd keeps the data.
    ::unlink(name.c_str());
    if (!file) return make_error(std::move(file).error());
    // bdrv_append_temp_snapshot: bdrv_getlength of the base (whole sectors) and qcow2's
    // creation defaults.
    const uint64_t size = (base->length() + 511) / 512 * 512;
    TRY(qcow2_create(**file, size, Qcow2CreateOptions{}));
    FormatOpenContext ctx;
    ctx.flags = of;
    ctx.backing_node = base;
    auto overlay = TRY(find_block_format("qcow2")->open(*file, ctx));
    (*file)->set_open_cache(of.cache);
    overlay->set_open_cache(of.cache);
    return overlay;
}

} // namespace nemu::block
