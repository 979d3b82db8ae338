#pragma once
// One KVM vCPU: its fd, the shared kvm_run page, KVM_RUN, and a kick that works from any thread
// (immediate_exit + a signal: api.rst 4.8 KVM_RUN and KVM_CAP_IMMEDIATE_EXIT).
// Thread: run() and the state ioctls on the vCPU's own thread (or on the main thread while the
// vCPU is parked); kick() from any thread.

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <cerrno>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "accel/kvm/kvm_vm.h"
#include "accel/vcpu_exit.h"
#include "hw/memory/mapping.h"

namespace nemu::kvm {

// The signal that kicks a vCPU thread out of KVM_RUN (QEMU's SIG_IPI). Its handler does nothing;
// the point is the EINTR. Installed once per process by install_kick_signal().
inline constexpr int kKickSignal = SIGUSR1;
void install_kick_signal();

// Pure decoding of the run structure after KVM_RUN returned 0.
accel::VcpuExit decode_exit(kvm_run& run);

class KvmVcpu {
public:
    static Result<std::unique_ptr<KvmVcpu>> create(KvmVm& vm, unsigned id);
    ~KvmVcpu();

    unsigned id() const { return m_id; }
    int fd() const { return m_fd.get(); }
    kvm_run& run_struct() { return *reinterpret_cast<kvm_run*>(m_run); }

    // Call on the thread that will run the vCPU, before the first kick can matter.
    void bind_to_current_thread();
    // KVM_RUN once. EINTR (a kick) is InterruptedExit, not an error.
    Result<accel::VcpuExit> run();
    // Make a running or about-to-run KVM_RUN return promptly.
    void kick();
    // Cleared by the vCPU thread before it re-enters KVM_RUN after handling a kick.
    void clear_kick();

    template <class T> Result<> get(unsigned long req, T& out, const char* what) {
        if (::ioctl(m_fd.get(), req, &out) < 0) return fail_errno(what, errno);
        return {};
    }
    template <class T> Result<> set(unsigned long req, const T& in, const char* what) {
        if (::ioctl(m_fd.get(), req, &in) < 0) return fail_errno(what, errno);
        return {};
    }
    Result<> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    // KVM_SET_MSRS for every (index, value) KVM accepts: an MSR the host's KVM refuses is
    // dropped and reported in `refused` (some hosts lack e.g. MTRRs), never fatal.
    Result<> set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs, std::vector<uint32_t>* refused = nullptr);
    Result<std::vector<std::pair<uint32_t, uint64_t>>> get_msrs(const std::vector<uint32_t>& indices);

private:
    KvmVcpu(unsigned id) : m_id(id) {}
    unsigned m_id;
    UniqueFd m_fd;
    void* m_run = nullptr;
    size_t m_run_size = 0;
    std::atomic<bool> m_bound{false};
    pthread_t m_thread{};
};

} // namespace nemu::kvm
