#pragma once
// -qtest CHARDEV: QEMU's qtest protocol over any chardev (QEMU's socket roles: by default
// nemu connects to the test's listening socket). The session drives the machine's address
// spaces, the VM's virtual clock and device GPIOs.
// Thread: main loop.

#include <memory>
#include <optional>
#include <string>

#include "accel/qtest/qtest_session.h"
#include "chardev/chardev.h"

namespace nemu {

class Vm;

class QtestFrontend final : public chardev::CharFrontend, private qtest::QtestTarget {
public:
    // log_path: -qtest-log FILE; "none" turns logging off, no option logs to stderr
    // (QEMU 7.2 qtest_server_init).
    static Result<std::unique_ptr<QtestFrontend>> create(Vm& vm, chardev::Chardev& chr,
                                                         const std::optional<std::string>& log_path);
    ~QtestFrontend() override;

    size_t can_receive() override { return 64 * 1024; }
    void receive(std::span<const uint8_t> data) override { m_session.feed(data); }
    void on_event(chardev::ChardevEvent event) override;

private:
    QtestFrontend(Vm& vm, chardev::Chardev& chr);
    Result<> set_log_file(const std::optional<std::string>& path);
    memory::AddressSpace& memory() override;
    memory::AddressSpace& io() override;
    hw::VirtualClock& clock() override;
    Result<hw::GpioList*> find_gpios(std::string_view qom_path) override;

    Vm& m_vm;
    chardev::Chardev& m_chr;
    qtest::QtestSession m_session;
    std::FILE* m_log = nullptr;
};

} // namespace nemu
