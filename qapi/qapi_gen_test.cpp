// Tests of the generated QAPI code from the real schema (qapi/schema/qapi-schema.json).
#include <gtest/gtest.h>

#include <vector>

#include "qapi/qapi-events.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qapi-types.h"

namespace nemu::qapi {
namespace {

template <class T> std::string decode_error(const char* text) {
    auto r = from_json<T>(Json::parse(text));
    if (r) return "<ok>";
    return r.error().msg;
}

TEST(QapiTypes, StructRoundTrip) {
    VersionInfo v{VersionTriple{7, 2, 0}, "nemu-0.1.0"};
    Json j = to_json(v);
    EXPECT_EQ(dump_json(j), R"({"qemu":{"major":7,"minor":2,"micro":0},"package":"nemu-0.1.0"})");
    auto back = from_json<VersionInfo>(j);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, v);
}

TEST(QapiTypes, OptionalMembersAndKeywords) {
    CommandLineParameterInfo p{"mem", CommandLineParameterType::Size, std::nullopt, "128M"};
    EXPECT_EQ(dump_json(to_json(p)), R"({"name":"mem","type":"size","default":"128M"})");
    auto back = from_json<CommandLineParameterInfo>(to_json(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->default_, std::optional<std::string>("128M"));
    EXPECT_FALSE(back->help.has_value());
}

TEST(QapiTypes, Enums) {
    EXPECT_EQ(to_string(ShutdownCause::HostQmpSystemReset), "host-qmp-system-reset");
    EXPECT_EQ(to_string(SysEmuTarget::X86_64), "x86_64");
    auto c = parse_ShutdownCause("guest-panic");
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, ShutdownCause::GuestPanic);
    EXPECT_FALSE(parse_ShutdownCause("nope"));
}

TEST(QapiTypes, FlatUnion) {
    const char* text = R"({"qom-type":"memory-backend-ram","id":"m0","size":1073741824,)"
                       R"("share":true,"host-nodes":[0,1]})";
    auto o = from_json<ObjectOptions>(Json::parse(text));
    ASSERT_TRUE(o) << o.error().msg;
    EXPECT_EQ(o->qom_type, ObjectType::MemoryBackendRam);
    EXPECT_EQ(o->id, "m0");
    ASSERT_TRUE(o->memory_backend_ram);
    EXPECT_FALSE(o->iothread);
    EXPECT_EQ(o->memory_backend_ram->size, 1073741824u);
    EXPECT_EQ(o->memory_backend_ram->share, true);
    EXPECT_EQ(o->memory_backend_ram->host_nodes, (std::vector<uint16_t>{0, 1}));
    EXPECT_EQ(to_json(*o), Json::parse(R"({"qom-type":"memory-backend-ram","id":"m0",)"
                                       R"("host-nodes":[0,1],"share":true,"size":1073741824})"));
    // A branch's members are only allowed with its tag value.
    EXPECT_EQ(decode_error<ObjectOptions>(R"({"qom-type":"iothread","id":"x","size":1})"),
              "Parameter 'size' is unexpected");
    EXPECT_EQ(decode_error<ObjectOptions>(R"({"qom-type":"iothread"})"), "Parameter 'id' is missing");
    EXPECT_EQ(decode_error<ObjectOptions>(R"({"id":"x"})"), "Parameter 'qom-type' is missing");
    EXPECT_EQ(decode_error<ObjectOptions>(R"({"qom-type":"bogus","id":"x"})"),
              "Parameter 'qom-type' does not accept value 'bogus'");
    EXPECT_EQ(decode_error<ObjectOptions>(R"({"qom-type":"iothread","id":"x","poll-max-ns":"a"})"),
              "Invalid parameter type for 'poll-max-ns', expected: integer");
}

TEST(QapiTypes, Alternate) {
    auto s = from_json<MigrateSetParameters>(Json::parse(R"({"tls-creds":null,"tls-hostname":"h"})"));
    ASSERT_TRUE(s) << s.error().msg;
    ASSERT_TRUE(s->tls_creds);
    EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(*s->tls_creds));
    EXPECT_EQ(std::get<std::string>(*s->tls_hostname), "h");
    EXPECT_EQ(dump_json(to_json(*s)), R"({"tls-creds":null,"tls-hostname":"h"})");
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"tls-creds":5})"),
              "Invalid parameter type for 'tls-creds', expected: StrOrNull");
}

// Messages checked against qemu-system-x86_64 7.2 (qobject-input-visitor.c).
TEST(QapiVisit, ErrorMessages) {
    EXPECT_EQ(decode_error<QomListArg>(R"({"path":5})"), "Invalid parameter type for 'path', expected: string");
    EXPECT_EQ(decode_error<QomListArg>(R"({"path":"/","x":1})"), "Parameter 'x' is unexpected");
    EXPECT_EQ(decode_error<QomListArg>("{}"), "Parameter 'path' is missing");
    EXPECT_EQ(decode_error<QueryCpuModelExpansionArg>(R"({"type":"bogus","model":{"name":"max"}})"),
              "Parameter 'type' does not accept value 'bogus'");
    EXPECT_EQ(decode_error<QueryCpuModelExpansionArg>(R"({"type":"full","model":{"name":5}})"),
              "Invalid parameter type for 'model.name', expected: string");
    EXPECT_EQ(decode_error<QueryCpuModelExpansionArg>(R"({"type":"full","model":{"props":{}}})"),
              "Parameter 'model.name' is missing");
    EXPECT_EQ(decode_error<QueryCpuModelExpansionArg>(R"({"type":"full","model":{"name":"max","x":1}})"),
              "Parameter 'model.x' is unexpected");
    EXPECT_EQ(decode_error<QueryCommandLineOptionsArg>(R"({"option":null})"),
              "Invalid parameter type for 'option', expected: string");
    EXPECT_EQ(decode_error<QmpCapabilitiesArg>(R"({"enable":["oob",1]})"),
              "Invalid parameter type for 'enable[1]', expected: string");
    EXPECT_EQ(decode_error<QmpCapabilitiesArg>(R"({"enable":"oob"})"),
              "Invalid parameter type for 'enable', expected: array");
    EXPECT_EQ(decode_error<QmpCapabilitiesArg>(R"({"enable":["bogus"]})"),
              "Parameter 'null' does not accept value 'bogus'");
    EXPECT_EQ(decode_error<MigrateSetCapabilitiesArg>(R"({"capabilities":[{"capability":"bogus","state":true}]})"),
              "Parameter 'capability' does not accept value 'bogus'");
    EXPECT_EQ(decode_error<MigrateSetCapabilitiesArg>(R"({"capabilities":[{"capability":"xbzrle","state":1}]})"),
              "Invalid parameter type for 'capabilities[0].state', expected: boolean");
    EXPECT_EQ(decode_error<MigrateSetCapabilitiesArg>(R"({"capabilities":[{"capability":"xbzrle"}]})"),
              "Parameter 'capabilities[0].state' is missing");
    EXPECT_EQ(decode_error<MigrateSetCapabilitiesArg>(R"({"capabilities":[5]})"),
              "Invalid parameter type for 'capabilities[0]', expected: object");
}

TEST(QapiVisit, IntegerRanges) {
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"cpu-throttle-initial":300})"),
              "Parameter 'cpu-throttle-initial' expects uint8_t");
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"multifd-channels":-1})"),
              "Parameter 'multifd-channels' expects uint8_t");
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"max-bandwidth":1.5})"),
              "Parameter 'max-bandwidth' expects uint64");
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"announce-initial":18446744073709551616})"),
              "Parameter 'announce-initial' expects uint64");
    EXPECT_EQ(decode_error<MigrateSetParameters>(R"({"block-incremental":"x"})"),
              "Invalid parameter type for 'block-incremental', expected: boolean");
    // uint64 accepts negative numbers (wrapping), as QEMU does for backward compatibility.
    auto w = from_json<MigrateSetParameters>(Json::parse(R"({"downtime-limit":-1})"));
    ASSERT_TRUE(w);
    EXPECT_EQ(*w->downtime_limit, UINT64_MAX);
    std::string ram = R"({"qom-type":"memory-backend-ram","id":"m","size":1,"host-nodes":[1,)";
    EXPECT_EQ(decode_error<ObjectOptions>((ram + R"("a"]})").c_str()),
              "Parameter 'host-nodes[1]' expects uint64");
    EXPECT_EQ(decode_error<ObjectOptions>((ram + "70000]}").c_str()), "Parameter 'null' expects uint16_t");
    EXPECT_EQ(decode_error<ObjectOptions>(
                  R"({"qom-type":"iothread","id":"m","poll-max-ns":9223372036854775808})"),
              "Invalid parameter type for 'poll-max-ns', expected: integer");
}

struct RecordingSink : EventSink {
    std::vector<std::pair<std::string, Json>> events;
    void emit_event(std::string_view name, Json data) override { events.emplace_back(name, std::move(data)); }
};

TEST(QapiEvents, Send) {
    RecordingSink sink;
    qapi_event_send_shutdown(sink, false, ShutdownCause::HostSignal);
    qapi_event_send_stop(sink);
    qapi_event_send_device_deleted(sink, std::nullopt, "/machine/peripheral-anon/device[0]");
    ASSERT_EQ(sink.events.size(), 3u);
    EXPECT_EQ(sink.events[0].first, "SHUTDOWN");
    EXPECT_EQ(dump_json(sink.events[0].second), R"({"guest":false,"reason":"host-signal"})");
    EXPECT_EQ(dump_json(sink.events[1].second), "{}");
    EXPECT_EQ(dump_json(sink.events[2].second), R"({"path":"/machine/peripheral-anon/device[0]"})");
}

const Json* find_entry(std::string_view name) {
    for (const auto& e : qapi_introspection())
        if (e["name"] == name) return &e;
    return nullptr;
}

TEST(QapiIntrospect, Layout) {
    const Json& schema = qapi_introspection();
    ASSERT_TRUE(schema.is_array());
    // QEMU 7.2 lists run-state.json first; q_empty is the first masked name.
    EXPECT_EQ(dump_json(schema[0]), R"({"name":"query-status","ret-type":"1","meta-type":"command","arg-type":"0"})");
    EXPECT_EQ(dump_json(*find_entry("0")), R"({"name":"0","members":[],"meta-type":"object"})");

    const Json* qv = find_entry("query-version");
    ASSERT_TRUE(qv);
    EXPECT_EQ((*qv)["arg-type"], "0");
    const Json* ret = find_entry((*qv)["ret-type"].get<std::string>());
    ASSERT_TRUE(ret);
    EXPECT_EQ((*ret)["meta-type"], "object");
    ASSERT_EQ((*ret)["members"].size(), 2u);
    EXPECT_EQ((*ret)["members"][0]["name"], "qemu");
    EXPECT_EQ((*ret)["members"][1], Json::parse(R"({"name":"package","type":"str"})"));
    const Json* triple = find_entry((*ret)["members"][0]["type"].get<std::string>());
    ASSERT_TRUE(triple);
    EXPECT_EQ((*triple)["members"][0], Json::parse(R"({"name":"major","type":"int"})"));

    // Masking: no non-builtin type name survives.
    for (const auto& e : schema) {
        std::string mt = e["meta-type"];
        std::string name = e["name"];
        if (mt == "object" || mt == "enum" || mt == "alternate") {
            EXPECT_TRUE(!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) << name;
        }
    }
    EXPECT_EQ(find_entry("VersionInfo"), nullptr);

    // Optional members carry "default": null; sized integers appear as int; arrays as [T].
    const Json* caps = find_entry("qmp_capabilities");
    ASSERT_TRUE(caps);
    const Json* args = find_entry((*caps)["arg-type"].get<std::string>());
    ASSERT_TRUE(args);
    EXPECT_EQ((*args)["members"][0]["default"], nullptr);
    std::string enable = (*args)["members"][0]["type"];
    ASSERT_EQ(enable.front(), '[');
    const Json* cap_enum = find_entry(enable.substr(1, enable.size() - 2));
    ASSERT_TRUE(cap_enum);
    EXPECT_EQ(dump_json((*cap_enum)["values"]), R"(["oob"])");
    EXPECT_EQ(dump_json((*cap_enum)["members"]), R"([{"name":"oob"}])");
    EXPECT_EQ(dump_json(*find_entry("[int]")), R"({"name":"[int]","element-type":"int","meta-type":"array"})");
    EXPECT_EQ(dump_json(*find_entry("query-yank")).find("\"allow-oob\":true") != std::string::npos, true);
}

TEST(QapiIntrospect, Conditions) {
    // TARGET_I386 holds for x86_64: the CPU model commands exist...
    EXPECT_NE(find_entry("query-cpu-model-expansion"), nullptr);
    EXPECT_NE(find_entry("query-cpu-definitions"), nullptr);
    // ...and QEMU's entities for features nemu lacks are left out.
    EXPECT_EQ(find_entry("query-sgx-capabilities"), nullptr);
    EXPECT_EQ(find_entry("query-spice"), nullptr);
}

} // namespace
} // namespace nemu::qapi
