#pragma once
// HMP `info mtree` text, in QEMU 7.2's layout (monitor/hmp-cmds + softmmu/memory.c
// mtree_info): address spaces sharing a root are listed together, then every alias target
// as a "memory-region:" section. Lines end in "\n"; the monitor turns them into "\r\n".

#include <span>
#include <string>

#include "hw/memory/address_space.h"

namespace nemu::memory {

std::string format_mtree(std::span<const AddressSpace* const> spaces);
std::string format_mtree(const AddressSpace& space);

} // namespace nemu::memory
