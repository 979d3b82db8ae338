#pragma once
// The rbd protocol's options (QEMU 7.2 qapi/block-core.json BlockdevOptionsRbd) and the two
// ways they arrive: BlockdevOptions JSON (-blockdev, blockdev-add) and the legacy file name
// `rbd:pool[/namespace]/image[@snapshot][:key=value...]` (-drive file=, backing file names),
// parsed by QEMU 7.2 block/rbd.c qemu_rbd_parse_filename's rules. Also what the options become
// for librados: the mon_host string and the ordered rados_conf_set calls.
// Thread: any (pure functions over values).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace nemu::block {

struct RbdServer { // InetSocketAddressBase
    std::string host;
    std::string port;
};

struct RbdOptions {
    std::string pool;
    std::optional<std::string> ns; // "namespace"
    std::string image;
    std::optional<std::string> conf;
    std::optional<std::string> snapshot;
    std::optional<std::string> user;
    std::optional<std::vector<std::string>> auth_client_required; // "cephx" / "none"
    std::optional<std::string> key_secret;
    std::optional<std::vector<RbdServer>> server;
    // From a file name only: the key=value pairs other than id and conf, in order (QEMU's
    // "=keyvalue-pairs"), each a rados_conf_set.
    std::vector<std::pair<std::string, std::string>> keyvalue_pairs;
};

// qemu_rbd_parse_filename. Errors as QEMU's: "File name must start with 'rbd:'", "Pool name is
// required", "conf option NAME has no value". '\' escapes the next character in every part.
// A file name always sets namespace (empty when it names none), as QEMU's does.
Result<RbdOptions> parse_rbd_filename(std::string_view filename);

// The driver-specific members of a BlockdevOptions object for driver "rbd", with the QAPI
// input visitor's messages ("Parameter 'pool' is missing", "Invalid parameter type for 'conf',
// expected: string", "Parameter 'auth-client-required[0]' does not accept value 'x'").
// path prefixes member names in messages (nested options: "file."). "encrypt" is refused
// ("Parameter 'encrypt' is not supported by nemu") after the other members are read.
Result<RbdOptions> rbd_options_from_json(const Json& o, const std::string& path);

// qemu_rbd_mon_host: "host:port" per server ("[host]:port" when host holds a ':'), joined by
// ';'; nullopt without servers.
std::optional<std::string> rbd_mon_host(const RbdOptions& opts);

// The strong runtime options QEMU keeps for the node's json: file name (block/rbd.c
// qemu_rbd_strong_runtime_opts: pool, namespace, image, conf, snapshot, user, server.*), in
// the flattened form QEMU's options dict holds them ("server.0.host").
Json rbd_strong_options(const RbdOptions& opts);

} // namespace nemu::block
