#pragma once
// The "help" answers of the command line (-machine help, -accel help, -cpu help, -device help,
// -device NAME,help, -object help, -object TYPE,help, -version), in QEMU 7.2's layouts.

#include <string>
#include <string_view>

#include "util/result.h"

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu {

std::string version_text();
std::string machine_help(const qom::TypeRegistry& types);
std::string accel_help();
std::string object_types_help(const qom::TypeRegistry& types);
// "-object TYPE,help" and "-device TYPE,help": properties as "  name=<type>  - desc (default: v)".
Result<std::string> object_properties_help(const qom::TypeRegistry& types, std::string_view type);
Result<std::string> device_properties_help(const qom::TypeRegistry& types, std::string_view type);

} // namespace nemu
