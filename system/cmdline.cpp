// argv splitting with QEMU 7.2's rules (softmmu/vl.c lookup_opt).
#include "system/cmdline.h"

#include <fmt/core.h>

namespace nemu::cmdline {

const OptionDef& disk_image_option() {
    static constexpr OptionDef kDiskImage{"hda", true, Support::Unsupported, true,
                                          OptionGroup::Block};
    return kDiskImage;
}

Result<std::vector<ParsedOption>> parse_argv(int argc, const char* const argv[]) {
    std::vector<ParsedOption> out;
    for (int i = 1; i < argc; i++) {
        std::string_view word = argv[i] ? argv[i] : "";
        ParsedOption p;
        p.argv_index = i;
        if (word.empty() || word[0] != '-') {
            // QEMU: "if (argv[optind][0] != '-') hda" — includes the empty string.
            p.def = &disk_image_option();
            p.arg = std::string(word);
            out.push_back(std::move(p));
            continue;
        }
        std::string_view name = word.substr(1);
        // "--opt" is accepted as "-opt" (QEMU strips one extra '-').
        if (!name.empty() && name[0] == '-') name.remove_prefix(1);
        const OptionDef* def = find_option(name);
        if (!def || name.empty()) return fail("{}: invalid option", word);
        p.def = def;
        p.spelling = std::string(word);
        if (def->has_arg) {
            if (i + 1 >= argc || !argv[i + 1]) return fail("{}: requires an argument", word);
            p.arg = argv[++i];
        }
        if (!def->x86_target) {
            if (def->has_arg) return fail("{} {}: Option not supported for this target", word, p.arg);
            return fail("{}: Option not supported for this target", word);
        }
        out.push_back(std::move(p));
    }
    return out;
}

std::string option_error(const ParsedOption& opt, std::string_view msg) {
    if (opt.def == &disk_image_option()) return fmt::format("{}: {}", opt.arg, msg);
    if (opt.def && opt.def->has_arg) return fmt::format("{} {}: {}", opt.spelling, opt.arg, msg);
    return fmt::format("{}: {}", opt.spelling, msg);
}

std::string usage_line(std::string_view prog) {
    return fmt::format("usage: {} [options] [disk_image]", prog);
}

namespace {

std::string_view group_heading(OptionGroup g) {
    switch (g) {
    case OptionGroup::Standard: return "Standard options:";
    case OptionGroup::Block: return "Block device options:";
    case OptionGroup::Usb: return "USB convenience options:";
    case OptionGroup::Display: return "Display options:";
    case OptionGroup::Network: return "Network options:";
    case OptionGroup::Chardev: return "Character device options:";
    case OptionGroup::Tpm: return "TPM device options:";
    case OptionGroup::Boot: return "Boot Image or Kernel specific:";
    case OptionGroup::Debug: return "Debug/Expert options:";
    case OptionGroup::Object: return "Generic object creation:";
    }
    return "";
}

} // namespace

std::string help_text(std::string_view prog) {
    std::string out = usage_line(prog) + "\n\n'disk_image' is a raw hard disk image for IDE hard disk 0\n";
    // QEMU prints the groups in this fixed order (qemu-options.hx DEFHEADINGs).
    constexpr OptionGroup kOrder[] = {OptionGroup::Standard, OptionGroup::Block, OptionGroup::Usb,
                                      OptionGroup::Display, OptionGroup::Network,
                                      OptionGroup::Chardev, OptionGroup::Tpm, OptionGroup::Boot,
                                      OptionGroup::Debug, OptionGroup::Object};
    for (OptionGroup g : kOrder) {
        std::string body;
        for (const auto& d : option_table()) {
            if (d.group == g && d.support == Support::Supported && !d.help.empty()) body += d.help;
        }
        if (body.empty()) continue;
        out += "\n";
        out += group_heading(g);
        out += "\n";
        out += body;
    }
    out += "\nWhen using -nographic, press 'ctrl-a h' to get some help.\n";
    return out;
}

} // namespace nemu::cmdline
