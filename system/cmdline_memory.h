#pragma once
// -m [size=]megs[,slots=n,maxmem=size] with QEMU 7.2's rules (softmmu/vl.c
// parse_memory_options, hw/core/machine.c machine_set_mem).

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"

namespace nemu::cmdline {

struct MemoryOptions {
    uint64_t size = 0;    // bytes, aligned up to 8 KiB as QEMU does
    uint64_t slots = 0;   // hotplug slots (0: none)
    uint64_t maxmem = 0;  // bytes; equals size when not given
};

// All -m arguments in command-line order: QEMU merges them, later keys win.
// default_size is the machine's default RAM size (used when no size is given or size is 0).
// Per-argument errors are returned with their QEMU location "-m 5X: ..." already applied.
//   "-m 5X: Parameter 'size' expects a non-negative number below 2^64" (+ hint lines)
//   "-m 1G,foo=1: Invalid parameter 'foo'", "... Parameter 'slots' expects a number"
//   "Parameter 'memory.size' expects size" (suffix-less value overflowing as MiB)
//   "slots specified but no max-size"
//   "invalid value of maxmem: maximum memory size (0x..) must be at least the initial memory size (0x..)"
//   "invalid value of maxmem: memory slots were specified but maximum memory size (0x..) is equal to the initial memory size (0x..)"
Result<MemoryOptions> parse_memory_options(std::span<const std::string> args,
                                           uint64_t default_size = 128ULL << 20);

} // namespace nemu::cmdline
