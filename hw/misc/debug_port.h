#pragma once
// The boot-timeline debug port at I/O port 0x80 (Cloud Hypervisor's convention, and the port
// firmware has always written POST codes to): every byte the guest writes becomes a
// "guest-XX" mark in the boot timeline. Reads return all ones, like an unassigned port.
//
// Thread: vCPU threads; all state is in the BootTimeline, which locks itself.

#include <cstdint>

#include "hw/memory/memory_region.h"

namespace nemu::hw {

class BootTimeline;

inline constexpr uint16_t kDebugPortAddress = 0x80;

class DebugPort final : public memory::MmioHandler {
public:
    static constexpr uint64_t kSize = 1;
    static constexpr memory::AccessRules kAccessRules{1, 1, false};

    explicit DebugPort(BootTimeline& timeline) : m_timeline(timeline) {}

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

private:
    BootTimeline& m_timeline;
};

} // namespace nemu::hw
