#include "hw/char/serial_16550.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "chardev/ringbuf.h"
#include "chardev/test_support.h"
#include "hw/core/irq.h"

namespace nemu::hw {
namespace {

// Register offsets as Linux's include/uapi/linux/serial_reg.h names them.
constexpr uint64_t kRx = 0, kTx = 0, kDll = 0, kIer = 1, kDlm = 1, kIir = 2, kFcr = 2, kLcr = 3,
                   kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;

// A chardev test double: records output, takes at most `limit` bytes per write, counts the
// frontend's "input accepted again" notifications and delivers input as a backend does.
struct FakeChardev : chardev::Chardev {
    std::string out;
    size_t limit = SIZE_MAX;
    int writes = 0;
    int input_updates = 0;

    Result<size_t> write(std::span<const uint8_t> data) override {
        writes++;
        size_t n = std::min(limit, data.size());
        out.append(reinterpret_cast<const char*>(data.data()), n);
        return n;
    }
    std::string filename() const override { return "fake"; }
    // What a backend does when its fd is readable: offer at most can_receive() bytes.
    size_t inject(std::string_view s) {
        size_t n = std::min(frontend_can_receive(), s.size());
        deliver(chardev::test::bytes(s.substr(0, n)));
        return n;
    }

protected:
    Result<> open_backend(const chardev::ChardevOptions&) override { return {}; }
    void update_input() override { input_updates++; }
};

struct Fixture : ::testing::Test {
    std::vector<bool> levels; // every level change seen on the line
    IrqLine irq{"serial", [this](bool level) { levels.push_back(level); }};
    FakeChardev chr; // outlives the UART, whose destructor detaches from it
    Serial16550 uart{irq};
    std::deque<std::function<void()>> posted;

    uint8_t rd(uint64_t reg) { return static_cast<uint8_t>(uart.read(reg, 1)); }
    void wr(uint64_t reg, uint8_t v) { uart.write(reg, v, 1); }
    void attach_inline() { ASSERT_TRUE(uart.attach(&chr)); }
    void attach_posted() {
        ASSERT_TRUE(uart.attach(
            &chr, [this](std::function<void()> fn) { posted.push_back(std::move(fn)); }));
    }
    void run_posted() {
        while (!posted.empty()) {
            auto fn = std::move(posted.front());
            posted.pop_front();
            fn();
        }
    }
};

TEST_F(Fixture, PowerOnState) {
    EXPECT_EQ(rd(kIer), 0x00);
    EXPECT_EQ(rd(kIir), 0x01);
    EXPECT_EQ(rd(kLcr), 0x00);
    EXPECT_EQ(rd(kMcr), 0x08); // OUT2, as QEMU resets it
    EXPECT_EQ(rd(kLsr), 0x60); // THRE | TEMT
    EXPECT_EQ(rd(kMsr), 0xb0); // DCD | DSR | CTS: a connected line, no deltas
    EXPECT_EQ(rd(kScr), 0x00);
    EXPECT_FALSE(irq.level());
    EXPECT_TRUE(levels.empty());
    EXPECT_EQ(uart.read(8, 1), 0xffu); // outside the 8 registers
}

// The register sequence of autoconfig() and autoconfig_16550a() in Linux's 8250_port.c.
TEST_F(Fixture, LinuxAutoconfigSeesA16550A) {
    // IER: the low nibble is writable, nothing else.
    wr(kIer, 0);
    EXPECT_EQ(rd(kIer) & 0x0f, 0);
    wr(kIer, 0x0f);
    EXPECT_EQ(rd(kIer) & 0x0f, 0x0f);
    wr(kIer, 0);
    // Loopback probe: MCR = LOOP | OUT2 | RTS must show DCD | CTS in MSR.
    uint8_t save_mcr = rd(kMcr);
    wr(kMcr, 0x10 | 0x0a);
    EXPECT_EQ(rd(kMsr) & 0xf0, 0x90);
    wr(kMcr, save_mcr);
    // FIFO detection: IIR bits 7:6 == 3 once FCR enables the FIFOs.
    wr(kLcr, 0);
    wr(kFcr, 0x01);
    EXPECT_EQ(rd(kIir) >> 6, 3);
    // Not a 16750: the 64-byte FIFO bit (IIR bit 5) never reads back, with or without DLAB.
    wr(kFcr, 0x01 | 0x20);
    EXPECT_EQ(rd(kIir) >> 5, 6);
    wr(kLcr, 0x80);
    EXPECT_EQ(rd(kIir) >> 5, 6);
    wr(kLcr, 0);
    // Not an XScale UART: IER bit 6 (UUE) does not stick.
    wr(kIer, 0x40);
    EXPECT_EQ(rd(kIer) & 0x40, 0);
    // Scratch register holds a value.
    wr(kScr, 0xa5);
    EXPECT_EQ(rd(kScr), 0xa5);
    EXPECT_FALSE(irq.level());
}

TEST_F(Fixture, DlabSwitchesOffsetsZeroAndOneToTheDivisorLatch) {
    attach_inline();
    EXPECT_EQ(rd(kLcr), 0);
    wr(kLcr, 0x83);          // DLAB | 8 data bits
    EXPECT_EQ(rd(kDll), 12); // 9600 baud at reset
    EXPECT_EQ(rd(kDlm), 0);
    wr(kDll, 0x01); // 115200
    wr(kDlm, 0x02);
    EXPECT_EQ(rd(kDll), 0x01);
    EXPECT_EQ(rd(kDlm), 0x02);
    EXPECT_TRUE(chr.out.empty()); // a DLL write is not a transmitted byte
    wr(kLcr, 0x03);
    EXPECT_EQ(rd(kIer), 0); // IER untouched by the DLM write
    wr(kTx, 'x');
    EXPECT_EQ(chr.out, "x");
    wr(kLcr, 0x83);
    EXPECT_EQ(rd(kDll), 0x01);
    EXPECT_EQ(rd(kDlm), 0x02);
}

// serial8250_do_startup's test for UARTs that do not re-assert THRE.
TEST_F(Fixture, ThreInterruptClearedByIirReadAndRearmedByIer) {
    wr(kFcr, 0x01);
    wr(kIer, 0x02);
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(rd(kIir), 0xc2);
    EXPECT_FALSE(irq.level()); // the IIR read cleared it
    EXPECT_EQ(rd(kIir), 0xc1);
    wr(kIer, 0x02); // no rising edge of THRI: stays cleared
    EXPECT_EQ(rd(kIir), 0xc1);
    wr(kIer, 0);
    wr(kIer, 0x02); // rising edge with THR empty: pending again
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(rd(kIir), 0xc2);
    EXPECT_EQ(levels, (std::vector<bool>{true, false, true, false}));
}

TEST_F(Fixture, TransmitGoesToTheChardevAndRearmsThre) {
    attach_inline();
    wr(kIer, 0x02);
    EXPECT_EQ(rd(kIir), 0x02); // FIFOs off: IIR bits 7:6 are 0
    EXPECT_FALSE(irq.level());
    wr(kTx, 'o');
    EXPECT_TRUE(irq.level()); // the byte left at once: THRE pending again
    wr(kTx, 'k');
    EXPECT_EQ(chr.out, "ok");
    EXPECT_EQ(rd(kLsr) & 0x60, 0x60);
    wr(kIer, 0); // Linux's __stop_tx
    EXPECT_FALSE(irq.level());
}

TEST_F(Fixture, PostedOutputIsBatchedAndWhatTheBackendRefusesIsDropped) {
    attach_posted();
    for (char c : std::string("abc")) wr(kTx, static_cast<uint8_t>(c));
    EXPECT_TRUE(chr.out.empty()); // nothing written from the "vCPU" thread
    EXPECT_EQ(posted.size(), 1u); // one flush for the batch
    chr.limit = 2;
    run_posted();
    EXPECT_EQ(chr.out, "ab");
    EXPECT_EQ(chr.writes, 1);
    chr.limit = SIZE_MAX;
    wr(kTx, 'd');
    run_posted();
    EXPECT_EQ(chr.out, "abd"); // 'c' was dropped, not retried
}

TEST_F(Fixture, OutputWithoutChardevOrAfterDetachIsDiscarded) {
    wr(kTx, 'a');
    attach_inline();
    wr(kTx, 'b');
    ASSERT_TRUE(uart.attach(nullptr));
    wr(kTx, 'c');
    EXPECT_EQ(chr.out, "b");
    EXPECT_TRUE(chr.check_can_remove()); // detached
}

TEST_F(Fixture, ReceiveWithFifoTriggerAndCharacterTimeout) {
    attach_posted();
    wr(kFcr, 0x41); // FIFO on, trigger level 4
    wr(kIer, 0x01);
    EXPECT_EQ(uart.can_receive(), 16u);
    EXPECT_EQ(chr.inject("ab"), 2u);
    EXPECT_EQ(uart.can_receive(), 14u);
    EXPECT_EQ(rd(kLsr) & 0x01, 0x01);
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(rd(kIir), 0xcc); // below the trigger: character timeout
    EXPECT_EQ(rd(kRx), 'a');
    EXPECT_FALSE(irq.level()); // reading RBR clears the timeout indication ...
    EXPECT_EQ(rd(kIir), 0xc1);
    run_posted(); // ... and the idle line raises it again: a new edge
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(rd(kRx), 'b');
    EXPECT_EQ(rd(kLsr) & 0x01, 0x00);
    run_posted();
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(chr.inject("1234"), 4u);
    EXPECT_EQ(rd(kIir), 0xc4); // at the trigger level: received data available
    EXPECT_EQ(rd(kRx), '1');
    EXPECT_EQ(rd(kIir), 0xc1); // 3 left, below the trigger, timeout not yet re-raised
    run_posted();
    EXPECT_EQ(rd(kIir), 0xcc);
    for (char c : std::string("234")) EXPECT_EQ(rd(kRx), c);
    run_posted();
    EXPECT_FALSE(irq.level());
}

TEST_F(Fixture, CharacterModeReceive) {
    attach_inline();
    wr(kIer, 0x01);
    EXPECT_EQ(uart.can_receive(), 1u);
    EXPECT_EQ(chr.inject("xy"), 1u); // one holding register
    EXPECT_EQ(rd(kIir), 0x04);
    EXPECT_EQ(uart.can_receive(), 0u);
    int before = chr.input_updates;
    EXPECT_EQ(rd(kRx), 'x');
    EXPECT_EQ(chr.input_updates, before + 1); // accept_input after the register emptied
    EXPECT_EQ(rd(kIir), 0x01);
    // Overrun in character mode: the new byte overwrites RBR.
    uart.receive(chardev::test::bytes("pq"));
    EXPECT_EQ(rd(kLsr) & 0x03, 0x03);
    EXPECT_EQ(rd(kRx), 'q');
}

// A buffering backend (the mux) can fill the FIFO exactly, without ever hearing "no room"
// from can_receive(), and keep more bytes: it must still be told when room appears.
TEST_F(Fixture, FifoFilledExactlyStillGetsAcceptInputWhenRoomAppears) {
    attach_inline();
    wr(kFcr, 0x01);
    ASSERT_EQ(uart.can_receive(), 16u);
    uart.receive(chardev::test::bytes("0123456789abcdef"));
    int before = chr.input_updates;
    EXPECT_EQ(rd(kRx), '0');
    EXPECT_EQ(chr.input_updates, before + 1);
    EXPECT_EQ(rd(kRx), '1');   // not full before this read: no second notice
    EXPECT_EQ(chr.input_updates, before + 1);
}

// The race behind the nested-lab console stall: the main loop asks can_receive() (room 1),
// a vCPU reads a byte, then the byte arrives. The FIFO is not full afterwards, yet the backend
// filled all the room it was offered and may hold more: the guest's next read must notify.
TEST_F(Fixture, RoomUsedUpWhileGuestReadsStillNotifies) {
    attach_inline();
    wr(kFcr, 0x01);
    uart.receive(chardev::test::bytes("0123456789abcde")); // 15 of 16, the backend is empty
    ASSERT_EQ(uart.can_receive(), 1u);
    EXPECT_EQ(rd(kRx), '0');                                // the vCPU, between the two calls
    uart.receive(chardev::test::bytes("f"));                // fills the offered room: 15 again
    int before = chr.input_updates;
    EXPECT_EQ(rd(kRx), '1');
    EXPECT_EQ(chr.input_updates, before + 1);
    for (char c : std::string("23456789abcdef")) EXPECT_EQ(rd(kRx), c);
    EXPECT_EQ(chr.input_updates, before + 1);               // one notice, not one per byte
}

// A backend that delivered less than it was offered has nothing left: no notices.
TEST_F(Fixture, ShortDeliveryNeedsNoNotice) {
    attach_inline();
    wr(kFcr, 0x01);
    ASSERT_EQ(uart.can_receive(), 16u);
    uart.receive(chardev::test::bytes("abc"));
    int before = chr.input_updates;
    for (char c : std::string("abc")) EXPECT_EQ(rd(kRx), c);
    EXPECT_EQ(chr.input_updates, before);
}

TEST_F(Fixture, FifoOverflowSetsOverrunAndKeepsTheFifo) {
    attach_inline();
    wr(kFcr, 0xc1); // trigger 14
    wr(kIer, 0x05); // RDI | RLSI
    std::string in = "0123456789abcdefXYZ";
    EXPECT_EQ(chr.inject(in), 16u); // flow control offers only what fits
    EXPECT_EQ(uart.can_receive(), 0u);
    uart.receive(chardev::test::bytes("XYZ")); // a backend that ignores can_receive
    EXPECT_EQ(rd(kIir), 0xc6);                 // line status outranks received data
    uint8_t lsr = rd(kLsr);
    EXPECT_EQ(lsr & 0x03, 0x03);   // OE | DR
    EXPECT_EQ(lsr & 0x80, 0);      // no parity/framing/break errors in the FIFO
    EXPECT_EQ(rd(kLsr) & 0x02, 0); // OE cleared by the read
    EXPECT_EQ(rd(kIir), 0xc4);
    int before = chr.input_updates;
    std::string got;
    while (rd(kLsr) & 0x01) got += static_cast<char>(rd(kRx));
    EXPECT_EQ(got, in.substr(0, 16));
    EXPECT_EQ(chr.input_updates, before + 1);
    EXPECT_FALSE(irq.level());
}

TEST_F(Fixture, FcrClearsAndResetsFifos) {
    attach_inline();
    wr(kFcr, 0x01);
    uart.receive(chardev::test::bytes("abc"));
    wr(kFcr, 0x03); // clear RX FIFO
    EXPECT_EQ(rd(kLsr) & 0x01, 0);
    uart.receive(chardev::test::bytes("de"));
    wr(kFcr, 0x00); // disabling the FIFOs resets them too
    EXPECT_EQ(rd(kLsr) & 0x01, 0);
    EXPECT_EQ(rd(kIir), 0x01); // and IIR bits 7:6 go back to 0
    wr(kFcr, 0xc0);            // trigger bits without FCR0 are not programmed
    wr(kFcr, 0x01);
    wr(kIer, 0x01);
    uart.receive(chardev::test::bytes("z"));
    EXPECT_EQ(rd(kIir), 0xc4); // trigger level 1: data available at once
}

TEST_F(Fixture, LoopbackWiresTxToRxAndMcrToMsr) {
    attach_inline();
    wr(kFcr, 0x01);
    wr(kIer, 0x01);
    wr(kMcr, 0x10);
    EXPECT_EQ(rd(kMsr), 0x0b);         // leaving the line: CTS, DSR and DCD fell
    EXPECT_EQ(uart.can_receive(), 0u); // input disconnected from the outside
    EXPECT_EQ(chr.inject("no"), 0u);
    wr(kTx, 'L');
    EXPECT_TRUE(chr.out.empty());
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(rd(kIir), 0xc4);
    EXPECT_EQ(rd(kRx), 'L');
    wr(kMcr, 0x1f);            // DTR RTS OUT1 OUT2 -> DSR CTS RI DCD
    EXPECT_EQ(rd(kMsr), 0xfb); // DDCD, DDSR, DCTS; RI rose: no TERI
    wr(kMcr, 0x1b);            // OUT1 off: RI trailing edge
    EXPECT_EQ(rd(kMsr), 0xb4);
    wr(kMcr, 0x00);
    EXPECT_EQ(chr.inject("in"), 2u); // back on the line
    EXPECT_EQ(rd(kRx), 'i');
}

TEST_F(Fixture, ModemStatusInterruptAndPriorityOrder) {
    attach_inline();
    wr(kFcr, 0x01);
    wr(kIer, 0x0f);
    wr(kMcr, 0x10 | 0x02);                     // loopback: DCD and DSR fall -> modem status deltas
    wr(kTx, 'a');                              // RX data (loopback) and THRE
    for (int i = 0; i < 16; i++) wr(kTx, 'b'); // overflow: line status
    EXPECT_EQ(rd(kIir), 0xc6);
    rd(kLsr);
    EXPECT_EQ(rd(kIir), 0xc4);
    while (rd(kLsr) & 0x01) rd(kRx);
    EXPECT_EQ(rd(kIir), 0xc2); // THRE
    EXPECT_EQ(rd(kIir), 0xc0); // modem status (ID 0, bit 0 clear)
    EXPECT_TRUE(irq.level());
    rd(kMsr);
    EXPECT_EQ(rd(kIir), 0xc1);
    EXPECT_FALSE(irq.level());
}

TEST_F(Fixture, ResetReturnsToPowerOn) {
    attach_inline();
    wr(kLcr, 0x83);
    wr(kDll, 1);
    wr(kLcr, 0x03);
    wr(kFcr, 0xc1);
    wr(kIer, 0x0f);
    wr(kMcr, 0x1f);
    wr(kScr, 7);
    uart.receive(chardev::test::bytes("abc"));
    EXPECT_TRUE(irq.level());
    uart.reset();
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(rd(kIer), 0);
    EXPECT_EQ(rd(kIir), 0x01);
    EXPECT_EQ(rd(kLcr), 0);
    EXPECT_EQ(rd(kMcr), 0x08);
    EXPECT_EQ(rd(kLsr), 0x60);
    EXPECT_EQ(rd(kMsr), 0xb0);
    EXPECT_EQ(rd(kScr), 0);
    wr(kLcr, 0x80);
    EXPECT_EQ(rd(kDll), 12);
    wr(kLcr, 0);
    wr(kTx, 'r');
    EXPECT_EQ(chr.out, "r"); // still attached
}

TEST_F(Fixture, PostedWorkAfterDestructionIsHarmless) {
    std::deque<std::function<void()>> later;
    {
        IrqLine line;
        Serial16550 dev(line);
        ASSERT_TRUE(
            dev.attach(&chr, [&](std::function<void()> fn) { later.push_back(std::move(fn)); }));
        dev.write(kTx, 'z', 1);
    }
    ASSERT_EQ(later.size(), 1u);
    later.front()();
    EXPECT_TRUE(chr.out.empty());
    EXPECT_TRUE(chr.check_can_remove()); // the destructor detached
}

// vCPU threads writing THR while the main loop feeds input and runs posted work: every byte
// arrives, and the line ends at the level the registers report (no stale level).
TEST(Serial16550Threads, ConcurrentVcpusAndMainLoop) {
    FakeChardev chr;
    IrqLine line;
    Serial16550 dev(line);
    std::mutex posted_lock;
    std::vector<std::function<void()>> posted;
    ASSERT_TRUE(dev.attach(&chr, [&](std::function<void()> fn) {
        std::lock_guard guard(posted_lock);
        posted.push_back(std::move(fn));
    }));
    auto run_posted = [&] {
        std::vector<std::function<void()>> now;
        {
            std::lock_guard guard(posted_lock);
            now.swap(posted);
        }
        for (auto& fn : now) fn();
    };
    dev.write(2, 0x01, 1); // FIFOs on
    dev.write(1, 0x0f, 1); // every interrupt enabled
    constexpr int kThreads = 3, kEach = 300;
    std::atomic<int> done{0};
    std::vector<std::thread> vcpus;
    for (int t = 0; t < kThreads; t++)
        vcpus.emplace_back([&dev, &done] {
            for (int i = 0; i < kEach; i++) {
                dev.write(0, 'a' + i % 26, 1);
                dev.read(2, 1);
                if (dev.read(5, 1) & 0x01) dev.read(0, 1);
            }
            done++;
        });
    while (done.load() < kThreads) {
        if (size_t room = dev.can_receive())
            dev.receive(
                chardev::test::bytes(std::string_view("xyz").substr(0, std::min<size_t>(room, 3))));
        run_posted();
    }
    for (auto& th : vcpus) th.join();
    run_posted();
    EXPECT_EQ(chr.out.size(), static_cast<size_t>(kThreads * kEach));
    bool level = line.level();
    uint8_t iir = static_cast<uint8_t>(dev.read(2, 1));
    EXPECT_EQ(level, (iir & 0x01) == 0);
    ASSERT_TRUE(dev.attach(nullptr));
}

// End to end through a real backend: chardev-ringbuf keeps what the guest wrote.
TEST(Serial16550Ringbuf, GuestOutputLandsInTheRing) {
    chardev::test::Env env;
    chardev::ChardevOptions o;
    o.backend = "ringbuf";
    auto chr = env.make("serial0", o).value();
    IrqLine line;
    Serial16550 dev(line);
    ASSERT_TRUE(dev.attach(chr.get()));
    for (char c : std::string("Linux version")) dev.write(0, static_cast<uint8_t>(c), 1);
    auto* ring = dynamic_cast<chardev::RingbufChardev*>(chr.get());
    ASSERT_NE(ring, nullptr);
    std::vector<uint8_t> got = ring->read(100);
    EXPECT_EQ(std::string(got.begin(), got.end()), "Linux version");
    ASSERT_TRUE(dev.attach(nullptr));
}

} // namespace
} // namespace nemu::hw
