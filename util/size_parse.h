#pragma once
// Typed scalar parsing with QEMU 7.2's semantics (util/cutils.c qemu_strtosz, qemu_strtou64,
// qapi/qobject-input-visitor.c keyval scalars, util/qemu-option.c parse_option_bool).
// Pure functions: no I/O, no globals.

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace nemu::cmdline {

enum class SizeError { None, Invalid, Range };

// The raw qemu_strtosz: decimal (or 0x hex) integer, optional fraction, optional suffix
// B/K/M/G/T/P/E (either case, powers of 1024). default_suffix applies when none is given
// ('B' for bytes, 'M' for -m). A fraction needs a scale ("1.5" fails, "1.5k" works).
// Leading whitespace and '+' are accepted as strtoull does; '-' is rejected.
SizeError strtosz(std::string_view text, char default_suffix, uint64_t& out);

// As QemuOpts' size parameters report errors (util/qemu-option.c parse_option_size):
//   "Parameter 'size' expects a non-negative number below 2^64"  (invalid)
//   "Value '99E' is out of range for parameter 'size'"            (overflow)
Result<uint64_t> parse_size(std::string_view text, char default_suffix = 'B',
                            std::string_view param = "size");

// QemuOpts booleans accept on/off/yes/no/true/false/y/n, case-sensitive (QEMU 7.2 qapi_bool_parse;
// checked: -msg timestamp=y runs, timestamp=On fails):
//   "Parameter 'timestamp' expects 'on' or 'off'"
Result<bool> parse_bool(std::string_view text, std::string_view param);

// QemuOpts numbers (QEMU_OPT_NUMBER): qemu_strtou64 base 0 (decimal, 0x hex, 0 octal).
//   "Parameter 'slots' expects a number"
Result<uint64_t> parse_uint(std::string_view text, std::string_view param);

// keyval integers (qobject-input-visitor type_int64_keyval): base 0, signed.
//   "Parameter 'smp.cpus' expects integer"
Result<int64_t> parse_int(std::string_view text, std::string_view param);

// The exact strtoull/strtoll rules QEMU wraps, without the messages: whole string
// must be consumed, empty is invalid, overflow is Range.
SizeError strtou64(std::string_view text, int base, uint64_t& out);
SizeError strtoi64(std::string_view text, int base, int64_t& out);

} // namespace nemu::cmdline
