#pragma once
// The QOM type table: names, parents, interfaces, class properties and factories.
// Filled once at start-up by the register_*_types() calls listed in system/register_types.cpp,
// read-only afterwards (STYLE.md rule 6: the only globals are immutable tables; this one is
// owned by main() and handed around by reference).

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qom/property.h"
#include "util/result.h"

namespace nemu::qom {

class Object;

struct TypeInfo {
    std::string name;
    std::string parent;                 // empty only for the root type "object"
    bool abstract = false;
    bool interface = false;             // interfaces are abstract and have no factory
    std::vector<std::string> interfaces;
    std::string description;            // -device help: desc "..."
    std::string category;               // -device help section ("Storage devices", ...)
    bool user_creatable_device = true;  // devices: may appear in -device / device_add
    std::string bus_type;               // devices: the bus they plug into ("PCI"), inherited
    std::vector<PropertyDef> properties;
    std::function<std::unique_ptr<Object>()> create;  // null for abstract types
    // Per-type constants a family of types shares (a machine's description and limits...),
    // QEMU's class fields. Read with std::any_cast by the family's own code.
    std::any class_data;
};

class TypeRegistry {
public:
    // Registration happens before anything is created; a malformed entry is a programmer bug.
    void add(TypeInfo info);

    const TypeInfo* find(std::string_view name) const;
    // True when `type` is `ancestor`, derives from it, or implements it as an interface.
    bool is_a(std::string_view type, std::string_view ancestor) const;
    // Types in registration order, optionally filtered by is_a(implements).
    std::vector<const TypeInfo*> list(std::string_view implements = {}, bool include_abstract = false) const;
    // Class properties of a type and its ancestors, most derived last (QEMU's order: the
    // parent's first). Instance properties (child<>, link<>) are not included.
    std::vector<const PropertyDef*> class_properties(std::string_view type) const;

    // A device type's bus ("PCI", "virtio-bus"...): its own or its nearest ancestor's.
    std::string bus_type(std::string_view type) const;

    // Instantiate a concrete type. Errors mirror QEMU's user-facing messages.
    Result<std::unique_ptr<Object>> create(std::string_view type) const;

private:
    std::vector<std::unique_ptr<TypeInfo>> m_types;
    std::map<std::string, const TypeInfo*, std::less<>> m_by_name;
};

} // namespace nemu::qom
