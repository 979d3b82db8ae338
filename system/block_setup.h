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
// werror/rerror policy (QEMU send_qmp_error_event): device is the drive's name ("" for an
// anonymous backend), "nospace" only with io-status, reason strerror(errno).
void emit_block_io_error(Vm& vm, const block::IoErrorReport& report);

// The VM's block::IoErrorHost, made on first use and kept by its BlockGraph: reports become
// BLOCK_IO_ERROR on the main loop, followed for action stop by a VM stop into runstate
// io-error (when running, as QEMU's vm_stop); resume hooks follow the run state. Every
// backend created for the VM carries it (BackendOptions::error_host). Main loop.
std::shared_ptr<block::IoErrorHost> block_io_error_host(Vm& vm);

} // namespace nemu
