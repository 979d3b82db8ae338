#pragma once
// Number, hex and base64 codecs for the qtest text protocol (QEMU softmmu/qtest.c).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nemu::qtest {

// strtoull with base 0, as QEMU's qemu_strtou64: "0x" hex, leading "0" octal, else decimal;
// a leading '-' negates modulo 2^64. The whole word must be consumed; overflow fails.
std::optional<uint64_t> parse_u64(std::string_view s);
// qemu_strtoi64: base 0, optional sign, range checked.
std::optional<int64_t> parse_i64(std::string_view s);

std::string hex_encode(const uint8_t* data, size_t len);   // lowercase, two digits a byte
// Decodes "0x<hex>" into exactly len bytes, zero-filling what the digits do not cover
// (QEMU's `write` semantics). Fails on a missing prefix, a bad digit or an odd count.
std::optional<std::vector<uint8_t>> hex_decode_padded(std::string_view s, size_t len);

std::string base64_encode(const uint8_t* data, size_t len);
// Strict RFC 4648 decoding (padding optional); nullopt on any invalid character.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view s);

} // namespace nemu::qtest
