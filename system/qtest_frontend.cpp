#include "system/qtest_frontend.h"

#include <cstdio>

#include "hw/core/device.h"
#include "system/vm.h"

namespace nemu {

QtestFrontend::QtestFrontend(Vm& vm, chardev::Chardev& chr)
    : m_vm(vm), m_chr(chr), m_session(*this, [this](std::string_view bytes) {
          (void)m_chr.write({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
      }) {}

Result<std::unique_ptr<QtestFrontend>> QtestFrontend::create(Vm& vm, chardev::Chardev& chr,
                                                             const std::optional<std::string>& log_path) {
    auto frontend = std::unique_ptr<QtestFrontend>(new QtestFrontend(vm, chr));
    // The log exists before the chardev reports Opened, so the "[I ...] OPENED" line is in it.
    TRY(frontend->set_log_file(log_path));
    TRY(chr.attach(*frontend));
    return frontend;
}

QtestFrontend::~QtestFrontend() {
    m_chr.detach(*this);
    if (m_log && m_log != stderr) std::fclose(m_log);
}

Result<> QtestFrontend::set_log_file(const std::optional<std::string>& path) {
    if (path && *path == "none") return {};
    if (!path || *path == "/dev/fd/2" || *path == "/dev/stderr") {
        m_log = stderr;
    } else {
        m_log = std::fopen(path->c_str(), "a");
        if (!m_log) return fail_errno(fmt::format("Failed to open qtest log '{}'", *path), errno);
    }
    std::FILE* log = m_log;
    m_session.set_log([log](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), log);
        std::fflush(log);
    });
    return {};
}

void QtestFrontend::on_event(chardev::ChardevEvent event) {
    if (event == chardev::ChardevEvent::Opened) m_session.opened();
    else if (event == chardev::ChardevEvent::Closed) m_session.closed();
}

memory::AddressSpace& QtestFrontend::memory() { return m_vm.machine()->address_space_memory(); }
memory::AddressSpace& QtestFrontend::io() { return m_vm.machine()->address_space_io(); }
hw::VirtualClock& QtestFrontend::clock() { return m_vm.clock(); }

Result<hw::GpioList*> QtestFrontend::find_gpios(std::string_view qom_path) {
    qom::Object* obj = qom::resolve_path(m_vm.root(), qom_path);
    auto* dev = dynamic_cast<hw::Device*>(obj);
    if (!dev) return fail("Unknown device '{}'", qom_path);
    return &dev->m_gpios;
}

} // namespace nemu
