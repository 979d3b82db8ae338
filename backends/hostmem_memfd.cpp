// memory-backend-memfd: anonymous memory with a descriptor (memfd_create(2)), shareable with
// vhost-user back ends; optionally on huge pages and sealed against resizing
// (QEMU 7.2 backends/hostmem-memfd.c, util/memfd.c qemu_memfd_create).
#include "backends/host_memory_backend.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nemu::backends {

namespace {

// <linux/memfd.h> / <linux/fcntl.h>, spelled out so that old headers do not matter.
constexpr unsigned kMfdCloexec = 0x1, kMfdAllowSealing = 0x2, kMfdHugetlb = 0x4, kMfdHugeShift = 26;
constexpr int kFSealSeal = 0x1, kFSealShrink = 0x2, kFSealGrow = 0x4;
constexpr int kFAddSeals = 1024 + 9;

class MemfdBackend : public HostMemoryBackend {
public:
    MemfdBackend() { m_share = true; }  // memfd memory is there to be shared

    bool m_hugetlb = false, m_seal = true;
    uint64_t m_hugetlbsize = 0;

protected:
    Result<Allocation> allocate() override {
        UniqueFd fd = TRY(create_memfd());
        FdRamOptions o;
        o.shared = m_share;
        o.noreserve = !m_reserve;
        return allocate_from_fd(std::move(fd), m_size, o);
    }

private:
    Result<UniqueFd> create_memfd() const {
        // The huge page size is encoded as log2 in the flags; a size that is not a power of
        // two is refused even without hugetlb=on, as QEMU does.
        unsigned shift = m_hugetlbsize ? static_cast<unsigned>(__builtin_ctzll(m_hugetlbsize)) : 0;
        if (shift && (1ULL << shift) != m_hugetlbsize) return fail("Hugepage size must be a power of 2");
        int seals = m_seal ? kFSealGrow | kFSealShrink | kFSealSeal : 0;
        unsigned flags = kMfdCloexec;
        if (m_hugetlb) flags |= kMfdHugetlb | (shift << kMfdHugeShift);
        if (seals) flags |= kMfdAllowSealing;
        UniqueFd fd(::memfd_create("memory-backend-memfd", flags));
        if (!fd) return fail("failed to create memfd with flags 0x{:x}: {}", flags, std::strerror(errno));
        if (::ftruncate(fd.get(), static_cast<off_t>(m_size)) != 0)
            return fail("failed to resize memfd to {}: {}", m_size, std::strerror(errno));
        if (seals && ::fcntl(fd.get(), kFAddSeals, seals) != 0)
            return fail("failed to add seals 0x{:x}: {}", seals, std::strerror(errno));
        return fd;
    }
};

std::vector<qom::PropertyDef> memfd_properties() {
    using qom::prop;
    using M = MemfdBackend;
    // hugetlb and seal may be set at any time in QEMU 7.2 (they only matter at creation).
    qom::PropertyDef hugetlb = prop("hugetlb", &M::m_hugetlb, std::optional<bool>(false), "Use huge pages");
    hugetlb.set_before_realize_only = false;
    qom::PropertyDef seal = prop("seal", &M::m_seal, std::optional<bool>(true), "Seal growing & shrinking");
    seal.set_before_realize_only = false;
    qom::PropertyDef size = prop("hugetlbsize", &M::m_hugetlbsize, std::optional<uint64_t>(0),
                                 "Huge pages size (ex: 2M, 1G)", "int");
    size.text_type = "size";
    size.set = [inner = size.set](qom::Object& o, const Json& v) -> Result<> {
        if (v.is_number_integer() && v.get<int64_t>() == 0)
            return fail("Property '{}.hugetlbsize' doesn't take value '0'", o.type_name());
        return inner(o, v);
    };
    return {hugetlb, seal, frozen_when_mapped(std::move(size), "cannot change property value")};
}

} // namespace

void register_memfd_backend(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "memory-backend-memfd", .parent = "memory-backend",
                               .properties = memfd_properties(),
                               .create = [] { return std::make_unique<MemfdBackend>(); }});
}

} // namespace nemu::backends
