#include "accel/kvm/kvm_vcpu.h"

#include "accel/kvm/kvm_ioctls.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nemu::kvm {

namespace {
void kick_handler(int) {}
}

void install_kick_signal() {
    struct sigaction sa {};
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;   // no SA_RESTART: KVM_RUN must return EINTR
    ::sigaction(kKickSignal, &sa, nullptr);
}

accel::VcpuExit decode_exit(kvm_run& run) {
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        auto* base = reinterpret_cast<uint8_t*>(&run);
        return accel::PioExit{run.io.port, run.io.size, run.io.direction == KVM_EXIT_IO_OUT, run.io.count,
                              base + run.io.data_offset};
    }
    case KVM_EXIT_MMIO:
        return accel::MmioExit{run.mmio.phys_addr, run.mmio.len, run.mmio.is_write != 0, run.mmio.data};
    case KVM_EXIT_SHUTDOWN: return accel::ShutdownExit{};
    case KVM_EXIT_HLT: return accel::HaltExit{};
    case KVM_EXIT_INTR: return accel::InterruptedExit{};
    case KVM_EXIT_SYSTEM_EVENT: {
        using K = accel::SystemEventExit::Kind;
        switch (run.system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN: return accel::SystemEventExit{K::Shutdown};
        case KVM_SYSTEM_EVENT_RESET: return accel::SystemEventExit{K::Reset};
        case KVM_SYSTEM_EVENT_CRASH: return accel::SystemEventExit{K::Crash};
        default: return accel::SystemEventExit{K::Other};
        }
    }
    case KVM_EXIT_INTERNAL_ERROR: {
        accel::InternalErrorExit e{run.internal.suberror, {}};
        uint32_t n = std::min<uint32_t>(run.internal.ndata, 16);
        e.data.assign(run.internal.data, run.internal.data + n);
        return e;
    }
    case KVM_EXIT_FAIL_ENTRY: return accel::FailEntryExit{run.fail_entry.hardware_entry_failure_reason};
    default: return accel::UnknownExit{run.exit_reason};
    }
}

Result<std::unique_ptr<KvmVcpu>> KvmVcpu::create(KvmVm& vm, unsigned id) {
    std::unique_ptr<KvmVcpu> vcpu(new KvmVcpu(id));
    int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (fd < 0) return fail_errno(fmt::format("kvm_init_vcpu: kvm_get_vcpu failed ({})", id), errno);
    vcpu->m_fd = UniqueFd(fd);
    vcpu->m_run_size = vm.system().vcpu_mmap_size();
    void* p = ::mmap(nullptr, vcpu->m_run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return fail_errno("mmap of the vCPU run structure failed", errno);
    vcpu->m_run = p;
    return vcpu;
}

KvmVcpu::~KvmVcpu() {
    if (m_run) ::munmap(m_run, m_run_size);
}

void KvmVcpu::bind_to_current_thread() {
    m_thread = ::pthread_self();
    m_bound.store(true, std::memory_order_release);
}

Result<accel::VcpuExit> KvmVcpu::run() {
    if (::ioctl(m_fd.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) return accel::VcpuExit{accel::InterruptedExit{}};
        return fail_errno("KVM_RUN failed", errno);
    }
    return decode_exit(run_struct());
}

void KvmVcpu::kick() {
    // immediate_exit makes a KVM_RUN that has not started yet return at once; the signal
    // interrupts one that is already running.
    __atomic_store_n(&run_struct().immediate_exit, 1, __ATOMIC_RELEASE);
    if (m_bound.load(std::memory_order_acquire)) ::pthread_kill(m_thread, kKickSignal);
}

void KvmVcpu::clear_kick() { __atomic_store_n(&run_struct().immediate_exit, 0, __ATOMIC_RELEASE); }

Result<> KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    KvmArray<CpuidHeader, kvm_cpuid_entry2> c(entries.size());
    c.header().nent = static_cast<uint32_t>(entries.size());
    std::memcpy(c.entries(), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    if (::ioctl(m_fd.get(), kSetCpuid2, c.data()) < 0) return fail_errno("KVM_SET_CPUID2 failed", errno);
    return {};
}

Result<> KvmVcpu::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs, std::vector<uint32_t>* refused) {
    std::vector<std::pair<uint32_t, uint64_t>> todo = msrs;
    while (!todo.empty()) {
        KvmArray<MsrsHeader, kvm_msr_entry> m(todo.size());
        m.header().nmsrs = static_cast<uint32_t>(todo.size());
        for (size_t i = 0; i < todo.size(); ++i) {
            m.entries()[i] = kvm_msr_entry{};
            m.entries()[i].index = todo[i].first;
            m.entries()[i].data = todo[i].second;
        }
        int n = ::ioctl(m_fd.get(), kSetMsrs, m.data());
        if (n < 0) return fail_errno("KVM_SET_MSRS failed", errno);
        if (static_cast<size_t>(n) == todo.size()) break;
        // Entry n was refused: record it and carry on with the rest.
        if (refused) refused->push_back(todo[static_cast<size_t>(n)].first);
        todo.erase(todo.begin(), todo.begin() + n + 1);
    }
    return {};
}

Result<std::vector<std::pair<uint32_t, uint64_t>>> KvmVcpu::get_msrs(const std::vector<uint32_t>& indices) {
    std::vector<std::pair<uint32_t, uint64_t>> out;
    for (uint32_t index : indices) {
        KvmArray<MsrsHeader, kvm_msr_entry> m(1);
        m.header().nmsrs = 1;
        m.entries()[0] = kvm_msr_entry{};
        m.entries()[0].index = index;
        if (::ioctl(m_fd.get(), kGetMsrs, m.data()) == 1) out.emplace_back(index, m.entries()[0].data);
    }
    return out;
}

} // namespace nemu::kvm
