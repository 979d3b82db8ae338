// QEMU's QDict text (json: file names). Expected strings were printed by qemu-system-x86_64
// 7.2 in query-named-block-nodes.
#include "block/block_filename.h"

#include <gtest/gtest.h>

namespace nemu::block {
namespace {

TEST(BlockFilename, QdictOrderAndSpacing) {
    Json file = {{"driver", "file"}, {"filename", "r.raw"}};
    Json raw = Json::object();
    raw["driver"] = "raw";
    raw["offset"] = 0;
    raw["size"] = 4096;
    raw["file"] = file;
    EXPECT_EQ(qdict_json_text(raw),
              R"({"offset": 0, "driver": "raw", "size": 4096, "file": {"driver": "file", "filename": "r.raw"}})");
    Json q = Json::object();
    q["driver"] = "qcow2";
    q["file"] = Json{{"driver", "file"}, {"filename", "o.qcow2"}};
    q["backing"] = nullptr;
    EXPECT_EQ(qdict_json_text(q),
              R"({"backing": null, "driver": "qcow2", "file": {"driver": "file", "filename": "o.qcow2"}})");
}

TEST(BlockFilename, StringEscapes) {
    EXPECT_EQ(qdict_json_text(Json("a\"b\\c\n\x01/\x7f")), R"("a\"b\\c\n\u0001/\u007F")");
    EXPECT_EQ(qdict_json_text(Json("\xc3\xa9")), R"("\u00E9")");
    EXPECT_EQ(qdict_json_text(Json("\xf0\x9f\x98\x80")), R"("\uD83D\uDE00")");
    EXPECT_EQ(qdict_json_text(Json::array({1, true, "x"})), R"([1, true, "x"])");
}

} // namespace
} // namespace nemu::block
