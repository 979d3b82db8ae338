#pragma once
// Splits a QMP byte stream into JSON messages, as QEMU's json-lexer + json-streamer do
// (docs/interop/qmp-spec: "the server ... reads JSON objects separated by anything or nothing").
// It tracks strings and nesting only; the full parse of each complete message is done by
// nlohmann::json. Two QEMU extensions are honoured: single-quoted strings (rewritten to
// standard JSON) and error recovery at the next structural character or control byte
// (QEMU's IN_RECOVERY lexer state), so a bad message never wedges the connection.
// Thread: the monitor's (main loop).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "util/json.h"
#include "util/result.h"

namespace nemu::monitor {

class JsonStreamer {
public:
    // QEMU's limits (qobject/json-streamer.c): nesting depth and one message's size.
    static constexpr int kMaxNesting = 1024;
    static constexpr size_t kMaxMessageSize = 64u << 20;

    using Emit = std::function<void(Result<Json>)>;
    explicit JsonStreamer(Emit emit) : m_emit(std::move(emit)) {}

    void feed(std::span<const uint8_t> bytes);
    // Forget any partial message (new client connection).
    void reset();

private:
    enum class State { Start, Value, DqString, DqEscape, SqString, SqEscape, Scalar, Recovery };
    void put(uint8_t c);
    void finish_message();
    void finish_scalar();
    void error(std::string msg);

    Emit m_emit;
    State m_state = State::Start;
    int m_depth = 0;
    std::string m_buf;
};

} // namespace nemu::monitor
