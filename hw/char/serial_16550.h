#pragma once
// A 16550A UART as Linux's 8250 driver probes and drives it (COM1 at I/O ports 0x3f8..0x3ff on
// the x86 virt machine, GSI 4). Register behaviour follows the TI/National PC16550D datasheet;
// where the datasheet is silent, QEMU's hw/char/serial.c is the reference for what guests
// expect (THRE re-arming on IER writes).
//
// There is no wire and no baud-rate timing: a byte written to THR leaves at once, so the
// transmitter is always empty again after a write (LSR.THRE and LSR.TEMT stay set) and the
// THRE interrupt is re-armed immediately. The receive FIFO is real (16 bytes, trigger levels,
// overrun); the character-timeout interrupt, which needs "4 character times of silence", is
// signalled as soon as a receive() batch leaves data below the trigger level, and re-armed
// after a guest read through the main loop (see attach()).
//
// Threads: read()/write() come from vCPU threads (several at once), receive()/can_receive()
// and attach() from the main loop. All register state is guarded by m_lock.
// Call-out rule: the IRQ line is driven with m_lock held, so level changes reach the line in
// the order the state changed (two threads never leave a stale level); the line's handler must
// therefore not re-enter this device (KVM's irq ioctl and qtest's interceptor do not). The
// chardev is only called with m_lock released, and — when a poster is given — only from the
// main loop, since chardevs are main-loop-only objects.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "chardev/chardev.h"
#include "hw/memory/memory_region.h"
#include "util/result.h"

namespace nemu::hw {

class IrqLine;

class Serial16550 final : public memory::MmioHandler, public chardev::CharFrontend {
public:
    static constexpr uint64_t kRegCount = 8; // ports base..base+7
    static constexpr size_t kFifoSize = 16;  // 16550A receive/transmit FIFO depth
    // Output waiting for the main loop to hand it to the chardev; beyond it bytes are dropped
    // (a guest must never block or grow the VMM without bound, STYLE.md rule 8).
    static constexpr size_t kMaxPendingOutput = 64 * 1024;
    // Byte-wide registers: wider port accesses are split by the port space.
    static constexpr memory::AccessRules kAccessRules{1, 1, false};

    // Runs fn on the main loop thread (EventLoop::post). Must be callable from any thread.
    using Poster = std::function<void(std::function<void()>)>;

    explicit Serial16550(IrqLine& irq);
    ~Serial16550() override;
    Serial16550(const Serial16550&) = delete;
    Serial16550& operator=(const Serial16550&) = delete;

    // Main loop. Becomes chr's frontend (nullptr: detach from the current one). With a
    // poster, output and "input accepted again" notifications are handed to the main loop;
    // without one they are made inline on the calling thread, which is only correct when
    // every access comes from the main loop (unit tests, qtest).
    Result<> attach(chardev::Chardev* chr, Poster post = {});

    // Power-on state (datasheet table "RESET control"); the attached chardev stays.
    void reset();

    // memory::MmioHandler: offset 0..7 from the port base, one byte per access.
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    // chardev::CharFrontend (main loop).
    size_t can_receive() override;
    void receive(std::span<const uint8_t> data) override;

private:
    // Work to do once m_lock is released (bit set).
    enum Note : unsigned { kNoteFlush = 1, kNoteAcceptInput = 2, kNoteRearmTimeout = 4 };

    uint8_t read_locked(uint64_t reg, unsigned& notes);
    void write_locked(uint64_t reg, uint8_t value, unsigned& notes);
    void transmit_locked(uint8_t byte, unsigned& notes);
    void receive_byte_locked(uint8_t byte);
    void write_fcr_locked(uint8_t value, unsigned& notes);
    void write_mcr_locked(uint8_t value, unsigned& notes);
    void clear_rx_locked(unsigned& notes);
    void input_freed_locked(unsigned& notes);
    void rx_idle_locked();
    size_t rx_capacity_locked() const;
    uint8_t modem_inputs_locked() const;
    unsigned rx_trigger_locked() const;
    uint8_t iir_locked() const;
    void update_irq_locked();
    void reset_locked();

    // Carries out notes with m_lock released.
    void run_notes(unsigned notes);
    void flush_output();
    void accept_input_now();
    void rearm_timeout();

    IrqLine& m_irq;
    mutable std::mutex m_lock;

    // Registers.
    uint8_t m_ier = 0;
    uint8_t m_fcr = 0; // FIFO enable and RX trigger bits as last written
    uint8_t m_lcr = 0;
    uint8_t m_mcr = 0;
    uint8_t m_lsr = 0;
    uint8_t m_msr = 0;
    uint8_t m_scr = 0;
    uint8_t m_rbr = 0; // non-FIFO receive holding register
    uint16_t m_divisor = 0;

    // Receive FIFO as a ring of kFifoSize bytes.
    uint8_t m_rx_fifo[kFifoSize] = {};
    size_t m_rx_head = 0;
    size_t m_rx_count = 0;

    bool m_thr_pending = false;     // THRE interrupt pending (cleared by IIR read / THR write)
    bool m_timeout_pending = false; // character timeout interrupt pending
    bool m_irq_level = false;       // last level driven on m_irq
    // The backend may hold input we have no room for: can_receive() answered 0, or a receive()
    // used all the room the last can_receive() offered. Cleared by the accept_input notice.
    bool m_input_blocked = false;
    size_t m_offered_room = 0;      // what the last can_receive() answered

    // Chardev side (chardev pointer and poster change on the main loop only).
    chardev::Chardev* m_chardev = nullptr;
    Poster m_post;
    std::vector<uint8_t> m_out; // output not yet handed to the chardev
    // Posted closures hold a weak reference, so one that runs after destruction does nothing.
    std::shared_ptr<Serial16550*> m_self;
};

} // namespace nemu::hw
