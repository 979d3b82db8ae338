// -netdev parsing (QEMU 7.2 net/net.c net_client_parse; messages checked live).
#include "system/cmdline_net.h"

#include "net/netdev.h"
#include "system/keyval.h"

namespace nemu::cmdline {

Result<NetdevArg> parse_netdev(std::string_view text) {
    NetdevArg a;
    a.from_text = !text.starts_with('{');
    if (a.from_text) {
        KeyValList kv = TRY(parse_opts(text, "type"));
        // QemuOpts checks the id before the type (qemu_opts_create).
        a.options = opts_to_json(kv);
    } else {
        a.options = TRY(parse_json_option(text));
    }
    TRY(net::parse_netdev_options(a.options, a.from_text));
    return a;
}

} // namespace nemu::cmdline
