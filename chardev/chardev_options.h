#pragma once
// Options of one character device backend: the union of the QEMU 7.2 ChardevBackend members
// nemu implements (qapi/char.json: ChardevSocket, ChardevFile, ChardevRingbuf, ChardevStdio,
// plus the legacy -chardev "mux" switch). Parsed from -chardev key=value text with QEMU's
// messages (chardev/char.c qemu_chr_parse_*, chardev/char-socket.c qemu_chr_parse_socket).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace nemu::chardev {

// ringbuf's default size in QEMU (chardev/char-ringbuf.c): 64 KiB.
inline constexpr uint64_t kDefaultRingbufSize = 64 * 1024;

struct ChardevOptions {
    std::string backend;  // "socket", "stdio", "null", "file", "pty", "ringbuf" ("memory" = ringbuf)

    // socket (path | host+port | fd) and file (path)
    std::string path;
    std::string host;
    std::string port;                 // a number or a service name, as QEMU's InetSocketAddress
    std::optional<int> fd;            // an inherited socket: listening when server, else connected
    bool server = false;
    bool wait = true;                 // server only: block at open until a client connects
    bool nodelay = false;             // TCP_NODELAY on TCP connections
    uint64_t reconnect = 0;           // client only: seconds between reconnection attempts
    bool telnet = false;              // parsed so that it can be refused with a clear message
    std::string tls_creds;            // likewise

    // file
    bool append = false;

    // ringbuf
    uint64_t size = kDefaultRingbufSize;

    // stdio: leave ISIG on so that ^C still reaches nemu (QEMU's "signal", default on)
    bool signal = true;

    // "-chardev X,mux=on": a mux chardev over a backend labelled "<id>-base"
    bool mux = false;
};

using KeyVals = std::vector<std::pair<std::string, std::string>>;

// `backend` is the -chardev option's first (implied "backend") value; `kv` the remaining
// key=value pairs ("id" is accepted and ignored: the caller owns it).
Result<ChardevOptions> chardev_options_from_keyvals(std::string_view backend, const KeyVals& kv);

} // namespace nemu::chardev
