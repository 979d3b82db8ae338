#include "hw/char/serial_16550.h"

#include "hw/core/irq.h"

namespace nemu::hw {

namespace {

// Register offsets (PC16550D datasheet, "Register Addresses" table).
constexpr uint64_t kRegData = 0; // RBR (read) / THR (write); DLL with LCR.DLAB
constexpr uint64_t kRegIer = 1;  // DLM with LCR.DLAB
constexpr uint64_t kRegIirFcr = 2;
constexpr uint64_t kRegLcr = 3;
constexpr uint64_t kRegMcr = 4;
constexpr uint64_t kRegLsr = 5;
constexpr uint64_t kRegMsr = 6;
constexpr uint64_t kRegScr = 7;

constexpr uint8_t kIerRdi = 0x01;  // received data available (and character timeout)
constexpr uint8_t kIerThri = 0x02; // transmitter holding register empty
constexpr uint8_t kIerRlsi = 0x04; // receiver line status
constexpr uint8_t kIerMsi = 0x08;  // modem status
constexpr uint8_t kIerMask = 0x0f; // bits 4..7 read as 0 (Linux probes bit 6 for XScale UARTs)

// IIR interrupt IDs, in priority order (datasheet "Interrupt Control Functions" table).
constexpr uint8_t kIirNoInt = 0x01;
constexpr uint8_t kIirRlsi = 0x06;
constexpr uint8_t kIirRdi = 0x04;
constexpr uint8_t kIirTimeout = 0x0c;
constexpr uint8_t kIirThri = 0x02;
constexpr uint8_t kIirMsi = 0x00;
constexpr uint8_t kIirIdMask = 0x0f;
constexpr uint8_t kIirFifosEnabled = 0xc0; // what Linux's autoconfig reads as "16550A"

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kFcrClearTx = 0x04;
constexpr uint8_t kFcrTriggerMask = 0xc0;
constexpr unsigned kTriggerLevels[4] = {1, 4, 8, 14};

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrErrors = 0x1e; // OE, PE, FE, BI: cleared by reading LSR
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;

constexpr uint8_t kMsrDcts = 0x01;
constexpr uint8_t kMsrDdsr = 0x02;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrDdcd = 0x08;
constexpr uint8_t kMsrDeltas = 0x0f;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

// 115200 / 12 = 9600 baud with the PC's 1.8432 MHz clock; the datasheet leaves the latch
// undefined at reset, QEMU starts from the same value.
constexpr uint16_t kResetDivisor = 12;

} // namespace

Serial16550::Serial16550(IrqLine& irq) : m_irq(irq), m_self(std::make_shared<Serial16550*>(this)) {
    std::lock_guard guard(m_lock);
    reset_locked();
}

Serial16550::~Serial16550() {
    m_self.reset();
    if (m_chardev) m_chardev->detach(*this);
}

Result<> Serial16550::attach(chardev::Chardev* chr, Poster post) {
    chardev::Chardev* old = nullptr;
    {
        std::lock_guard guard(m_lock);
        old = m_chardev;
        m_chardev = nullptr;
        m_out.clear();
        m_post = {};
    }
    // Chardev::attach may call back into can_receive()/on_event(): no lock held here.
    if (old) old->detach(*this);
    if (!chr) return {};
    TRY(chr->attach(*this));
    std::lock_guard guard(m_lock);
    m_chardev = chr;
    m_post = std::move(post);
    return {};
}

void Serial16550::reset() {
    unsigned notes = 0;
    {
        std::lock_guard guard(m_lock);
        reset_locked();
        input_freed_locked(notes);
    }
    run_notes(notes);
}

void Serial16550::reset_locked() {
    m_ier = 0;
    m_fcr = 0;
    m_lcr = 0;
    // QEMU's serial_reset leaves OUT2 set (the PC wiring that gates the interrupt line);
    // guests and the qtest oracle see 0x08 at power-on.
    m_mcr = kMcrOut2;
    m_lsr = kLsrThre | kLsrTemt;
    m_msr = modem_inputs_locked();
    m_scr = 0;
    m_rbr = 0;
    m_divisor = kResetDivisor;
    m_rx_head = 0;
    m_rx_count = 0;
    m_thr_pending = false;
    m_timeout_pending = false;
    update_irq_locked();
}

uint64_t Serial16550::read(uint64_t offset, unsigned /*size*/) {
    if (offset >= kRegCount) return 0xff;
    unsigned notes = 0;
    uint8_t value;
    {
        std::lock_guard guard(m_lock);
        value = read_locked(offset, notes);
    }
    run_notes(notes);
    return value;
}

void Serial16550::write(uint64_t offset, uint64_t value, unsigned /*size*/) {
    if (offset >= kRegCount) return;
    unsigned notes = 0;
    {
        std::lock_guard guard(m_lock);
        write_locked(offset, static_cast<uint8_t>(value), notes);
    }
    run_notes(notes);
}

uint8_t Serial16550::read_locked(uint64_t reg, unsigned& notes) {
    bool dlab = m_lcr & kLcrDlab;
    switch (reg) {
    case kRegData: {
        if (dlab) return static_cast<uint8_t>(m_divisor);
        // With the FIFO on, reading an empty receive FIFO gives 0 (QEMU); in character mode
        // the holding register keeps the last byte.
        if (m_rx_count == 0 && (m_fcr & kFcrEnable)) m_rbr = 0;
        if (m_rx_count > 0) {
            m_rbr = m_rx_fifo[m_rx_head];
            m_rx_head = (m_rx_head + 1) % kFifoSize;
            m_rx_count--;
            input_freed_locked(notes);
        }
        if (m_rx_count == 0) m_lsr &= ~kLsrDr;
        // Reading RBR clears the timeout indication; a real UART raises it again after four
        // idle character times if data is left, which the main loop stands in for.
        m_timeout_pending = false;
        if (m_rx_count > 0 && (m_fcr & kFcrEnable)) notes |= kNoteRearmTimeout;
        update_irq_locked();
        return m_rbr;
    }
    case kRegIer:
        return dlab ? static_cast<uint8_t>(m_divisor >> 8) : m_ier;
    case kRegIirFcr: {
        uint8_t iir = iir_locked();
        // Reading IIR clears a THRE interrupt only when IIR reports it (datasheet).
        if ((iir & kIirIdMask) == kIirThri) {
            m_thr_pending = false;
            update_irq_locked();
        }
        return iir;
    }
    case kRegLcr:
        return m_lcr;
    case kRegMcr:
        return m_mcr;
    case kRegLsr: {
        uint8_t lsr = m_lsr;
        m_lsr &= ~kLsrErrors;
        update_irq_locked();
        return lsr;
    }
    case kRegMsr: {
        uint8_t msr = m_msr;
        m_msr &= ~kMsrDeltas;
        update_irq_locked();
        return msr;
    }
    case kRegScr:
        return m_scr;
    default:
        return 0xff;
    }
}

void Serial16550::write_locked(uint64_t reg, uint8_t value, unsigned& notes) {
    bool dlab = m_lcr & kLcrDlab;
    switch (reg) {
    case kRegData:
        if (dlab)
            m_divisor = static_cast<uint16_t>((m_divisor & 0xff00) | value);
        else
            transmit_locked(value, notes);
        return;
    case kRegIer: {
        if (dlab) {
            m_divisor = static_cast<uint16_t>((m_divisor & 0x00ff) | (value << 8));
            return;
        }
        uint8_t changed = (m_ier ^ value) & kIerMask;
        m_ier = value & kIerMask;
        // Enabling THRI while the transmitter is empty raises THRE even after an IIR read
        // cleared it: Linux's startup THRE test (serial8250_do_startup) and Windows rely on
        // it; sampled on the rising edge of IER.THRI as QEMU and Bochs do.
        if (changed & kIerThri) m_thr_pending = (m_ier & kIerThri) && (m_lsr & kLsrThre);
        update_irq_locked();
        return;
    }
    case kRegIirFcr:
        write_fcr_locked(value, notes);
        return;
    case kRegLcr:
        m_lcr = value;
        return;
    case kRegMcr:
        write_mcr_locked(value, notes);
        return;
    case kRegLsr:
    case kRegMsr:
        return; // status registers: writes are for factory test only (datasheet)
    case kRegScr:
        m_scr = value;
        return;
    default:
        return;
    }
}

void Serial16550::transmit_locked(uint8_t byte, unsigned& notes) {
    // Writing THR clears the THRE interrupt; the byte leaving raises it again, so the line
    // drops and rises: a new edge on the edge-triggered GSI, as with QEMU's 16550.
    m_thr_pending = false;
    update_irq_locked();
    if (m_mcr & kMcrLoop) {
        // Loopback: the transmitter output is wired to the receiver input, nothing leaves.
        receive_byte_locked(byte);
        rx_idle_locked();
    } else if (m_chardev && m_out.size() < kMaxPendingOutput) {
        if (m_out.empty()) notes |= kNoteFlush;
        m_out.push_back(byte);
    }
    // The byte left at once: holding register and shift register are empty again.
    m_lsr |= kLsrThre | kLsrTemt;
    m_thr_pending = true;
    update_irq_locked();
}

void Serial16550::write_fcr_locked(uint8_t value, unsigned& notes) {
    bool enable_changed = (value ^ m_fcr) & kFcrEnable;
    // Toggling FIFO enable resets both FIFOs; the other bits are only programmed while
    // FCR0 is written as 1 (datasheet, FCR description).
    if (enable_changed || ((value & kFcrEnable) && (value & kFcrClearRx))) clear_rx_locked(notes);
    // Resetting the transmit FIFO (bit 2, implied by toggling FIFO enable) empties the
    // transmitter, which raises THRE like a sent byte does (QEMU serial.c, 16550A datasheet).
    if (enable_changed || (value & kFcrClearTx)) {
        m_lsr |= kLsrThre | kLsrTemt;
        m_thr_pending = true;
        update_irq_locked();
    }
    m_fcr = (value & kFcrEnable) ? (value & (kFcrEnable | kFcrTriggerMask)) : 0;
    // The transmit FIFO is always empty (bytes leave at once), so clearing it changes nothing.
    update_irq_locked();
}

void Serial16550::write_mcr_locked(uint8_t value, unsigned& notes) {
    bool was_loop = m_mcr & kMcrLoop;
    uint8_t old_in = m_msr & ~kMsrDeltas;
    m_mcr = value & kMcrMask;
    uint8_t new_in = modem_inputs_locked();
    uint8_t changed = old_in ^ new_in;
    uint8_t delta = 0;
    if (changed & kMsrCts) delta |= kMsrDcts;
    if (changed & kMsrDsr) delta |= kMsrDdsr;
    if (changed & kMsrDcd) delta |= kMsrDdcd;
    if ((old_in & kMsrRi) && !(new_in & kMsrRi)) delta |= kMsrTeri; // trailing edge only
    m_msr = new_in | (m_msr & kMsrDeltas) | delta;
    if (was_loop && !(m_mcr & kMcrLoop)) input_freed_locked(notes);
    update_irq_locked();
}

uint8_t Serial16550::modem_inputs_locked() const {
    if (!(m_mcr & kMcrLoop)) return kMsrDcd | kMsrDsr | kMsrCts; // a connected line
    // Loopback wiring (datasheet, MCR bit 4): RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
    uint8_t in = 0;
    if (m_mcr & kMcrRts) in |= kMsrCts;
    if (m_mcr & kMcrDtr) in |= kMsrDsr;
    if (m_mcr & kMcrOut1) in |= kMsrRi;
    if (m_mcr & kMcrOut2) in |= kMsrDcd;
    return in;
}

size_t Serial16550::rx_capacity_locked() const { return (m_fcr & kFcrEnable) ? kFifoSize : 1; }

unsigned Serial16550::rx_trigger_locked() const {
    return kTriggerLevels[(m_fcr & kFcrTriggerMask) >> 6];
}

void Serial16550::receive_byte_locked(uint8_t byte) {
    if (m_rx_count == rx_capacity_locked()) {
        // Overrun. FIFO mode: the FIFO keeps its data and the new character is lost;
        // character mode: the new character overwrites RBR (datasheet, LSR bit 1).
        m_lsr |= kLsrOe;
        if (!(m_fcr & kFcrEnable)) m_rx_fifo[m_rx_head] = byte;
        return;
    }
    m_rx_fifo[(m_rx_head + m_rx_count) % kFifoSize] = byte;
    m_rx_count++;
    m_lsr |= kLsrDr;
}

void Serial16550::rx_idle_locked() {
    // No wire, no timing: when a batch has been delivered the line is idle, which is the
    // condition the character timeout waits for.
    if ((m_fcr & kFcrEnable) && m_rx_count > 0) m_timeout_pending = true;
}

void Serial16550::clear_rx_locked(unsigned& notes) {
    m_rx_head = 0;
    m_rx_count = 0;
    m_lsr &= ~kLsrDr;
    m_timeout_pending = false;
    input_freed_locked(notes);
}

void Serial16550::input_freed_locked(unsigned& notes) {
    // The backend is told whenever room appears while it may still hold bytes, not only after
    // a can_receive() that answered 0: a buffering backend (the mux) may have filled all the
    // room it was offered and kept the rest, which would otherwise wait for a notice that never
    // comes (receive() sets m_input_blocked then).
    if (m_input_blocked && !(m_mcr & kMcrLoop) && m_rx_count < rx_capacity_locked()) {
        m_input_blocked = false;
        notes |= kNoteAcceptInput;
    }
}

uint8_t Serial16550::iir_locked() const {
    bool fifo = m_fcr & kFcrEnable;
    uint8_t id = kIirNoInt;
    if ((m_ier & kIerRlsi) && (m_lsr & kLsrErrors))
        id = kIirRlsi;
    else if ((m_ier & kIerRdi) && m_rx_count > 0 && (!fifo || m_rx_count >= rx_trigger_locked()))
        id = kIirRdi;
    else if ((m_ier & kIerRdi) && fifo && m_timeout_pending && m_rx_count > 0)
        id = kIirTimeout;
    else if ((m_ier & kIerThri) && m_thr_pending)
        id = kIirThri;
    else if ((m_ier & kIerMsi) && (m_msr & kMsrDeltas))
        id = kIirMsi;
    return static_cast<uint8_t>(id | (fifo ? kIirFifosEnabled : 0));
}

void Serial16550::update_irq_locked() {
    bool level = !(iir_locked() & kIirNoInt);
    if (level == m_irq_level) return;
    m_irq_level = level;
    m_irq.set_level(level);
}

size_t Serial16550::can_receive() {
    std::lock_guard guard(m_lock);
    // In loopback the serial input is disconnected from the outside (datasheet, MCR bit 4).
    size_t room = (m_mcr & kMcrLoop) ? 0 : rx_capacity_locked() - m_rx_count;
    if (room == 0) m_input_blocked = true;
    m_offered_room = room;
    return room;
}

void Serial16550::receive(std::span<const uint8_t> data) {
    std::lock_guard guard(m_lock);
    if (m_mcr & kMcrLoop) return;
    // All the offered room used: the backend may hold more. The FIFO need not be full now — a
    // vCPU may have read bytes between can_receive() and this call (the nested-lab console
    // stall with 2 vCPUs: the FIFO ended at 15 of 16, the mux kept the rest and nobody asked
    // for it) — so the next byte the guest reads sends the accept_input notice.
    if (data.size() >= m_offered_room) m_input_blocked = true;
    m_offered_room = 0;
    for (uint8_t byte : data) receive_byte_locked(byte);
    rx_idle_locked();
    update_irq_locked();
}

void Serial16550::run_notes(unsigned notes) {
    if (!notes) return;
    Poster post;
    {
        std::lock_guard guard(m_lock);
        post = m_post;
    }
    auto call = [&](void (Serial16550::*fn)()) {
        if (!post) {
            (this->*fn)();
            return;
        }
        post([weak = std::weak_ptr<Serial16550*>(m_self), fn] {
            if (auto self = weak.lock()) ((*self)->*fn)();
        });
    };
    if (notes & kNoteFlush) call(&Serial16550::flush_output);
    if (notes & kNoteAcceptInput) call(&Serial16550::accept_input_now);
    if (notes & kNoteRearmTimeout) call(&Serial16550::rearm_timeout);
}

void Serial16550::flush_output() {
    std::vector<uint8_t> out;
    chardev::Chardev* chr;
    {
        std::lock_guard guard(m_lock);
        out.swap(m_out);
        chr = m_chardev;
    }
    if (!chr || out.empty()) return;
    // Whatever the backend does not take is dropped: the guest is never held up by output.
    auto written = chr->write(out);
    (void)written;
}

void Serial16550::accept_input_now() {
    chardev::Chardev* chr;
    {
        std::lock_guard guard(m_lock);
        chr = m_chardev;
    }
    if (chr) chr->accept_input();
}

void Serial16550::rearm_timeout() {
    std::lock_guard guard(m_lock);
    if (!(m_fcr & kFcrEnable) || m_rx_count == 0) return;
    m_timeout_pending = true;
    update_irq_locked();
}

} // namespace nemu::hw
