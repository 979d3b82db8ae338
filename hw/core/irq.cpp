#include "hw/core/irq.h"

#include <fmt/format.h>

namespace nemu::hw {

void IrqLine::set_level(bool level) {
    m_level = level;
    if (m_interceptor)
        m_interceptor(level);
    else
        deliver(level);
}

GpioList::Group* GpioList::find(std::string_view name, bool out) {
    for (Group& g : m_groups)
        if (g.out == out && g.name == name) return &g;
    return nullptr;
}

const GpioList::Group* GpioList::find(std::string_view name, bool out) const {
    for (const Group& g : m_groups)
        if (g.out == out && g.name == name) return &g;
    return nullptr;
}

GpioList::Group& GpioList::group(std::string_view name, bool out) {
    if (Group* g = find(name, out)) return *g;
    m_groups.push_back(Group{std::string(name), out, {}});
    return m_groups.back();
}

void GpioList::add_in(std::string_view name, unsigned count,
                      std::function<void(unsigned n, bool level)> handler) {
    Group& g = group(name, false);
    // QEMU qdev_init_gpio_in_named: a repeated call appends to the array.
    for (unsigned i = 0; i < count; i++) {
        unsigned n = static_cast<unsigned>(g.lines.size());
        IrqLine::Handler h;
        if (handler) h = [handler, n](bool level) { handler(n, level); };
        std::string line_name = fmt::format("{}[{}]", name.empty() ? "unnamed-gpio-in" : name, n);
        g.lines.push_back(std::make_unique<IrqLine>(std::move(line_name), std::move(h)));
    }
}

void GpioList::add_out(std::string_view name, unsigned count) {
    Group& g = group(name, true);
    for (unsigned i = 0; i < count; i++) {
        unsigned n = static_cast<unsigned>(g.lines.size());
        std::string line_name = fmt::format("{}[{}]", name.empty() ? "unnamed-gpio-out" : name, n);
        g.lines.push_back(std::make_unique<IrqLine>(std::move(line_name)));
    }
}

bool GpioList::connect_out(std::string_view name, unsigned n, IrqLine& target) {
    IrqLine* line = out(name, n);
    if (!line) return false;
    line->set_handler([&target](bool level) { target.set_level(level); });
    return true;
}

IrqLine* GpioList::in(std::string_view name, unsigned n) {
    Group* g = find(name, false);
    return g && n < g->lines.size() ? g->lines[n].get() : nullptr;
}

IrqLine* GpioList::out(std::string_view name, unsigned n) {
    Group* g = find(name, true);
    return g && n < g->lines.size() ? g->lines[n].get() : nullptr;
}

unsigned GpioList::in_count(std::string_view name) const {
    const Group* g = find(name, false);
    return g ? static_cast<unsigned>(g->lines.size()) : 0;
}

unsigned GpioList::out_count(std::string_view name) const {
    const Group* g = find(name, true);
    return g ? static_cast<unsigned>(g->lines.size()) : 0;
}

} // namespace nemu::hw
