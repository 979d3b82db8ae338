#include "qom/property.h"

#include <gtest/gtest.h>

namespace nemu::qom {
namespace {

TEST(Property, StringConversionFollowsType) {
    EXPECT_EQ(*parse_property_string("size", "size", "1G"), 1ull << 30);
    EXPECT_EQ(parse_property_string("size", "size", "1Q").error().msg,
              "Parameter 'size' expects a non-negative number below 2^64");
    EXPECT_EQ(*parse_property_string("int32", "x", "-5"), -5);
    EXPECT_EQ(parse_property_string("int8", "x", "200").error().msg, "Parameter 'x' expects int8");
    EXPECT_EQ(*parse_property_string("uint16", "x", "0x10"), 16);
    EXPECT_EQ(*parse_property_string("str", "id", "on"), "on");
    EXPECT_EQ(*parse_property_string("bool", "b", "yes"), true);
    EXPECT_EQ(*parse_property_string("OnOffAuto", "e", "auto"), "auto");
}

TEST(Property, JsonValueChecks) {
    EXPECT_TRUE(check_property_value("uint64", "v", Json(18446744073709551615ull)));
    EXPECT_EQ(check_property_value("bool", "v", Json(1)).error().msg,
              "Invalid parameter type for 'v', expected: boolean");
    EXPECT_EQ(check_property_value("str", "v", Json(1)).error().msg,
              "Invalid parameter type for 'v', expected: string");
    EXPECT_TRUE(check_property_value("any", "v", Json::object()));
}

} // namespace
} // namespace nemu::qom
