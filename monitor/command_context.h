#pragma once
// What a QMP command handler sees: the VM and, when the command came from a QMP connection,
// that monitor (qmp_capabilities and getfd act on the connection itself).
// Thread: main loop.

namespace nemu {

class Vm;

namespace monitor {
class QmpMonitor;
}

class CommandContext {
public:
    CommandContext(Vm& vm, monitor::QmpMonitor* monitor) : m_vm(vm), m_monitor(monitor) {}
    Vm& vm() const { return m_vm; }
    monitor::QmpMonitor* monitor() const { return m_monitor; }

private:
    Vm& m_vm;
    monitor::QmpMonitor* m_monitor;
};

} // namespace nemu
