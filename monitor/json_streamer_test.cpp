#include "monitor/json_streamer.h"

#include <gtest/gtest.h>

#include <vector>

namespace nemu::monitor {
namespace {

struct Collector {
    std::vector<std::string> out;  // dumped JSON or "ERR: msg"
    JsonStreamer streamer{[this](Result<Json> r) {
        out.push_back(r ? dump_json(*r) : "ERR: " + r.error().msg);
    }};
    void feed(std::string_view s) {
        streamer.feed({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    }
};

TEST(JsonStreamer, SplitsBackToBackAndFragmentedMessages) {
    Collector c;
    c.feed(R"({"execute":"a"}{"execute")");
    c.feed(R"(:"b", "arguments": {"x": [1, {"y": "}"}]}})");
    c.feed("\n  {\"z\":\"\\\"}\"}");
    ASSERT_EQ(c.out.size(), 3u);
    EXPECT_EQ(c.out[0], R"({"execute":"a"})");
    EXPECT_EQ(c.out[1], R"({"execute":"b","arguments":{"x":[1,{"y":"}"}]}})");
    EXPECT_EQ(c.out[2], R"({"z":"\"}"})");
}

TEST(JsonStreamer, SingleQuotedStringsAreQemuExtensions) {
    Collector c;
    c.feed(R"({'execute': 'it\'s', "k": 'say "hi"'})");
    ASSERT_EQ(c.out.size(), 1u);
    EXPECT_EQ(c.out[0], R"({"execute":"it's","k":"say \"hi\""})");
}

TEST(JsonStreamer, ScalarsAreMessagesToo) {
    Collector c;
    c.feed("42 \"s\" [1]");
    ASSERT_EQ(c.out.size(), 3u);
    EXPECT_EQ(c.out[0], "42");
    EXPECT_EQ(c.out[1], "\"s\"");
    EXPECT_EQ(c.out[2], "[1]");
}

TEST(JsonStreamer, ErrorsThenRecovers) {
    Collector c;
    c.feed("}");
    c.feed(R"({"execute":})");
    c.feed("{\"a\": tru}");
    c.feed("{\"a\":\"\xc3\x28\"}");
    c.feed(R"({"ok":1})");
    ASSERT_EQ(c.out.size(), 5u);
    EXPECT_EQ(c.out[0], "ERR: JSON parse error, expecting value");
    EXPECT_EQ(c.out[1], "ERR: JSON parse error, expecting value");
    EXPECT_EQ(c.out[2], "ERR: JSON parse error, invalid keyword 'tru'");
    EXPECT_EQ(c.out[3], "ERR: JSON parse error, invalid UTF-8 sequence in string");
    EXPECT_EQ(c.out[4], R"({"ok":1})");
}

// Each message's error worded as QEMU 7.2's parser words it (checked against
// `qemu-system-x86_64 -M none -qmp stdio` with the same lines).
TEST(JsonStreamer, ParseErrorsUseQemuWording) {
    Collector c;
    c.feed("{\"execute\":\"query-\\qstatus\"}\n");
    c.feed("{\"a\" 1}\n");
    c.feed("{\"a\":1,}\n");
    c.feed("[1 2]\n");
    c.feed("{\"a\":1 \"b\":2}\n");
    c.feed("{\"a\":01}\n");
    ASSERT_EQ(c.out.size(), 6u);
    EXPECT_EQ(c.out[0], "ERR: JSON parse error, invalid escape sequence in string");
    EXPECT_EQ(c.out[1], "ERR: JSON parse error, missing : in object pair");
    EXPECT_EQ(c.out[2], "ERR: JSON parse error, expecting value");
    EXPECT_EQ(c.out[3], "ERR: JSON parse error, expected separator in list");
    EXPECT_EQ(c.out[4], "ERR: JSON parse error, expected separator in dict");
    EXPECT_EQ(c.out[5], "ERR: JSON parse error, stray '01'");
}

TEST(JsonStreamer, UnterminatedStringEndsAtNewline) {
    Collector c;
    c.feed("{\"execute\":\"query-st\n");
    ASSERT_EQ(c.out.size(), 1u);
    EXPECT_EQ(c.out[0], "ERR: JSON parse error, invalid character in string");
    c.feed(R"({"ok":2})");
    EXPECT_EQ(c.out.back(), R"({"ok":2})");
}

TEST(JsonStreamer, NestingLimit) {
    Collector c;
    c.feed(std::string(JsonStreamer::kMaxNesting + 1, '['));
    ASSERT_EQ(c.out.size(), 1u);
    EXPECT_EQ(c.out[0], "ERR: JSON nesting depth limit exceeded");
    // The rest of the deep input is skipped until a resynchronisation point.
    c.feed("\n{\"ok\":true}");
    EXPECT_EQ(c.out.back(), R"({"ok":true})");
}

TEST(JsonStreamer, SizeLimitDropsTheMessage) {
    Collector c;
    std::string big = "{\"a\":\"" + std::string(JsonStreamer::kMaxMessageSize, 'x') + "\"}";
    c.feed(big);
    ASSERT_GE(c.out.size(), 1u);
    EXPECT_EQ(c.out[0], "ERR: JSON token size limit exceeded");
    c.feed("\n{\"ok\":1}");
    EXPECT_EQ(c.out.back(), R"({"ok":1})");
}

} // namespace
} // namespace nemu::monitor
