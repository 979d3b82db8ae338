#include "util/json.h"

namespace nemu {

Result<Json> parse_json(std::string_view text) {
    try {
        return Json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        return fail("{}", e.what());
    }
}

std::string dump_json(const Json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace nemu
