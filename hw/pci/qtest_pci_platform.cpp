#include "hw/pci/qtest_pci_platform.h"

#include <mutex>

#include "hw/memory/address_space.h"

namespace nemu::hw::pci {

namespace {

// One vector. The message changes on vCPU threads and fires from any thread: a small lock
// keeps address and data consistent.
class MemoryWriteRoute final : public MsiRoute {
public:
    explicit MemoryWriteRoute(const memory::AddressSpace& memory) : m_memory(memory) {}
    Result<> set_message(const MsiMessage& message) override {
        std::lock_guard lock(m_lock);
        m_message = message;
        return {};
    }
    void fire() override {
        MsiMessage m;
        {
            std::lock_guard lock(m_lock);
            m = m_message;
        }
        // PCI 3.0, 6.8.3.5: a DWORD memory write of the data to the address. An address that
        // hits nothing is dropped, as on real hardware.
        (void)m_memory.write_u32(m.address, m.data);
    }

private:
    const memory::AddressSpace& m_memory;
    std::mutex m_lock;
    MsiMessage m_message;
};

} // namespace

Result<std::unique_ptr<MsiRoute>> QtestPciPlatform::create_msi_route() {
    return std::unique_ptr<MsiRoute>(std::make_unique<MemoryWriteRoute>(m_memory));
}

} // namespace nemu::hw::pci
