// The rbd protocol node: QEMU 7.2 block/rbd.c (qemu_rbd_connect, qemu_rbd_open,
// qemu_rbd_start_co, qemu_rbd_co_truncate, qemu_rbd_get_specific_info) over an RbdClient.
#include "block/rbd/rbd_node.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "block/block_filename.h"

namespace nemu::block {

namespace {

// -errno from librbd as a positive errno; anything that is not one is EIO.
int to_errno(int64_t r) { return r < 0 && r >= -4095 ? static_cast<int>(-r) : EIO; }

Unexpected<Error> open_error(int64_t r, std::string_view what) { return fail_errno(what, to_errno(r)); }

Unexpected<Error> request_error(int64_t r, std::string_view op) {
    const int err = to_errno(r);
    return io_error(err, fmt::format("rbd {} failed: {}", op, std::strerror(err)));
}

// The first bytes of a LUKS1/LUKS2 header (magic "LUKS\xba\xbe" and the version), which
// qemu_rbd_get_specific_info looks for to report the encryption format.
constexpr std::array<uint8_t, 8> kLuks1Magic{'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 1};
constexpr std::array<uint8_t, 8> kLuks2Magic{'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 2};

// rados_conf_set for what the options say beyond the conf file, in qemu_rbd_connect's order.
Result<> configure(const RbdOptions& opts, const OpenFlags& flags, RbdClient& client) {
    for (const auto& [key, value] : opts.keyvalue_pairs)
        if (int r = client.conf_set(key, value); r < 0) return open_error(r, fmt::format("invalid conf option {}", key));
    if (auto mon_host = rbd_mon_host(opts)) {
        // QEMU sets no message of its own here; bdrv_open_driver's fallback names the node's
        // (empty) file name.
        if (int r = client.conf_set("mon_host", *mon_host); r < 0) return open_error(r, "Could not open ''");
    }
    // qemu_rbd_set_auth: the key comes from a 'secret' object, which nemu does not have, so
    // the lookup fails as QEMU's does for an id that names no object.
    if (opts.key_secret) return fail("No secret with id '{}'", *opts.key_secret);
    if (opts.auth_client_required) {
        std::string modes;
        for (const auto& m : *opts.auth_client_required) modes += (modes.empty() ? "" : ";") + m;
        if (int r = client.conf_set("auth_client_required", modes); r < 0)
            return open_error(r, "Could not set 'auth_client_required'");
    }
    // librbd's write-back cache unless cache.direct (QEMU: BDRV_O_NOCACHE); errors ignored,
    // as QEMU ignores them (the option only fails when librbd lacks it).
    (void)client.conf_set("rbd_cache", flags.cache.direct ? "false" : "true");
    return {};
}

} // namespace

RbdNode::RbdNode(Private, std::unique_ptr<RbdImage> image, const RbdOptions& opts, bool read_only, uint64_t size,
                 uint64_t object_size)
    : BlockNode(read_only), m_image(std::move(image)), m_strong(rbd_strong_options(opts)), m_image_name(opts.image),
      m_length(size), m_object_size(object_size) {}

Result<std::shared_ptr<RbdNode>> RbdNode::open(const RbdOptions& opts, const OpenFlags& flags, RbdClient& client) {
    if (int r = client.create(opts.user); r < 0) return open_error(r, "error initializing");
    // Without conf=, the default locations are tried and a failure ignored.
    if (int r = client.conf_read_file(opts.conf); r < 0 && opts.conf)
        return open_error(r, fmt::format("error reading conf file {}", *opts.conf));
    TRY(configure(opts, flags, client));
    if (int r = client.connect(); r < 0) return open_error(r, "error connecting");
    if (int r = client.ioctx_create(opts.pool); r < 0) return open_error(r, fmt::format("error opening pool {}", opts.pool));
    const std::string ns = opts.ns.value_or("");
    if (!ns.empty()) {
        bool exists = false;
        if (int r = client.namespace_exists(ns, exists); r < 0) return open_error(r, "error checking namespace");
        if (!exists) return make_error(Error{ErrorClass::GenericError, fmt::format("namespace '{}' does not exist", ns), ENOENT});
    }
    client.set_namespace(ns);

    // Snapshots are read-only in librbd; the node is read-only when asked, or for a snapshot
    // under auto-read-only (bdrv_apply_auto_read_only), checked after opening as QEMU does.
    const bool read_only = flags.read_only || (opts.snapshot && flags.auto_read_only);
    std::unique_ptr<RbdImage> image;
    if (int r = client.open_image(opts.image, opts.snapshot, read_only || opts.snapshot.has_value(), image); r < 0)
        return open_error(r, fmt::format("error reading header from {}", opts.image));
    uint64_t size = 0, object_size = 0;
    if (int r = image->stat(size, object_size); r < 0)
        return open_error(r, fmt::format("error getting image info from {}", opts.image));
    if (opts.snapshot && !read_only) return fail("rbd snapshots are read-only");
    return std::make_shared<RbdNode>(Private{}, std::move(image), opts, read_only, size, object_size);
}

Result<> RbdNode::read(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t len = iov_size(iov);
    TRY(check_request(offset, len, false));
    for (uint64_t done = 0; done < len;) {
        const uint64_t n = std::min(len - done, kRbdMaxRequest);
        const std::vector<iovec> piece = iov_slice(iov, done, n);
        const int64_t r = m_image->readv(offset + done, piece);
        if (r < 0) return request_error(r, "read");
        // qemu_rbd_start_co: zero-pad short reads.
        if (static_cast<uint64_t>(r) < n) iov_memset(iov, done + r, n - r, 0);
        done += n;
    }
    return {};
}

Result<> RbdNode::grow_to(uint64_t end) {
    // librbd refuses I/O past the image's end: grow first (qemu_rbd_start_co), never shrink.
    std::lock_guard lock(m_resize_mutex);
    if (end <= length()) return {};
    if (int r = m_image->resize(end); r < 0) return request_error(r, "resize");
    m_length.store(end, std::memory_order_release);
    return {};
}

Result<> RbdNode::write(uint64_t offset, std::span<const iovec> iov, bool fua) {
    const uint64_t len = iov_size(iov);
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (offset > UINT64_MAX - len) return io_error(EINVAL, "Request lies beyond the largest image size");
    if (offset + len > length()) TRY(grow_to(offset + len));
    for (uint64_t done = 0; done < len;) {
        const uint64_t n = std::min(len - done, kRbdMaxRequest);
        const std::vector<iovec> piece = iov_slice(iov, done, n);
        if (int64_t r = m_image->writev(offset + done, piece); r < 0) return request_error(r, "write");
        done += n;
    }
    if (fua) return flush();
    return {};
}

Result<> RbdNode::flush() {
    if (int r = m_image->flush(); r < 0) return request_error(r, "flush");
    return {};
}

Result<> RbdNode::discard(uint64_t offset, uint64_t len) {
    TRY(check_request(offset, len, true));
    for (uint64_t done = 0; done < len;) {
        const uint64_t n = std::min(len - done, kRbdMaxRequest);
        if (int r = m_image->discard(offset + done, n); r < 0) return request_error(r, "discard");
        done += n;
    }
    return {};
}

Result<> RbdNode::write_zeroes(uint64_t offset, uint64_t len, bool may_unmap) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    if (offset > UINT64_MAX - len) return io_error(EINVAL, "Request lies beyond the largest image size");
    if (offset + len > length()) TRY(grow_to(offset + len));
    for (uint64_t done = 0; done < len;) {
        const uint64_t n = std::min(len - done, kRbdMaxRequest);
        if (int r = m_image->write_zeroes(offset + done, n, !may_unmap); r < 0) return request_error(r, "write zeroes");
        done += n;
    }
    return {};
}

Result<> RbdNode::truncate(uint64_t new_length) {
    if (read_only()) return io_error(EPERM, "Block node is read-only");
    std::lock_guard lock(m_resize_mutex);
    if (int r = m_image->resize(new_length); r < 0) return open_error(r, "Failed to resize file");
    m_length.store(new_length, std::memory_order_release);
    return {};
}

NodeInfo RbdNode::info() const {
    NodeInfo ni;
    ni.format = "rbd";
    Json opts = Json::object();
    opts["driver"] = "rbd";
    for (const auto& [k, v] : m_strong.items()) opts[k] = v;
    ni.filename = "json:" + qdict_json_text(opts);
    ni.virtual_size = length();
    ni.actual_size = -1; // librbd reports no allocation (QEMU leaves actual-size out)
    ni.cluster_size = m_object_size;
    Json data = Json::object();
    if (length() >= kLuks1Magic.size()) {
        std::array<uint8_t, 8> head{};
        iovec v{head.data(), head.size()};
        if (m_image->readv(0, std::span<const iovec>(&v, 1)) == static_cast<int64_t>(head.size())) {
            if (head == kLuks1Magic) data["encryption-format"] = "luks";
            else if (head == kLuks2Magic) data["encryption-format"] = "luks2";
        }
    }
    ni.format_specific = Json{{"type", "rbd"}, {"data", data}};
    return ni;
}

Result<std::shared_ptr<BlockNode>> open_rbd(const RbdOptions& opts, const OpenFlags& flags) {
    auto client = TRY(make_librbd_client());
    return std::shared_ptr<BlockNode>(TRY(RbdNode::open(opts, flags, *client)));
}

} // namespace nemu::block
