#pragma once
// The qtest text protocol engine (QEMU 7.2 softmmu/qtest.c, docs/devel/qtest.rst): one
// command per '\n'-terminated line, words split on single spaces, replies "OK ..." or
// "FAIL ...", plus asynchronous "IRQ raise N" / "IRQ lower N" lines for intercepted IRQs.
// Pure: bytes in through feed(), bytes out through the Output callback; no I/O of its own.
// Where QEMU asserts on malformed input (missing or bad arguments, zero-length read, unknown
// gpio) we reply "FAIL <reason>" and carry on.
// Thread: main loop only (IRQ lines raised under qtest come from the same thread).

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hw/core/irq.h"
#include "hw/core/virtual_clock.h"
#include "hw/memory/address_space.h"
#include "util/result.h"

namespace nemu::qtest {

// What the protocol acts on; the machine implements it. Everything it returns must outlive
// the session.
struct QtestTarget {
    virtual ~QtestTarget() = default;
    virtual memory::AddressSpace& memory() = 0;   // first_cpu->as in QEMU
    virtual memory::AddressSpace& io() = 0;       // the 64 KiB port space
    virtual hw::VirtualClock& clock() = 0;
    // The device at a QOM path (absolute or partial, as object_resolve_path), or an error.
    virtual Result<hw::GpioList*> find_gpios(std::string_view qom_path) = 0;
};

class QtestSession {
public:
    using Output = std::function<void(std::string_view bytes)>;
    using LogSink = std::function<void(std::string_view text)>;

    // Bounds: reads/writes/memsets of more than kMaxTransfer bytes and lines longer than
    // kMaxLineLength are refused with FAIL, so no input makes us allocate without limit.
    static constexpr uint64_t kMaxTransfer = 4 << 20;
    static constexpr size_t kMaxLineLength = 2 * kMaxTransfer + 4096;
    static constexpr unsigned kMaxIrq = 256;   // QEMU's MAX_IRQ: lines tracked for IRQ reports

    QtestSession(QtestTarget& target, Output out);
    ~QtestSession();   // removes its IRQ interceptors
    QtestSession(const QtestSession&) = delete;
    QtestSession& operator=(const QtestSession&) = delete;

    // -qtest-log: "[R +secs] words", "[S +secs] reply", "[I +secs] OPENED/CLOSED".
    void set_log(LogSink sink) { m_log = std::move(sink); }
    // The transport connected / went away (QEMU's CHR_EVENT_OPENED/CLOSED: reset the
    // remembered IRQ levels and the log's time base).
    void opened();
    void closed();

    // Bytes from the client, in arbitrary fragments; complete lines are executed at once.
    void feed(std::span<const uint8_t> bytes);
    void feed(std::string_view text);

private:
    using Words = std::vector<std::string_view>;
    void process_line(std::string_view line);
    void dispatch(const Words& w);
    void send(std::string_view reply);   // one reply line, "\n" included
    void log_prefix(char kind);
    double elapsed() const;

    void cmd_read_typed(const Words& w, unsigned size);
    void cmd_write_typed(const Words& w, unsigned size);
    void cmd_read(const Words& w, bool b64);
    void cmd_write(const Words& w, bool b64);
    void cmd_memset(const Words& w);
    void cmd_in(const Words& w, unsigned size);
    void cmd_out(const Words& w, unsigned size);
    void cmd_irq_intercept(const Words& w, bool out);
    void cmd_set_irq_in(const Words& w);
    void cmd_clock_step(const Words& w);
    void cmd_clock_set(const Words& w);
    void irq_changed(unsigned n, bool level, hw::IrqLine& line);
    void clear_interceptors();

    QtestTarget& m_target;
    Output m_out;
    LogSink m_log;
    std::string m_inbuf;
    bool m_discarding = false;   // inside an over-long line, dropping bytes up to '\n'
    std::chrono::steady_clock::time_point m_t0 = std::chrono::steady_clock::now();
    hw::GpioList* m_intercepted = nullptr;
    std::vector<hw::IrqLine*> m_intercepted_lines;
    std::vector<bool> m_irq_levels = std::vector<bool>(kMaxIrq, false);
};

} // namespace nemu::qtest
