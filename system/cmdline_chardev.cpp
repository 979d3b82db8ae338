// Chardev option strings (QEMU 7.2 chardev/char.c).
#include "system/cmdline_chardev.h"

#include <algorithm>
#include <array>

#include "util/size_parse.h"

namespace nemu::cmdline {

namespace {

// The backends QEMU 7.2 x86_64 registers (chardev help); nemu implements a subset, which
// main() checks against its chardev registry.
constexpr std::array<std::string_view, 19> kBackends = {
    "socket", "stdio", "null", "file", "pty", "ringbuf", "memory", "pipe", "serial", "tty",
    "parallel", "parport", "udp", "msmouse", "wctablet", "braille", "testdev", "vc", "mux"};

constexpr std::array<std::string_view, 14> kBoolKeys = {
    "server", "wait", "telnet", "tn3270", "websocket", "nodelay", "ipv4", "ipv6", "mux",
    "signal", "logappend", "append", "delay", "abstract"};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

Result<void> check_bools(const KeyValList& list) {
    for (const auto& kv : list.items) {
        if (std::find(kBoolKeys.begin(), kBoolKeys.end(), kv.key) != kBoolKeys.end()) {
            TRY(parse_bool(kv.value, kv.key));
        }
    }
    return {};
}

ChardevSpec simple(std::string_view backend) {
    ChardevSpec s;
    s.backend = std::string(backend);
    return s;
}

} // namespace

Result<ChardevSpec> parse_chardev(std::string_view text) {
    KeyValList list = TRY(parse_opts(text, "backend"));
    ChardevSpec spec;
    auto backend = list.get("backend");
    if (list.help || (backend && is_help_option(*backend))) {
        spec.backend = "help";
        return spec;
    }
    auto id = list.get("id");
    if (!id) return fail("chardev: no id specified");
    if (!backend) return fail("chardev: \"{}\" missing backend", *id);
    if (std::find(kBackends.begin(), kBackends.end(), *backend) == kBackends.end()) {
        return fail("'{}' is not a valid char driver name", *backend);
    }
    TRY(check_bools(list));
    spec.backend = *backend;
    spec.id = *id;
    for (auto& kv : list.items) {
        if (kv.key != "backend" && kv.key != "id") spec.options.items.push_back(kv);
    }
    return spec;
}

Result<ChardevSpec> parse_chardev_compat(std::string_view text) {
    const std::string whole(text);
    auto invalid = [&] { return fail("'{}' is not a valid char driver", whole); };
    ChardevSpec spec;
    if (text == "none") {
        spec.none = true;
        return spec;
    }
    if (starts_with(text, "chardev:")) {
        spec.chardev_ref = std::string(text.substr(8));
        return spec;
    }
    bool mux = false;
    if (starts_with(text, "mon:")) {
        text.remove_prefix(4);
        mux = true;
    }
    auto finish = [&](ChardevSpec s) -> Result<ChardevSpec> {
        if (mux) {
            s.options.items.push_back({"mux", "on"});
            // Monitor muxed to stdio: do not exit on SIGINT (QEMU sets signal=off).
            if (s.backend == "stdio") s.options.items.push_back({"signal", "off"});
        }
        TRY(check_bools(s.options));
        return s;
    };
    for (std::string_view b : {"null", "pty", "msmouse", "wctablet", "braille", "testdev", "stdio"}) {
        if (text == b) return finish(simple(b));
    }
    if (starts_with(text, "vc")) return finish(simple("vc"));
    if (starts_with(text, "file:") || starts_with(text, "pipe:")) {
        ChardevSpec s = simple(starts_with(text, "file:") ? "file" : "pipe");
        s.options.items.push_back({"path", std::string(text.substr(5))});
        return finish(std::move(s));
    }
    for (std::string_view proto : {"tcp:", "telnet:", "tn3270:", "websocket:"}) {
        if (!starts_with(text, proto)) continue;
        std::string_view p = text.substr(proto.size());
        // "%64[^:]:%32[^,]" or ":%32[^,]": HOST:PORT with an optional empty host.
        size_t colon = p.find(':');
        if (colon == std::string_view::npos || colon > 64) return invalid();
        size_t comma = p.find(',', colon + 1);
        std::string_view port = p.substr(colon + 1, comma == std::string_view::npos
                                                        ? std::string_view::npos
                                                        : comma - colon - 1);
        if (port.empty() || port.size() > 32) return invalid();
        ChardevSpec s = simple("socket");
        if (colon > 0) s.options.items.push_back({"host", std::string(p.substr(0, colon))});
        s.options.items.push_back({"port", std::string(port)});
        if (comma != std::string_view::npos) {
            auto more = parse_opts(p.substr(comma + 1), "");
            if (!more) return invalid();
            for (auto& kv : more->items) s.options.items.push_back(kv);
        }
        if (proto != "tcp:") s.options.items.push_back({std::string(proto.substr(0, proto.size() - 1)), "on"});
        return finish(std::move(s));
    }
    if (starts_with(text, "udp:")) {
        ChardevSpec s = simple("udp");
        s.options.items.push_back({"target", std::string(text.substr(4))});
        return finish(std::move(s));
    }
    if (starts_with(text, "unix:")) {
        auto list = parse_opts(text.substr(5), "path");
        if (!list) return invalid();
        ChardevSpec s = simple("socket");
        s.options = std::move(*list);
        return finish(std::move(s));
    }
    if (starts_with(text, "/dev/parport") || starts_with(text, "/dev/ppi") ||
        starts_with(text, "/dev/")) {
        ChardevSpec s = simple(starts_with(text, "/dev/p") && !starts_with(text, "/dev/pts")
                                   ? "parallel" : "serial");
        s.options.items.push_back({"path", std::string(text)});
        return finish(std::move(s));
    }
    return invalid();
}

Result<IncomingSpec> parse_incoming(std::string_view text) {
    using K = IncomingSpec::Kind;
    if (text == "defer") return IncomingSpec{K::Defer, ""};
    struct Proto { std::string_view prefix; K kind; };
    for (const Proto& p : {Proto{"tcp:", K::Tcp}, Proto{"unix:", K::Unix}, Proto{"exec:", K::Exec},
                           Proto{"fd:", K::Fd}, Proto{"rdma:", K::Rdma}}) {
        if (starts_with(text, p.prefix)) return IncomingSpec{p.kind, std::string(text.substr(p.prefix.size()))};
    }
    return fail("unknown migration protocol: {}", text);
}

} // namespace nemu::cmdline
