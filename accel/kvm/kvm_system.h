#pragma once
// /dev/kvm: the KVM system fd, its API version and the capabilities nemu relies on, checked
// once up front so that a host without them fails with one clear message at start-up instead
// of a strange error deep in machine creation (the kernel's Documentation/virt/kvm/api.rst).
// Thread: created on the main thread; read-only afterwards.

#include <linux/kvm.h>

#include <memory>
#include <string>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::kvm {

// KVM_GET_API_VERSION has returned 12 since Linux 2.6.22; anything else is not the stable API.
inline constexpr int kKvmApiVersion = 12;

struct KvmCapability {
    int id;
    const char* name;
};
// The capabilities every nemu VM needs on x86-64 (KVM_CHECK_EXTENSION must return > 0).
const std::vector<KvmCapability>& required_capabilities();

class KvmSystem {
public:
    // Opens the device (QEMU's wording on failure: "failed to initialize kvm: <strerror>") and
    // checks the API version and every required capability, naming the first one missing.
    static Result<std::unique_ptr<KvmSystem>> open(const std::string& path = "/dev/kvm");

    int fd() const { return m_fd.get(); }
    int check_extension(int cap) const;
    size_t vcpu_mmap_size() const { return m_vcpu_mmap_size; }
    unsigned max_vcpus() const { return m_max_vcpus; }
    unsigned nr_memslots() const { return m_nr_memslots; }
    // KVM_GET_SUPPORTED_CPUID: what this host's KVM can give a guest.
    const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return m_supported_cpuid; }
    // KVM_GET_MSR_INDEX_LIST.
    const std::vector<uint32_t>& msr_index_list() const { return m_msrs; }

private:
    KvmSystem() = default;
    UniqueFd m_fd;
    size_t m_vcpu_mmap_size = 0;
    unsigned m_max_vcpus = 1, m_nr_memslots = 32;
    std::vector<kvm_cpuid_entry2> m_supported_cpuid;
    std::vector<uint32_t> m_msrs;
};

} // namespace nemu::kvm
