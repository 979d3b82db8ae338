#include "accel/kvm/vcpu_runner.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace nemu::kvm {

VcpuRunner::VcpuRunner(std::vector<KvmVcpu*> vcpus, const memory::AddressSpace& mem, const memory::AddressSpace& io,
                       VcpuEvents& events, std::function<std::string(KvmVcpu&)> dump)
    : m_vcpus(std::move(vcpus)), m_mem(mem), m_io(io), m_events(events), m_dump(std::move(dump)),
      m_parked(m_vcpus.size(), false), m_hold(m_vcpus.size(), false), m_tids(m_vcpus.size(), 0) {}

VcpuRunner::~VcpuRunner() {
    for (auto& t : m_threads) t.request_stop();
    {
        std::lock_guard g(m_lock);
        m_run = false;
    }
    m_release.notify_all();
    for (auto* v : m_vcpus) v->kick();
    m_threads.clear();   // joins
}

void VcpuRunner::start() {
    install_kick_signal();
    for (unsigned i = 0; i < m_vcpus.size(); ++i)
        m_threads.emplace_back([this, i](std::stop_token st) { thread_main(st, i); });
    std::unique_lock g(m_lock);
    m_parked_cv.wait(g, [&] {
        for (size_t i = 0; i < m_vcpus.size(); ++i)
            if (!m_parked[i]) return false;
        return true;
    });
}

void VcpuRunner::resume() {
    {
        std::lock_guard g(m_lock);
        m_run = true;
        std::fill(m_hold.begin(), m_hold.end(), false);
    }
    m_release.notify_all();
}

void VcpuRunner::pause() {
    std::unique_lock g(m_lock);
    m_run = false;
    for (auto* v : m_vcpus) v->kick();
    m_parked_cv.wait(g, [&] {
        for (size_t i = 0; i < m_vcpus.size(); ++i)
            if (!m_parked[i]) return false;
        return true;
    });
}

bool VcpuRunner::running() const {
    std::lock_guard g(m_lock);
    return m_run;
}

std::vector<pid_t> VcpuRunner::thread_ids() const {
    std::lock_guard g(m_lock);
    return m_tids;
}

bool VcpuRunner::wait_until_released(std::stop_token& st, unsigned i) {
    std::unique_lock g(m_lock);
    if (m_run && !m_hold[i]) return !st.stop_requested();
    m_parked[i] = true;
    m_parked_cv.notify_all();
    m_release.wait(g, st, [&] { return m_run && !m_hold[i]; });
    m_parked[i] = false;
    return !st.stop_requested();
}

void VcpuRunner::thread_main(std::stop_token st, unsigned i) {
    KvmVcpu& vcpu = *m_vcpus[i];
    vcpu.bind_to_current_thread();
    {
        std::lock_guard g(m_lock);
        m_tids[i] = static_cast<pid_t>(::syscall(SYS_gettid));
    }
    ::pthread_setname_np(::pthread_self(), fmt::format("CPU {}/KVM", i).c_str());
    auto hold = [&] {
        std::lock_guard g(m_lock);
        m_hold[i] = true;
    };
    for (;;) {
        // Clear a previous kick before looking at m_run: a pause() that comes after this
        // point sets immediate_exit again, so its kick cannot be lost.
        vcpu.clear_kick();
        if (!wait_until_released(st, i)) return;
        if (i == 0 && !m_first_entry_done) {
            m_first_entry_done = true;
            m_events.first_entry();
        }
        auto exit = vcpu.run();
        if (!exit) {
            hold();
            m_events.internal_error(i, exit.error().msg + "\n" + m_dump(vcpu));
            continue;
        }
        switch (accel::handle_exit(*exit, m_mem, m_io)) {
        case accel::ExitAction::Continue:
        case accel::ExitAction::Interrupted: break;
        case accel::ExitAction::Reset:
            hold();
            m_events.guest_reset(i);
            break;
        case accel::ExitAction::Poweroff:
            hold();
            m_events.guest_poweroff(i);
            break;
        case accel::ExitAction::Halt:
            hold();
            break;
        case accel::ExitAction::InternalError:
            hold();
            m_events.internal_error(i, accel::describe_exit(*exit) + "\n" + m_dump(vcpu));
            break;
        }
    }
}

} // namespace nemu::kvm
