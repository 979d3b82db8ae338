#pragma once
// ioctl numbers for the KVM structures that end in a flexible array. The kernel's _IOWR()
// encodes sizeof(struct) as C computes it (kvm_cpuid2: 8 bytes); g++ gives such structs a
// different size in C++ (12 for kvm_cpuid2), and puts the array at a different offset (12
// instead of 8; kvm_msrs: 16 instead of 8), so <linux/kvm.h>'s macros produce numbers the kernel
// rejects with EINVAL, and its structs misplace the entries. These use fixed-size headers with
// the C layout instead, and the entries follow the header directly.

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <vector>

namespace nemu::kvm {

struct CpuidHeader {      // struct kvm_cpuid2 without entries[]
    uint32_t nent, padding;
};
struct MsrListHeader {    // struct kvm_msr_list without indices[]
    uint32_t nmsrs;
};
struct MsrsHeader {       // struct kvm_msrs without entries[]
    uint32_t nmsrs, pad;
};
struct IrqRoutingHeader { // struct kvm_irq_routing without entries[]
    uint32_t nr, flags;
};
// A header followed by n entries, laid out as the kernel expects.
template <class Header, class Entry> class KvmArray {
public:
    explicit KvmArray(size_t n) : m_buf(sizeof(Header) + n * sizeof(Entry)) {}
    Header& header() { return *reinterpret_cast<Header*>(m_buf.data()); }
    Entry* entries() { return reinterpret_cast<Entry*>(m_buf.data() + sizeof(Header)); }
    void* data() { return m_buf.data(); }

private:
    std::vector<uint8_t> m_buf;
};

static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrListHeader) == 4 && sizeof(MsrsHeader) == 8);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, IrqRoutingHeader);

} // namespace nemu::kvm
