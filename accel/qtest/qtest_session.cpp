#include "accel/qtest/qtest_session.h"
#include "util/little_endian.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "accel/qtest/qtest_codec.h"

namespace nemu::qtest {

namespace {

// Words are echoed in FAIL messages; keep those lines short whatever the input.
std::string clip(std::string_view s) {
    constexpr size_t kMax = 64;
    return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}


// Argument parsing for one command; on failure `error` holds the FAIL line to send.
struct Args {
    const std::vector<std::string_view>& w;
    std::string error;

    bool need(size_t n) {
        if (w.size() > n) return true;
        error = fmt::format("FAIL '{}' needs {} argument{}\n", clip(w[0]), n, n == 1 ? "" : "s");
        return false;
    }
    std::optional<uint64_t> u64(size_t i) {
        auto v = parse_u64(w[i]);
        if (!v) error = fmt::format("FAIL invalid number '{}'\n", clip(w[i]));
        return v;
    }
    std::optional<int64_t> i64(size_t i) {
        auto v = parse_i64(w[i]);
        if (!v) error = fmt::format("FAIL invalid number '{}'\n", clip(w[i]));
        return v;
    }
    std::optional<uint64_t> length(size_t i) {
        auto v = u64(i);
        if (v && *v > QtestSession::kMaxTransfer) {
            error = fmt::format("FAIL size {} exceeds the limit of {} bytes\n", *v,
                                QtestSession::kMaxTransfer);
            return std::nullopt;
        }
        return v;
    }
};

} // namespace

QtestSession::QtestSession(QtestTarget& target, Output out)
    : m_target(target), m_out(std::move(out)) {}

QtestSession::~QtestSession() { clear_interceptors(); }

double QtestSession::elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_t0).count();
}

void QtestSession::log_prefix(char kind) {
    if (m_log) m_log(fmt::format("[{} +{:.6f}] ", kind, elapsed()));
}

void QtestSession::send(std::string_view reply) {
    log_prefix('S');
    if (m_log) m_log(reply);
    m_out(reply);
}

void QtestSession::opened() {
    std::fill(m_irq_levels.begin(), m_irq_levels.end(), false);
    m_t0 = std::chrono::steady_clock::now();
    if (m_log) m_log(fmt::format("[I {:.6f}] OPENED\n", elapsed()));
}

void QtestSession::closed() {
    if (m_log) m_log(fmt::format("[I +{:.6f}] CLOSED\n", elapsed()));
}

void QtestSession::feed(std::string_view text) {
    feed(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void QtestSession::feed(std::span<const uint8_t> bytes) {
    const char* p = reinterpret_cast<const char*>(bytes.data());
    size_t n = bytes.size(), i = 0;
    while (i < n) {
        const void* nl = std::memchr(p + i, '\n', n - i);
        size_t end = nl ? size_t(static_cast<const char*>(nl) - p) : n;
        if (!m_discarding) {
            if (m_inbuf.size() + (end - i) > kMaxLineLength) {
                m_discarding = true;
                std::string().swap(m_inbuf);
            } else {
                m_inbuf.append(p + i, end - i);
            }
        }
        if (!nl) break;
        i = end + 1;
        if (m_discarding) {
            m_discarding = false;
            send(fmt::format("FAIL line longer than {} bytes\n", kMaxLineLength));
        } else {
            std::string line;
            line.swap(m_inbuf);
            process_line(line);
        }
    }
}

void QtestSession::process_line(std::string_view line) {
    // g_strsplit(line, " ", 0): single-space separators, empty words kept.
    Words w;
    if (!line.empty()) {
        size_t start = 0;
        while (true) {
            size_t sp = line.find(' ', start);
            w.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
            if (sp == std::string_view::npos) break;
            start = sp + 1;
        }
    }
    if (m_log) {
        std::string rec = fmt::format("[R +{:.6f}]", elapsed());
        for (std::string_view word : w) (rec += ' ') += word;
        m_log(rec + "\n");
    }
    if (w.empty()) {
        send("FAIL Unknown command ''\n");
        return;
    }
    dispatch(w);
}

void QtestSession::dispatch(const Words& w) {
    std::string_view c = w[0];
    if (c == "readb") return cmd_read_typed(w, 1);
    if (c == "readw") return cmd_read_typed(w, 2);
    if (c == "readl") return cmd_read_typed(w, 4);
    if (c == "readq") return cmd_read_typed(w, 8);
    if (c == "writeb") return cmd_write_typed(w, 1);
    if (c == "writew") return cmd_write_typed(w, 2);
    if (c == "writel") return cmd_write_typed(w, 4);
    if (c == "writeq") return cmd_write_typed(w, 8);
    if (c == "read") return cmd_read(w, false);
    if (c == "b64read") return cmd_read(w, true);
    if (c == "write") return cmd_write(w, false);
    if (c == "b64write") return cmd_write(w, true);
    if (c == "memset") return cmd_memset(w);
    if (c == "inb") return cmd_in(w, 1);
    if (c == "inw") return cmd_in(w, 2);
    if (c == "inl") return cmd_in(w, 4);
    if (c == "outb") return cmd_out(w, 1);
    if (c == "outw") return cmd_out(w, 2);
    if (c == "outl") return cmd_out(w, 4);
    if (c == "irq_intercept_in") return cmd_irq_intercept(w, false);
    if (c == "irq_intercept_out") return cmd_irq_intercept(w, true);
    if (c == "set_irq_in") return cmd_set_irq_in(w);
    if (c == "clock_step") return cmd_clock_step(w);
    if (c == "clock_set") return cmd_clock_set(w);
    if (c == "endianness") return send("OK little\n");
    // No loadable modules: QEMU answers a failed module_load with a bare "FAIL".
    if (c == "module_load") return send("FAIL\n");
    send(fmt::format("FAIL Unknown command '{}'\n", clip(c)));
}

void QtestSession::cmd_read_typed(const Words& w, unsigned size) {
    Args a{w, {}};
    std::optional<uint64_t> addr;
    if (!a.need(1) || !(addr = a.u64(1))) return send(a.error);
    uint8_t buf[8] = {};
    (void)m_target.memory().read(*addr, std::span<uint8_t>(buf, size));
    // QEMU prints every typed read with "%016" PRIx64, whatever its width.
    send(fmt::format("OK 0x{:016x}\n", load_le(buf, size)));
}

void QtestSession::cmd_write_typed(const Words& w, unsigned size) {
    Args a{w, {}};
    std::optional<uint64_t> addr, value;
    if (!a.need(2) || !(addr = a.u64(1)) || !(value = a.u64(2))) return send(a.error);
    uint8_t buf[8];
    store_le(buf, *value, size);
    (void)m_target.memory().write(*addr, std::span<const uint8_t>(buf, size));
    send("OK\n");
}

void QtestSession::cmd_read(const Words& w, bool b64) {
    Args a{w, {}};
    std::optional<uint64_t> addr, len;
    if (!a.need(2) || !(addr = a.u64(1)) || !(len = a.length(2))) return send(a.error);
    // QEMU asserts here: a zero-length hex dump would be "OK 0x", which libqtest misparses.
    if (*len == 0 && !b64) return send("FAIL read of zero bytes\n");
    std::vector<uint8_t> data(*len);
    (void)m_target.memory().read(*addr, data);
    if (b64)
        send("OK " + base64_encode(data.data(), data.size()) + "\n");
    else
        send("OK 0x" + hex_encode(data.data(), data.size()) + "\n");
}

void QtestSession::cmd_write(const Words& w, bool b64) {
    Args a{w, {}};
    std::optional<uint64_t> addr, len;
    if (!a.need(3) || !(addr = a.u64(1)) || !(len = a.length(2))) return send(a.error);
    // QEMU's exact reply (sent without a log prefix) for a data word shorter than 3 chars.
    if (w[3].size() < 3) return m_out("ERR invalid argument size\n");
    std::vector<uint8_t> data;
    if (b64) {
        auto decoded = base64_decode(w[3]);
        if (!decoded) return send("FAIL invalid base64 data\n");
        data = std::move(*decoded);
        if (data.size() != *len) {
            if (m_log) {
                log_prefix('S');
                m_log(fmt::format("b64write: data length mismatch (told {}, found {})\n", *len,
                                  data.size()));
            }
            data.resize(std::min<uint64_t>(data.size(), *len));
        }
    } else {
        auto decoded = hex_decode_padded(w[3], *len);
        if (!decoded) return send("FAIL invalid hex data\n");
        data = std::move(*decoded);
    }
    (void)m_target.memory().write(*addr, data);
    send("OK\n");
}

void QtestSession::cmd_memset(const Words& w) {
    Args a{w, {}};
    std::optional<uint64_t> addr, len, pattern;
    if (!a.need(3) || !(addr = a.u64(1)) || !(len = a.length(2)) || !(pattern = a.u64(3)))
        return send(a.error);
    std::vector<uint8_t> chunk(std::min<uint64_t>(*len, 4096), uint8_t(*pattern));
    for (uint64_t done = 0; done < *len;) {
        uint64_t n = std::min<uint64_t>(*len - done, chunk.size());
        (void)m_target.memory().write(*addr + done, std::span<const uint8_t>(chunk.data(), n));
        done += n;
    }
    send("OK\n");
}

void QtestSession::cmd_in(const Words& w, unsigned size) {
    Args a{w, {}};
    std::optional<uint64_t> addr;
    if (!a.need(1) || !(addr = a.u64(1))) return send(a.error);
    if (*addr > 0xffff) return send(fmt::format("FAIL port {:#x} out of range\n", *addr));
    uint8_t buf[4] = {};
    (void)m_target.io().read(*addr, std::span<uint8_t>(buf, size));
    send(fmt::format("OK 0x{:04x}\n", load_le(buf, size)));
}

void QtestSession::cmd_out(const Words& w, unsigned size) {
    Args a{w, {}};
    std::optional<uint64_t> addr, value;
    if (!a.need(2) || !(addr = a.u64(1)) || !(value = a.u64(2))) return send(a.error);
    if (*addr > 0xffff) return send(fmt::format("FAIL port {:#x} out of range\n", *addr));
    uint8_t buf[4];
    store_le(buf, *value, size);
    (void)m_target.io().write(*addr, std::span<const uint8_t>(buf, size));
    send("OK\n");
}

void QtestSession::irq_changed(unsigned n, bool level, hw::IrqLine& line) {
    // QEMU qtest_irq_handler: forward to the original line, then report level changes.
    line.deliver(level);
    if (n < kMaxIrq) {
        if (m_irq_levels[n] == level) return;
        m_irq_levels[n] = level;
    }
    send(fmt::format("IRQ {} {}\n", level ? "raise" : "lower", n));
}

void QtestSession::cmd_irq_intercept(const Words& w, bool out) {
    Args a{w, {}};
    if (!a.need(1)) return send(a.error);
    auto dev = m_target.find_gpios(w[1]);
    if (!dev || !*dev) return send("FAIL Unknown device\n");
    if (m_intercepted) {
        if (m_intercepted != *dev) return send("FAIL IRQ intercept already enabled\n");
        return send("OK\n");
    }
    hw::GpioList& g = **dev;
    // Only the unnamed gpio array is intercepted, as in QEMU.
    unsigned count = out ? g.out_count("") : g.in_count("");
    for (unsigned i = 0; i < count; i++) {
        hw::IrqLine* line = out ? g.out("", i) : g.in("", i);
        line->set_interceptor([this, i, line](bool level) { irq_changed(i, level, *line); });
        m_intercepted_lines.push_back(line);
    }
    m_intercepted = &g;
    send("OK\n");
}

void QtestSession::clear_interceptors() {
    for (hw::IrqLine* line : m_intercepted_lines) line->set_interceptor({});
    m_intercepted_lines.clear();
    m_intercepted = nullptr;
}

void QtestSession::cmd_set_irq_in(const Words& w) {
    Args a{w, {}};
    if (!a.need(4)) return send(a.error);
    auto dev = m_target.find_gpios(w[1]);
    if (!dev || !*dev) return send("FAIL Unknown device\n");
    std::optional<int64_t> num, level;
    if (!(num = a.i64(3)) || !(level = a.i64(4))) return send(a.error);
    std::string_view name = w[2] == "unnamed-gpio-in" ? std::string_view() : w[2];
    hw::IrqLine* line = *num >= 0 && *num <= INT32_MAX ? (*dev)->in(name, unsigned(*num)) : nullptr;
    if (!line) return send(fmt::format("FAIL no gpio-in '{}' number {}\n", clip(w[2]), *num));
    line->set_level(*level != 0);
    send("OK\n");
}

void QtestSession::cmd_clock_step(const Words& w) {
    hw::VirtualClock& clock = m_target.clock();
    int64_t now;
    if (w.size() > 1) {
        Args a{w, {}};
        auto ns = a.i64(1);
        if (!ns) return send(a.error);
        now = clock.step(*ns);
    } else {
        now = clock.step_to_next_deadline();
    }
    send(fmt::format("OK {}\n", now));
}

void QtestSession::cmd_clock_set(const Words& w) {
    Args a{w, {}};
    std::optional<int64_t> ns;
    if (!a.need(1) || !(ns = a.i64(1))) return send(a.error);
    send(fmt::format("OK {}\n", m_target.clock().set(*ns)));
}

} // namespace nemu::qtest
