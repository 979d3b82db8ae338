#include "qom/object.h"

#include <algorithm>

#include "qom/type_registry.h"

namespace nemu::qom {

Object::~Object() {
    // Children go first, in reverse name order, so nothing observes a half-destroyed parent.
    while (!m_children.empty()) m_children.erase(std::prev(m_children.end()));
}

void Object::init_type(const TypeInfo& type, const TypeRegistry& registry) {
    m_type = &type;
    m_registry = &registry;
}

std::string_view Object::type_name() const { return m_type ? std::string_view(m_type->name) : "object"; }

bool Object::is_a(std::string_view type) const { return m_registry && m_registry->is_a(type_name(), type); }

std::string Object::canonical_path() const {
    if (!m_parent) return "/";
    std::vector<const Object*> chain;
    for (const Object* o = this; o->m_parent; o = o->m_parent) chain.push_back(o);
    std::string path;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) path += "/" + (*it)->m_name;
    return path;
}

Result<Object*> Object::add_child(std::string name, std::unique_ptr<Object> child) {
    if (m_children.count(name) || find_property(name))
        return fail("attempt to add duplicate property '{}' to object (type '{}')", name, type_name());
    Object* raw = child.get();
    raw->m_parent = this;
    raw->m_name = name;
    PropertyDef def;
    def.name = name;
    def.type = "child<" + std::string(raw->type_name()) + ">";
    def.get = [raw](const Object&) -> Result<Json> { return Json(raw->canonical_path()); };
    def.set_before_realize_only = false;
    add_instance_property(std::move(def));
    m_children.emplace(std::move(name), std::move(child));
    return raw;
}

std::unique_ptr<Object> Object::remove_child(std::string_view name) {
    auto it = m_children.find(name);
    if (it == m_children.end()) return nullptr;
    auto child = std::move(it->second);
    m_children.erase(it);
    remove_instance_property(name);
    child->m_parent = nullptr;
    return child;
}

Object* Object::child(std::string_view name) const {
    auto it = m_children.find(name);
    return it == m_children.end() ? nullptr : it->second.get();
}

Object& Object::container(std::string_view name) {
    if (Object* c = child(name)) return *c;
    auto created = m_registry->create(kTypeContainer);
    // "container" is registered by register_base_types(); failing here is a programmer bug.
    return *add_child(std::string(name), std::move(created).value()).value();
}

std::vector<const PropertyDef*> Object::properties() const {
    std::vector<const PropertyDef*> out;
    if (m_registry) out = m_registry->class_properties(type_name());
    for (const auto& p : m_instance_props) out.push_back(p.get());
    return out;
}

const PropertyDef* Object::find_property(std::string_view name) const {
    for (const auto& p : m_instance_props)
        if (p->name == name) return p.get();
    if (!m_registry) return nullptr;
    const PropertyDef* found = nullptr;
    for (const PropertyDef* p : m_registry->class_properties(type_name()))
        if (p->name == name) found = p;
    return found;
}

Result<Json> Object::get_property(std::string_view name) const {
    const PropertyDef* p = find_property(name);
    if (!p) return fail(ErrorClass::GenericError, "Property '{}.{}' not found", type_name(), name);
    if (!p->get) return fail("Property '{}.{}' is not readable", type_name(), name);
    return p->get(*this);
}

Result<> Object::set_property(std::string_view name, const Json& value) {
    const PropertyDef* p = find_property(name);
    if (!p) return fail("Property '{}.{}' not found", type_name(), name);
    if (!p->set) return fail("Property '{}.{}' is not writable", type_name(), name);
    if (m_completed && p->set_before_realize_only)
        return fail("Attempt to set property '{}' on anonymous device (type '{}') after it was realized", name,
                    type_name());
    return p->set(*this, value);
}

Result<> Object::set_property_string(std::string_view name, std::string_view text) {
    const PropertyDef* p = find_property(name);
    if (!p) return fail("Property '{}.{}' not found", type_name(), name);
    Json v = TRY(parse_property_string(p->text_type.empty() ? p->type : p->text_type, name, text));
    return set_property(name, v);
}

void Object::add_instance_property(PropertyDef def) { m_instance_props.push_back(std::make_unique<PropertyDef>(std::move(def))); }

void Object::remove_instance_property(std::string_view name) {
    std::erase_if(m_instance_props, [&](const auto& p) { return p->name == name; });
}

void Object::add_link_property(std::string name, std::string target_type, Object** slot, std::string description) {
    PropertyDef def;
    def.name = std::move(name);
    def.type = "link<" + target_type + ">";
    def.description = std::move(description);
    def.get = [slot](const Object&) -> Result<Json> { return Json(*slot ? (*slot)->canonical_path() : ""); };
    def.set = [slot, target_type, pname = def.name](Object& self, const Json& v) -> Result<> {
        TRY(check_property_value("str", pname, v));
        const std::string& path = v.get_ref<const std::string&>();
        if (path.empty()) {
            *slot = nullptr;
            return {};
        }
        Object* root = &self;
        while (root->parent()) root = root->parent();
        bool ambiguous = false;
        Object* target = resolve_path(*root, path, &ambiguous);
        if (!target) {
            if (ambiguous) return fail("Path '{}' does not uniquely identify an object", path);
            return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", path);
        }
        if (!target->is_a(target_type)) return fail("Invalid parameter type for '{}', expected: {}", pname, target_type);
        *slot = target;
        return {};
    };
    add_instance_property(std::move(def));
}

Result<> Object::complete() {
    if (m_completed) return {};
    TRY(on_complete());
    m_completed = true;
    return {};
}

namespace {

Object* resolve_absolute(Object& root, std::string_view path) {
    Object* cur = &root;
    size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '/') {
            pos++;
            continue;
        }
        size_t end = path.find('/', pos);
        std::string_view part = path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        cur = cur->child(part);
        if (!cur) return nullptr;
        if (end == std::string_view::npos) break;
        pos = end;
    }
    return cur;
}

// QEMU's partial path: the path's components must match the tail of exactly one object's
// canonical path. Depth-first over the composition tree.
void resolve_partial(Object& node, const std::string& suffix, Object*& found, int& matches) {
    for (const auto& [name, child] : node.children()) {
        if (child->canonical_path().ends_with(suffix)) {
            found = child.get();
            matches++;
        }
        resolve_partial(*child, suffix, found, matches);
    }
}

} // namespace

Object* resolve_path(Object& root, std::string_view path, bool* ambiguous) {
    if (ambiguous) *ambiguous = false;
    if (path.empty()) {
        // The empty partial path matches every object (QEMU: "Path '' is ambiguous").
        if (ambiguous) *ambiguous = true;
        return nullptr;
    }
    if (path[0] == '/') return resolve_absolute(root, path);
    Object* found = nullptr;
    int matches = 0;
    resolve_partial(root, "/" + std::string(path), found, matches);
    if (matches > 1) {
        if (ambiguous) *ambiguous = true;
        return nullptr;
    }
    return found;
}

namespace {
class Container : public Object {};
} // namespace

void register_base_types(TypeRegistry& registry) {
    registry.add(TypeInfo{.name = std::string(kTypeObject), .abstract = true});
    registry.add(TypeInfo{.name = std::string(kTypeInterface), .interface = true});
    registry.add(TypeInfo{.name = std::string(kTypeUserCreatable), .parent = std::string(kTypeInterface), .interface = true});
    registry.add(TypeInfo{.name = std::string(kTypeContainer),
                          .parent = std::string(kTypeObject),
                          .create = [] { return std::make_unique<Container>(); }});
}

} // namespace nemu::qom
