#pragma once
// Small per-option parsers (QEMU 7.2 softmmu/vl.c and friends). Messages are returned
// without location; where QEMU prints one ("-msg foo=on: Invalid parameter 'foo'"), main()
// wraps them with option_error(). Each function notes which kind it is.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "system/keyval.h"
#include "util/result.h"

namespace nemu::cmdline {

struct Msg { bool timestamp = false; bool guest_name = false; };
Result<Msg> parse_msg(std::string_view text); // located

struct Overcommit { bool mem_lock = false; bool cpu_pm = false; };
Result<Overcommit> parse_overcommit(std::string_view text); // located

struct Sandbox {
    bool enable = false;
    KeyValList flags; // obsolete=, elevateprivileges=, spawn=, resourcecontrol=
};
Result<Sandbox> parse_sandbox(std::string_view text); // located

struct Rtc {
    std::string base = "utc";    // utc | localtime | a datetime
    std::string clock = "host";  // host | rt | vm
    std::string driftfix = "none";
};
Result<Rtc> parse_rtc(std::string_view text); // value errors unlocated, syntax errors located

struct Boot {
    std::string order, once;
    std::optional<bool> menu, strict;
    KeyValList other; // splash, splash-time, reboot-timeout
};
Result<Boot> parse_boot(std::string_view text); // "Invalid boot device 'z'" unlocated

struct Name { std::string guest; std::optional<std::string> process; bool debug_threads = false; };
Result<Name> parse_name(std::string_view text); // located

// "failed to parse UUID string: wrong format" (located)
Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text);

struct GlobalProp { std::string driver, property, value; };
// "-global driver.prop=value" or "-global driver=x,property=y,value=z" (located errors)
Result<GlobalProp> parse_global(std::string_view text);

struct Accel { std::string type; KeyValList props; };
Result<Accel> parse_accel(std::string_view text); // implied "accel"

// -machine is keyval with implied "type"; props kept as given (keyval errors, located).
struct MachineOpts { std::optional<std::string> type; KeyValList props; bool help = false; };
Result<MachineOpts> parse_machine(std::string_view text);

// -display none|... (located): "Parameter 'type' does not accept value 'bogus'"
struct Display { std::string type; KeyValList props; };
Result<Display> parse_display(std::string_view text);

// -vga std|cirrus|vmware|qxl|xenfb|tcx|cg3|virtio|none: "unknown vga type: bogus" (unlocated)
Result<std::string> parse_vga(std::string_view text);

// -action reboot=reset|shutdown,shutdown=poweroff|pause,panic=...,watchdog=... (located)
Result<KeyValList> parse_action(std::string_view text);

// -trace [enable=]pattern,events=file,file=file (located)
struct Trace { std::optional<std::string> enable, events, file; };
Result<Trace> parse_trace(std::string_view text);

// -d item1,item2 — split only; main() validates names against its log items.
std::vector<std::string> split_log_items(std::string_view text);

} // namespace nemu::cmdline
