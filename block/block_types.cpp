#include "block/block_types.h"

#include <array>
#include <utility>

namespace nemu::block {
namespace {

template <class E, size_t N>
std::optional<E> lookup(const std::array<std::pair<std::string_view, E>, N>& table, std::string_view s) {
    for (const auto& [name, value] : table)
        if (name == s) return value;
    return std::nullopt;
}
template <class E, size_t N>
std::string_view name_of(const std::array<std::pair<std::string_view, E>, N>& table, E e) {
    for (const auto& [name, value] : table)
        if (value == e) return name;
    return "?";
}

constexpr std::array<std::pair<std::string_view, AioMode>, 3> kAio{{
    {"threads", AioMode::Threads}, {"native", AioMode::Native}, {"io_uring", AioMode::IoUring}}};
constexpr std::array<std::pair<std::string_view, DiscardMode>, 4> kDiscard{{
    {"ignore", DiscardMode::Ignore}, {"unmap", DiscardMode::Unmap},
    // -drive discard= also takes QEMU's aliases (block.c bdrv_parse_discard_flags).
    {"off", DiscardMode::Ignore}, {"on", DiscardMode::Unmap}}};
constexpr std::array<std::pair<std::string_view, DetectZeroes>, 3> kDetectZeroes{{
    {"off", DetectZeroes::Off}, {"on", DetectZeroes::On}, {"unmap", DetectZeroes::Unmap}}};
constexpr std::array<std::pair<std::string_view, OnError>, 5> kOnError{{
    {"report", OnError::Report}, {"ignore", OnError::Ignore}, {"enospc", OnError::Enospc},
    {"stop", OnError::Stop}, {"auto", OnError::Auto}}};

} // namespace

std::string_view aio_mode_name(AioMode m) { return name_of(kAio, m); }
std::optional<AioMode> parse_aio_mode(std::string_view s) { return lookup(kAio, s); }
std::string_view discard_mode_name(DiscardMode m) { return name_of(kDiscard, m); }
std::optional<DiscardMode> parse_discard_mode(std::string_view s) { return lookup(kDiscard, s); }
std::string_view detect_zeroes_name(DetectZeroes m) { return name_of(kDetectZeroes, m); }
std::optional<DetectZeroes> parse_detect_zeroes(std::string_view s) { return lookup(kDetectZeroes, s); }
std::string_view on_error_name(OnError m) { return name_of(kOnError, m); }
std::optional<OnError> parse_on_error(std::string_view s) { return lookup(kOnError, s); }

std::optional<CacheMode> parse_cache_mode(std::string_view s) {
    if (s == "writeback") return CacheMode{{false, false}, true};
    if (s == "none" || s == "off") return CacheMode{{true, false}, true};
    if (s == "writethrough") return CacheMode{{false, false}, false};
    if (s == "directsync") return CacheMode{{true, false}, false};
    if (s == "unsafe") return CacheMode{{false, true}, true};
    return std::nullopt;
}

} // namespace nemu::block
