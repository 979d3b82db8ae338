#pragma once
// Options shared by every layer of the block graph, spelled as QEMU 7.2's QAPI spells them
// (qapi/block-core.json: BlockdevCacheOptions, BlockdevAioOptions, BlockdevDiscardOptions,
// BlockdevDetectZeroesOptions, BlockdevOnError).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nemu::block {

// -drive aio= / -blockdev file.aio=. QEMU's default is threads; nemu's is io_uring (issue #6).
enum class AioMode { Threads, Native, IoUring };
// -blockdev discard=: "ignore" drops guest discards, "unmap" passes them down.
enum class DiscardMode { Ignore, Unmap };
// detect-zeroes: off, on (write zeroes instead), unmap (and discard when allowed).
enum class DetectZeroes { Off, On, Unmap };
// werror= / rerror= (BlockdevOnError). Enospc: stop on ENOSPC, report anything else.
enum class OnError { Report, Ignore, Enospc, Stop, Auto };
// -blockdev file.locking= (OnOffAuto). auto = on where OFD locks exist (always on Linux).
enum class Locking { Auto, On, Off };

// BlockdevCacheOptions. QEMU's -drive cache= modes map onto these plus the backend's
// write cache (docs/system/qemu-block-drivers.rst, "cache" in qemu-options.hx):
//   writeback: direct=off no_flush=off wce=on     none:       direct=on  no_flush=off wce=on
//   writethrough: direct=off no_flush=off wce=off directsync: direct=on  no_flush=off wce=off
//   unsafe: direct=off no_flush=on wce=on
struct CacheOptions {
    bool direct = false;   // O_DIRECT on the protocol
    bool no_flush = false; // flush requests succeed without reaching the disk
};

// What a protocol or format node is opened with (common BlockdevOptionsBase members).
struct OpenFlags {
    bool read_only = false;
    bool auto_read_only = false; // fall back to read-only when the file cannot be opened rw
    CacheOptions cache;
    AioMode aio = AioMode::IoUring;
    DiscardMode discard = DiscardMode::Ignore;
    DetectZeroes detect_zeroes = DetectZeroes::Off;
    Locking locking = Locking::Auto;
};

std::string_view aio_mode_name(AioMode m);
std::optional<AioMode> parse_aio_mode(std::string_view s);
std::string_view discard_mode_name(DiscardMode m);
std::optional<DiscardMode> parse_discard_mode(std::string_view s);
std::string_view detect_zeroes_name(DetectZeroes m);
std::optional<DetectZeroes> parse_detect_zeroes(std::string_view s);
std::string_view on_error_name(OnError m);
std::optional<OnError> parse_on_error(std::string_view s);

// The -drive cache= shorthand (see CacheOptions). Returns nullopt for an unknown mode.
struct CacheMode {
    CacheOptions cache;
    bool write_cache = true; // false: every write is followed by a flush (writethrough)
};
std::optional<CacheMode> parse_cache_mode(std::string_view s);

} // namespace nemu::block
