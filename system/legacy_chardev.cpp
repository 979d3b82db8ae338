#include "system/legacy_chardev.h"

#include "system/keyval.h"

namespace nemu {

namespace {

Result<chardev::ChardevOptions> with_options(std::string_view backend, std::vector<std::pair<std::string, std::string>> kv,
                                             std::string_view rest) {
    if (!rest.empty()) {
        auto list = TRY(cmdline::parse_opts(rest, ""));
        for (auto& item : list.items) kv.emplace_back(item.key, item.value);
    }
    return chardev::chardev_options_from_keyvals(backend, kv);
}

} // namespace

Result<LegacyChardev> parse_legacy_chardev(std::string_view spec) {
    LegacyChardev out;
    if (spec.starts_with("mon:")) {
        out.mon_prefix = true;
        spec.remove_prefix(4);
    }
    if (spec == "none") return out;
    if (spec.starts_with("chardev:")) {
        out.existing_id = std::string(spec.substr(8));
        return out;
    }
    size_t comma = spec.find(',');
    std::string_view head = spec.substr(0, comma);
    std::string_view rest = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (head == "stdio" || head == "null" || head == "pty") {
        out.options = TRY(with_options(head, {}, rest));
        return out;
    }
    if (head.starts_with("unix:")) {
        out.options = TRY(with_options("socket", {{"path", std::string(head.substr(5))}}, rest));
        return out;
    }
    if (head.starts_with("tcp:")) {
        std::string_view hp = head.substr(4);
        size_t colon = hp.rfind(':');
        if (colon == std::string_view::npos) return fail("chardev: tcp: no port given");
        out.options = TRY(with_options(
            "socket", {{"host", std::string(hp.substr(0, colon))}, {"port", std::string(hp.substr(colon + 1))}}, rest));
        return out;
    }
    if (head.starts_with("file:")) {
        out.options = TRY(with_options("file", {{"path", std::string(head.substr(5))}}, rest));
        return out;
    }
    return fail("'{}' is not a valid char driver", head);
}

} // namespace nemu
