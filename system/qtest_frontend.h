#pragma once
// -qtest CHARDEV: QEMU's qtest protocol over any chardev (QEMU's socket roles: by default
// nemu connects to the test's listening socket). The session drives the machine's address
// spaces, the VM's virtual clock and device GPIOs.
// Thread: main loop.

#include <memory>
#include <string>

#include "accel/qtest/qtest_session.h"
#include "chardev/chardev.h"

namespace nemu {

class Vm;

class QtestFrontend final : public chardev::CharFrontend, private qtest::QtestTarget {
public:
    QtestFrontend(Vm& vm, chardev::Chardev& chr);
    ~QtestFrontend() override;
    // -qtest-log FILE ("none" or empty: off; "/dev/fd/2": stderr, as libqtest passes).
    Result<> set_log_file(const std::string& path);

    size_t can_receive() override { return 64 * 1024; }
    void receive(std::span<const uint8_t> data) override { m_session.feed(data); }
    void on_event(chardev::ChardevEvent event) override;

private:
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
