// Virtqueue (split and packed) against the guest-side test driver: the happy paths, the
// 16-bit index and packed wrap-counter wrap-arounds, notification suppression both ways, and
// every hostile-guest rule of virtqueue.h returning an Error that names the queue.
#include <gtest/gtest.h>

#include <cstring>

#include "hw/virtio/virtqueue.h"
#include "tests/support/virtqueue_driver.h"

namespace {

using namespace nemu::hw::virtio;
using nemu::test::DriverRingConfig;
using nemu::test::GuestBuffer;
using nemu::test::GuestMemory;
using nemu::test::VirtqueueDriver;

constexpr uint16_t kNext = 1, kIndirect = 4;
constexpr uint64_t kBuf = 0x10000;     // buffers from here on
constexpr uint64_t kTable = 0x80000;   // indirect tables

// A raw descriptor for corruption tests: split `next`, packed `id`.
struct RawDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next_or_id = 0;
};

class VirtqueueTest : public ::testing::TestWithParam<bool> {
protected:
    bool packed() const { return GetParam(); }

    void setup(DriverRingConfig c = {}) {
        c.packed = packed();
        drv = std::make_unique<VirtqueueDriver>(mem, c);
        auto q = Virtqueue::create(mem.space(), drv->config(), drv->initial_state());
        ASSERT_TRUE(q) << q.error().msg;
        vq = std::move(*q);
    }
    // Pops one chain, failing the test if there is none or an error.
    DescChain pop_one() {
        auto r = vq->pop();
        EXPECT_TRUE(r) << r.error().msg;
        if (!r || !*r) {
            ADD_FAILURE() << "nothing available";
            return {};
        }
        return **r;
    }
    std::string pop_error() {
        auto r = vq->pop();
        return r ? std::string("no error") : r.error().msg;
    }
    // Make a chain of raw descriptors available: split at table slots 0.., packed at the
    // driver's next slots (flags get the current AVAIL/USED bits; the head's written last).
    void add_raw(const std::vector<RawDesc>& descs) {
        if (!packed()) {
            for (size_t i = 0; i < descs.size(); ++i)
                drv->write_split_desc(uint16_t(i), descs[i].addr, descs[i].len, descs[i].flags,
                                      descs[i].next_or_id);
            drv->set_avail_ring(uint16_t(drv->avail_idx() % drv->ring().size), 0);
            drv->set_avail_idx(uint16_t(drv->avail_idx() + 1));
            return;
        }
        uint16_t base = drv->avail_idx();
        for (size_t i = descs.size(); i-- > 0;) {
            uint16_t slot = uint16_t((base + i) % drv->ring().size);
            drv->write_packed_desc(slot, descs[i].addr, descs[i].len, descs[i].next_or_id,
                                   uint16_t(descs[i].flags | drv->packed_avail_flags()));
        }
    }

    GuestMemory mem{1 << 20};
    std::unique_ptr<VirtqueueDriver> drv;
    std::unique_ptr<Virtqueue> vq;
};

INSTANTIATE_TEST_SUITE_P(Layouts, VirtqueueTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Packed" : "Split"; });

TEST_P(VirtqueueTest, PopPushRoundTrip) {
    setup();
    EXPECT_FALSE(vq->has_available());
    auto none = vq->pop();
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);

    mem.fill(kBuf, 0xab, 64);
    uint16_t id =
        drv->add({{kBuf, 64, false}, {kBuf + 0x1000, 16, false}, {kBuf + 0x2000, 512, true}})
            .value();
    EXPECT_TRUE(vq->has_available());
    DescChain c = pop_one();
    EXPECT_EQ(c.id, id);
    EXPECT_EQ(c.ring_slots, packed() ? 3 : 1);
    ASSERT_EQ(c.readable.size(), 2u);
    ASSERT_EQ(c.writable.size(), 1u);
    EXPECT_EQ(c.readable[0].iov_base, mem.host(kBuf));
    EXPECT_EQ(static_cast<uint8_t*>(c.readable[0].iov_base)[63], 0xab);
    EXPECT_EQ(c.writable[0].iov_base, mem.host(kBuf + 0x2000));
    EXPECT_EQ(c.readable_bytes, 80u);
    EXPECT_EQ(c.writable_bytes, 512u);
    EXPECT_EQ(vq->state().in_flight, 1);
    EXPECT_FALSE(vq->has_available());

    std::memset(c.writable[0].iov_base, 0x5a, 100);
    ASSERT_TRUE(vq->push(c, 100));
    EXPECT_EQ(vq->state().in_flight, 0);
    auto used = drv->get_used();
    ASSERT_TRUE(used);
    EXPECT_EQ(used->id, id);
    EXPECT_EQ(used->len, 100u);
    EXPECT_FALSE(drv->get_used());
    EXPECT_EQ(mem.read_u32(kBuf + 0x2000), 0x5a5a5a5au);
}

TEST_P(VirtqueueTest, WrittenIsClampedToTheWritableBytes) {
    setup();
    drv->add({{kBuf, 8, false}, {kBuf + 0x100, 32, true}}).value();
    DescChain c = pop_one();
    ASSERT_TRUE(vq->push(c, 4096));
    EXPECT_EQ(drv->get_used()->len, 32u);
}

TEST_P(VirtqueueTest, OutOfOrderCompletionsAndInFlightAccounting) {
    setup({.size = 4});
    std::vector<DescChain> chains;
    for (int i = 0; i < 4; ++i) {
        drv->add({{kBuf + 0x1000ull * i, 16, true}}).value();
        chains.push_back(pop_one());
    }
    EXPECT_EQ(vq->state().in_flight, 4);
    ASSERT_TRUE(vq->push(chains[2], 1));
    ASSERT_TRUE(vq->push(chains[0], 2));
    EXPECT_EQ(vq->state().in_flight, 2);
    EXPECT_EQ(drv->get_used()->id, chains[2].id);
    EXPECT_EQ(drv->get_used()->id, chains[0].id);
    // Pushing an id twice, or one never popped, is an error.
    auto again = vq->push(chains[0], 0);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().msg,
              fmt::format("virtqueue 0: used buffer id {} is not in flight", chains[0].id));
    DescChain forged = chains[1];
    forged.id = 3000;
    EXPECT_FALSE(vq->push(forged, 0));
    ASSERT_TRUE(vq->push(chains[1], 0));
    ASSERT_TRUE(vq->push(chains[3], 0));
    EXPECT_EQ(vq->state().in_flight, 0);
}

TEST_P(VirtqueueTest, IndirectTable) {
    setup({.indirect = true});
    uint16_t id = drv->add({{kBuf, 10, false}, {kBuf + 0x100, 20, true}, {kBuf + 0x200, 30, true}},
                           kTable)
                      .value();
    DescChain c = pop_one();
    EXPECT_EQ(c.id, id);
    EXPECT_EQ(c.ring_slots, 1);
    EXPECT_EQ(c.readable_bytes, 10u);
    EXPECT_EQ(c.writable_bytes, 50u);
    ASSERT_EQ(c.writable.size(), 2u);
    EXPECT_EQ(c.writable[1].iov_base, mem.host(kBuf + 0x200));
    ASSERT_TRUE(vq->push(c, 50));
    EXPECT_EQ(drv->get_used()->len, 50u);
}

TEST_P(VirtqueueTest, IndirectNeedsTheFeature) {
    setup();
    drv->add({{kBuf, 10, false}}, kTable).value();
    EXPECT_EQ(pop_error(), "virtqueue 0: indirect descriptor without INDIRECT_DESC");
}

TEST_P(VirtqueueTest, IndirectTableLengthRules) {
    for (uint32_t len : {0u, 24u, 16u * (kMaxQueueSize + 1u)}) {
        setup({.indirect = true});
        add_raw({{kTable, len, kIndirect}});
        std::string e = pop_error();
        EXPECT_NE(e.find("indirect table"), std::string::npos) << len << ": " << e;
    }
}

TEST_P(VirtqueueTest, IndirectTableOutsideRam) {
    setup({.indirect = true});
    add_raw({{0xffff0, 32, kIndirect}});   // RAM ends at 1 MiB
    EXPECT_EQ(pop_error(), "virtqueue 0: indirect table 0xffff0+0x20 is not in guest RAM");
}

TEST_P(VirtqueueTest, IndirectWithNextIsRejected) {
    setup({.indirect = true});
    drv->add({{kBuf, 10, false}}, kTable).value();
    // Rewrite the ring's descriptor with NEXT set as well (2.7.5.3.1 / 2.8.7.1).
    if (packed())
        drv->write_packed_desc(0, kTable, 16, 0, kIndirect | kNext | drv->packed_avail_flags());
    else
        drv->write_split_desc(0, kTable, 16, kIndirect | kNext, 1);
    EXPECT_EQ(pop_error(), "virtqueue 0: indirect descriptor with the NEXT flag");
}

TEST_P(VirtqueueTest, NestedIndirect) {
    setup({.indirect = true});
    // The table's only entry claims to be another indirect table.
    mem.write_u64(kTable, kTable + 0x100);
    mem.write_u32(kTable + 8, 16);
    mem.write_u16(kTable + (packed() ? 14 : 12), kIndirect);
    mem.write_u64(kTable + 0x100, kBuf);
    mem.write_u32(kTable + 0x108, 8);
    add_raw({{kTable, 16, kIndirect}});
    if (!packed()) {
        EXPECT_EQ(pop_error(), "virtqueue 0: indirect descriptor inside an indirect table");
        return;
    }
    // 2.8.7: in a packed table only WRITE is a valid flag; the others are ignored, so the
    // entry is a plain 16-byte readable buffer.
    DescChain c = pop_one();
    ASSERT_EQ(c.readable.size(), 1u);
    EXPECT_EQ(c.readable[0].iov_base, mem.host(kTable + 0x100));
    EXPECT_EQ(c.readable_bytes, 16u);
}

TEST_P(VirtqueueTest, BufferOutsideRam) {
    setup();
    add_raw({{0x100000 - 8, 16, 0}});
    EXPECT_EQ(pop_error(), "virtqueue 0: buffer 0xffff8+0x10 is not in guest RAM");
    setup();
    add_raw({{0xfffffffffffffff0ull, 0x20, 0}});
    EXPECT_EQ(pop_error(), "virtqueue 0: buffer 0xfffffffffffffff0+0x20 overflows");
}

TEST_P(VirtqueueTest, BufferAcrossTwoRamRangesIsSplit) {
    mem.add_ram(0x100000, 0x10000);   // adjacent to the first range
    setup();
    drv->add({{0xff000, 0x2000, true}}).value();
    DescChain c = pop_one();
    ASSERT_EQ(c.writable.size(), 2u);
    EXPECT_EQ(c.writable[0].iov_base, mem.host(0xff000));
    EXPECT_EQ(c.writable[0].iov_len, 0x1000u);
    EXPECT_EQ(c.writable[1].iov_base, mem.host(0x100000));
    EXPECT_EQ(c.writable[1].iov_len, 0x1000u);
    EXPECT_EQ(c.writable_bytes, 0x2000u);
}

TEST_P(VirtqueueTest, ZeroLengthBuffersGiveNoIovec) {
    setup();
    drv->add({{kBuf, 0, false}, {kBuf, 8, true}}).value();
    DescChain c = pop_one();
    EXPECT_TRUE(c.readable.empty());
    EXPECT_EQ(c.writable.size(), 1u);
}

TEST_P(VirtqueueTest, ChainBytesAreBounded) {
    // 2^32 + 4 KiB of (never touched) RAM above 4 GiB so that two maximal buffers fit.
    mem.add_ram(1ull << 32, (1ull << 32) + 0x1000);
    setup();
    drv->add({{1ull << 32, 0x80000000u, false}, {1ull << 32, 0x80000000u, true}}).value();
    DescChain c = pop_one();
    EXPECT_EQ(c.readable_bytes + c.writable_bytes, kMaxChainBytes);
    ASSERT_TRUE(vq->push(c, 0));
    drv->get_used();
    drv->add({{1ull << 32, 0xffffffffu, false}, {1ull << 32, 2, true}}).value();
    EXPECT_EQ(pop_error(), "virtqueue 0: chain longer than 4294967296 bytes");
}

TEST_P(VirtqueueTest, ReadableAfterWritable) {
    setup();
    drv->add({{kBuf, 8, true}, {kBuf + 0x100, 8, false}}).value();
    EXPECT_EQ(pop_error(), "virtqueue 0: device-readable descriptor after a device-writable one");
}

TEST_P(VirtqueueTest, ChainLongerThanTheQueue) {
    setup({.index = 3, .size = 4});
    if (packed()) {
        // Every slot says NEXT: the chain would wrap onto itself.
        add_raw({{kBuf, 8, kNext}, {kBuf, 8, kNext}, {kBuf, 8, kNext}, {kBuf, 8, kNext}});
        EXPECT_EQ(pop_error(), "virtqueue 3: chain longer than the queue size 4");
    } else {
        add_raw({{kBuf, 8, kNext, 1}, {kBuf, 8, kNext, 2}, {kBuf, 8, kNext, 1}});
        EXPECT_EQ(pop_error(), "virtqueue 3: descriptor loop");
    }
}

TEST_P(VirtqueueTest, LoopInsideAnIndirectTable) {
    if (!packed()) {
        setup({.indirect = true});
        for (int i = 0; i < 2; ++i) {
            mem.write_u64(kTable + 16 * i, kBuf);
            mem.write_u32(kTable + 16 * i + 8, 8);
            mem.write_u16(kTable + 16 * i + 12, kNext);
            mem.write_u16(kTable + 16 * i + 14, uint16_t(1 - i));
        }
        add_raw({{kTable, 32, kIndirect}});
        EXPECT_EQ(pop_error(), "virtqueue 0: descriptor loop");
    }
}

TEST_P(VirtqueueTest, IndexOutOfRange) {
    setup();
    if (packed()) {
        add_raw({{kBuf, 8, 0, 8}});   // buffer id 8 in a queue of 8
        EXPECT_EQ(pop_error(), "virtqueue 0: buffer id 8 out of range (queue size 8)");
        return;
    }
    drv->set_avail_ring(0, 8);
    drv->set_avail_idx(1);
    EXPECT_EQ(pop_error(), "virtqueue 0: descriptor index 8 out of range (queue size 8)");
    setup();
    add_raw({{kBuf, 8, kNext, 9}});
    EXPECT_EQ(pop_error(), "virtqueue 0: descriptor index 9 out of range (8 descriptors)");
    setup({.indirect = true});
    mem.write_u64(kTable, kBuf);
    mem.write_u32(kTable + 8, 8);
    mem.write_u16(kTable + 12, kNext);
    mem.write_u16(kTable + 14, 1);
    add_raw({{kTable, 16, kIndirect}});
    EXPECT_EQ(pop_error(), "virtqueue 0: descriptor index 1 out of range (1 descriptors)");
}

TEST_P(VirtqueueTest, IdAvailableAgainWhileInFlight) {
    setup();
    uint16_t id = drv->add({{kBuf, 8, false}}).value();
    pop_one();
    if (packed()) {
        add_raw({{kBuf, 8, 0, id}});
        EXPECT_EQ(pop_error(), "virtqueue 0: buffer id 0 made available again while in flight");
    } else {
        drv->set_avail_ring(1, id);
        drv->set_avail_idx(2);
        EXPECT_EQ(pop_error(), "virtqueue 0: descriptor 0 made available again while in flight");
    }
}

TEST(SplitVirtqueue, AvailIndexJump) {
    GuestMemory mem(1 << 20);
    VirtqueueDriver drv(mem, {.size = 8});
    auto vq = Virtqueue::create(mem.space(), drv.config()).value();
    drv.set_avail_idx(9);
    auto r = vq->pop();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg,
              "virtqueue 0: available index moved from 0 to 9, more than the queue size 8");
    // Backwards is a jump of 65535.
    VirtqueueDriver drv2(mem, {.size = 8, .start = 100});
    auto vq2 = Virtqueue::create(mem.space(), drv2.config(), drv2.initial_state()).value();
    drv2.set_avail_idx(99);
    EXPECT_FALSE(vq2->pop());
}

TEST_P(VirtqueueTest, ManyRequestsWrapTheIndices) {
    // More than 65536 requests through a queue of 4, two in flight at a time, with chains of
    // 1-3 descriptors: split's 16-bit indices and packed's wrap counters go round many times.
    setup({.size = 4});
    uint32_t lap_changes = 0;
    bool last_wrap = vq->state().avail_wrap;
    for (uint32_t i = 0; i < 70000; ++i) {
        std::vector<GuestBuffer> bufs;
        for (uint32_t k = 0; k <= i % 3; ++k) bufs.push_back({kBuf + 0x100 * k, 8, k == i % 3});
        while (drv->free_descriptors() < bufs.size()) ASSERT_TRUE(drv->get_used());
        uint16_t id = drv->add(bufs).value();
        DescChain c = pop_one();
        ASSERT_EQ(c.id, id) << i;
        ASSERT_EQ(c.readable.size() + c.writable.size(), bufs.size()) << i;
        ASSERT_TRUE(vq->push(c, 8)) << i;
        if (vq->state().avail_wrap != last_wrap) ++lap_changes, last_wrap = !last_wrap;
    }
    while (drv->get_used()) {
    }
    EXPECT_EQ(vq->state().in_flight, 0);
    if (packed()) {
        EXPECT_GT(lap_changes, 30000u);
        EXPECT_EQ(vq->state().next_avail, drv->avail_idx());
        EXPECT_EQ(vq->state().avail_wrap, drv->avail_wrap());
        EXPECT_EQ(vq->state().used_wrap, drv->used_wrap());
    } else {
        EXPECT_EQ(vq->state().next_avail, uint16_t(70000));
        EXPECT_EQ(vq->state().next_used, uint16_t(70000));
    }
}

TEST(SplitVirtqueue, StartNearTheWrap) {
    GuestMemory mem(1 << 20);
    VirtqueueDriver drv(mem, {.size = 8, .start = 65533});
    auto vq = Virtqueue::create(mem.space(), drv.config(), drv.initial_state()).value();
    for (int i = 0; i < 6; ++i) drv.add({{kBuf + 0x100ull * i, 8, true}}).value();
    EXPECT_EQ(drv.avail_idx(), 3);   // 65533 + 6 wrapped
    for (int i = 0; i < 6; ++i) {
        auto c = vq->pop().value();
        ASSERT_TRUE(c);
        EXPECT_EQ(c->writable[0].iov_base, mem.host(kBuf + 0x100ull * i));
        ASSERT_TRUE(vq->push(*c, 1));
    }
    EXPECT_EQ(vq->state().next_used, 3);
    EXPECT_EQ(mem.read_u16(0x3000 + 2), 3);   // used->idx wrapped too
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(drv.get_used());
    EXPECT_FALSE(vq->has_available());
}

TEST(PackedVirtqueue, WrapCounters) {
    GuestMemory mem(1 << 20);
    VirtqueueDriver drv(mem, {.size = 4, .packed = true});
    auto vq = Virtqueue::create(mem.space(), drv.config()).value();
    // Three slots, then three more that cross the end of the ring (slots 3, 0, 1).
    drv.add({{kBuf, 8, false}, {kBuf, 8, false}, {kBuf, 8, true}}).value();
    auto a = vq->pop().value();
    ASSERT_TRUE(vq->push(*a, 8));
    ASSERT_TRUE(drv.get_used());
    EXPECT_EQ(vq->state().next_avail, 3);
    EXPECT_TRUE(vq->state().avail_wrap);
    drv.add({{kBuf, 8, false}, {kBuf, 8, false}, {kBuf, 8, true}}).value();
    auto b = vq->pop().value();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->ring_slots, 3);
    EXPECT_EQ(vq->state().next_avail, 2);
    EXPECT_FALSE(vq->state().avail_wrap);
    EXPECT_FALSE(vq->has_available());
    ASSERT_TRUE(vq->push(*b, 8));
    EXPECT_EQ(vq->state().next_used, 2);
    EXPECT_FALSE(vq->state().used_wrap);
    // The used descriptor sits at slot 3 with AVAIL=USED=1 (the wrap counter when written).
    EXPECT_EQ(mem.read_u16(0x1000 + 16 * 3 + 14), (1u << 7) | (1u << 15));
    auto u = drv.get_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, b->id);
    // A descriptor left over from the previous lap (AVAIL=1, USED=0) is not available now.
    EXPECT_FALSE(vq->has_available());
    auto none = vq->pop();
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
}

} // namespace
