#pragma once
// One connected byte stream on the event loop: an input fd and an output fd (the same fd for
// a socket or a pty master, fds 0 and 1 for stdio). Reads only what the owner says it can
// take; writes never block: the remainder is buffered and flushed on EPOLLOUT, and a buffer
// past kMaxOutputBuffer drops the stream (chardev.h).
//
// The owner learns of the end of the stream through `hangup`, always called last in a
// handler or from a deferred call, so the owner may destroy the stream inside it.
// Thread: main loop only.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu {
class EventLoop;
}

namespace nemu::chardev {

class FdStream {
public:
    struct Callbacks {
        std::function<size_t()> can_receive;
        std::function<void(std::span<const uint8_t>)> receive;
        std::function<void()> hangup;
        // When set, the end of input (stdin at EOF) only stops reading; output goes on.
        std::function<void()> input_eof;
    };

    // `out` invalid: output goes to `in` (sockets, pty). `in` invalid: write-only stream.
    static Result<std::unique_ptr<FdStream>> create(EventLoop& loop, UniqueFd in, UniqueFd out,
                                                    Callbacks callbacks);
    ~FdStream();
    FdStream(const FdStream&) = delete;
    FdStream& operator=(const FdStream&) = delete;

    // Takes all of `data` (sent or buffered) or fails: the peer is gone (EPIPE...) or the
    // output buffer would pass kMaxOutputBuffer. Either failure schedules hangup.
    Result<size_t> write(std::span<const uint8_t> data);
    // Re-evaluate read interest after the owner's can_receive() may have changed.
    void update_input();
    size_t pending_output() const { return m_out_buf.size() - m_out_head; }
    int in_fd() const { return m_in.get(); }
    // Unix sockets: accept file descriptors sent with SCM_RIGHTS alongside the bytes
    // (QMP getfd). Only the most recent one is kept, as QEMU does; older ones are closed.
    void enable_fd_passing() { m_fd_passing = true; }
    UniqueFd take_received_fd() { return std::move(m_received_fd); }
    int out_fd() const { return m_out ? m_out.get() : m_in.get(); }

private:
    FdStream(EventLoop& loop, UniqueFd in, UniqueFd out, Callbacks callbacks);
    Result<> start();
    void on_in_events(uint32_t events);
    void on_out_events(uint32_t events);
    // Push buffered output; false when the peer is gone.
    bool flush();
    void update_watches();
    void fail_later();
    ssize_t read_input(uint8_t* buf, size_t len);
    void input_ended();
    void call_hangup();

    EventLoop& m_loop;
    UniqueFd m_in;
    UniqueFd m_out;  // invalid when sharing m_in
    bool m_fd_passing = false;
    UniqueFd m_received_fd;
    Callbacks m_cb;
    std::vector<uint8_t> m_out_buf;  // unsent output from m_out_head on
    size_t m_out_head = 0;
    bool m_in_watched = false;       // m_in registered with the loop
    bool m_out_watched = false;      // separate m_out registered with the loop
    bool m_out_pollable = true;      // regular files cannot be polled: write them directly
    uint32_t m_in_mask = 0;          // current epoll mask of m_in
    bool m_eof = false;              // input ended (stdio) or failed
    bool m_failed = false;           // hangup already scheduled
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace nemu::chardev
