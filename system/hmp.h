#pragma once
// The human monitor commands nemu answers through QMP's human-monitor-command (QEMU
// monitor/hmp-cmds.c): help, info version|status|name|uuid|kvm|qtree|qom-tree|mtree|
// iothreads|chardev, device_add help. Output lines end in "\r\n" as QEMU's monitor writes them.
// Thread: main loop.

#include <string>
#include <string_view>

#include "util/result.h"

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu {

class Vm;

// Runs one HMP command line and returns what the monitor would print.
std::string run_hmp_command(Vm& vm, std::string_view command_line);

// "-device help" / "device_add help" text: devices grouped by category, QEMU's layout.
std::string format_device_help(const qom::TypeRegistry& types);

} // namespace nemu
