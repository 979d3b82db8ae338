#include "util/json.h"

#include <gtest/gtest.h>

namespace nemu {
namespace {

TEST(JsonQmp, SeparatorsAndOrderAsQemu) {
    Json j = Json::object();
    j["return"] = Json{{"status", "running"}, {"singlestep", false}, {"running", true}};
    j["id"] = Json::array({1, "a", nullptr});
    EXPECT_EQ(dump_json_qmp(j),
              R"({"return": {"status": "running", "singlestep": false, "running": true}, "id": [1, "a", null]})");
    EXPECT_EQ(dump_json_qmp(Json::object()), "{}");
    EXPECT_EQ(dump_json_qmp(Json::array()), "[]");
}

TEST(JsonQmp, EscapesLikeQemuJsonWriter) {
    EXPECT_EQ(dump_json_qmp(Json("a\"b\\c\n\t\x01")), R"("a\"b\\c\n\t\u0001")");
    EXPECT_EQ(dump_json_qmp(Json("\xc3\xa9")), R"("\u00E9")");            // U+00E9
    EXPECT_EQ(dump_json_qmp(Json("\xf0\x9f\x98\x80")), R"("\uD83D\uDE00")");  // U+1F600
    EXPECT_EQ(dump_json_qmp(Json("\x7f")), R"("\u007F")");
}

TEST(JsonQmp, InvalidUtf8BecomesReplacementCharacter) {
    std::string bad = "x\xff" "y\xc3";
    EXPECT_EQ(dump_json_qmp(Json(bad)), R"("x\uFFFDy\uFFFD")");
    std::string overlong = "\xc0\xaf";
    EXPECT_EQ(dump_json_qmp(Json(overlong)), R"("\uFFFD\uFFFD")");
}

TEST(JsonQmp, PrettyIndentsFourSpaces) {
    Json j = Json::object();
    j["return"] = Json{{"a", 1}};
    EXPECT_EQ(dump_json_qmp(j, true), "{\n    \"return\": {\n        \"a\": 1\n    }\n}");
}

TEST(Json, ParseNeverThrows) {
    EXPECT_FALSE(parse_json("{"));
    EXPECT_FALSE(parse_json("\xff"));
    EXPECT_EQ(*parse_json("[1]"), Json::array({1}));
}

} // namespace
} // namespace nemu
