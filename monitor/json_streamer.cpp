#include "monitor/json_streamer.h"

#include "monitor/json_diagnose.h"

namespace nemu::monitor {

namespace {
bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_structural(uint8_t c) { return c == '{' || c == '}' || c == '[' || c == ']'; }
// Bytes that resynchronise the lexer after an error (QEMU json-lexer.c IN_RECOVERY):
// structural characters, ASCII control characters other than tab, and 0xFE/0xFF.
bool ends_recovery(uint8_t c) { return is_structural(c) || (c < 0x20 && c != '\t') || c >= 0xFE; }
} // namespace

void JsonStreamer::reset() {
    m_state = State::Start;
    m_depth = 0;
    m_buf.clear();
}

void JsonStreamer::error(std::string msg) {
    m_buf.clear();
    m_depth = 0;
    m_state = State::Recovery;
    m_emit(fail("{}", msg));
}

void JsonStreamer::feed(std::span<const uint8_t> bytes) {
    for (uint8_t c : bytes) put(c);
}

void JsonStreamer::finish_message() {
    std::string text = std::move(m_buf);
    m_buf.clear();
    auto parsed = parse_json(text);
    m_depth = 0;
    m_state = State::Start;
    if (!parsed) {
        m_emit(fail("{}", diagnose_json(text)));
        return;
    }
    m_emit(std::move(parsed));
}

void JsonStreamer::finish_scalar() {
    // A top-level scalar is a complete (if useless) message: QEMU parses it and the
    // dispatcher answers "QMP input must be a JSON object".
    finish_message();
}

void JsonStreamer::put(uint8_t c) {
    if (m_buf.size() >= kMaxMessageSize) {
        error("JSON token size limit exceeded");
        return;
    }
    switch (m_state) {
    case State::Recovery:
        if (!ends_recovery(c)) return;
        m_state = State::Start;
        [[fallthrough]];
    case State::Start:
        if (is_space(c)) return;
        if (c == '}' || c == ']') {
            // QEMU's parser sees a value-less message here.
            error("JSON parse error, expecting value");
            return;
        }
        if (c == '{' || c == '[') {
            m_state = State::Value;
            m_depth = 1;
            m_buf.push_back(static_cast<char>(c));
            return;
        }
        if (c == '"' || c == '\'') {
            // A top-level string: collect it as a scalar message.
            m_state = c == '"' ? State::DqString : State::SqString;
            m_depth = 0;
            m_buf.push_back('"');
            return;
        }
        if (c < 0x20 || c >= 0x80) {
            error("JSON parse error, invalid character");
            return;
        }
        m_state = State::Scalar;
        m_buf.push_back(static_cast<char>(c));
        return;
    case State::Scalar:
        if (is_space(c) || is_structural(c)) {
            finish_scalar();
            if (!is_space(c)) put(c);
            return;
        }
        m_buf.push_back(static_cast<char>(c));
        return;
    case State::Value:
        if (c == '"') {
            m_state = State::DqString;
        } else if (c == '\'') {
            m_state = State::SqString;
            m_buf.push_back('"');
            return;
        } else if (c == '{' || c == '[') {
            if (++m_depth > kMaxNesting) {
                error("JSON nesting depth limit exceeded");
                return;
            }
        } else if (c == '}' || c == ']') {
            m_buf.push_back(static_cast<char>(c));
            if (--m_depth == 0) finish_message();
            return;
        } else if (c >= 0xFE) {
            error("JSON parse error, invalid character");
            return;
        }
        m_buf.push_back(static_cast<char>(c));
        return;
    case State::DqString:
        if (c < 0x20) {
            // A raw control character cannot be in a JSON string (RFC 8259 section 7); QEMU's
            // lexer fails here and resynchronises, so a missing quote never stalls the stream.
            error("JSON parse error, invalid character in string");
            if (c == '\n' || c == '\r') m_state = State::Start;
            return;
        }
        m_buf.push_back(static_cast<char>(c));
        if (c == '\\') m_state = State::DqEscape;
        else if (c == '"') m_state = m_depth ? State::Value : State::Start;
        if (c == '"' && m_depth == 0) finish_scalar();
        return;
    case State::DqEscape:
        m_buf.push_back(static_cast<char>(c));
        m_state = State::DqString;
        return;
    case State::SqString:
        if (c < 0x20) {
            error("JSON parse error, invalid character in string");
            if (c == '\n' || c == '\r') m_state = State::Start;
            return;
        }
        // Rewrite QEMU's single-quoted string to a standard one: the closing quote becomes
        // '"' and a bare '"' inside must be escaped.
        if (c == '\\') {
            m_state = State::SqEscape;
        } else if (c == '\'') {
            m_buf.push_back('"');
            m_state = m_depth ? State::Value : State::Start;
            if (m_depth == 0) finish_scalar();
        } else if (c == '"') {
            m_buf += "\\\"";
        } else {
            m_buf.push_back(static_cast<char>(c));
        }
        return;
    case State::SqEscape:
        // \' means a quote; every other escape is standard JSON and kept as is.
        if (c == '\'') {
            m_buf.push_back('\'');
        } else {
            m_buf.push_back('\\');
            m_buf.push_back(static_cast<char>(c));
        }
        m_state = State::SqString;
        return;
    }
}

} // namespace nemu::monitor
