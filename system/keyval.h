#pragma once
// The two option-string grammars of QEMU 7.2:
//  * QemuOpts (util/qemu-option.c): "-device", "-object", "-chardev", "-m", "-smp", "-msg"...
//    comma separated key=value, ",," is a literal comma in values, the first element
//    without '=' gets the implied key, a bare "flag" means flag=on and "noflag" flag=off
//    (QEMU warns "short-form boolean option ... deprecated" but accepts them).
//  * keyval (util/keyval.c): "-blockdev", "-machine", "-audiodev"... no short-form booleans,
//    dotted keys build nested objects, numeric fragments build lists.
// Both are pure: they produce data, main() acts on it.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace nemu::cmdline {

struct KeyValue {
    std::string key;
    std::string value;
    bool operator==(const KeyValue&) const = default;
};

// An ordered list of pairs as written; later duplicates win in get().
struct KeyValList {
    std::vector<KeyValue> items;
    bool help = false; // "help" or "?" was given as a flag or as the implied value

    // The last value given for key, if any.
    std::optional<std::string> get(std::string_view key) const;
    bool has(std::string_view key) const { return get(key).has_value(); }
    // Keys not in allowed (first offender) — for "Invalid parameter 'foo'".
    std::optional<std::string> first_unknown(std::initializer_list<std::string_view> allowed) const;
};

bool is_help_option(std::string_view s); // "help" or "?"

// QEMU identifiers (util/id.c id_wellformed): a letter, then letters, digits, '-', '.', '_'.
bool id_wellformed(std::string_view id);

// QemuOpts grammar. implied_key may be empty (no implied key: a bare first word is a flag).
// Errors: "Parameter 'id' expects an identifier" (plus QEMU's hint line).
Result<KeyValList> parse_opts(std::string_view text, std::string_view implied_key);

// Like parse_opts, then checks every key against allowed: "Invalid parameter 'foo'".
Result<KeyValList> parse_opts_checked(std::string_view text, std::string_view implied_key,
                                      std::initializer_list<std::string_view> allowed);

// keyval grammar into a nested Json object of strings. Errors as util/keyval.c:
//   "Invalid parameter 'a..b'", "Expected '=' after parameter 'y'",
//   "Parameters 'file.*' used inconsistently", "Parameter 'x' is too long".
// help is set when a "help"/"?" element was seen.
Result<Json> parse_keyval(std::string_view text, std::string_view implied_key, bool* help = nullptr);

// QEMU's JSON option syntax: the text starts with '{' (libvirt 9.0 passes JSON for -object,
// -device, -blockdev, -netdev). Error texts follow qobject/json-parser.c where we can map them:
// "JSON parse error, premature EOI", "JSON parse error, invalid keyword 'x'",
// "JSON parse error, expecting value", "Expecting at most one JSON value".
Result<Json> parse_json_option(std::string_view text);

// JSON if text starts with '{', otherwise QemuOpts converted to a flat object of strings
// (values are typed later against the property's type). For -device, -object, -netdev.
Result<Json> parse_json_or_opts(std::string_view text, std::string_view implied_key);
// JSON or keyval (nested objects for dotted keys). For -blockdev.
Result<Json> parse_json_or_keyval(std::string_view text, std::string_view implied_key);

// QemuOpts -> flat Json object of strings (later duplicates replace earlier values).
Json opts_to_json(const KeyValList& list);

} // namespace nemu::cmdline
