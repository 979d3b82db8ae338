// Small option parsers; QEMU 7.2 sources named per function.
#include "system/cmdline_misc.h"

#include <algorithm>
#include <cctype>

#include "util/size_parse.h"

namespace nemu::cmdline {

namespace {

Result<bool> opt_bool(const KeyValList& l, std::string_view key, bool dflt) {
    auto v = l.get(key);
    if (!v) return dflt;
    return parse_bool(*v, key);
}

Result<void> check_enum(const KeyValList& l, std::string_view key,
                        std::initializer_list<std::string_view> allowed) {
    auto v = l.get(key);
    if (v && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
        return fail("Parameter '{}' does not accept value '{}'", key, *v);
    }
    return {};
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

Result<Msg> parse_msg(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "", {"timestamp", "guest-name"}));
    return Msg{TRY(opt_bool(l, "timestamp", false)), TRY(opt_bool(l, "guest-name", false))};
}

Result<Overcommit> parse_overcommit(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "", {"mem-lock", "cpu-pm"}));
    return Overcommit{TRY(opt_bool(l, "mem-lock", false)), TRY(opt_bool(l, "cpu-pm", false))};
}

Result<Sandbox> parse_sandbox(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(
        text, "enable", {"enable", "obsolete", "elevateprivileges", "spawn", "resourcecontrol"}));
    Sandbox s;
    s.enable = TRY(opt_bool(l, "enable", false));
    for (auto& kv : l.items) {
        if (kv.key != "enable") s.flags.items.push_back(kv);
    }
    return s;
}

Result<Rtc> parse_rtc(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "", {"base", "clock", "driftfix"}));
    Rtc r;
    if (auto b = l.get("base")) {
        if (*b != "utc" && *b != "localtime") {
            // softmmu/rtc.c configure_rtc_base_datetime: "%d-%d-%dT%d:%d:%d" or "%d-%d-%d".
            int y, mo, d, h, mi, s;
            char tail;
            std::string t(*b);
            bool ok = std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &s, &tail) == 6 ||
                      std::sscanf(t.c_str(), "%d-%d-%d%c", &y, &mo, &d, &tail) == 3;
            if (!ok) {
                return fail("invalid datetime format\n"
                            "valid formats: '2006-06-17T16:01:21' or '2006-06-17'");
            }
        }
        r.base = *b;
    }
    if (auto c = l.get("clock")) {
        if (*c != "host" && *c != "rt" && *c != "vm") return fail("invalid option value '{}'", *c);
        r.clock = *c;
    }
    if (auto f = l.get("driftfix")) {
        if (*f != "none" && *f != "slew") return fail("invalid option value '{}'", *f);
        r.driftfix = *f;
    }
    return r;
}

Result<Boot> parse_boot(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(
        text, "order", {"order", "once", "menu", "splash", "splash-time", "reboot-timeout", "strict"}));
    Boot b;
    for (std::string_view key : {"order", "once"}) {
        auto v = l.get(key);
        if (!v) continue;
        // x86 boot devices (hw/i386/pc.c): a, b floppies, c disk, d cdrom, n-p network.
        for (char c : *v) {
            if (!(c == 'a' || c == 'b' || c == 'c' || c == 'd' || (c >= 'n' && c <= 'p'))) {
                return fail("Invalid boot device '{}'", c);
            }
        }
        (key == "order" ? b.order : b.once) = *v;
    }
    if (l.has("menu")) b.menu = TRY(opt_bool(l, "menu", false));
    if (l.has("strict")) b.strict = TRY(opt_bool(l, "strict", false));
    for (auto& kv : l.items) {
        if (kv.key == "splash" || kv.key == "splash-time" || kv.key == "reboot-timeout") {
            b.other.items.push_back(kv);
        }
    }
    return b;
}

Result<Name> parse_name(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "guest", {"guest", "process", "debug-threads"}));
    Name n;
    n.guest = l.get("guest").value_or("");
    n.process = l.get("process");
    n.debug_threads = TRY(opt_bool(l, "debug-threads", false));
    return n;
}

Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text) {
    // util/uuid.c qemu_uuid_parse: exactly 8-4-4-4-12 hex digits.
    std::array<uint8_t, 16> out{};
    auto bad = [] { return fail("failed to parse UUID string: wrong format"); };
    if (text.size() != 36) return bad();
    size_t byte = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return bad();
            i++;
            continue;
        }
        int hi = hexval(text[i]), lo = i + 1 < 36 ? hexval(text[i + 1]) : -1;
        if (hi < 0 || lo < 0) return bad();
        out[byte++] = static_cast<uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return out;
}

Result<GlobalProp> parse_global(std::string_view text) {
    // softmmu/qdev-monitor.c qemu_global_option: "driver.prop=value" first, else QemuOpts.
    size_t eq = text.find('=');
    size_t dot = text.find('.');
    if (dot != std::string_view::npos && eq != std::string_view::npos && dot < eq &&
        text.substr(0, dot).find_first_of(",=") == std::string_view::npos) {
        return GlobalProp{std::string(text.substr(0, dot)),
                          std::string(text.substr(dot + 1, eq - dot - 1)),
                          std::string(text.substr(eq + 1))};
    }
    KeyValList l = TRY(parse_opts_checked(text, "", {"driver", "property", "value"}));
    return GlobalProp{l.get("driver").value_or(""), l.get("property").value_or(""),
                      l.get("value").value_or("")};
}

Result<Accel> parse_accel(std::string_view text) {
    KeyValList l = TRY(parse_opts(text, "accel"));
    Accel a;
    a.type = l.get("accel").value_or("");
    for (auto& kv : l.items) {
        if (kv.key != "accel") a.props.items.push_back(kv);
    }
    return a;
}

Result<MachineOpts> parse_machine(std::string_view text) {
    bool help = false;
    Json j = TRY(parse_keyval(text, "type", &help));
    MachineOpts m;
    m.help = help;
    for (auto& [k, v] : j.items()) {
        std::string value = v.is_string() ? v.get<std::string>() : dump_json(v);
        if (k == "type") {
            m.type = value;
            if (is_help_option(value)) m.help = true;
        } else {
            m.props.items.push_back({k, value});
        }
    }
    return m;
}

Result<Display> parse_display(std::string_view text) {
    bool help = false;
    Json j = TRY(parse_keyval(text, "type", &help));
    Display d;
    d.type = j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
    constexpr std::string_view kTypes[] = {"none", "gtk", "sdl", "egl-headless", "curses",
                                           "spice-app", "dbus", "vnc", "default"};
    if (std::find(std::begin(kTypes), std::end(kTypes), d.type) == std::end(kTypes)) {
        return fail("Parameter 'type' does not accept value '{}'", d.type);
    }
    for (auto& [k, v] : j.items()) {
        if (k != "type") d.props.items.push_back({k, v.is_string() ? v.get<std::string>() : dump_json(v)});
    }
    return d;
}

Result<std::string> parse_vga(std::string_view text) {
    constexpr std::string_view kTypes[] = {"std", "cirrus", "vmware", "qxl", "xenfb",
                                           "tcx", "cg3", "virtio", "none"};
    if (std::find(std::begin(kTypes), std::end(kTypes), text) == std::end(kTypes)) {
        return fail("unknown vga type: {}", text);
    }
    return std::string(text);
}

Result<KeyValList> parse_action(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "", {"reboot", "shutdown", "panic", "watchdog"}));
    TRY(check_enum(l, "reboot", {"reset", "shutdown"}));
    TRY(check_enum(l, "shutdown", {"poweroff", "pause"}));
    TRY(check_enum(l, "panic", {"pause", "shutdown", "exit-failure", "none"}));
    TRY(check_enum(l, "watchdog", {"reset", "shutdown", "poweroff", "inject-nmi", "pause", "debug", "none"}));
    return l;
}

Result<Trace> parse_trace(std::string_view text) {
    KeyValList l = TRY(parse_opts_checked(text, "enable", {"enable", "events", "file"}));
    return Trace{l.get("enable"), l.get("events"), l.get("file")};
}

std::vector<std::string> split_log_items(std::string_view text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t c = text.find(',', pos);
        if (c == std::string_view::npos) c = text.size();
        if (c > pos) out.emplace_back(text.substr(pos, c - pos));
        pos = c + 1;
    }
    return out;
}

} // namespace nemu::cmdline
