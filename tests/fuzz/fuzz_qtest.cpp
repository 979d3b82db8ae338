// libFuzzer harness: arbitrary bytes into a QtestSession over a small RAM region, an MMIO
// region, a port and a device with IRQ lines. Every input must be answered without a crash,
// a hang or an unbounded allocation (DESIGN.md §6 "safety").

#include <cstddef>
#include <cstdint>
#include <memory>

#include "accel/qtest/qtest_session.h"

namespace {

using namespace nemu;

struct Regs : memory::MmioHandler {
    uint64_t regs[8] = {};
    uint64_t read(uint64_t off, unsigned) override { return regs[(off / 8) % 8]; }
    void write(uint64_t off, uint64_t v, unsigned) override { regs[(off / 8) % 8] = v; }
};

struct FuzzTarget : qtest::QtestTarget {
    std::unique_ptr<memory::MemoryRegion> sys =
        memory::MemoryRegion::container("system", memory::kWholeSpace);
    std::unique_ptr<memory::MemoryRegion> io_root = memory::MemoryRegion::container("io", 0x10000);
    std::unique_ptr<memory::MemoryRegion> ram;
    Regs regs, port_regs;
    std::unique_ptr<memory::MemoryRegion> mmio =
        memory::MemoryRegion::mmio("regs", 0x1000, regs, {1, 4, false});
    std::unique_ptr<memory::MemoryRegion> port =
        memory::MemoryRegion::mmio("port", 8, port_regs, {1, 1, false});
    memory::AddressSpace mem{"memory", *sys};
    memory::AddressSpace io_as{"I/O", *io_root};
    hw::VirtualClock vclock;
    hw::GpioList dev;
    int ticks_left = 64;   // periodic, but few: the clock's own cap is tested elsewhere
    hw::Timer timer{vclock, [this] {
        dev.in("", 0)->pulse();
        if (--ticks_left > 0) timer.arm_in(1000);
    }};

    FuzzTarget() {
        if (auto r = memory::MemoryRegion::ram("ram", 0x10000)) ram = std::move(r).value();
        if (ram) sys->add_subregion(0, *ram);
        sys->add_subregion(0xfee00000, *mmio);
        io_root->add_subregion(0x3f8, *port);
        dev.add_in("", 4, {});
        dev.add_out("", 2);
        dev.connect_out("", 0, *dev.in("", 3));
        timer.arm(500);
    }
    memory::AddressSpace& memory() override { return mem; }
    memory::AddressSpace& io() override { return io_as; }
    hw::VirtualClock& clock() override { return vclock; }
    Result<hw::GpioList*> find_gpios(std::string_view path) override {
        if (path == "/machine/dev") return &dev;
        return fail("Device '{}' not found", path);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzTarget target;
    size_t out_bytes = 0;
    qtest::QtestSession session(target, [&](std::string_view b) { out_bytes += b.size(); });
    // Feed in two fragments so line reassembly is exercised too.
    size_t half = size / 2;
    session.feed(std::span<const uint8_t>(data, half));
    session.feed(std::span<const uint8_t>(data + half, size - half));
    session.feed(std::string_view("\n"));
    return 0;
}
