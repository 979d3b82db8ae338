#include "qom/type_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "qom/object.h"

namespace nemu::qom {

void TypeRegistry::add(TypeInfo info) {
    // A duplicate name or a missing parent is a programmer bug in a register_*() call.
    if (m_by_name.count(info.name) || (!info.parent.empty() && !m_by_name.count(info.parent))) {
        std::fprintf(stderr, "qom: bad type registration '%s' (parent '%s')\n", info.name.c_str(),
                     info.parent.c_str());
        std::abort();
    }
    if (info.interface) info.abstract = true;
    auto owned = std::make_unique<TypeInfo>(std::move(info));
    m_by_name.emplace(owned->name, owned.get());
    m_types.push_back(std::move(owned));
}

const TypeInfo* TypeRegistry::find(std::string_view name) const {
    auto it = m_by_name.find(name);
    return it == m_by_name.end() ? nullptr : it->second;
}

bool TypeRegistry::is_a(std::string_view type, std::string_view ancestor) const {
    for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent)) {
        if (t->name == ancestor) return true;
        for (const auto& iface : t->interfaces)
            if (iface == ancestor || is_a(iface, ancestor)) return true;
    }
    return false;
}

std::vector<const TypeInfo*> TypeRegistry::list(std::string_view implements, bool include_abstract) const {
    std::vector<const TypeInfo*> out;
    for (const auto& t : m_types) {
        if (!include_abstract && t->abstract) continue;
        if (!implements.empty() && !is_a(t->name, implements)) continue;
        out.push_back(t.get());
    }
    return out;
}

std::vector<const PropertyDef*> TypeRegistry::class_properties(std::string_view type) const {
    std::vector<const TypeInfo*> chain;
    for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent)) chain.push_back(t);
    std::vector<const PropertyDef*> out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        for (const auto& p : (*it)->properties) {
            // A derived type may redeclare a property to change its default: keep the last.
            auto same = std::find_if(out.begin(), out.end(), [&](const PropertyDef* d) { return d->name == p.name; });
            if (same != out.end()) *same = &p;
            else out.push_back(&p);
        }
    return out;
}

std::string TypeRegistry::bus_type(std::string_view type) const {
    for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent))
        if (!t->bus_type.empty()) return t->bus_type;
    return {};
}

Result<std::unique_ptr<Object>> TypeRegistry::create(std::string_view type) const {
    const TypeInfo* t = find(type);
    if (!t) return fail("invalid object type: {}", type);
    if (t->abstract || !t->create) return fail("object type '{}' is abstract", type);
    std::unique_ptr<Object> obj = t->create();
    obj->init_type(*t, *this);
    return obj;
}

} // namespace nemu::qom
