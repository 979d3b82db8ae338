#pragma once
// Connects a QtestSession to a byte stream (the -qtest chardev's socket) on the main loop.
// QEMU 7.2 does not exit when the qtest chardev closes (qtest_event() only logs CLOSED and
// libqtest ends QEMU with SIGTERM); we report the disconnect through on_disconnect and let
// the owner decide (the lead's system/ code).
// Thread: main loop only.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "accel/qtest/qtest_session.h"
#include "util/event_loop.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::qtest {

class QtestAccel {
public:
    // Output waiting for a slow reader beyond this stops further input until it drains.
    static constexpr size_t kOutputHighWater = 16 << 20;

    // fd: a connected stream socket (or pipe pair end); made non-blocking here.
    // on_disconnect is run from a deferred call after EOF or an error, never re-entrantly.
    static Result<std::unique_ptr<QtestAccel>> create(EventLoop& loop, UniqueFd fd,
                                                      QtestTarget& target,
                                                      std::function<void()> on_disconnect);
    ~QtestAccel();
    QtestAccel(const QtestAccel&) = delete;
    QtestAccel& operator=(const QtestAccel&) = delete;

    QtestSession& session() { return m_session; }
    bool connected() const { return m_fd.valid(); }

private:
    QtestAccel(EventLoop& loop, UniqueFd fd, QtestTarget& target,
               std::function<void()> on_disconnect);
    void on_events(uint32_t events);
    void queue(std::string_view bytes);
    void flush();
    void update_interest();
    void disconnect();

    EventLoop& m_loop;
    UniqueFd m_fd;
    std::function<void()> m_on_disconnect;
    std::string m_out;
    size_t m_out_pos = 0;
    uint32_t m_interest = 0;
    QtestSession m_session;
};

// Connects to a listening Unix socket, as QEMU's `-qtest unix:PATH` does by default
// (libqtest is the server). Returns a blocking connected fd.
Result<UniqueFd> connect_unix(std::string_view path);

} // namespace nemu::qtest
