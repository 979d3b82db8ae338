#include "accel/kvm/kvm_system.h"
#include "accel/kvm/x86/x86_cpuid.h"

#include "accel/kvm/kvm_ioctls.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace nemu::kvm {

const std::vector<KvmCapability>& required_capabilities() {
    static const std::vector<KvmCapability> caps = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
        {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
        {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
        {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
        {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
        {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_GET_MSR_FEATURES, "KVM_CAP_GET_MSR_FEATURES"},
    };
    return caps;
}

int KvmSystem::check_extension(int cap) const {
    int r = ::ioctl(m_fd.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

Result<std::unique_ptr<KvmSystem>> KvmSystem::open(const std::string& path) {
    std::unique_ptr<KvmSystem> sys(new KvmSystem());
    sys->m_fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!sys->m_fd) return fail("failed to initialize kvm: {}", std::strerror(errno));
    int version = ::ioctl(sys->fd(), KVM_GET_API_VERSION, 0);
    if (version != kKvmApiVersion)
        return fail("kvm version {} is not supported (nemu needs KVM API version {})", version, kKvmApiVersion);
    for (const auto& cap : required_capabilities())
        if (sys->check_extension(cap.id) <= 0)
            return fail("kvm does not support {}, which nemu requires", cap.name);

    int mmap_size = ::ioctl(sys->fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size <= 0) return fail_errno("KVM_GET_VCPU_MMAP_SIZE failed", errno);
    sys->m_vcpu_mmap_size = static_cast<size_t>(mmap_size);
    int max = sys->check_extension(KVM_CAP_MAX_VCPUS);
    if (max <= 0) max = sys->check_extension(KVM_CAP_NR_VCPUS);
    sys->m_max_vcpus = max > 0 ? static_cast<unsigned>(max) : 4;
    int slots = sys->check_extension(KVM_CAP_NR_MEMSLOTS);
    if (slots > 0) sys->m_nr_memslots = static_cast<unsigned>(slots);

    // KVM_GET_SUPPORTED_CPUID fails with E2BIG while the buffer is too small: grow it.
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        KvmArray<CpuidHeader, kvm_cpuid_entry2> cpuid(n);
        cpuid.header().nent = n;
        if (::ioctl(sys->fd(), kGetSupportedCpuid, cpuid.data()) == 0) {
            sys->m_supported_cpuid.assign(cpuid.entries(), cpuid.entries() + cpuid.header().nent);
            break;
        }
        if (errno != E2BIG) return fail_errno("KVM_GET_SUPPORTED_CPUID failed", errno);
    }
    if (sys->m_supported_cpuid.empty()) return fail("KVM_GET_SUPPORTED_CPUID returned no entries");
    x86::add_kvm_emulated_features(sys->m_supported_cpuid, sys->check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0);

    for (uint32_t n = 256; n <= 16384; n *= 2) {
        KvmArray<MsrListHeader, uint32_t> list(n);
        list.header().nmsrs = n;
        if (::ioctl(sys->fd(), kGetMsrIndexList, list.data()) == 0) {
            sys->m_msrs.assign(list.entries(), list.entries() + list.header().nmsrs);
            break;
        }
        if (errno != E2BIG) return fail_errno("KVM_GET_MSR_INDEX_LIST failed", errno);
    }
    return sys;
}

} // namespace nemu::kvm
