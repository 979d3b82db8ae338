// virtio-blk over a real raw file: a FileNode on a temp file, a BlockBackend on the test's
// loop (or an I/O thread's), guest RAM with a split ring driven like Linux's virtio_blk.
#include "hw/virtio/virtio_blk.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "block/block_backend.h"
#include "block/file_node.h"
#include "hw/core/device_backends.h"
#include "hw/virtio/virtqueue.h"
#include "qom/object.h"
#include "tests/support/virtqueue_driver.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {
namespace {

constexpr uint64_t kDiskBytes = 1 << 20;   // 2048 sectors
constexpr uint64_t kHdr = 0x10000, kData = 0x20000, kStatus = 0x80000, kData2 = 0x90000;

class TempFile {
public:
    TempFile() {
        char tmpl[] = "/tmp/nemu-vblk-XXXXXX";
        m_fd = ::mkstemp(tmpl);
        m_path = tmpl;
        std::vector<uint8_t> buf(kDiskBytes);
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + 3);
        EXPECT_EQ(::pwrite(m_fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
    }
    ~TempFile() {
        ::close(m_fd);
        ::unlink(m_path.c_str());
    }
    std::vector<uint8_t> read(uint64_t off, size_t len) const {
        std::vector<uint8_t> b(len);
        EXPECT_EQ(::pread(m_fd, b.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
        return b;
    }
    const std::string& path() const { return m_path; }

private:
    int m_fd = -1;
    std::string m_path;
};

struct FakeInterrupt : VirtioInterrupt {
    void notify_queue(uint16_t q) override {
        std::lock_guard g(lock);
        ++count;
        last_queue = q;
        cv.notify_all();
    }
    void notify_config() override {}
    int get() {
        std::lock_guard g(lock);
        return count;
    }
    bool wait_for(int n) {
        std::unique_lock g(lock);
        return cv.wait_for(g, std::chrono::seconds(20), [&] { return count >= n; });
    }
    std::mutex lock;
    std::condition_variable cv;
    int count = 0;
    uint16_t last_queue = 0xFFFF;
};

class FakeBackends : public DeviceBackends {
public:
    FakeBackends(EventLoop& main, std::shared_ptr<block::BlockNode> node) : m_main(main), m_node(std::move(node)) {}
    Result<std::shared_ptr<block::BlockBackend>> attach_drive(std::string_view prop, std::string_view name,
                                                              std::string_view qdev, EventLoop& home) override {
        if (name != "d0") return property_value_not_found(prop, name);
        if (!m_qdev.empty()) return fail("Drive '{}' is already in use by another device", name);
        m_qdev = std::string(qdev);
        return std::shared_ptr<block::BlockBackend>(
            TRY(block::BlockBackend::create("d0", m_node, home, block::BackendOptions{})));
    }
    void detach_drive(std::string_view) override { m_qdev.clear(); }
    Result<EventLoop*> iothread_loop(std::string_view id) override {
        if (id != "io0" || !iothread) return fail("Device '{}' not found", id);
        return iothread;
    }
    EventLoop& main_loop() override { return m_main; }
    Result<chardev::Chardev*> chardev(std::string_view, std::string_view id) override {
        return fail("no chardev '{}'", id);
    }
    MacAddressPool& mac_addresses() override { return m_macs; }
    MacAddressPool m_macs;

    EventLoop* iothread = nullptr;
    std::string m_qdev;

private:
    EventLoop& m_main;
    std::shared_ptr<block::BlockNode> m_node;
};

struct Used {
    uint32_t len = 0;
    uint8_t status = 0xEE;
};

class VirtioBlkTest : public ::testing::Test {
protected:
    void SetUp() override { loop = std::move(*EventLoop::create()); }
    void TearDown() override {
        if (dev) dev->deactivate();
        dev.reset();
        if (io_loop) {
            io_loop->post([l = io_loop.get()] { l->quit(); });
            io_thread.join();
        }
    }

    std::shared_ptr<block::BlockNode> open_node(bool read_only = false) {
        block::FileOptions o;
        o.filename = file.path();
        o.flags.read_only = read_only;
        o.flags.discard = block::DiscardMode::Unmap;
        auto n = block::open_file(o);
        EXPECT_TRUE(n) << (n ? "" : n.error().msg);
        return n ? *n : nullptr;
    }

    void start_iothread() {
        io_loop = std::move(*EventLoop::create());
        io_thread = std::thread([l = io_loop.get()] { l->run(); });
    }

    // Realize (with `configure` applied to the device first) and activate with `queues` rings.
    void bring_up(const std::function<void(VirtioBlk&)>& configure = {}, unsigned queues = 1,
                  bool read_only = false) {
        backends.reset();   // its node holds the image lock
        backends = std::make_unique<FakeBackends>(*loop, open_node(read_only));
        if (io_loop) backends->iothread = io_loop.get();
        dev = std::make_unique<VirtioBlk>();
        dev->m_drive = "d0";
        if (configure) configure(*dev);
        auto r = dev->realize_with(*backends);
        ASSERT_TRUE(r) << r.error().msg;
        VirtioActivation act;
        act.features = feature_bit(kFeatureVersion1) | dev->device_features();
        for (unsigned i = 0; i < queues; ++i) {
            test::DriverRingConfig rc{.index = static_cast<uint16_t>(i), .size = 16,
                                      .desc = 0x1000 + 0x4000ull * i, .driver = 0x2000 + 0x4000ull * i,
                                      .device = 0x3000 + 0x4000ull * i};
            drivers.push_back(std::make_unique<test::VirtqueueDriver>(mem, rc));
            rings.push_back(std::move(*Virtqueue::create(mem.space(), drivers.back()->config())));
            kicks.push_back(std::move(*EventFd::create()));
        }
        for (unsigned i = 0; i < queues; ++i) act.queues.push_back({static_cast<uint16_t>(i), rings[i].get(), &kicks[i]});
        act.interrupt = &irq;
        act.memory = &mem.space();
        act.main_loop = loop.get();
        act.broken = [this](const std::string& why) {
            std::lock_guard g(broken_lock);
            broken.push_back(why);
        };
        auto a = dev->activate(act);
        ASSERT_TRUE(a) << a.error().msg;
    }

    void header(uint32_t type, uint64_t sector) {
        mem.write_u32(kHdr, type);
        mem.write_u32(kHdr + 4, 0);
        mem.write_u64(kHdr + 8, sector);
        mem.fill(kStatus, 0xEE, 1);
    }

    // Make `bufs` available on queue q, kick, and serve the home loop until it is used.
    std::optional<Used> run(const std::vector<test::GuestBuffer>& bufs, unsigned q = 0) {
        int before = irq.get();
        auto id = drivers[q]->add(bufs);
        EXPECT_TRUE(id);
        kicks[q].signal();
        std::optional<test::UsedBuffer> used;
        if (io_loop) {
            if (!irq.wait_for(before + 1)) return std::nullopt;
            used = drivers[q]->get_used();
        } else {
            for (int i = 0; i < 1000 && !used; ++i) {
                loop->run_once(1000);
                used = drivers[q]->get_used();
            }
        }
        if (!used) return std::nullopt;
        EXPECT_EQ(used->id, *id);
        uint8_t st = 0;
        mem.read(kStatus, std::span<uint8_t>(&st, 1));
        return Used{used->len, st};
    }

    std::optional<Used> rw(uint32_t type, uint64_t sector, uint32_t len) {
        header(type, sector);
        return run({{kHdr, 16, false}, {kData, len, type == kBlkTIn || type == kBlkTGetId}, {kStatus, 1, true}});
    }

    std::optional<Used> dwz(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags) {
        header(type, 0);
        mem.write_u64(kData, sector);
        mem.write_u32(kData + 8, num);
        mem.write_u32(kData + 12, flags);
        return run({{kHdr, 16, false}, {kData, 16, false}, {kStatus, 1, true}});
    }

    std::vector<uint8_t> guest(uint64_t gpa, size_t len) {
        std::vector<uint8_t> b(len);
        mem.read(gpa, b);
        return b;
    }

    std::vector<std::string> broken_copy() {
        std::lock_guard g(broken_lock);
        return broken;
    }

    TempFile file;
    test::GuestMemory mem{1 << 20};
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<EventLoop> io_loop;
    std::thread io_thread;
    std::unique_ptr<FakeBackends> backends;
    std::unique_ptr<VirtioBlk> dev;
    std::vector<std::unique_ptr<test::VirtqueueDriver>> drivers;
    std::vector<std::unique_ptr<Virtqueue>> rings;
    std::vector<EventFd> kicks;
    FakeInterrupt irq;
    std::mutex broken_lock;
    std::vector<std::string> broken;
};

TEST_F(VirtioBlkTest, WriteThenReadThroughTheFile) {
    bring_up();
    std::vector<uint8_t> pattern(4096);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(0xA5 ^ i);
    mem.write(kData, pattern);
    auto w = rw(kBlkTOut, 8, 4096);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, kBlkSOk);
    EXPECT_EQ(w->len, 1u);   // only the status byte is device-writable
    EXPECT_EQ(file.read(8 * 512, 4096), pattern);

    mem.fill(kData, 0, 4096);
    auto r = rw(kBlkTIn, 8, 4096);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, kBlkSOk);
    EXPECT_EQ(r->len, 4097u);
    EXPECT_EQ(guest(kData, 4096), pattern);
    EXPECT_GE(irq.get(), 2);

    // A read whose data spans two descriptors, with the header split in two as well.
    header(kBlkTIn, 0);
    auto r2 = run({{kHdr, 8, false}, {kHdr + 8, 8, false}, {kData, 512, true}, {kData2, 1024, true}, {kStatus, 1, true}});
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, kBlkSOk);
    auto expect = file.read(0, 1536);
    EXPECT_EQ(guest(kData, 512), std::vector<uint8_t>(expect.begin(), expect.begin() + 512));
    EXPECT_EQ(guest(kData2, 1024), std::vector<uint8_t>(expect.begin() + 512, expect.end()));
    EXPECT_TRUE(broken_copy().empty());
}

TEST_F(VirtioBlkTest, FlushGetIdAndUnknownType) {
    bring_up([](VirtioBlk& d) { d.m_serial = "nemu-disk-1"; });
    header(kBlkTFlush, 0);
    auto f = run({{kHdr, 16, false}, {kStatus, 1, true}});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status, kBlkSOk);

    mem.fill(kData, 0xFF, 20);
    auto id = rw(kBlkTGetId, 0, 20);
    ASSERT_TRUE(id);
    EXPECT_EQ(id->status, kBlkSOk);
    std::vector<uint8_t> want(20, 0);
    std::memcpy(want.data(), "nemu-disk-1", 11);
    EXPECT_EQ(guest(kData, 20), want);

    auto u = rw(99, 0, 512);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->status, kBlkSUnsupp);
}

TEST_F(VirtioBlkTest, WriteZeroesAndDiscard) {
    bring_up();
    ASSERT_NE(file.read(4096, 8192), std::vector<uint8_t>(8192, 0));
    auto z = dwz(kBlkTWriteZeroes, 8, 16, kBlkWriteZeroesFlagUnmap);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->status, kBlkSOk);
    EXPECT_EQ(file.read(4096, 8192), std::vector<uint8_t>(8192, 0));
    EXPECT_NE(file.read(4096 + 8192, 512), std::vector<uint8_t>(512, 0));   // and no further

    auto d = dwz(kBlkTDiscard, 64, 8, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->status, kBlkSOk);
    // 5.2.6.2: UNMAP on a discard and unknown flags are unsupported; limits and range: IOERR.
    EXPECT_EQ(dwz(kBlkTDiscard, 64, 8, kBlkWriteZeroesFlagUnmap)->status, kBlkSUnsupp);
    EXPECT_EQ(dwz(kBlkTWriteZeroes, 64, 8, 2)->status, kBlkSUnsupp);
    EXPECT_EQ(dwz(kBlkTWriteZeroes, 2040, 16, 0)->status, kBlkSIoErr);
    dev->deactivate();
    dev.reset();
    drivers.clear();
    rings.clear();
    kicks.clear();
    bring_up([](VirtioBlk& v) { v.m_max_write_zeroes_sectors = 8; });
    EXPECT_EQ(dwz(kBlkTWriteZeroes, 0, 16, 0)->status, kBlkSIoErr);
    EXPECT_EQ(dwz(kBlkTWriteZeroes, 0, 8, 0)->status, kBlkSOk);
    // Two segments: more than max_write_zeroes_seg (1).
    header(kBlkTWriteZeroes, 0);
    auto two = run({{kHdr, 16, false}, {kData, 32, false}, {kStatus, 1, true}});
    ASSERT_TRUE(two);
    EXPECT_EQ(two->status, kBlkSUnsupp);
}

TEST_F(VirtioBlkTest, BadRangesAreGuestIoErrors) {
    bring_up([](VirtioBlk& d) {
        d.m_logical_block_size = 4096;
        d.m_physical_block_size = 4096;
    });
    EXPECT_EQ(rw(kBlkTIn, 8, 4096)->status, kBlkSOk);
    EXPECT_EQ(rw(kBlkTIn, 1, 4096)->status, kBlkSIoErr);    // sector not block-aligned
    EXPECT_EQ(rw(kBlkTIn, 8, 512)->status, kBlkSIoErr);     // length not a block multiple
    EXPECT_EQ(rw(kBlkTIn, 2040, 8192)->status, kBlkSIoErr); // past the end
    EXPECT_EQ(rw(kBlkTOut, 0xFFFFFFFFFFFFFFF8ull, 4096)->status, kBlkSIoErr);
    EXPECT_EQ(rw(kBlkTIn, 2040, 4096)->status, kBlkSOk);    // the last block
    EXPECT_TRUE(broken_copy().empty());
}

TEST_F(VirtioBlkTest, ChainsWithoutHeaderOrStatusBreakTheDevice) {
    bring_up();
    header(kBlkTIn, 0);
    ASSERT_TRUE(drivers[0]->add({{kHdr, 16, false}, {kData, 512, false}}));   // no writable byte
    kicks[0].signal();
    for (int i = 0; i < 100 && broken_copy().empty(); ++i) loop->run_once(100);
    ASSERT_EQ(broken_copy().size(), 1u);
    EXPECT_NE(broken_copy()[0].find("inhdr too short"), std::string::npos);
    // Broken: later requests are left alone until the transport resets the device.
    ASSERT_TRUE(drivers[0]->add({{kHdr, 16, false}, {kStatus, 1, true}}));
    kicks[0].signal();
    loop->run_once(0);
    EXPECT_FALSE(drivers[0]->get_used());

    dev->deactivate();
    dev.reset();
    drivers.clear();
    rings.clear();
    kicks.clear();
    broken.clear();
    bring_up();
    auto short_hdr = drivers[0]->add({{kHdr, 8, false}, {kStatus, 1, true}});
    ASSERT_TRUE(short_hdr);
    kicks[0].signal();
    for (int i = 0; i < 100 && broken_copy().empty(); ++i) loop->run_once(100);
    ASSERT_EQ(broken_copy().size(), 1u);
    EXPECT_NE(broken_copy()[0].find("outhdr too short"), std::string::npos);
}

TEST_F(VirtioBlkTest, ReadOnlyDrive) {
    bring_up({}, 1, true);
    EXPECT_TRUE(dev->device_features() & feature_bit(kBlkFRo));
    auto before = file.read(0, 512);
    mem.fill(kData, 0x11, 512);
    EXPECT_EQ(rw(kBlkTOut, 0, 512)->status, kBlkSIoErr);
    EXPECT_EQ(dwz(kBlkTWriteZeroes, 0, 1, 0)->status, kBlkSIoErr);
    EXPECT_EQ(file.read(0, 512), before);
    EXPECT_EQ(rw(kBlkTIn, 0, 512)->status, kBlkSOk);
}

TEST_F(VirtioBlkTest, ConfigSpaceAndFeatures) {
    bring_up([](VirtioBlk& d) {
        d.m_physical_block_size = 4096;
        d.m_min_io_size = 4096;
        d.m_opt_io_size = 65536;
    });
    std::vector<uint8_t> cfg(dev->config_size());
    ASSERT_EQ(cfg.size(), blk_config::kSizeWriteZeroes);
    dev->read_config(0, cfg);
    EXPECT_EQ(load_le(&cfg[blk_config::kCapacity], 8), kDiskBytes / 512);
    EXPECT_EQ(load_le(&cfg[blk_config::kSegMax], 4), 254u);
    EXPECT_EQ(load_le(&cfg[blk_config::kBlkSize], 4), 512u);
    EXPECT_EQ(cfg[blk_config::kPhysicalBlockExp], 3);
    EXPECT_EQ(load_le(&cfg[blk_config::kMinIoSize], 2), 8u);
    EXPECT_EQ(load_le(&cfg[blk_config::kOptIoSize], 4), 128u);
    EXPECT_EQ(load_le(&cfg[blk_config::kNumQueues], 2), 1u);
    EXPECT_EQ(load_le(&cfg[blk_config::kMaxDiscardSectors], 4), kBlkMaxRequestSectors);
    EXPECT_EQ(load_le(&cfg[blk_config::kMaxDiscardSeg], 4), 1u);
    EXPECT_EQ(load_le(&cfg[blk_config::kDiscardSectorAlignment], 4), 1u);
    EXPECT_EQ(cfg[blk_config::kWriteZeroesMayUnmap], 1);
    EXPECT_EQ(cfg[blk_config::kWriteback], 1);
    uint64_t f = dev->device_features();
    for (unsigned b : {kBlkFSegMax, kBlkFBlkSize, kBlkFTopology, kBlkFFlush, kBlkFConfigWce, kBlkFDiscard,
                       kBlkFWriteZeroes})
        EXPECT_TRUE(f & feature_bit(b)) << b;
    EXPECT_FALSE(f & feature_bit(kBlkFMq));
    EXPECT_FALSE(f & feature_bit(kBlkFRo));

    // 5.2.5: the driver turns the write cache off through `writeback`.
    const uint8_t off = 0;
    dev->write_config(blk_config::kWriteback, std::span<const uint8_t>(&off, 1));
    dev->read_config(blk_config::kWriteback, std::span<uint8_t>(cfg.data(), 1));
    EXPECT_EQ(cfg[0], 0);
    loop->run_once(0);
    EXPECT_FALSE(dev->backend()->options().write_cache);
}

TEST_F(VirtioBlkTest, MultiQueue) {
    bring_up([](VirtioBlk& d) { d.m_num_queues = 2; }, 2);
    EXPECT_TRUE(dev->device_features() & feature_bit(kBlkFMq));
    EXPECT_EQ(dev->queue_max_sizes(), std::vector<uint16_t>(2, 256));
    mem.fill(kData, 0x5A, 1024);
    header(kBlkTOut, 100);
    auto w = run({{kHdr, 16, false}, {kData, 1024, false}, {kStatus, 1, true}}, 1);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, kBlkSOk);
    EXPECT_EQ(irq.last_queue, 1);
    EXPECT_EQ(file.read(100 * 512, 1024), std::vector<uint8_t>(1024, 0x5A));
    header(kBlkTIn, 100);
    auto r = run({{kHdr, 16, false}, {kData2, 1024, true}, {kStatus, 1, true}}, 0);
    ASSERT_TRUE(r);
    EXPECT_EQ(irq.last_queue, 0);
    EXPECT_EQ(guest(kData2, 1024), std::vector<uint8_t>(1024, 0x5A));
}

TEST_F(VirtioBlkTest, IoThreadServesTheQueues) {
    start_iothread();
    bring_up([](VirtioBlk& d) { d.m_iothread = "io0"; });
    EXPECT_EQ(dev->home_loop(), io_loop.get());
    std::vector<uint8_t> pattern(2048, 0x3C);
    mem.write(kData, pattern);
    auto w = rw(kBlkTOut, 16, 2048);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, kBlkSOk);
    EXPECT_EQ(file.read(16 * 512, 2048), pattern);
    mem.fill(kData, 0, 2048);
    auto r = rw(kBlkTIn, 16, 2048);
    ASSERT_TRUE(r);
    EXPECT_EQ(guest(kData, 2048), pattern);
    // Deactivate hands back only once the iothread has let go of the queues.
    dev->deactivate();
    ASSERT_TRUE(drivers[0]->add({{kHdr, 16, false}, {kStatus, 1, true}}));
    kicks[0].signal();
    std::promise<void> idle;
    io_loop->post([&] { idle.set_value(); });
    idle.get_future().wait();
    EXPECT_FALSE(drivers[0]->get_used());
}

TEST_F(VirtioBlkTest, DeactivateCompletesInFlightRequests) {
    bring_up();
    header(kBlkTIn, 0);
    ASSERT_TRUE(drivers[0]->add({{kHdr, 16, false}, {kData, 4096, true}, {kStatus, 1, true}}));
    kicks[0].signal();
    loop->run_once(0);   // the kick: the read is submitted, its completion not run yet
    dev->deactivate();
    auto used = drivers[0]->get_used();
    ASSERT_TRUE(used);
    EXPECT_EQ(used->len, 4097u);
    EXPECT_EQ(guest(kData, 4096), file.read(0, 4096));
}

// --- realize errors (QEMU 7.2's messages) ---

class VirtioBlkRealizeTest : public VirtioBlkTest {
protected:
    std::string realize_error(const std::function<void(VirtioBlk&)>& configure) {
        FakeBackends b(*loop, open_node());
        VirtioBlk d;
        d.m_drive = "d0";
        configure(d);
        auto r = d.realize_with(b);
        return r ? "" : r.error().msg;
    }
};

TEST_F(VirtioBlkRealizeTest, Errors) {
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_drive.clear(); }), "drive property not set");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_drive = "x"; }),
              "Property 'virtio-blk-device.drive' can't find value 'x'");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_num_queues = 0; }), "num-queues property must be larger than 0");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_queue_size = 2; }), "invalid queue-size property (2), must be > 2");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_queue_size = 100; }),
              "invalid queue-size property (100), must be a power of 2 (max 1024)");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_queue_size = 2048; }),
              "invalid queue-size property (2048), must be a power of 2 (max 1024)");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_iothread = "zz"; }), "Device 'zz' not found");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_logical_block_size = 4096; }),
              "logical_block_size > physical_block_size not supported");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_min_io_size = 100; }),
              "min_io_size must be a multiple of logical_block_size");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_opt_io_size = 100; }),
              "opt_io_size must be a multiple of logical_block_size");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_max_discard_sectors = 0; }),
              "invalid max-discard-sectors property (0), must be between 1 and 4194303");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_max_write_zeroes_sectors = 4194304; }),
              "invalid max-write-zeroes-sectors property (4194304), must be between 1 and 4194303");
    EXPECT_EQ(realize_error([](VirtioBlk& d) { d.m_max_discard_sectors = 0, d.m_discard = false; }), "");
    EXPECT_EQ(realize_error([](VirtioBlk&) {}), "");
}

TEST_F(VirtioBlkRealizeTest, DriveInUse) {
    FakeBackends b(*loop, open_node());
    VirtioBlk d1, d2;
    d1.m_drive = d2.m_drive = "d0";
    ASSERT_TRUE(d1.realize_with(b));
    auto r = d2.realize_with(b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Drive 'd0' is already in use by another device");
}

TEST(VirtioBlkType, PropertiesAsQemu) {
    qom::TypeRegistry reg;
    qom::register_base_types(reg);
    register_device_type(reg);
    reg.add(qom::TypeInfo{.name = "virtio-device", .parent = "device", .abstract = true});
    register_virtio_blk_type(reg);
    auto obj = reg.create("virtio-blk-device");
    ASSERT_TRUE(obj);
    qom::Object& o = **obj;
    EXPECT_EQ(o.get_property("queue-size")->get<int>(), 256);
    EXPECT_EQ(o.get_property("num-queues")->get<int>(), 65535);
    EXPECT_EQ(o.get_property("write-cache")->get<std::string>(), "auto");
    EXPECT_EQ(o.find_property("iothread")->type, "link<iothread>");
    auto e = o.set_property_string("logical_block_size", "1000");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Property .logical_block_size doesn't take value '1000', it's not a power of 2");
    e = o.set_property_string("physical_block_size", "256");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Property .physical_block_size doesn't take value 256 (minimum: 512, maximum: 2097152)");
    e = o.set_property_string("werror", "xx");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Parameter 'werror' does not accept value 'xx'");
    ASSERT_TRUE(o.set_property_string("logical_block_size", "4K"));
    EXPECT_EQ(static_cast<VirtioBlk&>(o).m_logical_block_size, 4096u);
    ASSERT_TRUE(o.set_property_string("serial", "abc"));
    EXPECT_EQ(static_cast<VirtioBlk&>(o).m_serial, "abc");
}

} // namespace
} // namespace nemu::hw::virtio
