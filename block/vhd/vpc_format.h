#pragma once
// The "vpc" entry of the format registry (block/block_format.h): VHD images, fixed and
// dynamic. Options (FormatOpenContext::options): "force_size_calc": "chs" | "current_size",
// QEMU's vpc runtime option (block/vpc.c vpc_runtime_opts) overriding how the virtual size
// is derived from the footer.

#include "block/block_format.h"

namespace nemu::block {

const BlockFormat& vpc_format();

} // namespace nemu::block
