#pragma once
// nemu's QEMU 7.2-compatible argv splitter (softmmu/vl.c lookup_opt + the first pass of
// qemu_init). Pure: reads argv, returns data; main() prints
// "nemu-system-x86_64: " + error and exits 1.

#include <string>
#include <string_view>
#include <vector>

#include "system/option_table.h"
#include "util/result.h"

namespace nemu::cmdline {

// A bare word (not starting with '-') is QEMU's disk image for IDE disk 0 (drive_add with
// HD_OPTS); ParsedOption::def then points at this pseudo-option, marked Unsupported.
const OptionDef& disk_image_option();

struct ParsedOption {
    const OptionDef* def = nullptr;
    std::string arg;        // empty if the option takes none
    int argv_index = 0;     // index of the option word in argv
    std::string spelling;   // the option word as given ("-m", "--m"), for error locations
};

// Split argv (argv[0] is the program) into options. Errors, as QEMU 7.2 prints them after
// "qemu-system-x86_64: " (the whole argv is checked before anything is acted on):
//   "-foo: invalid option"      (also "-m=1G", "-", "--")
//   "-m: requires an argument"
//   "-g x: Option not supported for this target"
Result<std::vector<ParsedOption>> parse_argv(int argc, const char* const argv[]);

// QEMU's error location prefix: "-m 5X: <msg>" (the option as spelled, then its argument).
std::string option_error(const ParsedOption& opt, std::string_view msg);

// "usage: nemu-system-x86_64 [options] [disk_image]"
std::string usage_line(std::string_view prog = "nemu-system-x86_64");

// The -help text in QEMU's layout for the options nemu supports (the caller prints the
// version line first, as QEMU does).
std::string help_text(std::string_view prog = "nemu-system-x86_64");

} // namespace nemu::cmdline
