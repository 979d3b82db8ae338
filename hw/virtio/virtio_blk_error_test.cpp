// virtio-blk under werror/rerror (QEMU 7.2 virtio_blk_handle_rw_error + blk_error_action):
// a node in memory that fails on demand, a fake VM (IoErrorHost) that records the reports and
// plays `cont`, and a split ring driven on the test's loop.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "block/block_backend.h"
#include "block/block_node.h"
#include "hw/core/device_backends.h"
#include "hw/virtio/virtio_blk.h"
#include "hw/virtio/virtqueue.h"
#include "tests/support/virtqueue_driver.h"
#include "util/event_fd.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {
namespace {

constexpr uint64_t kDiskBytes = 64 * 1024;
constexpr uint64_t kHdr = 0x10000, kData = 0x20000, kStatus = 0x80000;

// A disk in memory whose reads and writes (flush included) fail with an errno while set.
class FlakyNode final : public block::BlockNode {
public:
    FlakyNode() : BlockNode(false), m_bytes(kDiskBytes, 0) { set_node_name("flaky0"); }
    std::string_view driver() const override { return "raw"; }
    uint64_t length() const override { return m_bytes.size(); }
    Result<> read(uint64_t off, std::span<const iovec> iov) override {
        if (read_errno) return block::io_error(read_errno, "injected");
        block::iov_from_buf(iov, 0, std::span<const uint8_t>(m_bytes.data() + off, block::iov_size(iov)));
        return {};
    }
    Result<> write(uint64_t off, std::span<const iovec> iov, bool) override {
        if (write_errno) return block::io_error(write_errno, "injected");
        block::iov_to_buf(iov, 0, std::span<uint8_t>(m_bytes.data() + off, block::iov_size(iov)));
        return {};
    }
    Result<> flush() override { return write_errno ? block::io_error(write_errno, "injected") : Result<>{}; }
    block::NodeInfo info() const override { return {.format = "raw", .virtual_size = length()}; }
    uint8_t at(uint64_t off) const { return m_bytes[off]; }

    std::atomic<int> read_errno{0}, write_errno{0};

private:
    std::vector<uint8_t> m_bytes;
};

// The VM's side: reports in order, and the resume hooks `cont` would run.
class FakeVm final : public block::IoErrorHost {
public:
    void io_error(const block::IoErrorReport& r) override { reports.push_back(r); }
    std::shared_ptr<void> on_resume(std::function<void()> fn) override {
        auto h = std::make_shared<std::function<void()>>(std::move(fn));
        hooks.push_back(h);
        return h;
    }
    void cont() {
        for (auto& w : hooks)
            if (auto h = w.lock()) (*h)();
    }
    std::vector<block::IoErrorReport> reports;
    std::vector<std::weak_ptr<std::function<void()>>> hooks;
};

class Backends final : public DeviceBackends {
public:
    Backends(EventLoop& main, std::shared_ptr<block::BlockNode> node, block::BackendOptions o)
        : m_main(main), m_node(std::move(node)), m_opts(std::move(o)) {}
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view, std::string_view,
                                                              std::string_view, EventLoop& home) override {
        return std::shared_ptr<block::BlockBackend>(TRY(block::BlockBackend::create("d0", m_node, home, m_opts)));
    }
    void detach_drive(std::string_view) override {}
    Result<EventLoop*> iothread_loop(std::string_view id) override { return fail("Device '{}' not found", id); }
    EventLoop& main_loop() override { return m_main; }
    Result<chardev::Chardev*> chardev(std::string_view, std::string_view id) override {
        return fail("no chardev '{}'", id);
    }
    MacAddressPool& mac_addresses() override { return m_macs; }

private:
    MacAddressPool m_macs;
    EventLoop& m_main;
    std::shared_ptr<block::BlockNode> m_node;
    block::BackendOptions m_opts;
};

class VirtioBlkErrorTest : public ::testing::Test {
protected:
    void SetUp() override { loop = std::move(*EventLoop::create()); }
    void TearDown() override {
        if (dev) dev->deactivate();
        dev.reset();
    }

    // drive werror/rerror in `o`, the device's own in `werror`/`rerror` ("auto": the drive's).
    void bring_up(block::BackendOptions o = {}, std::string werror = "auto", std::string rerror = "auto") {
        o.error_host = vm;
        backends = std::make_unique<Backends>(*loop, node, o);
        dev = std::make_unique<VirtioBlk>();
        dev->m_drive = "d0";
        dev->m_werror = werror;
        dev->m_rerror = rerror;
        auto r = dev->realize_with(*backends);
        ASSERT_TRUE(r) << r.error().msg;
        VirtioActivation act;
        act.features = feature_bit(kFeatureVersion1) | dev->device_features();
        driver = std::make_unique<test::VirtqueueDriver>(
            mem, test::DriverRingConfig{.index = 0, .size = 16, .desc = 0x1000, .driver = 0x2000, .device = 0x3000});
        ring = std::move(*Virtqueue::create(mem.space(), driver->config()));
        kick = std::move(*EventFd::create());
        act.queues.push_back({0, ring.get(), &kick});
        act.memory = &mem.space();
        act.main_loop = loop.get();
        act.broken = [this](const std::string& why) { broken.push_back(why); };
        ASSERT_TRUE(dev->activate(act));
    }

    // Queue one request (header and status at `slot` * 0x100 past kHdr/kStatus: a parked
    // request is parsed again from guest memory when retried) and serve the loop until it is
    // used or `want_parked` requests are parked. Returns the used request's status byte.
    std::optional<uint8_t> submit(uint32_t type, uint64_t sector, uint32_t len, size_t want_parked = SIZE_MAX,
                                  unsigned slot = 0) {
        const uint64_t hdr = kHdr + 0x100 * slot, status = kStatus + 0x100 * slot;
        mem.write_u32(hdr, type);
        mem.write_u32(hdr + 4, 0);
        mem.write_u64(hdr + 8, sector);
        mem.fill(status, 0xEE, 1);
        std::vector<test::GuestBuffer> bufs = {{hdr, 16, false}};
        if (len) bufs.push_back({kData, len, type == kBlkTIn});
        bufs.push_back({status, 1, true});
        auto id = driver->add(bufs);
        EXPECT_TRUE(id);
        if (id) status_of[*id] = status;
        kick.signal();
        return serve(want_parked);
    }

    std::optional<uint8_t> serve(size_t want_parked = SIZE_MAX) {
        for (int i = 0; i < 1000; ++i) {
            loop->run_once(100);
            if (auto used = driver->get_used()) {
                uint8_t st = 0;
                mem.read(status_of[used->id], std::span<uint8_t>(&st, 1));
                return st;
            }
            if (dev->parked_requests() == want_parked) return std::nullopt;
        }
        ADD_FAILURE() << "the request neither completed nor parked";
        return std::nullopt;
    }

    test::GuestMemory mem{1 << 20};
    std::unique_ptr<EventLoop> loop;
    std::shared_ptr<FlakyNode> node = std::make_shared<FlakyNode>();
    std::shared_ptr<FakeVm> vm = std::make_shared<FakeVm>();
    std::unique_ptr<Backends> backends;
    std::unique_ptr<VirtioBlk> dev;
    std::unique_ptr<test::VirtqueueDriver> driver;
    std::unique_ptr<Virtqueue> ring;
    EventFd kick;
    std::vector<std::string> broken;
    std::map<uint32_t, uint64_t> status_of;   // chain id -> its status byte's address
};

block::BackendOptions drive(block::OnError rerror, block::OnError werror) {
    block::BackendOptions o;
    o.on_read_error = rerror;
    o.on_write_error = werror;
    return o;
}

TEST_F(VirtioBlkErrorTest, StopParksTheWriteAndContRetriesIt) {
    bring_up(drive(block::OnError::Report, block::OnError::Stop));
    node->write_errno = EIO;
    mem.fill(kData, 0x5A, 512);
    EXPECT_EQ(submit(kBlkTOut, 4, 512, 1), std::nullopt);   // parked: nothing used
    EXPECT_EQ(dev->parked_requests(), 1u);
    ASSERT_EQ(vm->reports.size(), 1u);
    const auto& r = vm->reports[0];
    EXPECT_EQ(r.device, "d0");
    EXPECT_EQ(r.node_name, "flaky0");
    EXPECT_FALSE(r.is_read);
    EXPECT_EQ(r.action, block::ErrorAction::Stop);
    EXPECT_TRUE(r.iostatus_enabled);
    EXPECT_EQ(r.error, EIO);
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Failed);
    EXPECT_EQ(node->at(4 * 512), 0);

    // A second stop keeps the first error in io-status (QEMU blk_iostatus_set_err).
    node->write_errno = ENOSPC;
    EXPECT_EQ(submit(kBlkTFlush, 0, 0, 2, 1), std::nullopt);
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Failed);

    // `cont`: io-status ok, both requests start again and now succeed, in order.
    node->write_errno = 0;
    vm->cont();
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Ok);
    EXPECT_EQ(serve(), kBlkSOk);
    EXPECT_EQ(serve(), kBlkSOk);
    EXPECT_EQ(dev->parked_requests(), 0u);
    EXPECT_EQ(node->at(4 * 512), 0x5A);
    EXPECT_EQ(vm->reports.size(), 2u);
    EXPECT_TRUE(broken.empty());
}

TEST_F(VirtioBlkErrorTest, RetryThatFailsAgainParksAgain) {
    bring_up(drive(block::OnError::Stop, block::OnError::Enospc));
    node->read_errno = EIO;
    EXPECT_EQ(submit(kBlkTIn, 0, 512, 1), std::nullopt);
    EXPECT_TRUE(vm->reports.at(0).is_read);
    vm->cont();
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Ok);
    EXPECT_EQ(serve(1), std::nullopt);
    EXPECT_EQ(vm->reports.size(), 2u);
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Failed);
    node->read_errno = 0;
    vm->cont();
    EXPECT_EQ(serve(), kBlkSOk);
}

TEST_F(VirtioBlkErrorTest, EnospcStopsOnlyOnEnospc) {
    bring_up();   // QEMU's defaults: werror=enospc, rerror=report
    node->write_errno = EIO;
    EXPECT_EQ(submit(kBlkTOut, 0, 512), kBlkSIoErr);
    ASSERT_EQ(vm->reports.size(), 1u);
    EXPECT_EQ(vm->reports[0].action, block::ErrorAction::Report);
    EXPECT_TRUE(vm->reports[0].iostatus_enabled);   // werror=enospc shows io-status
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::Ok);

    node->write_errno = ENOSPC;
    EXPECT_EQ(submit(kBlkTOut, 0, 512, 1), std::nullopt);
    EXPECT_EQ(vm->reports.at(1).action, block::ErrorAction::Stop);
    EXPECT_EQ(vm->reports.at(1).error, ENOSPC);
    EXPECT_EQ(dev->backend()->iostatus(), block::IoStatus::NoSpace);

    node->read_errno = ENOSPC;   // rerror=report: even ENOSPC is the guest's error
    node->write_errno = 0;
    EXPECT_EQ(submit(kBlkTIn, 0, 512), kBlkSIoErr);
    EXPECT_EQ(vm->reports.at(2).action, block::ErrorAction::Report);
}

TEST_F(VirtioBlkErrorTest, DevicePolicyOverridesTheDrive) {
    // -drive werror=stop,rerror=stop with -device werror=ignore,rerror=report.
    bring_up(drive(block::OnError::Stop, block::OnError::Stop), "ignore", "report");
    node->write_errno = EIO;
    node->read_errno = EIO;
    EXPECT_EQ(submit(kBlkTOut, 0, 512), kBlkSOk);   // ignore: the guest sees success
    EXPECT_EQ(submit(kBlkTIn, 0, 512), kBlkSIoErr);
    ASSERT_EQ(vm->reports.size(), 2u);
    EXPECT_EQ(vm->reports[0].action, block::ErrorAction::Ignore);
    EXPECT_EQ(vm->reports[1].action, block::ErrorAction::Report);
    // Neither policy can stop: no io-status, so BLOCK_IO_ERROR carries no "nospace".
    EXPECT_FALSE(vm->reports[1].iostatus_enabled);
    EXPECT_FALSE(dev->backend()->iostatus_enabled());
    EXPECT_EQ(dev->parked_requests(), 0u);
}

TEST_F(VirtioBlkErrorTest, ResetDropsParkedRequests) {
    bring_up({}, "stop", "auto");
    node->write_errno = EIO;
    EXPECT_EQ(submit(kBlkTOut, 0, 512, 1), std::nullopt);
    dev->deactivate();   // guest or system_reset
    EXPECT_EQ(dev->parked_requests(), 0u);
    node->write_errno = 0;
    vm->cont();
    for (int i = 0; i < 5; ++i) loop->run_once(0);
    EXPECT_FALSE(driver->get_used());   // dropped, never pushed
    EXPECT_EQ(node->at(0), 0);
}

TEST_F(VirtioBlkErrorTest, IoStatusNeedsAStoppingPolicyAndTheDevice) {
    block::BackendOptions o = drive(block::OnError::Report, block::OnError::Report);
    auto b = block::BlockBackend::create("d1", node, *loop, o);
    ASSERT_TRUE(b);
    (*b)->enable_iostatus();
    EXPECT_FALSE((*b)->iostatus_enabled());
    (*b)->set_on_error(block::OnError::Stop, block::OnError::Auto);
    EXPECT_TRUE((*b)->iostatus_enabled());
    EXPECT_EQ((*b)->options().on_write_error, block::OnError::Report);   // auto kept the drive's
    auto c = block::BlockBackend::create("d2", node, *loop, block::BackendOptions{});
    EXPECT_FALSE((*c)->iostatus_enabled());   // a drive without a device has none
    EXPECT_EQ(block::io_status_name(block::IoStatus::NoSpace), "nospace");
}

} // namespace
} // namespace nemu::hw::virtio
