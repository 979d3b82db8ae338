// decode_exit over hand-filled run structures: the KVM side of the pure exit path.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "accel/kvm/kvm_vcpu.h"

namespace nemu::kvm {
namespace {

struct RunPage {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(4096);
    kvm_run& run() { return *reinterpret_cast<kvm_run*>(bytes.data()); }
};

TEST(DecodeExit, PortWritePointsIntoTheRunPage) {
    RunPage p;
    p.run().exit_reason = KVM_EXIT_IO;
    p.run().io.direction = KVM_EXIT_IO_OUT;
    p.run().io.size = 1;
    p.run().io.port = 0x3f8;
    p.run().io.count = 1;
    p.run().io.data_offset = 1024;
    p.bytes[1024] = 'A';
    auto e = std::get<accel::PioExit>(decode_exit(p.run()));
    EXPECT_EQ(e.port, 0x3f8);
    EXPECT_TRUE(e.write);
    EXPECT_EQ(e.data, p.bytes.data() + 1024);
    EXPECT_EQ(*e.data, 'A');
}

TEST(DecodeExit, MmioRead) {
    RunPage p;
    p.run().exit_reason = KVM_EXIT_MMIO;
    p.run().mmio.phys_addr = 0xfea00000;
    p.run().mmio.len = 4;
    p.run().mmio.is_write = 0;
    auto e = std::get<accel::MmioExit>(decode_exit(p.run()));
    EXPECT_EQ(e.addr, 0xfea00000u);
    EXPECT_EQ(e.len, 4u);
    EXPECT_FALSE(e.write);
    EXPECT_EQ(e.data, p.run().mmio.data);
}

TEST(DecodeExit, LifeCycleAndErrors) {
    RunPage p;
    p.run().exit_reason = KVM_EXIT_SHUTDOWN;
    EXPECT_TRUE(std::holds_alternative<accel::ShutdownExit>(decode_exit(p.run())));
    p.run().exit_reason = KVM_EXIT_SYSTEM_EVENT;
    p.run().system_event.type = KVM_SYSTEM_EVENT_RESET;
    EXPECT_EQ(std::get<accel::SystemEventExit>(decode_exit(p.run())).kind, accel::SystemEventExit::Kind::Reset);
    p.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
    p.run().internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    p.run().internal.ndata = 1000;   // a corrupt count is clamped, not trusted
    auto ie = std::get<accel::InternalErrorExit>(decode_exit(p.run()));
    EXPECT_EQ(ie.suberror, 1u);
    EXPECT_EQ(ie.data.size(), 16u);
    p.run().exit_reason = 12345;
    EXPECT_EQ(std::get<accel::UnknownExit>(decode_exit(p.run())).reason, 12345u);
}

TEST(KvmSystem, MissingDeviceIsQemusError) {
    auto sys = KvmSystem::open("/nonexistent/kvm");
    ASSERT_FALSE(sys);
    EXPECT_EQ(sys.error().msg, "failed to initialize kvm: No such file or directory");
}

} // namespace
} // namespace nemu::kvm
