#include "util/json.h"

#include <fmt/core.h>

namespace nemu {

Result<Json> parse_json(std::string_view text) {
    try {
        return Json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        return fail("{}", e.what());
    }
}

std::string dump_json(const Json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// Decode one UTF-8 sequence at s[i]; advances i. Invalid or overlong input yields U+FFFD and
// consumes one byte, as QEMU's mod_utf8_codepoint() does.
uint32_t next_codepoint(std::string_view s, size_t& i) {
    auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
        i++;
        return b;
    }
    int len = b >= 0xF0 && b < 0xF8 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > s.size()) {
        i++;
        return 0xFFFD;
    }
    uint32_t cp = b & (0x7F >> len);
    for (int k = 1; k < len; k++) {
        auto c = static_cast<uint8_t>(s[i + k]);
        if ((c & 0xC0) != 0x80) {
            i++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        i++;
        return 0xFFFD;
    }
    i += len;
    return cp;
}


void newline(std::string& out, bool pretty, int depth) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<size_t>(depth) * 4, ' ');
}

void write_value(std::string& out, const Json& j, bool pretty, int depth) {
    if (j.is_object() || j.is_array()) {
        bool obj = j.is_object();
        out += obj ? '{' : '[';
        bool first = true;
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (!first) out += pretty ? "," : ", ";
            first = false;
            newline(out, pretty, depth + 1);
            if (obj) {
                append_json_string_qmp(out, it.key());
                out += ": ";
            }
            write_value(out, *it, pretty, depth + 1);
        }
        if (!first) newline(out, pretty, depth);
        out += obj ? '}' : ']';
    } else if (j.is_string()) {
        append_json_string_qmp(out, j.get_ref<const std::string&>());
    } else {
        out += j.dump();
    }
}

} // namespace

void append_json_string_qmp(std::string& out, std::string_view s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = next_codepoint(s, i);
        switch (cp) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (cp >= 0x20 && cp <= 0x7E) {
                out += static_cast<char>(cp);
            } else if (cp > 0xFFFF) {
                cp -= 0x10000;
                out += fmt::format("\\u{:04X}\\u{:04X}", 0xD800 | (cp >> 10), 0xDC00 | (cp & 0x3FF));
            } else {
                out += fmt::format("\\u{:04X}", cp);
            }
        }
    }
    out += '"';
}

std::string dump_json_qmp(const Json& j, bool pretty) {
    std::string out;
    write_value(out, j, pretty, 0);
    return out;
}

} // namespace nemu
