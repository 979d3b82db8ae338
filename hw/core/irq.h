#pragma once
// Interrupt lines and a device's named GPIO arrays (QEMU's qemu_irq and qdev gpio lists).
// Thread: a line is raised from whatever thread the device runs on; handlers run on that
// thread. Wiring (set_handler, connect, interceptors) happens on the main thread while the
// machine is stopped or under qtest.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nemu::hw {

class IrqLine {
public:
    using Handler = std::function<void(bool level)>;

    explicit IrqLine(std::string name = {}, Handler handler = {})
        : m_name(std::move(name)), m_handler(std::move(handler)) {}
    IrqLine(const IrqLine&) = delete;
    IrqLine& operator=(const IrqLine&) = delete;

    // Records the level and calls the interceptor if one is set, else the handler.
    void set_level(bool level);
    void raise() { set_level(true); }
    void lower() { set_level(false); }
    void pulse() { set_level(true); set_level(false); }
    bool level() const { return m_level; }
    const std::string& name() const { return m_name; }

    void set_handler(Handler h) { m_handler = std::move(h); }
    // Calls the owner's handler directly, bypassing any interceptor. qtest's interceptors
    // forward through this, as QEMU's qtest_irq_handler forwards to the original irq.
    void deliver(bool level) const {
        if (m_handler) m_handler(level);
    }
    // qtest's irq_intercept_in/out: replaces the handler until cleared with {}.
    void set_interceptor(Handler h) { m_interceptor = std::move(h); }
    bool intercepted() const { return static_cast<bool>(m_interceptor); }

private:
    std::string m_name;
    Handler m_handler;
    Handler m_interceptor;
    bool m_level = false;
};

// A device's gpio-in and gpio-out arrays, by (name, index); the unnamed array is "".
// gpio-out lines forward to the input line they are connected to.
class GpioList {
public:
    // Adds count gpio-in lines under name; handler(n, level) gets the line index.
    void add_in(std::string_view name, unsigned count,
                std::function<void(unsigned n, bool level)> handler);
    void add_out(std::string_view name, unsigned count);
    // Connects gpio-out (name, n) to target (qdev_connect_gpio_out_named); false if no such line.
    bool connect_out(std::string_view name, unsigned n, IrqLine& target);

    IrqLine* in(std::string_view name, unsigned n);
    IrqLine* out(std::string_view name, unsigned n);
    unsigned in_count(std::string_view name) const;
    unsigned out_count(std::string_view name) const;

private:
    struct Group {
        std::string name;
        bool out;
        std::vector<std::unique_ptr<IrqLine>> lines;
    };
    Group* find(std::string_view name, bool out);
    const Group* find(std::string_view name, bool out) const;
    Group& group(std::string_view name, bool out);
    std::vector<Group> m_groups;
};

} // namespace nemu::hw
