#pragma once
// Creating the command line's block devices in the Vm's graph: every -blockdev in order,
// then every -drive (QEMU 7.2 qemu_create_early_backends: blockdevs, then drives).
// Thread: main loop.

#include <string>

#include "block/block_backend.h"
#include "system/startup_config.h"
#include "util/result.h"

namespace nemu {

class Vm;

// Errors carry the option's location ("-drive file=x,if=none: Could not open 'x': ...").
Result<> create_block_devices(Vm& vm, const StartupConfig& config);

// A drive as -drive describes it (also what a later drive_add would use).
Result<> add_drive(Vm& vm, const cmdline::DriveSpec& spec);

// BLOCK_IO_ERROR (qapi/block-core.json) for a device's failed request under its
// werror/rerror policy: device is the drive's name, reason strerror(errno).
void emit_block_io_error(Vm& vm, const std::string& device, const std::string& node_name, bool is_read,
                         block::ErrorAction action, bool nospace, const std::string& reason);

} // namespace nemu
