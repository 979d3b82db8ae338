#include "system/os_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace nemu {

Result<PidFile> PidFile::create(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("Cannot open pid file", errno);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (::fcntl(fd.get(), F_SETLK, &lock) < 0) return fail_errno("Cannot lock pid file", errno);
    PidFile pf;
    pf.m_path = path;
    pf.m_fd = std::move(fd);
    TRY(pf.rewrite());
    return pf;
}

Result<> PidFile::rewrite() {
    if (::ftruncate(m_fd.get(), 0) < 0) return fail_errno("Failed to truncate pid file", errno);
    std::string text = std::to_string(::getpid()) + "\n";
    if (::pwrite(m_fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        return fail_errno("Failed to write pid file", errno);
    return {};
}

PidFile::~PidFile() {
    // Only the owner removes it: a failed second instance never got here with an fd.
    if (m_fd) ::unlink(m_path.c_str());
}

Result<Daemonizer> Daemonizer::fork_and_wait() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return fail_errno("pipe", errno);
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork", errno);
    if (pid > 0) {
        wr.reset();
        char status = 1;
        ssize_t n;
        do n = ::read(rd.get(), &status, 1);
        while (n < 0 && errno == EINTR);
        // No byte means the child died during initialisation: it has printed why.
        if (n != 1) {
            int ws = 0;
            ::waitpid(pid, &ws, 0);
            std::_Exit(1);
        }
        std::_Exit(status == 0 ? 0 : 1);
    }
    rd.reset();
    ::setsid();
    // A second fork is not needed: the session leader never opens a terminal.
    Daemonizer d;
    d.m_pipe = std::move(wr);
    return d;
}

Result<> Daemonizer::ready() {
    if (!m_pipe) return {};
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) return fail_errno("open /dev/null", errno);
    ::dup2(null.get(), 0);
    ::dup2(null.get(), 1);
    ::dup2(null.get(), 2);
    ::umask(027);
    if (::chdir("/") < 0) return fail_errno("chdir /", errno);
    char ok = 0;
    if (::write(m_pipe.get(), &ok, 1) != 1) return fail_errno("write to daemonize pipe", errno);
    m_pipe.reset();
    return {};
}

Result<std::unique_ptr<TerminationSignals>> TerminationSignals::create(EventLoop& loop, Handler handler) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    // Blocked in every thread created afterwards too, so only the signalfd sees them.
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return fail("pthread_sigmask failed");
    UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) return fail_errno("signalfd", errno);
    auto self = std::unique_ptr<TerminationSignals>(new TerminationSignals(loop, std::move(fd)));
    int raw = self->m_fd.get();
    TRY(loop.add_fd(raw, EPOLLIN, [raw, handler = std::move(handler)](uint32_t) {
        signalfd_siginfo info;
        while (::read(raw, &info, sizeof info) == sizeof info)
            handler(static_cast<int>(info.ssi_signo), static_cast<pid_t>(info.ssi_pid));
    }));
    // SIGPIPE would kill us when a monitor client goes away mid-write.
    ::signal(SIGPIPE, SIG_IGN);
    return self;
}

TerminationSignals::~TerminationSignals() { m_loop.remove_fd(m_fd.get()); }

std::string process_name(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string argv0;
    if (!in || !std::getline(in, argv0, '\0') || argv0.empty()) return "<unknown process>";
    return argv0;
}

} // namespace nemu
