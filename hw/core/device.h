#pragma once
// The abstract QOM "device" type (QEMU's TYPE_DEVICE): what every board part and pluggable
// device derives from. Realize is QOM completion; a realized device's properties are frozen
// unless a property says otherwise. Buses, hotplug and reset land with the first devices.
// Thread: main loop.

#include "hw/core/irq.h"
#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu::hw {

class Device : public qom::Object {
public:
    Result<> on_complete() override { return realize(); }

    std::string m_id;   // the -device id= (empty for anonymous devices)
    bool m_hotpluggable = true;
    bool m_hotplugged = false;
    // Named gpio-in/gpio-out lines (QEMU qdev GPIOs): interrupt wiring, and what qtest's
    // irq_intercept_in/out attach to.
    GpioList m_gpios;

protected:
    virtual Result<> realize() { return {}; }
};

void register_device_type(qom::TypeRegistry& registry);

// The generic qdev plumbing that QEMU leaves out of device-list-properties and "-device X,help".
inline bool is_qdev_plumbing_property(std::string_view name) {
    return name == "realized" || name == "hotpluggable" || name == "hotplugged" || name == "parent_bus";
}

} // namespace nemu::hw
