#include "chardev/chardev_options.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

#include "util/size_parse.h"

namespace nemu::chardev {

namespace {

// Every key QEMU 7.2's -chardev accepts (chardev/char.c qemu_chardev_opts), for any backend:
// a key of another backend is silently ignored there too.
constexpr std::array kKnownKeys = {
    "id",       "backend", "path",  "host",      "port",      "fd",       "local",     "localaddr",
    "localport", "to",     "ipv4",  "ipv6",      "wait",      "server",   "delay",     "nodelay",
    "reconnect", "telnet", "tn3270", "tls-creds", "tls-authz", "websocket", "width",   "height",
    "cols",     "rows",    "mux",   "signal",    "name",      "debug",    "size",      "chardev",
    "append",   "logfile", "logappend", "abstract", "tight"};

constexpr std::array kImplemented = {"socket", "stdio", "null", "file", "pty", "ringbuf", "memory"};
// QEMU 7.2 backends nemu has no use for (no display, no host serial/parallel ports).
constexpr std::array kNotImplemented = {"vc",     "pipe",   "udp",     "serial",  "tty",    "parallel",
                                        "parport", "msmouse", "wctablet", "braille", "testdev", "spicevmc",
                                        "spiceport", "qemu-vdagent", "dbus", "console"};

// QEMU's qapi_bool_parse (util/qemu-option.c parse_option_bool accepts on/off, yes/no...).
Result<bool> parse_bool(std::string_view key, std::string_view v) {
    if (v == "on" || v == "yes" || v == "true" || v == "y") return true;
    if (v == "off" || v == "no" || v == "false" || v == "n") return false;
    return fail("Parameter '{}' expects 'on' or 'off'", key);
}

bool is_one_of(std::string_view v, const auto& list) {
    return std::find(list.begin(), list.end(), v) != list.end();
}

} // namespace

Result<ChardevOptions> chardev_options_from_keyvals(std::string_view backend, const KeyVals& kv) {
    ChardevOptions o;
    if (is_one_of(backend, kNotImplemented))
        return fail("chardev: backend '{}' is not supported by nemu", backend);
    if (!is_one_of(backend, kImplemented)) return fail("'{}' is not a valid char driver name", backend);
    o.backend = backend == "memory" ? "ringbuf" : std::string(backend);

    bool have_path = false, have_host = false, have_fd = false, have_port = false, have_wait = false,
         have_reconnect = false;
    std::string fd_text;
    for (const auto& [key, value] : kv) {
        if (!is_one_of(key, kKnownKeys)) return fail("Invalid parameter '{}'", key);
        if (key == "path") {
            o.path = value;
            have_path = true;
        } else if (key == "host") {
            o.host = value;
            have_host = true;
        } else if (key == "port") {
            o.port = value;
            have_port = true;
        } else if (key == "fd") {
            fd_text = value;
            have_fd = true;
        } else if (key == "server") {
            o.server = TRY(parse_bool(key, value));
        } else if (key == "wait") {
            o.wait = TRY(parse_bool(key, value));
            have_wait = true;
        } else if (key == "nodelay") {
            o.nodelay = TRY(parse_bool(key, value));
        } else if (key == "delay") {
            o.nodelay = !TRY(parse_bool(key, value));
        } else if (key == "telnet") {
            o.telnet = TRY(parse_bool(key, value));
        } else if (key == "tls-creds") {
            o.tls_creds = value;
        } else if (key == "reconnect") {
            if (value.starts_with('-') || cmdline::strtou64(value, 0, o.reconnect) != cmdline::SizeError::None)
                return fail("Parameter '{}' expects a number", key);
            have_reconnect = true;
        } else if (key == "append") {
            o.append = TRY(parse_bool(key, value));
        } else if (key == "size") {
            if (cmdline::strtosz(value, 'B', o.size) != cmdline::SizeError::None)
                return fail("Parameter '{}' expects a non-negative number below 2^64", key);
        } else if (key == "signal") {
            o.signal = TRY(parse_bool(key, value));
        } else if (key == "mux") {
            o.mux = TRY(parse_bool(key, value));
        } else if (key == "tn3270" || key == "websocket" || key == "abstract" || key == "tight" ||
                   key == "logappend" || key == "ipv4" || key == "ipv6" || key == "debug") {
            // Valid QEMU switches; the ones that change behaviour are refused when on.
            bool on = TRY(parse_bool(key, value));
            if (on && (key == "tn3270" || key == "websocket" || key == "abstract"))
                return fail("chardev: socket: '{}' is not supported", key);
        } else if (key == "logfile") {
            return fail("chardev: 'logfile' is not supported");
        }
        // id, backend and the other backends' keys: ignored, as QEMU's legacy parser does.
    }

    if (o.backend == "file" && o.path.empty()) return fail("chardev: file: no filename given");
    if (o.backend != "socket") return o;

    // chardev/char-socket.c qemu_chr_parse_socket.
    if (int(have_path) + int(have_host) + int(have_fd) > 1)
        return fail("None or one of 'path', 'fd' or 'host' option required.");
    if (have_host && !have_port) return fail("chardev: socket: no port given");
    if (!have_path && !have_host && !have_fd && !have_port) {
        // QEMU falls through to the fd case and fails to parse the empty text.
        return fail("Unable to parse FD number {}", fd_text);
    }
    if (have_fd) {
        int64_t n = -1;
        if (cmdline::strtoi64(fd_text, 0, n) != cmdline::SizeError::None || n < 0 || n > 0x7fffffff)
            return fail("Unable to parse FD number {}", fd_text);
        o.fd = static_cast<int>(n);
    }
    if (have_wait && !o.server) return fail("'wait' option is incompatible with socket in client connect mode");
    if (have_reconnect && o.server)
        return fail("'reconnect' option is incompatible with socket in server listen mode");
    return o;
}

} // namespace nemu::chardev
