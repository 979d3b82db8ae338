#pragma once
// The VM's answer to hw::DeviceBackends: drives from the block graph, iothreads, chardevs and
// netdevs by id, with QEMU 7.2's messages; the VM's default MAC addresses; device events to
// the VM's monitors. Thread: main loop.

#include "hw/core/device_backends.h"

namespace nemu {

class Vm;

class VmDeviceBackends final : public hw::DeviceBackends {
public:
    explicit VmDeviceBackends(Vm& vm) : m_vm(vm) {}
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view prop, std::string_view name,
                                                              std::string_view qdev, EventLoop& home) override;
    void detach_drive(std::string_view name) override;
    Result<EventLoop*> iothread_loop(std::string_view id) override;
    EventLoop& main_loop() override;
    Result<chardev::Chardev*> chardev(std::string_view prop, std::string_view id) override;
    Result<net::NetClient*> net_client(std::string_view prop, std::string_view id) override;
    hw::MacAddressPool& mac_addresses() override { return m_macs; }
    void vserport_change(std::string_view id, bool open) override;
    void nic_rx_filter_changed(std::optional<std::string_view> name, std::string_view path) override;

private:
    Vm& m_vm;
    hw::MacAddressPool m_macs;
};

} // namespace nemu
