// libFuzzer harness for the command-line parser: the input is argv (NUL-separated words);
// every word is also fed to each per-option parser. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "system/cmdline.h"
#include "system/cmdline_chardev.h"
#include "system/cmdline_memory.h"
#include "system/cmdline_misc.h"
#include "system/cmdline_smp.h"
#include "system/keyval.h"
#include "util/size_parse.h"

using namespace nemu::cmdline;

namespace {

void parse_each(const std::string& w) {
    uint64_t u = 0;
    (void)strtosz(w, 'M', u);
    (void)parse_size(w);
    (void)parse_uint(w, "x");
    (void)parse_int(w, "x");
    (void)parse_bool(w, "x");
    (void)parse_opts(w, "driver");
    (void)parse_opts(w, "");
    (void)parse_keyval(w, "driver");
    (void)parse_json_or_opts(w, "qom-type");
    (void)parse_json_or_keyval(w, "driver");
    (void)parse_chardev(w);
    (void)parse_chardev_compat(w);
    (void)parse_incoming(w);
    (void)parse_msg(w);
    (void)parse_overcommit(w);
    (void)parse_sandbox(w);
    (void)parse_rtc(w);
    (void)parse_boot(w);
    (void)parse_name(w);
    (void)parse_uuid(w);
    (void)parse_global(w);
    (void)parse_accel(w);
    (void)parse_machine(w);
    (void)parse_display(w);
    (void)parse_vga(w);
    (void)parse_action(w);
    (void)parse_trace(w);
    (void)split_log_items(w);
    std::vector<std::string> one{w};
    (void)parse_memory_options(one);
    (void)parse_smp_options(one);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> words{"nemu"};
    std::string cur;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == 0) {
            words.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    words.push_back(cur);
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    (void)parse_argv(static_cast<int>(argv.size()), argv.data());
    for (size_t i = 1; i < words.size(); i++) parse_each(words[i]);
    return 0;
}
