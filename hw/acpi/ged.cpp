#include "hw/acpi/ged.h"

#include "hw/core/irq.h"

namespace nemu::acpi {

Ged::Ged(hw::IrqLine& irq, Callback on_poweroff, Callback on_reset)
    : m_irq(irq), m_on_poweroff(std::move(on_poweroff)), m_on_reset(std::move(on_reset)) {}

void Ged::power_button() {
    std::lock_guard guard(m_lock);
    m_pending |= kGedEventPowerButton;
    // GSI 16 is edge-triggered: the event is the edge, the guest learns which one from ESEL.
    m_irq.pulse();
}

void Ged::reset() {
    std::lock_guard guard(m_lock);
    m_pending = 0;
    m_sleep_status = 0;
}

uint32_t Ged::pending_events() const {
    std::lock_guard guard(m_lock);
    return m_pending;
}

uint64_t Ged::EventRegs::read(uint64_t offset, unsigned /*size*/) {
    if (offset != 0) return 0;
    std::lock_guard guard(ged.m_lock);
    // Read-to-clear, as QEMU's ged_evt_read: each latched event is reported once.
    uint32_t events = ged.m_pending;
    ged.m_pending = 0;
    return events;
}

uint64_t Ged::SleepRegs::read(uint64_t offset, unsigned /*size*/) {
    if (offset != kGedRegSleepStatus) return 0; // SLEEP_CONTROL and RESET read as 0
    std::lock_guard guard(ged.m_lock);
    return ged.m_sleep_status;
}

void Ged::SleepRegs::write(uint64_t offset, uint64_t value, unsigned /*size*/) {
    uint8_t v = static_cast<uint8_t>(value);
    switch (offset) {
    case kGedRegSleepControl: {
        // ACPI 6.5 §7.4.2 / §16.1.6: OSPM writes SLP_TYP from \_Sx together with SLP_EN.
        // Only S5 (soft off) is offered by the DSDT; other sleep types are ignored.
        uint8_t slp_typ = (v >> kSleepControlSlpTypShift) & kSleepControlSlpTypMask;
        if ((v & kSleepControlSlpEn) && slp_typ == kSlpTypS5 && ged.m_on_poweroff)
            ged.m_on_poweroff();
        return;
    }
    case kGedRegSleepStatus: {
        // WAK_STS is write-1-to-clear; writing 0 leaves it (ACPI 6.5 §4.8.3.7).
        std::lock_guard guard(ged.m_lock);
        if (v & kSleepStatusWakSts) ged.m_sleep_status &= static_cast<uint8_t>(~kSleepStatusWakSts);
        return;
    }
    case kGedRegReset:
        // ACPI 6.5 §4.8.3.6: the reset happens when RESET_VALUE is written to RESET_REG.
        if (v == kGedResetValue && ged.m_on_reset) ged.m_on_reset();
        return;
    default:
        return;
    }
}

} // namespace nemu::acpi
