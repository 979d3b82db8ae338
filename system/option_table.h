#pragma once
// Every option QEMU 7.2's qemu-system-x86_64 knows (its QEMUOption table, read from the
// Debian 7.2 binary and cross-checked with qemu-options.hx), tagged with nemu's support level.

#include <span>
#include <string>
#include <string_view>

namespace nemu::cmdline {

enum class Support {
    Supported,   // nemu implements it
    Later,       // parses; main() rejects with not_supported_yet() until the feature lands
    Unsupported, // TCG-only or legacy hardware nemu never has: main() rejects it
};

enum class OptionGroup { Standard, Block, Usb, Display, Network, Chardev, Tpm, Boot, Debug, Object };

struct OptionDef {
    std::string_view name;   // without the leading '-'
    bool has_arg;            // QEMU's HAS_ARG
    Support support;
    bool x86_target = true;  // false: QEMU 7.2 x86_64 says "Option not supported for this target"
    OptionGroup group = OptionGroup::Standard;
    std::string_view help = {}; // -help text in QEMU's layout (16-column), empty: not listed
};

std::span<const OptionDef> option_table();
const OptionDef* find_option(std::string_view name); // name without dashes

// The error main() reports for a Later option: "-numa: not supported yet".
std::string not_supported_yet(const OptionDef& def);
// The error main() reports for an Unsupported option: "-fda: not supported by nemu".
std::string not_supported(const OptionDef& def);

} // namespace nemu::cmdline
