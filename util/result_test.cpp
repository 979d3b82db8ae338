#include "util/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace nemu {
namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return fail("'{}' is not a digit", c);
    return c - '0';
}

Result<int> sum_two(char a, char b) {
    int x = TRY(parse_digit(a));
    int y = TRY(parse_digit(b));
    return x + y;
}

Result<> check_positive(int v) {
    if (v <= 0) return fail(ErrorClass::DeviceNotFound, "{} is not positive", v);
    return {};
}

Result<int> doubled_if_positive(int v) {
    TRY(check_positive(v));
    return v * 2;
}

TEST(Result, TryPropagatesValuesAndErrors) {
    EXPECT_EQ(*sum_two('3', '4'), 7);
    auto bad = sum_two('3', 'x');
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().msg, "'x' is not a digit");
    EXPECT_EQ(bad.error().cls, ErrorClass::GenericError);
}

TEST(Result, VoidResultCarriesClass) {
    EXPECT_EQ(*doubled_if_positive(4), 8);
    auto bad = doubled_if_positive(-1);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().cls, ErrorClass::DeviceNotFound);
    EXPECT_EQ(error_class_name(bad.error().cls), "DeviceNotFound");
}

TEST(Result, HoldsMoveOnlyValues) {
    Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
    ASSERT_TRUE(r);
    auto p = std::move(r).value();
    EXPECT_EQ(*p, 5);
}

TEST(Result, FailErrnoNamesTheCall) {
    Result<> r = fail_errno("open /nonexistent", ENOENT);
    EXPECT_EQ(r.error().msg, "open /nonexistent: No such file or directory");
    EXPECT_EQ(r.error().sys_errno, ENOENT);
}

} // namespace
} // namespace nemu
