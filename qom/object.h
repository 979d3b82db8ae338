#pragma once
// QOM objects: a type, properties, and a place in the composition tree. The tree owns its
// children (std::unique_ptr); link<> properties observe and are cleared on removal.
// Thread: main loop only (the tree is configuration, never touched on the I/O path).

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qom/property.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::qom {

struct TypeInfo;
class TypeRegistry;

// One property as an instance sees it (class properties plus instance ones).
struct PropertyView {
    const PropertyDef* def;
};

class Object {
public:
    Object() = default;
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    virtual ~Object();

    const TypeInfo& type() const { return *m_type; }
    std::string_view type_name() const;
    const TypeRegistry& registry() const { return *m_registry; }
    bool is_a(std::string_view type) const;

    // Composition tree.
    Object* parent() const { return m_parent; }
    const std::string& name() const { return m_name; }
    std::string canonical_path() const;
    // Adds `child` under `name` with a child<TYPE> property; the name must be free.
    Result<Object*> add_child(std::string name, std::unique_ptr<Object> child);
    std::unique_ptr<Object> remove_child(std::string_view name);
    Object* child(std::string_view name) const;
    const std::map<std::string, std::unique_ptr<Object>, std::less<>>& children() const { return m_children; }
    // Get-or-create a "container" child (QEMU's container_get()).
    Object& container(std::string_view name);

    // Properties, in QEMU's order: class ones (parents first), then instance ones.
    std::vector<const PropertyDef*> properties() const;
    const PropertyDef* find_property(std::string_view name) const;
    Result<Json> get_property(std::string_view name) const;
    Result<> set_property(std::string_view name, const Json& value);
    // Text from the command line (-global, key=value -device/-object), typed by the property.
    Result<> set_property_string(std::string_view name, std::string_view text);
    void add_instance_property(PropertyDef def);
    void remove_instance_property(std::string_view name);
    // A link<TYPE> property stored in *slot; setting it resolves a QOM path.
    void add_link_property(std::string name, std::string target_type, Object** slot, std::string description = {});

    // QEMU's "realized"/user_creatable_complete: after this most properties are frozen.
    bool completed() const { return m_completed; }
    Result<> complete();
    // Object-specific completion (user-creatable objects, devices' realize).
    virtual Result<> on_complete() { return {}; }
    // Called before removal from the tree; objects in use refuse (QEMU: object-del of a
    // backend still in use is an error).
    virtual Result<> check_can_remove() const { return {}; }

    // Called once by TypeRegistry::create.
    void init_type(const TypeInfo& type, const TypeRegistry& registry);

private:
    const TypeInfo* m_type = nullptr;
    const TypeRegistry* m_registry = nullptr;
    Object* m_parent = nullptr;
    std::string m_name;
    std::map<std::string, std::unique_ptr<Object>, std::less<>> m_children;
    std::vector<std::unique_ptr<PropertyDef>> m_instance_props;
    bool m_completed = false;
};

// Resolve a QOM path: absolute ("/machine/peripheral/disk0") from `root`, or partial
// ("disk0") matching exactly one object in the tree (QEMU's object_resolve_path semantics:
// an ambiguous partial path resolves to nothing).
Object* resolve_path(Object& root, std::string_view path, bool* ambiguous = nullptr);

// Register the base types: object, interface, container, user-creatable.
void register_base_types(TypeRegistry& registry);

inline constexpr std::string_view kTypeObject = "object";
inline constexpr std::string_view kTypeInterface = "interface";
inline constexpr std::string_view kTypeContainer = "container";
inline constexpr std::string_view kTypeUserCreatable = "user-creatable";

} // namespace nemu::qom
