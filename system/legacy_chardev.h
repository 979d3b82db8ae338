#pragma once
// QEMU's legacy chardev shorthand used by -qmp, -monitor, -serial and -qtest
// (chardev/char.c qemu_chr_parse_compat): "unix:PATH[,opts]", "tcp:HOST:PORT[,opts]", "stdio",
// "null", "none", "pty", "file:PATH", "chardev:ID", "mon:SPEC". Pure.

#include <optional>
#include <string>
#include <string_view>

#include "chardev/chardev_options.h"
#include "util/result.h"

namespace nemu {

struct LegacyChardev {
    std::optional<chardev::ChardevOptions> options;  // none for "none" and "chardev:ID"
    std::string existing_id;                         // "chardev:ID"
    bool mon_prefix = false;                         // "mon:SPEC": a monitor shares it
};

Result<LegacyChardev> parse_legacy_chardev(std::string_view spec);

} // namespace nemu
