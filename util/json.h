#pragma once
// The JSON value type shared by QAPI, QMP and QOM properties. An ordered object keeps
// members in insertion order, as QEMU emits them (clients such as libvirt do not depend on
// order, but transcripts compared against QEMU read better).

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace nemu {

using Json = nlohmann::ordered_json;

// Parse one complete JSON text; never throws. The error message is the library's.
Result<Json> parse_json(std::string_view text);

// Serialise compactly, replacing invalid UTF-8 instead of throwing.
std::string dump_json(const Json& j);

// Serialise as QEMU's JSON writer does (qobject/json-writer.c), so QMP transcripts read the
// same byte for byte: ", " and ": " separators, every character outside printable ASCII as
// \uXXXX (uppercase hex, surrogate pairs above U+FFFF), invalid UTF-8 as \uFFFD.
// `pretty` indents by four spaces per level (-qmp-pretty).
std::string dump_json_qmp(const Json& j, bool pretty = false);

// One string as dump_json_qmp writes it (quotes included), appended to `out`: for other
// text QEMU builds with the same writer (the block layer's json:{...} file names).
void append_json_string_qmp(std::string& out, std::string_view s);

} // namespace nemu
