#pragma once
// The "raw" format (QEMU 7.2 block/raw-format.c): the child's bytes as they are, optionally
// a window of them ({"offset": N, "size": N}, BlockdevOptionsRaw).
//
// Thread: opened on the main loop; I/O forwards to the child from any worker thread and
// keeps no mutable state of its own.

#include "block/block_format.h"

namespace nemu::block {

// probe: 1 for anything (raw is the fallback). open(file, ctx): ctx.options may carry
// "offset" and "size"; errors as QEMU's raw_apply_options:
//   Offset (N) cannot be greater than size of the containing file (N)
//   The sum of offset (N) and size (N) has to be smaller or equal to the  actual size of the
//   containing file (N)            (sic, two spaces, as QEMU prints it)
//   Specified size is not multiple of 512
const BlockFormat& raw_format();

} // namespace nemu::block
