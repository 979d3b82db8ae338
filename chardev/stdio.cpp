// chardev-stdio: fd 0 in, fd 1 out (QEMU chardev/char-stdio.c). The fds are reopened through
// /proc/self/fd so that O_NONBLOCK applies to our own open file description, not to the one
// shared with the shell; a TTY is put in raw mode and restored when the chardev goes away.

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>

#include <cerrno>
#include <optional>

#include "chardev/backends.h"
#include "chardev/chardev.h"
#include "chardev/fd_stream.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev {

namespace {

// Restores the terminal's settings (and a shared description's flags) on destruction.
class TtyModeGuard {
public:
    TtyModeGuard() = default;
    TtyModeGuard(const TtyModeGuard&) = delete;
    TtyModeGuard& operator=(const TtyModeGuard&) = delete;
    ~TtyModeGuard() {
        if (m_saved) ::tcsetattr(0, TCSANOW, &*m_saved);
    }
    // QEMU's qemu_chr_set_echo_stdio(chr, false): raw input, output post-processing kept so
    // "\n" still becomes "\r\n"; ISIG kept when signal=on so ^C still stops nemu.
    void make_raw(bool keep_signals) {
        termios t{};
        if (!::isatty(0) || ::tcgetattr(0, &t) < 0) return;
        m_saved = t;
        t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
        t.c_oflag |= OPOST;
        t.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
        if (!keep_signals) t.c_lflag &= ~ISIG;
        t.c_cflag &= ~(CSIZE | PARENB);
        t.c_cflag |= CS8;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        ::tcsetattr(0, TCSANOW, &t);
    }

private:
    std::optional<termios> m_saved;
};

// Our own non-blocking description of fd `n`; sockets cannot be reopened through /proc, so
// they get a dup() and non-blocking sends (FdStream uses MSG_DONTWAIT on sockets).
// A regular file must share the original description: a reopened one would start writing at
// offset 0 over what the shell already wrote there (O_NONBLOCK means nothing for files anyway).
UniqueFd reopen_std(int n, int mode) {
    struct stat st {};
    if (::fstat(n, &st) == 0 && S_ISREG(st.st_mode)) return UniqueFd(::fcntl(n, F_DUPFD_CLOEXEC, 3));
    UniqueFd fd(::open(fmt::format("/proc/self/fd/{}", n).c_str(), mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (fd) return fd;
    return UniqueFd(::fcntl(n, F_DUPFD_CLOEXEC, 3));
}

class StdioChardev final : public Chardev {
public:
    ~StdioChardev() override { m_stream.reset(); }

    Result<size_t> write(std::span<const uint8_t> data) override {
        if (!m_stream) return data.size();
        return m_stream->write(data);
    }
    std::string filename() const override { return "stdio"; }

protected:
    Result<> open_backend(const ChardevOptions& o) override {
        UniqueFd in = reopen_std(0, O_RDONLY);
        UniqueFd out = reopen_std(1, O_WRONLY);
        if (!out) return fail_errno("stdio", errno);
        m_tty.make_raw(o.signal);
        FdStream::Callbacks cb;
        cb.can_receive = [this] { return frontend_can_receive(); };
        cb.receive = [this](std::span<const uint8_t> d) { deliver(d); };
        cb.hangup = [this] { m_stream.reset(); };
        // End of stdin stops input only: output (the serial console) goes on.
        cb.input_eof = [] {};
        m_stream = TRY(FdStream::create(loop(), std::move(in), std::move(out), std::move(cb)));
        set_connected(true);
        return {};
    }
    void update_input() override {
        if (m_stream) m_stream->update_input();
    }

private:
    TtyModeGuard m_tty;
    std::unique_ptr<FdStream> m_stream;
};

} // namespace

void register_stdio_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-stdio";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<StdioChardev>(); };
    registry.add(std::move(t));
}

} // namespace nemu::chardev
