#include "accel/accel_types.h"

#include <unistd.h>

#include "qom/object.h"
#include "qom/type_registry.h"

namespace nemu::accel {

namespace {
class AccelObject : public qom::Object {};
} // namespace

void register_accel_types(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "accel", .parent = "object", .abstract = true});
    for (const char* name : {"kvm-accel", "qtest-accel"})
        registry.add(qom::TypeInfo{.name = name, .parent = "accel",
                                   .create = [] { return std::make_unique<AccelObject>(); }});
}

bool accel_available(std::string_view name) {
    if (name == "qtest") return true;
    if (name == "kvm") return ::access("/dev/kvm", R_OK | W_OK) == 0;
    return false;
}

} // namespace nemu::accel
