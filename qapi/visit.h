#pragma once
// Runtime support for the generated QAPI (de)serialisers: the input "visitor" that turns a
// JSON value into C++ with QEMU 7.2's exact error messages (qapi/qobject-input-visitor.c and
// qapi/qapi-visit-core.c), and to_json for the builtin types.
//
// QEMU's message rules, mirrored here:
//  - type mismatches and missing/unexpected members name the full path ("model.name",
//    "enable[1]", "capabilities[0].state"); the top-level arguments object has no name;
//  - range errors of the sized integer types (int8..uint32), unknown enum values and
//    alternate mismatches name only the member ("null" for list elements), because QEMU
//    reports them with the bare visitor name.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace nemu::qapi {

// Where a value sits in the input, for error messages. Lives on the stack of the decoder.
struct InPath {
    const InPath* parent = nullptr;
    std::string_view member;     // set for object members
    long index = -1;             // set (>= 0) for list elements

    static InPath root() { return {}; }
    InPath child(std::string_view name) const { return InPath{this, name, -1}; }
    InPath element(long i) const { return InPath{this, {}, i}; }
    bool is_root() const { return parent == nullptr; }
    // QEMU full_name(): "a.b[2].c"; "null" for the root.
    std::string full() const;
    // The bare visitor name: the member name, "null" for list elements and the root.
    std::string_view bare() const;
};

namespace detail {
Unexpected<Error> type_error(const InPath& p, std::string_view expected);   // full path
Unexpected<Error> missing(const InPath& p);
Unexpected<Error> unexpected_member(const InPath& p);
Unexpected<Error> bad_enum(const InPath& p, std::string_view value);
Unexpected<Error> range_error(const InPath& p, std::string_view type, bool full);
} // namespace detail

// Builtin decoders.
Result<> from_json(const Json& j, std::string& out, const InPath& p);
Result<> from_json(const Json& j, bool& out, const InPath& p);
Result<> from_json(const Json& j, double& out, const InPath& p);
Result<> from_json(const Json& j, int64_t& out, const InPath& p);
Result<> from_json(const Json& j, int32_t& out, const InPath& p);
Result<> from_json(const Json& j, int16_t& out, const InPath& p);
Result<> from_json(const Json& j, int8_t& out, const InPath& p);
Result<> from_json(const Json& j, uint64_t& out, const InPath& p);
Result<> from_json(const Json& j, uint32_t& out, const InPath& p);
Result<> from_json(const Json& j, uint16_t& out, const InPath& p);
Result<> from_json(const Json& j, uint8_t& out, const InPath& p);
Result<> from_json(const Json& j, std::nullptr_t& out, const InPath& p);
Result<> from_json(const Json& j, Json& out, const InPath& p);

template <class T> Result<> from_json(const Json& j, std::vector<T>& out, const InPath& p) {
    if (!j.is_array()) return detail::type_error(p, "array");
    out.clear();
    out.reserve(j.size());
    long i = 0;
    for (const auto& el : j) {
        InPath ep = p.element(i++);
        T v{};
        TRY(from_json(el, v, ep));
        out.push_back(std::move(v));
    }
    return {};
}

// Decode a whole value: from_json<QomGetArg>(args).
template <class T> Result<T> from_json(const Json& j) {
    T v{};
    TRY(from_json(j, v, InPath::root()));
    return v;
}

// Builtin encoders; generated types add their own overloads.
inline Json to_json(const std::string& v) { return v; }
inline Json to_json(bool v) { return v; }
inline Json to_json(double v) { return v; }
inline Json to_json(int64_t v) { return v; }
inline Json to_json(int32_t v) { return v; }
inline Json to_json(int16_t v) { return v; }
inline Json to_json(int8_t v) { return static_cast<int64_t>(v); }
inline Json to_json(uint64_t v) { return v; }
inline Json to_json(uint32_t v) { return v; }
inline Json to_json(uint16_t v) { return v; }
inline Json to_json(uint8_t v) { return static_cast<uint64_t>(v); }
inline Json to_json(std::nullptr_t) { return nullptr; }
inline Json to_json(const Json& v) { return v; }
// An alternate's object branch (gen_types.py alt_cpp).
template <class T> Json to_json(const std::shared_ptr<T>& v) {
    if (!v) return nullptr;
    return to_json(*v);
}
template <class T> Json to_json(const std::vector<T>& v) {
    Json a = Json::array();
    for (const auto& el : v) a.push_back(to_json(el));
    return a;
}

// Reads the members of one JSON object in schema order and then rejects the rest, as QEMU's
// visit_start_struct / visit_check_struct pair does.
class MemberReader {
public:
    MemberReader(const Json& obj, const InPath& path) : m_obj(obj), m_path(path) {}

    template <class T> Result<> required(std::string_view name, T& out) {
        InPath p = m_path.child(name);
        auto it = m_obj.find(std::string(name));
        if (it == m_obj.end()) return detail::missing(p);
        m_seen.push_back(name);
        return from_json(*it, out, p);
    }
    template <class T> Result<> optional(std::string_view name, std::optional<T>& out) {
        auto it = m_obj.find(std::string(name));
        if (it == m_obj.end()) return {};
        m_seen.push_back(name);
        InPath p = m_path.child(name);
        T v{};
        TRY(from_json(*it, v, p));
        out = std::move(v);
        return {};
    }
    // A self-recursive struct's optional member (gen_types.py member_decl).
    template <class T> Result<> optional(std::string_view name, std::shared_ptr<T>& out) {
        std::optional<T> v;
        TRY(optional(name, v));
        if (v) out = std::make_shared<T>(std::move(*v));
        return {};
    }
    // Names must outlive the reader (the generated code passes string literals).
    // Rejects the first member (in input order) that was not read: "Parameter 'x' is unexpected".
    Result<> finish() const;
    const InPath& path() const { return m_path; }

private:
    const Json& m_obj;
    const InPath& m_path;
    std::vector<std::string_view> m_seen;
};

} // namespace nemu::qapi
