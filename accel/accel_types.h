#pragma once
// The accelerator QOM types: abstract "accel", "kvm-accel" and "qtest-accel" (QEMU's names;
// TCG is gone). -accel help and -machine accel= choose among them.

#include <string_view>

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu::accel {

void register_accel_types(qom::TypeRegistry& registry);

// Whether this host can run the named accelerator now ("kvm" needs a usable /dev/kvm;
// "qtest" always works). Unknown names are not available.
bool accel_available(std::string_view name);

} // namespace nemu::accel
