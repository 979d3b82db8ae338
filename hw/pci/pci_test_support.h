#pragma once
// Shared fixtures for the hw/pci unit tests: a PciPlatform that records MSI fires, a test
// function with a 32-bit container BAR (MSI-X) and a 64-bit BAR, and a registry with the types.

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hw/core/device.h"
#include "hw/memory/address_space.h"
#include "hw/memory/memory_region.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_lite_host.h"
#include "hw/pci/pci_platform.h"
#include "qom/object.h"
#include "qom/type_registry.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::pci::test {

struct RecordingPlatform final : PciPlatform {
    struct Route final : MsiRoute {
        explicit Route(RecordingPlatform& p) : platform(p) {}
        Result<> set_message(const MsiMessage& m) override {
            message = m;
            has_message = true;
            ++platform.set_messages;
            return {};
        }
        void fire() override {
            std::lock_guard lock(platform.lock);
            platform.fired.push_back(message);
        }
        // As KVM's: an irqfd once a message was set (with_irqfd), nothing otherwise (qtest).
        const EventFd* irqfd() const override { return fd.valid() && has_message ? &fd : nullptr; }
        RecordingPlatform& platform;
        MsiMessage message;
        bool has_message = false;
        EventFd fd;
    };
    RecordingPlatform() : root(memory::MemoryRegion::container("system", memory::kWholeSpace)), as("memory", *root) {
        loop = std::move(*EventLoop::create());
    }
    const memory::AddressSpace& dma() override { return as; }
    EventLoop& main_loop() override { return *loop; }
    Result<std::unique_ptr<MsiRoute>> create_msi_route() override {
        ++routes_created;
        auto r = std::make_unique<Route>(*this);
        if (with_irqfd) r->fd = TRY(EventFd::create());
        routes.push_back(r.get());
        return std::unique_ptr<MsiRoute>(std::move(r));
    }
    Result<bool> add_ioeventfd(uint64_t, unsigned, const EventFd&) override { return false; }
    void remove_ioeventfd(uint64_t, unsigned, const EventFd&) override {}

    std::mutex lock;
    std::vector<MsiMessage> fired;
    int routes_created = 0, set_messages = 0;
    bool with_irqfd = false;      // routes have an irqfd (MsiRoute::irqfd), as under KVM
    std::vector<Route*> routes;   // in creation order, owned by the Msix
    std::unique_ptr<memory::MemoryRegion> root;
    memory::AddressSpace as;
    std::unique_ptr<EventLoop> loop;
};

// A function with BAR 0: 32-bit 16 KiB container (MSI-X table at 0, PBA at 0x2000, 4 vectors),
// BAR 2: 64-bit prefetchable 64 KiB MMIO, a vendor capability of 8 bytes.
struct TestFunction final : PciDevice, memory::MmioHandler {
    TestFunction() { m_express = true; }
    uint64_t read(uint64_t offset, unsigned) override { return offset; }
    void write(uint64_t, uint64_t, unsigned) override {}
    void bar_mapped(unsigned index, uint64_t gpa) override { events.push_back({true, index, gpa}); }
    void bar_unmapped(unsigned index, uint64_t gpa) override { events.push_back({false, index, gpa}); }
    struct Event {
        bool mapped;
        unsigned index;
        uint64_t gpa;
        bool operator==(const Event&) const = default;
    };
    std::vector<Event> events;
    unsigned vectors = 4;
    bool fail_realize = false;
    uint8_t vendor_cap = 0;
    std::unique_ptr<memory::MemoryRegion> bar0 = memory::MemoryRegion::container("test-bar0", 0x4000);
    std::unique_ptr<memory::MemoryRegion> bar2 = memory::MemoryRegion::mmio("test-bar2", 0x10000, *this);

protected:
    Result<> realize() override {
        if (fail_realize) return fail("test: realize failed");
        set_ids(0x1af4, 0x1044, 0x1af4, 0x1100, 0x00ff00, 1);
        register_bar(0, *bar0, BarKind::Mmio32);
        register_bar(2, *bar2, BarKind::Mmio64Prefetch);
        vendor_cap = add_capability(cfg::kCapIdVendor, 8);
        if (vectors) TRY(init_msix(vectors, 0, 0, 0x2000));
        return {};
    }
};

inline std::unique_ptr<qom::TypeRegistry> make_registry() {
    auto r = std::make_unique<qom::TypeRegistry>();
    qom::register_base_types(*r);
    register_device_type(*r);
    register_pci_lite_types(*r);
    r->add(qom::TypeInfo{.name = "test-pci", .parent = "pci-device",
                         .create = [] { return std::make_unique<TestFunction>(); }});
    return r;
}

inline std::unique_ptr<TestFunction> make_function(const qom::TypeRegistry& r) {
    auto obj = r.create("test-pci");
    return std::unique_ptr<TestFunction>(static_cast<TestFunction*>(obj->release()));
}

} // namespace nemu::hw::pci::test
