#pragma once
// -device and device_add: create a device, set its properties, give it its place in the QOM
// tree (/machine/peripheral/ID or /machine/peripheral-anon/device[N]) and plug it into its
// bus, which realizes it (QEMU's qdev_device_add). Errors are QEMU 7.2's messages.
// Thread: main loop.

#include <optional>
#include <string>
#include <string_view>

#include "hw/core/device.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu {

class Vm;

// props: "driver", optional "id" and "bus", and the device's properties; with from_text the
// values are command-line strings converted by each property's type.
Result<hw::Device*> add_device(Vm& vm, const Json& props, bool from_text);

// QEMU's qdev_alias_table entries for nemu's devices ("virtio-rng" -> "virtio-rng-pci" on
// x86): the alias of a type, and the type an alias names (the name itself if none).
std::optional<std::string> device_alias_of(std::string_view type);
std::string_view resolve_device_alias(std::string_view driver);

} // namespace nemu
