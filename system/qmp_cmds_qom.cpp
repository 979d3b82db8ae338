// QMP handlers for the object model (QEMU qapi/qom.json, qapi/qdev.json): listing, reading
// and writing properties, type introspection, and user-creatable objects.

#include "hw/core/device.h"
#include "monitor/command_context.h"
#include "qapi/qapi-commands.h"
#include "system/vm.h"

namespace nemu::qapi {

namespace {

Result<qom::Object*> resolve(Vm& vm, std::string_view path) {
    bool ambiguous = false;
    qom::Object* obj = qom::resolve_path(vm.root(), path, &ambiguous);
    if (!obj) {
        if (ambiguous) return fail("Path '{}' is ambiguous", path);
        return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", path);
    }
    return obj;
}

ObjectPropertyInfo describe(const qom::PropertyDef& p, bool with_default) {
    ObjectPropertyInfo info;
    info.name = p.name;
    info.type = p.type;
    if (!p.description.empty()) info.description = p.description;
    if (with_default && p.default_value) info.default_value = *p.default_value;
    return info;
}

} // namespace

Result<std::vector<ObjectPropertyInfo>> qmp_qom_list(CommandContext& ctx, const QomListArg& args) {
    qom::Object* obj = TRY(resolve(ctx.vm(), args.path));
    // Every QOM object has a read-only "type" property (QEMU object_class_init).
    std::vector<ObjectPropertyInfo> out{ObjectPropertyInfo{"type", "string", {}, {}}};
    // qom-list reports names and types only (QEMU qmp_qom_list).
    for (const qom::PropertyDef* p : obj->properties()) out.push_back(ObjectPropertyInfo{p->name, p->type, {}, {}});
    return out;
}

Result<Json> qmp_qom_get(CommandContext& ctx, const QomGetArg& args) {
    qom::Object* obj = TRY(resolve(ctx.vm(), args.path));
    if (args.property == "type") return Json(std::string(obj->type_name()));
    return obj->get_property(args.property);
}

Result<> qmp_qom_set(CommandContext& ctx, const QomSetArg& args) {
    qom::Object* obj = TRY(resolve(ctx.vm(), args.path));
    if (args.property == "type") return fail("Property '{}.type' is not writable", obj->type_name());
    return obj->set_property(args.property, args.value);
}

Result<std::vector<ObjectTypeInfo>> qmp_qom_list_types(CommandContext& ctx, const QomListTypesArg& args) {
    const auto& types = ctx.vm().types();
    std::vector<ObjectTypeInfo> out;
    for (const qom::TypeInfo* t : types.list(args.implements.value_or(""), args.abstract.value_or(false))) {
        ObjectTypeInfo info;
        info.name = t->name;
        if (t->abstract) info.abstract = true;
        if (!t->parent.empty()) info.parent = t->parent;
        out.push_back(std::move(info));
    }
    return out;
}

Result<std::vector<ObjectPropertyInfo>> qmp_qom_list_properties(CommandContext& ctx,
                                                                const QomListPropertiesArg& args) {
    const auto& types = ctx.vm().types();
    const qom::TypeInfo* t = types.find(args.typename_);
    if (!t) return fail(ErrorClass::DeviceNotFound, "Class '{}' not found", args.typename_);
    if (!types.is_a(t->name, "object"))
        return fail("Parameter 'typename' expects an object type");  // QEMU: interfaces are not objects
    // Only qdev properties carry defaults in QEMU; plain objects report none.
    bool is_device = types.is_a(t->name, "device");
    std::vector<ObjectPropertyInfo> out{ObjectPropertyInfo{"type", "string", {}, {}}};
    for (const qom::PropertyDef* p : types.class_properties(t->name)) out.push_back(describe(*p, is_device));
    return out;
}

Result<std::vector<ObjectPropertyInfo>> qmp_device_list_properties(CommandContext& ctx,
                                                                   const DeviceListPropertiesArg& args) {
    const auto& types = ctx.vm().types();
    const qom::TypeInfo* t = types.find(args.typename_);
    if (!t) return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", args.typename_);
    if (!types.is_a(t->name, "device") || t->abstract)
        return fail("Parameter 'typename' expects a non-abstract device type");
    std::vector<ObjectPropertyInfo> out;
    // QEMU hides the generic qdev plumbing from this list (qmp_device_list_properties).
    for (const qom::PropertyDef* p : types.class_properties(t->name)) {
        if (hw::is_qdev_plumbing_property(p->name)) continue;
        out.push_back(describe(*p, true));
    }
    return out;
}

Result<> qmp_object_add(CommandContext& ctx, const ObjectOptions& args) {
    TRY(ctx.vm().add_user_object(to_json(args), false));
    return {};
}

Result<> qmp_object_del(CommandContext& ctx, const ObjectDelArg& args) { return ctx.vm().delete_user_object(args.id); }

Result<> qmp_device_add(CommandContext& ctx, const Json& args) {
    if (!args.contains("driver") || !args["driver"].is_string()) return fail("Parameter 'driver' is missing");
    const std::string& driver = args["driver"].get_ref<const std::string&>();
    const qom::TypeInfo* t = ctx.vm().types().find(driver);
    if (!t || !ctx.vm().types().is_a(driver, "device") || t->abstract)
        return fail("'{}' is not a valid device model name", driver);
    // Reached only once devices exist; hotplug itself lands with the pci-hotplug work.
    return fail("Bus 'pcie.0' does not support hotplugging");
}

Result<> qmp_device_del(CommandContext&, const DeviceDelArg& args) {
    return fail(ErrorClass::DeviceNotFound, "Device '{}' not found", args.id);
}

} // namespace nemu::qapi
