#pragma once
// Number and size parsing with QEMU's rules (util/cutils.c semantics: decimal, 0x hex,
// binary suffixes k/K M G T P E, fractional sizes such as 1.5G).

#include <cstdint>
#include <optional>
#include <string_view>

namespace nemu {

// Whole string must be a number; accepts decimal and 0x-prefixed hex. No sign for unsigned.
std::optional<uint64_t> parse_uint64(std::string_view s);
std::optional<int64_t> parse_int64(std::string_view s);
// "1G", "512M", "1.5k", "4096". `default_suffix` applies to a bare number ('\0' or 'B' = bytes,
// 'M' for -m). Fails on negative values, unknown suffixes and results of 2^64 or more.
std::optional<uint64_t> parse_size(std::string_view s, char default_suffix = '\0');

} // namespace nemu
