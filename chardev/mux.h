#pragma once
// chardev-mux: several frontends (serial console and monitor, "-serial mon:stdio") share one
// backend. Input goes to the focused frontend; output from all of them goes to the backend.
// The escape character C-a switches focus (C-a c), prints help (C-a h), quits (C-a x) and
// sends itself (C-a C-a), as QEMU's chardev/char-mux.c. The newest frontend takes the focus.
// Thread: main loop only.

#include <functional>
#include <memory>
#include <vector>

#include "chardev/chardev.h"

namespace nemu::chardev {

// QEMU's MAX_MUX.
inline constexpr size_t kMaxMuxFrontends = 4;
// Input held for a frontend that cannot take it yet (QEMU's MUX_BUFFER_SIZE).
inline constexpr size_t kMuxBufferSize = 32;

class MuxChardev final : public Chardev {
public:
    ~MuxChardev() override;

    // Before open(): the backend the mux owns.
    void set_base(std::unique_ptr<Chardev> base);
    Chardev* base() const { return m_base.get(); }
    // C-a x: QEMU exits ("QEMU: Terminated"); the owner decides what to do.
    void set_quit_handler(std::function<void()> fn) { m_quit = std::move(fn); }

    Result<size_t> write(std::span<const uint8_t> data) override;
    std::string filename() const override { return "mux"; }
    Result<> attach(CharFrontend& frontend) override;
    void detach(CharFrontend& frontend) override;
    bool frontend_open() const override { return !m_frontends.empty(); }
    Result<> check_can_remove() const override;

    size_t focus() const { return m_focus; }
    void set_focus(size_t index);
    size_t frontend_count() const { return m_frontends.size(); }

protected:
    Result<> open_backend(const ChardevOptions& options) override;
    void update_input() override;

private:
    struct Link final : CharFrontend {
        explicit Link(MuxChardev& m) : mux(m) {}
        size_t can_receive() override { return mux.base_can_receive(); }
        void receive(std::span<const uint8_t> d) override { mux.base_receive(d); }
        void on_event(ChardevEvent ev) override { mux.base_event(ev); }
        MuxChardev& mux;
    };
    struct Slot {
        CharFrontend* fe;
        std::vector<uint8_t> pending;
    };

    size_t base_can_receive();
    void base_receive(std::span<const uint8_t> data);
    void base_event(ChardevEvent ev);
    void process_byte(uint8_t byte);
    void flush_pending();

    Link m_link{*this};
    std::vector<Slot> m_frontends;
    size_t m_focus = 0;
    bool m_got_escape = false;
    std::function<void()> m_quit;
    std::unique_ptr<Chardev> m_base;
};

} // namespace nemu::chardev
