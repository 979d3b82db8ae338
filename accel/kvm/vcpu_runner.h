#pragma once
// One thread per vCPU running KVM_RUN, parked and released together by the main thread
// (QEMU's pause_all_vcpus/resume_all_vcpus, without a big lock: each thread only touches its
// own vCPU and the lock-free address spaces).
// Thread: start/pause/resume/destruction on the main thread; the callbacks in VcpuEvents run
// on vCPU threads and must only post work to the main loop.

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "accel/kvm/kvm_vcpu.h"

namespace nemu::memory {
class AddressSpace;
}

namespace nemu::kvm {

struct VcpuEvents {
    virtual ~VcpuEvents() = default;
    virtual void first_entry() = 0;                  // the first KVM_RUN of the boot vCPU
    virtual void guest_poweroff(unsigned cpu) = 0;   // a shutdown system event
    virtual void guest_reset(unsigned cpu) = 0;      // triple fault / reset event
    virtual void internal_error(unsigned cpu, const std::string& report) = 0;
};

class VcpuRunner {
public:
    VcpuRunner(std::vector<KvmVcpu*> vcpus, const memory::AddressSpace& mem, const memory::AddressSpace& io,
               VcpuEvents& events, std::function<std::string(KvmVcpu&)> dump_registers);
    ~VcpuRunner();
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;

    // Starts the threads parked; returns once each has recorded its thread id.
    void start();
    // Releases every vCPU (clearing any vCPU that parked itself after a reset/poweroff/error).
    void resume();
    // Kicks every vCPU out of KVM_RUN and returns when all are parked.
    void pause();
    bool running() const;
    // Linux thread ids, by vCPU index (query-cpus-fast "thread-id").
    std::vector<pid_t> thread_ids() const;

private:
    void thread_main(std::stop_token st, unsigned index);
    bool wait_until_released(std::stop_token& st, unsigned index);

    std::vector<KvmVcpu*> m_vcpus;
    const memory::AddressSpace& m_mem;
    const memory::AddressSpace& m_io;
    VcpuEvents& m_events;
    std::function<std::string(KvmVcpu&)> m_dump;

    mutable std::mutex m_lock;
    std::condition_variable_any m_release;
    std::condition_variable m_parked_cv;
    bool m_run = false;
    std::vector<bool> m_parked;   // the thread is waiting in wait_until_released
    std::vector<bool> m_hold;     // the thread parked itself until the next resume()
    std::vector<pid_t> m_tids;
    bool m_first_entry_done = false;
    std::vector<std::jthread> m_threads;
};

} // namespace nemu::kvm
