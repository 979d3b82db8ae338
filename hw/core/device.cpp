#include "hw/core/device.h"

#include "hw/core/device_backends.h"
#include "hw/core/machine.h"

namespace nemu::hw {

void register_device_type(qom::TypeRegistry& registry) {
    qom::PropertyDef realized;
    realized.name = "realized";
    realized.type = "bool";
    realized.get = [](const qom::Object& o) -> Result<Json> { return Json(o.completed()); };
    realized.set_before_realize_only = false;
    registry.add(qom::TypeInfo{
        .name = "device",
        .parent = "object",
        .abstract = true,
        .properties = {realized,
                       qom::prop("hotpluggable", &Device::m_hotpluggable, std::optional<bool>(true)),
                       qom::prop("hotplugged", &Device::m_hotplugged, std::optional<bool>(false))},
    });
}

DeviceBackends* device_backends(const qom::Object& dev) {
    for (const qom::Object* o = &dev; o; o = o->parent())
        if (const auto* m = dynamic_cast<const Machine*>(o)) return m->backends();
    return nullptr;
}

} // namespace nemu::hw
