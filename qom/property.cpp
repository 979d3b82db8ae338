#include "qom/property.h"

#include <limits>

#include "util/size_parse.h"

namespace nemu::qom {

namespace {

struct IntRange {
    std::string_view type;
    bool is_signed;
    int64_t min;
    uint64_t max;
};

// QEMU's integer property types and their ranges (qapi/qapi-visit-core.c visit_type_*).
constexpr IntRange kIntRanges[] = {
    {"int", true, INT64_MIN, INT64_MAX},        {"int8", true, INT8_MIN, INT8_MAX},
    {"int16", true, INT16_MIN, INT16_MAX},      {"int32", true, INT32_MIN, INT32_MAX},
    {"int64", true, INT64_MIN, INT64_MAX},      {"uint8", false, 0, UINT8_MAX},
    {"uint16", false, 0, UINT16_MAX},           {"uint32", false, 0, UINT32_MAX},
    {"uint64", false, 0, UINT64_MAX},           {"size", false, 0, UINT64_MAX},
};

const IntRange* int_range(std::string_view type) {
    for (const auto& r : kIntRanges)
        if (r.type == type) return &r;
    return nullptr;
}

} // namespace

Result<> check_property_value(std::string_view type, std::string_view name, const Json& v) {
    if (type == "bool") {
        if (!v.is_boolean()) return fail("Invalid parameter type for '{}', expected: boolean", name);
        return {};
    }
    if (const IntRange* r = int_range(type)) {
        if (!v.is_number_integer()) return fail("Invalid parameter type for '{}', expected: integer", name);
        if (v.is_number_unsigned()) {
            if (v.get<uint64_t>() > r->max) return fail("Parameter '{}' expects {}", name, type);
        } else {
            int64_t x = v.get<int64_t>();
            if (x < r->min || (x >= 0 && static_cast<uint64_t>(x) > r->max))
                return fail("Parameter '{}' expects {}", name, type);
        }
        return {};
    }
    if (type == "number") {
        if (!v.is_number()) return fail("Invalid parameter type for '{}', expected: number", name);
        return {};
    }
    if (type == "any") return {};
    // Strings, links and QAPI enums all travel as JSON strings.
    if (!v.is_string()) return fail("Invalid parameter type for '{}', expected: string", name);
    return {};
}

Result<Json> parse_property_string(std::string_view type, std::string_view name, std::string_view text) {
    if (type == "bool") {
        if (text == "on" || text == "yes" || text == "true" || text == "y") return Json(true);
        if (text == "off" || text == "no" || text == "false" || text == "n") return Json(false);
        return fail("Parameter '{}' expects 'on' or 'off'", name);
    }
    if (type == "size") {
        uint64_t v = 0;
        if (cmdline::strtosz(text, 'B', v) != cmdline::SizeError::None)
            return fail("Parameter '{}' expects a non-negative number below 2^64", name);
        return Json(v);
    }
    if (const IntRange* r = int_range(type)) {
        if (r->is_signed) {
            int64_t v = 0;
            if (cmdline::strtoi64(text, 0, v) != cmdline::SizeError::None)
                return fail("Parameter '{}' expects integer", name);
            Json j(v);
            TRY(check_property_value(type, name, j));
            return j;
        }
        uint64_t v = 0;
        if (text.starts_with('-') || cmdline::strtou64(text, 0, v) != cmdline::SizeError::None)
            return fail("Parameter '{}' expects integer", name);
        Json j(v);
        TRY(check_property_value(type, name, j));
        return j;
    }
    if (type == "number") {
        try {
            size_t used = 0;
            double d = std::stod(std::string(text), &used);
            if (used == text.size()) return Json(d);
        } catch (const std::exception&) {
        }
        return fail("Parameter '{}' expects number", name);
    }
    // str, link<> and QAPI enum properties take the text as is.
    return Json(std::string(text));
}

} // namespace nemu::qom
