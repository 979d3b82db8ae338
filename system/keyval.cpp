// QemuOpts and keyval option-string grammars (QEMU 7.2 util/qemu-option.c, util/keyval.c).
#include "system/keyval.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "util/size_parse.h"

namespace nemu::cmdline {

std::optional<std::string> KeyValList::get(std::string_view key) const {
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
        if (it->key == key) return it->value;
    }
    return std::nullopt;
}

std::optional<std::string> KeyValList::first_unknown(
    std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : items) {
        if (std::find(allowed.begin(), allowed.end(), kv.key) == allowed.end()) return kv.key;
    }
    return std::nullopt;
}

bool is_help_option(std::string_view s) { return s == "help" || s == "?"; }

bool id_wellformed(std::string_view id) {
    if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
    return std::all_of(id.begin() + 1, id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

namespace {

// A QemuOpts value runs to the next single ',' (",," is a literal comma). Returns the
// position just past the terminating comma (or text.size()).
size_t take_opt_value(std::string_view text, size_t pos, std::string& out) {
    while (pos < text.size()) {
        if (text[pos] == ',') {
            if (pos + 1 < text.size() && text[pos + 1] == ',') {
                out.push_back(',');
                pos += 2;
                continue;
            }
            return pos + 1;
        }
        out.push_back(text[pos++]);
    }
    return pos;
}

} // namespace

Result<KeyValList> parse_opts(std::string_view text, std::string_view implied_key) {
    KeyValList list;
    size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        std::string_view rest = text.substr(pos);
        size_t len = rest.find_first_of("=,");
        if (len == std::string_view::npos) len = rest.size();
        KeyValue kv;
        if (len == rest.size() || rest[len] != '=') {
            if (first && !implied_key.empty()) {
                kv.key = std::string(implied_key);
                pos = take_opt_value(text, pos, kv.value);
                if (is_help_option(kv.value)) list.help = true;
            } else {
                // A flag: "foo" is foo=on, "nofoo" is foo=off (deprecated in 7.2, still accepted).
                std::string name(rest.substr(0, len));
                pos += len;
                if (pos < text.size()) pos++; // the ','
                if (name.compare(0, 2, "no") == 0) {
                    kv.key = name.substr(2);
                    kv.value = "off";
                } else {
                    if (is_help_option(name)) list.help = true;
                    kv.key = std::move(name);
                    kv.value = "on";
                }
            }
        } else {
            kv.key = std::string(rest.substr(0, len));
            pos = take_opt_value(text, pos + len + 1, kv.value);
        }
        first = false;
        list.items.push_back(std::move(kv));
    }
    if (auto id = list.get("id"); id && !id_wellformed(*id)) {
        return fail("Parameter 'id' expects an identifier\n"
                    "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
    }
    return list;
}

Result<KeyValList> parse_opts_checked(std::string_view text, std::string_view implied_key,
                                      std::initializer_list<std::string_view> allowed) {
    KeyValList list = TRY(parse_opts(text, implied_key));
    if (auto bad = list.first_unknown(allowed)) {
        if (!(list.help && is_help_option(*bad))) return fail("Invalid parameter '{}'", *bad);
    }
    return list;
}

Json opts_to_json(const KeyValList& list) {
    Json obj = Json::object();
    for (const auto& kv : list.items) obj[kv.key] = kv.value;
    return obj;
}

namespace {

constexpr size_t kMaxKeyFragment = 127; // util/keyval.c key_in_cur[128]

// Length of a QAPI name at s (letter first, then letters, digits, '-', '_'), 0 if none.
size_t qapi_name_len(std::string_view s) {
    if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return 0;
    size_t n = 1;
    while (n < s.size() && (std::isalnum(static_cast<unsigned char>(s[n])) || s[n] == '-' ||
                            s[n] == '_')) {
        n++;
    }
    return n;
}

size_t index_len(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) n++;
    return n;
}

// Put value (a string, or an object when value is null) at cur[key]; mixing a string and an
// object under one key is QEMU's "used inconsistently" error naming the prefix.
Result<Json*> keyval_put(Json& cur, const std::string& key, const Json* value,
                         std::string_view prefix) {
    auto it = cur.find(key);
    if (it != cur.end()) {
        bool want_string = value != nullptr;
        if (it->is_string() != want_string) {
            return fail("Parameters '{}.*' used inconsistently", prefix);
        }
        if (!value) return &*it;
        *it = *value;
        return &*it;
    }
    cur[key] = value ? *value : Json::object();
    return &cur[key];
}

// Turn objects whose keys are all indices into arrays (util/keyval.c keyval_listify).
Result<Json> listify(Json& obj, const std::string& prefix) {
    bool any_index = false, any_name = false;
    for (auto& [k, v] : obj.items()) {
        if (index_len(k) == k.size()) any_index = true; else any_name = true;
        if (v.is_object()) v = TRY(listify(v, prefix + k + "."));
    }
    if (!any_index) return obj;
    std::string name = prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1);
    if (any_name) return fail("Parameters '{}.*' used inconsistently", name);
    std::map<uint64_t, Json> by_index;
    for (auto& [k, v] : obj.items()) {
        uint64_t idx = 0;
        if (strtou64(k, 10, idx) != SizeError::None) idx = UINT64_MAX;
        by_index.emplace(idx, v);
    }
    Json arr = Json::array();
    uint64_t expect = 0;
    for (auto& [idx, v] : by_index) {
        if (idx != expect) break;
        arr.push_back(std::move(v));
        expect++;
    }
    if (arr.size() != obj.size()) return fail("Parameter '{}{}' missing", prefix, expect);
    return arr;
}

} // namespace

Result<Json> parse_keyval(std::string_view text, std::string_view implied_key, bool* help) {
    Json root = Json::object();
    bool help_seen = false;
    size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        std::string_view params = text.substr(pos);
        size_t len = params.find_first_of("=,");
        if (len == std::string_view::npos) len = params.size();
        std::string_view key = params.substr(0, len);
        bool implied = false;
        if (len && (len == params.size() || params[len] != '=')) {
            if (is_help_option(key)) {
                help_seen = true;
                pos += len;
                if (pos < text.size()) pos++;
                first = false;
                continue;
            }
            if (first && !implied_key.empty()) {
                implied = true;
                key = implied_key;
            }
        }
        // Walk the key's dot-separated fragments, creating nested objects.
        Json* cur = &root;
        size_t s = 0;
        std::string frag;
        for (;;) {
            std::string_view rest = key.substr(s);
            size_t n = s != 0 && index_len(rest) > 0 ? index_len(rest) : qapi_name_len(rest);
            if (n == 0) return fail("Invalid parameter '{}'", key);
            if (n > kMaxKeyFragment) {
                bool whole = s == 0 && n == key.size();
                return fail("Parameter{} '{}' is too long", whole ? "" : " fragment",
                            rest.substr(0, n));
            }
            if (s != 0) cur = TRY(keyval_put(*cur, frag, nullptr, key.substr(0, s - 1)));
            frag = std::string(rest.substr(0, n));
            s += n;
            if (s >= key.size() || key[s] != '.') break;
            s++;
        }
        Json value;
        if (implied) {
            // The implied value ends at the first ',' or '=': no ",," escaping here.
            value = std::string(params.substr(0, len));
            pos += len;
            if (pos < text.size()) pos++;
        } else {
            if (s >= key.size() && (len >= params.size() || params[len] != '=')) {
                return fail("Expected '=' after parameter '{}'", key.substr(0, s));
            }
            if (s < key.size()) return fail("Expected '=' after parameter '{}'", key.substr(0, s));
            std::string val;
            pos = take_opt_value(text, pos + len + 1, val);
            value = std::move(val);
        }
        TRY(keyval_put(*cur, frag, &value, key));
        first = false;
    }
    if (help) *help = help_seen;
    return listify(root, "");
}

Result<Json> parse_json_option(std::string_view text) {
    Json j;
    try {
        j = Json::parse(text.begin(), text.end());
        return j;
    } catch (const nlohmann::json::parse_error& e) {
        std::string what = e.what();
        size_t at = e.byte > 0 ? e.byte - 1 : 0;
        if (at >= text.size() || what.find("unexpected end of input") != std::string::npos) {
            return fail("JSON parse error, premature EOI");
        }
        if (what.find("expected end of input") != std::string::npos) {
            return fail("Expecting at most one JSON value");
        }
        // Back up to the start of a bare word so we can name it like QEMU's lexer does.
        size_t b = at;
        while (b > 0 && std::isalpha(static_cast<unsigned char>(text[b - 1]))) b--;
        if (std::isalpha(static_cast<unsigned char>(text[b]))) {
            size_t e2 = b;
            while (e2 < text.size() && std::isalpha(static_cast<unsigned char>(text[e2]))) e2++;
            return fail("JSON parse error, invalid keyword '{}'", text.substr(b, e2 - b));
        }
        return fail("JSON parse error, expecting value");
    } catch (const std::exception&) {
        return fail("JSON parse error, expecting value");
    }
}

Result<Json> parse_json_or_opts(std::string_view text, std::string_view implied_key) {
    if (!text.empty() && text[0] == '{') return parse_json_option(text);
    KeyValList list = TRY(parse_opts(text, implied_key));
    return opts_to_json(list);
}

Result<Json> parse_json_or_keyval(std::string_view text, std::string_view implied_key) {
    if (!text.empty() && text[0] == '{') return parse_json_option(text);
    return parse_keyval(text, implied_key);
}

} // namespace nemu::cmdline
