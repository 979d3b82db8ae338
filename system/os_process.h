#pragma once
// Process-level services main() needs, each RAII: the pid file, -daemonize's fork handshake,
// and termination signals delivered to the main loop through a signalfd.

#include <sys/types.h>

#include <functional>
#include <string>

#include "util/event_loop.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu {

// -pidfile: created, locked (so a second instance with the same file fails) and holding our
// pid; removed when the process exits normally (QEMU 7.2 qemu_write_pidfile/unlink).
class PidFile {
public:
    static Result<PidFile> create(const std::string& path);
    PidFile() = default;
    PidFile(PidFile&&) = default;
    PidFile& operator=(PidFile&&) = default;
    ~PidFile();
    // After -daemonize forked: rewrite our (new) pid.
    Result<> rewrite();

private:
    std::string m_path;
    UniqueFd m_fd;
};

// -daemonize: fork before initialisation, but let the parent exit only when the child says it
// is ready (monitor listening, pid file written) or has failed, so errors reach the caller
// and the exit status is meaningful (QEMU os-posix.c os_daemonize/os_setup_post).
class Daemonizer {
public:
    // In the parent this never returns: it exits with 0 once the child is ready, 1 otherwise.
    static Result<Daemonizer> fork_and_wait();
    Daemonizer() = default;
    Daemonizer(Daemonizer&&) = default;
    Daemonizer& operator=(Daemonizer&&) = default;
    // Child: detach stdio (to /dev/null) and release the parent with status 0.
    Result<> ready();

private:
    UniqueFd m_pipe;
};

// SIGTERM, SIGINT and SIGHUP arrive as main-loop callbacks with the sender's pid.
class TerminationSignals {
public:
    using Handler = std::function<void(int signo, pid_t sender)>;
    static Result<std::unique_ptr<TerminationSignals>> create(EventLoop& loop, Handler handler);
    ~TerminationSignals();

private:
    TerminationSignals(EventLoop& loop, UniqueFd fd) : m_loop(loop), m_fd(std::move(fd)) {}
    EventLoop& m_loop;
    UniqueFd m_fd;
};

// The "(name)" QEMU prints after a signal's sender pid: its /proc/PID/cmdline argv[0].
std::string process_name(pid_t pid);

} // namespace nemu
