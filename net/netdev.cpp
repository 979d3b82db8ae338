// Netdev options and the registry (QEMU 7.2 net/net.c net_client_init/qmp_netdev_add/
// qmp_netdev_del; every message checked live with qemu-system-x86_64 7.2).
#include "net/netdev.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace nemu::net {

namespace {

// QEMU's NetClientDriver values nemu does not implement: a clearer refusal than QEMU's
// "does not accept value" for a type QEMU has.
constexpr std::string_view kOtherTypes[] = {"none", "nic", "user", "l2tpv3", "socket", "stream", "dgram",
                                            "vde", "bridge", "hubport", "netmap", "vhost-user", "vhost-vdpa"};

constexpr std::string_view kTapStrings[] = {"ifname", "fd", "fds", "script", "downscript", "br", "helper",
                                            "vhostfd", "vhostfds"};
constexpr std::string_view kTapBools[] = {"vnet_hdr", "vhost", "vhostforce"};
constexpr std::string_view kTapU32[] = {"queues", "poll-us"};

template <size_t N> bool in(const std::string_view (&set)[N], std::string_view s) {
    return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

bool id_wellformed(std::string_view id) {
    // util/id.c: a letter, then letters, digits, '-', '.', '_'.
    if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

// QEMU's opts visitor on a QemuOpts string (-netdev without JSON).
Result<bool> text_bool(const std::string& key, const std::string& v) {
    if (v == "on" || v == "yes" || v == "y") return true;
    if (v == "off" || v == "no" || v == "n") return false;
    return fail("Parameter '{}' expects 'on' or 'off'", key);
}

Result<uint64_t> text_uint(const std::string& key, const std::string& v) {
    if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return fail("Parameter '{}' expects a uint64 value", key);
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), nullptr, 10);
    if (errno == ERANGE) return fail("Parameter '{}' expects a uint64 value", key);
    return static_cast<uint64_t>(n);
}

Result<uint64_t> text_size(const std::string& key, const std::string& v) {
    // A size with an optional k/M/G/T suffix (1024-based, QEMU qemu_strtosz).
    size_t i = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i == 0 || v.size() - i > 1) return fail("Parameter '{}' expects a size value", key);
    uint64_t n = std::strtoull(v.substr(0, i).c_str(), nullptr, 10);
    unsigned shift = 0;
    if (i < v.size()) {
        switch (std::tolower(static_cast<unsigned char>(v[i]))) {
        case 'b': shift = 0; break;
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        case 't': shift = 40; break;
        default: return fail("Parameter '{}' expects a size value", key);
        }
    }
    if (shift && n > (std::numeric_limits<uint64_t>::max() >> shift)) return fail("Parameter '{}' expects a size value", key);
    return n << shift;
}

Result<std::string> json_string(const std::string& key, const Json& v) {
    if (!v.is_string()) return fail("Invalid parameter type for '{}', expected: string", key);
    return v.get<std::string>();
}

Result<bool> json_bool(const std::string& key, const Json& v) {
    if (!v.is_boolean()) return fail("Invalid parameter type for '{}', expected: boolean", key);
    return v.get<bool>();
}

Result<uint64_t> json_uint(const std::string& key, const Json& v) {
    if (!v.is_number_integer()) return fail("Invalid parameter type for '{}', expected: integer", key);
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    int64_t n = v.get<int64_t>();
    if (n < 0) return fail("Parameter '{}' expects uint64", key);
    return static_cast<uint64_t>(n);
}

} // namespace

Result<TapOptions> parse_netdev_options(const Json& j, bool from_text) {
    if (!j.is_object()) return fail("Invalid parameter type for 'netdev', expected: object");
    if (!j.contains("type")) return fail("Parameter 'type' is missing");
    std::string type = TRY(json_string("type", j["type"]));
    if (type != "tap") {
        if (in(kOtherTypes, type)) return fail("netdev type '{}' is not supported by nemu (only tap)", type);
        return fail("Parameter 'type' does not accept value '{}'", type);
    }
    if (!j.contains("id")) return fail("Parameter 'id' is missing");
    TapOptions o;
    o.id = TRY(json_string("id", j["id"]));
    if (from_text && !id_wellformed(o.id))
        return fail("Parameter 'id' expects an identifier\n"
                    "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
    for (const auto& [key, v] : j.items()) {
        if (key == "type" || key == "id") continue;
        bool known = in(kTapStrings, key) || in(kTapBools, key) || in(kTapU32, key) || key == "sndbuf";
        if (!known) return from_text ? fail("Invalid parameter '{}'", key) : fail("Parameter '{}' is unexpected", key);
        if (in(kTapStrings, key)) {
            std::string s = TRY(json_string(key, v));
            std::optional<std::string>* dst = key == "ifname"       ? &o.ifname
                                              : key == "fd"         ? &o.fd
                                              : key == "fds"        ? &o.fds
                                              : key == "script"     ? &o.script
                                              : key == "downscript" ? &o.downscript
                                              : key == "br"         ? &o.br
                                              : key == "helper"     ? &o.helper
                                              : key == "vhostfd"    ? &o.vhostfd
                                                                    : &o.vhostfds;
            *dst = s;
        } else if (in(kTapBools, key)) {
            bool b = from_text ? TRY(text_bool(key, TRY(json_string(key, v)))) : TRY(json_bool(key, v));
            (key == "vnet_hdr" ? o.vnet_hdr : key == "vhost" ? o.vhost : o.vhostforce) = b;
        } else if (key == "sndbuf") {
            o.sndbuf = from_text ? TRY(text_size(key, TRY(json_string(key, v)))) : TRY(json_uint(key, v));
        } else {
            uint64_t n = from_text ? TRY(text_uint(key, TRY(json_string(key, v)))) : TRY(json_uint(key, v));
            if (n > std::numeric_limits<uint32_t>::max()) return fail("Parameter '{}' expects uint32_t", key);
            (key == "queues" ? o.queues : o.poll_us) = static_cast<uint32_t>(n);
        }
    }
    return o;
}

Result<NetClient*> NetdevRegistry::add(const Json& options, bool from_text, const FdResolver& resolve_fd) {
    TapOptions o = TRY(parse_netdev_options(options, from_text));
    if (m_clients.count(o.id)) return from_text ? fail("Duplicate ID '{}' for netdev", o.id) : fail("Duplicate ID '{}'", o.id);
    std::unique_ptr<NetClient> client = TRY(Tap::create(o, resolve_fd));
    NetClient* raw = client.get();
    m_clients.emplace(o.id, std::move(client));
    m_order.push_back(o.id);
    return raw;
}

Result<> NetdevRegistry::remove(std::string_view id) {
    auto it = m_clients.find(id);
    if (it == m_clients.end()) return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", id);
    if (it->second->peer()) return fail("netdev '{}' is in use by a device: delete the device first", id);
    m_order.erase(std::find(m_order.begin(), m_order.end(), it->first));
    m_clients.erase(it);
    return {};
}

NetClient* NetdevRegistry::find(std::string_view id) const {
    auto it = m_clients.find(id);
    return it == m_clients.end() ? nullptr : it->second.get();
}

std::vector<NetClient*> NetdevRegistry::list() const {
    std::vector<NetClient*> out;
    for (const auto& id : m_order) out.push_back(m_clients.find(id)->second.get());
    return out;
}

} // namespace nemu::net
