#include "monitor/json_diagnose.h"

#include <cctype>
#include <optional>

namespace nemu::monitor {

namespace {

// A recursive-descent walk over the text that stops at the first problem. Depth is bounded
// by the streamer (JsonStreamer::kMaxNesting) before this runs.
class Diagnoser {
public:
    explicit Diagnoser(std::string_view s) : m_s(s) {}

    std::string run() {
        auto err = value();
        return "JSON parse error, " + err.value_or("expecting value");
    }

private:
    using Err = std::optional<std::string>;

    void ws() {
        while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r')) m_i++;
    }
    bool at(char c) { return m_i < m_s.size() && m_s[m_i] == c; }
    static bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-'; }
    std::string_view word() {
        size_t start = m_i;
        while (m_i < m_s.size() && word_char(m_s[m_i])) m_i++;
        return m_s.substr(start, m_i - start);
    }

    Err value() {
        ws();
        if (m_i >= m_s.size()) return "expecting value";
        char c = m_s[m_i];
        if (c == '{') return object();
        if (c == '[') return array();
        if (c == '"') return string();
        if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return number();
        if (std::isalpha(static_cast<unsigned char>(c))) {
            std::string_view w = word();
            if (w == "true" || w == "false" || w == "null") return std::nullopt;
            return "invalid keyword '" + std::string(w) + "'";
        }
        return "expecting value";
    }

    Err number() {
        // QEMU's lexer takes "-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)?"; anything else
        // glued to it is a stray token.
        size_t start = m_i;
        std::string_view w = word();
        size_t j = 0;
        if (j < w.size() && w[j] == '-') j++;
        bool ok = j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]));
        if (ok && w[j] == '0' && j + 1 < w.size() && std::isdigit(static_cast<unsigned char>(w[j + 1]))) ok = false;
        while (ok && j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]))) j++;
        if (ok && j < w.size() && w[j] == '.') {
            j++;
            ok = j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]));
            while (ok && j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]))) j++;
        }
        if (ok && j < w.size() && (w[j] == 'e' || w[j] == 'E')) {
            j++;
            if (j < w.size() && (w[j] == '+' || w[j] == '-')) j++;
            ok = j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]));
            while (ok && j < w.size() && std::isdigit(static_cast<unsigned char>(w[j]))) j++;
        }
        if (!ok || j != w.size()) return "stray '" + std::string(m_s.substr(start, m_i - start)) + "'";
        return std::nullopt;
    }

    Err string() {
        m_i++;  // opening quote
        while (m_i < m_s.size()) {
            auto c = static_cast<unsigned char>(m_s[m_i]);
            if (c == '"') {
                m_i++;
                return std::nullopt;
            }
            if (c == '\\') {
                if (m_i + 1 >= m_s.size()) return "expecting value";
                char e = m_s[m_i + 1];
                if (e == 'u') {
                    for (size_t k = 2; k < 6; k++)
                        if (m_i + k >= m_s.size() || !std::isxdigit(static_cast<unsigned char>(m_s[m_i + k])))
                            return "invalid escape sequence in string";
                    m_i += 6;
                    continue;
                }
                if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos)
                    return "invalid escape sequence in string";
                m_i += 2;
                continue;
            }
            if (c < 0x80) {
                m_i++;
                continue;
            }
            // UTF-8 (RFC 3629): lead byte, continuation bytes, no overlongs or surrogates.
            size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
            if (len == 0 || m_i + len > m_s.size()) return "invalid UTF-8 sequence in string";
            uint32_t cp = c & (0x7F >> len);
            for (size_t k = 1; k < len; k++) {
                auto b = static_cast<unsigned char>(m_s[m_i + k]);
                if ((b & 0xC0) != 0x80) return "invalid UTF-8 sequence in string";
                cp = (cp << 6) | (b & 0x3F);
            }
            if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
                return "invalid UTF-8 sequence in string";
            m_i += len;
        }
        return "expecting value";
    }

    Err object() {
        m_i++;
        ws();
        if (at('}')) {
            m_i++;
            return std::nullopt;
        }
        while (true) {
            ws();
            if (!at('"')) {
                // A malformed token reports itself; a well-formed non-string key does not.
                Err e = value();
                return e ? e : Err("key is not a string in object");
            }
            if (auto e = string()) return e;
            ws();
            if (!at(':')) return "missing : in object pair";
            m_i++;
            if (auto e = value()) return e;
            ws();
            if (at('}')) {
                m_i++;
                return std::nullopt;
            }
            if (!at(',')) return "expected separator in dict";
            m_i++;
            ws();
            if (at('}')) return "expecting value";
        }
    }

    Err array() {
        m_i++;
        ws();
        if (at(']')) {
            m_i++;
            return std::nullopt;
        }
        while (true) {
            if (auto e = value()) return e;
            ws();
            if (at(']')) {
                m_i++;
                return std::nullopt;
            }
            if (!at(',')) return "expected separator in list";
            m_i++;
            ws();
            if (at(']')) return "expecting value";
        }
    }

    std::string_view m_s;
    size_t m_i = 0;
};

} // namespace

std::string diagnose_json(std::string_view text) { return Diagnoser(text).run(); }

} // namespace nemu::monitor
