// libFuzzer harness for the QMP JSON path: arbitrary bytes, delivered in one to three
// chunks as a socket would, through the JsonStreamer; every complete message then goes
// through the generated QAPI input visitors as a command's arguments would (the whole
// message and its "arguments" member), and what decodes is encoded back with to_json.
// Every input must be handled without a crash, a leak, a hang or an unbounded allocation
// (DESIGN.md §6 "safety"), and decode(encode(v)) must give v back.
//
// Input layout: byte 0 picks the number of chunks (1 + b % 3), bytes 1-2 the split points
// (as fractions of the rest); the remaining bytes are the stream.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>

#include "monitor/json_streamer.h"
#include "qapi/qapi-types.h"
#include "qapi/visit.h"
#include "util/json.h"

namespace {

using namespace nemu;

// Decode as T; if that works, encode, serialise and decode again: the value must survive.
template <class T> void visit_as(const Json& j) {
    auto decoded = qapi::from_json<T>(j);
    if (!decoded) {
        // Error messages are built from input text: format them as the dispatcher would.
        (void)dump_json(Json{{"class", "GenericError"}, {"desc", decoded.error().msg}});
        return;
    }
    Json encoded = qapi::to_json(*decoded);
    (void)dump_json(encoded);
    auto again = qapi::from_json<T>(encoded);
    if (!again || !(*again == *decoded)) std::abort();   // to_json/from_json disagree
}

void visit_all(const Json& j) {
    visit_as<qapi::ObjectOptions>(j);
    visit_as<qapi::QomSetArg>(j);
    visit_as<qapi::QomGetArg>(j);
    visit_as<qapi::QomListArg>(j);
    visit_as<qapi::QueryCpuModelExpansionArg>(j);
    visit_as<qapi::QmpCapabilitiesArg>(j);
    visit_as<qapi::HumanMonitorCommandArg>(j);
    visit_as<qapi::DeviceAddArg>(j);
    visit_as<qapi::MigrateSetCapabilitiesArg>(j);
    visit_as<qapi::AddFdArg>(j);
    visit_as<qapi::SocketAddress>(j);
}

void on_message(Result<Json> msg) {
    if (!msg) return;
    const Json& j = *msg;
    (void)dump_json(j);
    visit_all(j);
    if (j.is_object()) {
        auto args = j.find("arguments");
        if (args != j.end()) visit_all(*args);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    unsigned chunks = 1 + data[0] % 3;
    std::span<const uint8_t> rest(data + 3, size - 3);
    // Split points as fractions (x/256) of the stream, in order.
    size_t a = rest.size() * data[1] / 256, b = rest.size() * data[2] / 256;
    if (a > b) std::swap(a, b);
    if (chunks == 1) a = b = rest.size();
    else if (chunks == 2) b = rest.size();

    monitor::JsonStreamer streamer(on_message);
    streamer.feed(rest.subspan(0, a));
    streamer.feed(rest.subspan(a, b - a));
    streamer.feed(rest.subspan(b));
    // A new client: any partial message is dropped, and the streamer must work afterwards.
    streamer.reset();
    static constexpr uint8_t kProbe[] = "{\"execute\":\"qmp_capabilities\",\"arguments\":{}}";
    streamer.feed(std::span<const uint8_t>(kProbe, sizeof kProbe - 1));
    return 0;
}
