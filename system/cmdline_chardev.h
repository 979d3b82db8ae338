#pragma once
// Character device specs: -chardev (QemuOpts, implied "backend") and the legacy strings of
// -serial/-monitor/-qmp/-qtest/-parallel (QEMU 7.2 chardev/char.c qemu_chr_parse_compat),
// plus -incoming URIs (migration/migration.c qemu_start_incoming_migration).

#include <optional>
#include <string>
#include <string_view>

#include "system/keyval.h"
#include "util/result.h"

namespace nemu::cmdline {

struct ChardevSpec {
    std::string backend;            // "socket", "stdio", "null", "file", "pty", "ringbuf", ...
    std::optional<std::string> id;  // -chardev id=; absent for legacy strings
    bool none = false;              // "none": no device at all (-serial none, -monitor none)
    std::optional<std::string> chardev_ref; // "chardev:ID": use an existing chardev
    KeyValList options;             // everything else, in order (path=, host=, port=, server=...)
};

// "-chardev socket,id=x,path=/p,server=on,wait=off". Errors as QEMU 7.2:
//   "chardev: no id specified", "'bogus' is not a valid char driver name",
//   "Parameter 'server' expects 'on' or 'off'"
Result<ChardevSpec> parse_chardev(std::string_view text);

// "unix:PATH,server=on,wait=off", "tcp:HOST:PORT,server=on", "stdio", "mon:stdio", "none",
// "null", "pty", "file:PATH", "chardev:ID", "/dev/ttyS0"... mux is set for "mon:".
//   "'bogus' is not a valid char driver"
Result<ChardevSpec> parse_chardev_compat(std::string_view text);

struct IncomingSpec {
    enum class Kind { Defer, Tcp, Unix, Exec, Fd, Rdma } kind = Kind::Defer;
    std::string target; // text after the "proto:" prefix
};
//   "unknown migration protocol: bogus"
Result<IncomingSpec> parse_incoming(std::string_view text);

} // namespace nemu::cmdline
