#include "util/result.h"

#include <cstring>

namespace nemu {

std::string_view error_class_name(ErrorClass cls) {
    switch (cls) {
    case ErrorClass::GenericError: return "GenericError";
    case ErrorClass::CommandNotFound: return "CommandNotFound";
    case ErrorClass::DeviceNotActive: return "DeviceNotActive";
    case ErrorClass::DeviceNotFound: return "DeviceNotFound";
    case ErrorClass::KVMMissingCap: return "KVMMissingCap";
    }
    return "GenericError";
}

Unexpected<Error> fail_errno(std::string_view what, int err) {
    return make_error(Error{ErrorClass::GenericError, fmt::format("{}: {}", what, std::strerror(err)), err});
}

} // namespace nemu
