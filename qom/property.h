#pragma once
// Typed QOM properties, declared once per type (QEMU's class properties) through member
// pointers, or added per instance (child<>, link<> and dynamic ones). Values cross the
// boundary as JSON: qom-get/qom-set and JSON -object/-device use them directly; key=value
// command-line text goes through parse_property_string(), which converts by the declared
// type as QEMU's string/keyval input visitors do.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/json.h"
#include "util/result.h"

namespace nemu::qom {

class Object;

struct PropertyDef {
    std::string name;
    std::string type;         // QEMU's type string: "bool", "str", "uint64", "size", "link<T>"...
    // How command-line text converts (parse_property_string); empty: as `type`. QEMU shows
    // memory-backend "size" as "int" but parses "64M" as a size.
    std::string text_type;
    std::string description;  // shown by -device X,help and *-list-properties
    std::optional<Json> default_value;
    std::function<Result<Json>(const Object&)> get;         // null: write-only
    std::function<Result<>(Object&, const Json&)> set;      // null: read-only
    // Must be given when the object is created (QAPI: a non-optional member).
    bool required = false;
    // Settable only before the object is realized/completed (QEMU: most device props).
    bool set_before_realize_only = true;
};

// Convert command-line text to the JSON value a property of `type` expects:
// "on"/"off" for bool, sizes with suffixes for "size", numbers for ints.
Result<Json> parse_property_string(std::string_view type, std::string_view prop_name, std::string_view text);

// Validate that `v` fits a property of `type`, with QEMU's input-visitor messages
// ("Invalid parameter type for 'NAME', expected: integer", "Parameter 'NAME' expects uint8").
Result<> check_property_value(std::string_view type, std::string_view prop_name, const Json& v);

namespace detail {
template <class T> constexpr std::string_view type_of() {
    if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_same_v<T, std::string>) return "str";
    else if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
    else if constexpr (std::is_same_v<T, uint16_t>) return "uint16";
    else if constexpr (std::is_same_v<T, uint32_t>) return "uint32";
    else if constexpr (std::is_same_v<T, uint64_t>) return "uint64";
    else if constexpr (std::is_same_v<T, int32_t>) return "int32";
    else if constexpr (std::is_same_v<T, int64_t>) return "int64";
    else static_assert(sizeof(T) == 0, "unsupported property type");
}
} // namespace detail

// One declarative line per property: prop("max-bytes", &VirtioRng::m_max_bytes, kUnlimited, "...").
// `type_override` lets a uint64 member be shown as QEMU's "size".
template <class C, class T>
PropertyDef prop(std::string name, T C::*member, std::optional<T> dflt, std::string description = {},
                 std::string_view type_override = {}) {
    PropertyDef d;
    d.name = std::move(name);
    d.type = type_override.empty() ? std::string(detail::type_of<T>()) : std::string(type_override);
    d.description = std::move(description);
    if (dflt) d.default_value = Json(*dflt);
    d.get = [member](const Object& o) -> Result<Json> { return Json(static_cast<const C&>(o).*member); };
    d.set = [member, type = d.type, pname = d.name](Object& o, const Json& v) -> Result<> {
        TRY(check_property_value(type, pname, v));
        static_cast<C&>(o).*member = v.get<T>();
        return {};
    };
    return d;
}

} // namespace nemu::qom
