#pragma once
// The VM's answer to hw::DeviceBackends: drives from the block graph, iothreads and chardevs
// by id, with QEMU 7.2's messages. Thread: main loop.

#include "hw/core/device_backends.h"

namespace nemu {

class Vm;

class VmDeviceBackends final : public hw::DeviceBackends {
public:
    explicit VmDeviceBackends(Vm& vm) : m_vm(vm) {}
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view name, std::string_view qdev,
                                                              EventLoop& home) override;
    void detach_drive(std::string_view name) override;
    Result<EventLoop*> iothread_loop(std::string_view id) override;
    EventLoop& main_loop() override;
    Result<chardev::Chardev*> chardev(std::string_view id) override;
    Result<net::NetClient*> net_client(std::string_view id) override;

private:
    Vm& m_vm;
};

} // namespace nemu
