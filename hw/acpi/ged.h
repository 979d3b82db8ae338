#pragma once
// The ACPI Generic Event Device (ACPI 6.5 §5.6.9, _HID "ACPI0013") of a hardware-reduced
// platform, and the FADT's hardware-reduced sleep/reset registers (ACPI 6.5 §4.8.3.7 and
// §4.8.3.6), both as QEMU's hw/acpi/generic_event_device.c lays them out:
//   event selector "ESEL": 32-bit register the DSDT's _EVT method reads; a read returns the
//     pending event bits and clears them (bit 1: power button);
//   HW-reduced registers, byte wide: +0 SLEEP_CONTROL, +1 SLEEP_STATUS, +2 RESET.
// The x86 virt machine maps them at kGedEventBase / kGedRegsBase (see the memory map brief).
//
// Threads: the handlers run on vCPU threads, power_button()/reset() on the main loop. State is
// guarded by m_lock. The IRQ line is pulsed with m_lock held (pulses from two events never
// interleave; the line's handler must not re-enter this device). on_poweroff/on_reset are
// called from the vCPU thread with no lock held; the machine posts them to the main loop.

#include <cstdint>
#include <functional>
#include <mutex>

#include "hw/memory/memory_region.h"

namespace nemu::hw {
class IrqLine;
}

namespace nemu::acpi {

inline constexpr uint64_t kGedEventBase = 0xfea00000;
inline constexpr uint64_t kGedEventSize = 0x1000;
inline constexpr uint64_t kGedRegsBase = 0xfea01000;
inline constexpr uint64_t kGedRegsSize = 3;

// ESEL event bits (QEMU's ACPI_GED_PWR_DOWN_EVT).
inline constexpr uint32_t kGedEventPowerButton = 1u << 1;

// HW-reduced register offsets from kGedRegsBase.
inline constexpr uint64_t kGedRegSleepControl = 0;
inline constexpr uint64_t kGedRegSleepStatus = 1;
inline constexpr uint64_t kGedRegReset = 2;

// SLEEP_CONTROL_REG fields (ACPI 6.5 §4.8.3.7, Table 4.19): SLP_TYP bits 2..4, SLP_EN bit 5.
inline constexpr uint8_t kSleepControlSlpEn = 1u << 5;
inline constexpr unsigned kSleepControlSlpTypShift = 2;
inline constexpr uint8_t kSleepControlSlpTypMask = 0x7;
// The SLP_TYP value the DSDT's \_S5 package gives for soft-off.
inline constexpr uint8_t kSlpTypS5 = 5;
// SLEEP_STATUS_REG WAK_STS (ACPI 6.5 §4.8.3.7, Table 4.20), write-1-to-clear.
inline constexpr uint8_t kSleepStatusWakSts = 1u << 7;
// The FADT RESET_VALUE the guest writes to RESET_REG.
inline constexpr uint8_t kGedResetValue = 0x42;

class Ged {
public:
    using Callback = std::function<void()>;

    Ged(hw::IrqLine& irq, Callback on_poweroff, Callback on_reset);
    Ged(const Ged&) = delete;
    Ged& operator=(const Ged&) = delete;

    // The ESEL region (map kGedEventSize bytes at kGedEventBase, 4-byte accesses).
    memory::MmioHandler& event_handler() { return m_event; }
    // The sleep/reset registers (map kGedRegsSize bytes at kGedRegsBase, 1-byte accesses).
    memory::MmioHandler& regs_handler() { return m_regs; }
    static constexpr memory::AccessRules kEventAccessRules{4, 4, false};
    static constexpr memory::AccessRules kRegsAccessRules{1, 1, false};

    // Main loop (QMP system_powerdown): latch the power-button event and pulse the line, so
    // the guest's GED _EVT method runs and notifies \_SB.PWRB.
    void power_button();
    // System reset: no pending events, WAK_STS clear.
    void reset();

    // Pending ESEL bits, without clearing them (for tests and `info` output).
    uint32_t pending_events() const;

private:
    struct EventRegs final : memory::MmioHandler {
        explicit EventRegs(Ged& ged) : ged(ged) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t, uint64_t, unsigned) override {} // ESEL is read-only
        Ged& ged;
    };
    struct SleepRegs final : memory::MmioHandler {
        explicit SleepRegs(Ged& ged) : ged(ged) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;
        Ged& ged;
    };

    hw::IrqLine& m_irq;
    Callback m_on_poweroff;
    Callback m_on_reset;
    EventRegs m_event{*this};
    SleepRegs m_regs{*this};
    mutable std::mutex m_lock;
    uint32_t m_pending = 0;
    uint8_t m_sleep_status = 0;
};

} // namespace nemu::acpi
