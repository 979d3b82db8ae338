#include "qapi/visit.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace nemu::qapi {

std::string InPath::full() const {
    if (is_root()) return "null";
    std::string prefix = parent->is_root() ? std::string() : parent->full();
    if (index >= 0) return fmt::format("{}[{}]", prefix, index);
    return prefix.empty() ? std::string(member) : prefix + "." + std::string(member);
}

std::string_view InPath::bare() const {
    if (is_root() || index >= 0) return "null";
    return member;
}

namespace detail {

// QERR_INVALID_PARAMETER_TYPE (include/qapi/qmp/qerror.h).
Unexpected<Error> type_error(const InPath& p, std::string_view expected) {
    return fail("Invalid parameter type for '{}', expected: {}", p.full(), expected);
}
// QERR_MISSING_PARAMETER.
Unexpected<Error> missing(const InPath& p) { return fail("Parameter '{}' is missing", p.full()); }
Unexpected<Error> unexpected_member(const InPath& p) {
    return fail("Parameter '{}' is unexpected", p.full());
}
// qapi-visit-core.c input_type_enum().
Unexpected<Error> bad_enum(const InPath& p, std::string_view value) {
    return fail("Parameter '{}' does not accept value '{}'", p.bare(), value);
}
// QERR_INVALID_PARAMETER_VALUE: full name from the uint64 visitor, bare name from the
// range checks in visit_type_intN/uintN.
Unexpected<Error> range_error(const InPath& p, std::string_view type, bool full) {
    return fail("Parameter '{}' expects {}", full ? p.full() : std::string(p.bare()), type);
}

} // namespace detail

namespace {

// qobject_input_type_int64: any JSON integer representable as int64.
Result<int64_t> read_int64(const Json& j, const InPath& p) {
    if (j.is_number_unsigned()) {
        uint64_t u = j.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return detail::type_error(p, "integer");
        return static_cast<int64_t>(u);
    }
    if (j.is_number_integer()) return j.get<int64_t>();
    return detail::type_error(p, "integer");
}

// qobject_input_type_uint64: negative integers wrap "for backward compatibility".
Result<uint64_t> read_uint64(const Json& j, const InPath& p) {
    if (j.is_number_unsigned()) return j.get<uint64_t>();
    if (j.is_number_integer()) return static_cast<uint64_t>(j.get<int64_t>());
    return detail::range_error(p, "uint64", true);
}

template <class T> Result<> read_signed(const Json& j, T& out, const InPath& p, std::string_view name) {
    int64_t v = TRY(read_int64(j, p));
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
        return detail::range_error(p, name, false);
    out = static_cast<T>(v);
    return {};
}

template <class T> Result<> read_unsigned(const Json& j, T& out, const InPath& p, std::string_view name) {
    uint64_t v = TRY(read_uint64(j, p));
    if (v > std::numeric_limits<T>::max()) return detail::range_error(p, name, false);
    out = static_cast<T>(v);
    return {};
}

} // namespace

Result<> from_json(const Json& j, std::string& out, const InPath& p) {
    if (!j.is_string()) return detail::type_error(p, "string");
    out = j.get<std::string>();
    return {};
}

Result<> from_json(const Json& j, bool& out, const InPath& p) {
    if (!j.is_boolean()) return detail::type_error(p, "boolean");
    out = j.get<bool>();
    return {};
}

Result<> from_json(const Json& j, double& out, const InPath& p) {
    if (!j.is_number()) return detail::type_error(p, "number");
    out = j.get<double>();
    return {};
}

Result<> from_json(const Json& j, int64_t& out, const InPath& p) {
    out = TRY(read_int64(j, p));
    return {};
}
Result<> from_json(const Json& j, int32_t& out, const InPath& p) { return read_signed(j, out, p, "int32_t"); }
Result<> from_json(const Json& j, int16_t& out, const InPath& p) { return read_signed(j, out, p, "int16_t"); }
Result<> from_json(const Json& j, int8_t& out, const InPath& p) { return read_signed(j, out, p, "int8_t"); }

Result<> from_json(const Json& j, uint64_t& out, const InPath& p) {
    out = TRY(read_uint64(j, p));
    return {};
}
Result<> from_json(const Json& j, uint32_t& out, const InPath& p) { return read_unsigned(j, out, p, "uint32_t"); }
Result<> from_json(const Json& j, uint16_t& out, const InPath& p) { return read_unsigned(j, out, p, "uint16_t"); }
Result<> from_json(const Json& j, uint8_t& out, const InPath& p) { return read_unsigned(j, out, p, "uint8_t"); }

Result<> from_json(const Json& j, std::nullptr_t& out, const InPath& p) {
    if (!j.is_null()) return detail::type_error(p, "null");
    out = nullptr;
    return {};
}

Result<> from_json(const Json& j, Json& out, const InPath&) {
    out = j;
    return {};
}

Result<> MemberReader::finish() const {
    if (m_seen.size() == m_obj.size()) return {};
    for (const auto& [key, value] : m_obj.items()) {
        if (std::find(m_seen.begin(), m_seen.end(), key) == m_seen.end())
            return detail::unexpected_member(m_path.child(key));
    }
    return {};
}

} // namespace nemu::qapi
