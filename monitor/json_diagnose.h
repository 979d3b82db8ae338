#pragma once
// Why a complete QMP message is not valid JSON, worded as QEMU 7.2's JSON parser words it
// (qobject/json-parser.c): "invalid keyword 'tru'", "missing : in object pair", "expected
// separator in list", "invalid escape sequence in string", "invalid UTF-8 sequence in
// string", "expecting value". Only called after the real parse failed; never throws.

#include <string>
#include <string_view>

namespace nemu::monitor {

std::string diagnose_json(std::string_view text);

} // namespace nemu::monitor
