// vhost-net ioctls (Linux uapi <linux/vhost.h>, drivers/vhost/{vhost,net}.c), in QEMU 7.2's
// order (hw/virtio/vhost.c vhost_dev_init/vhost_dev_start/vhost_virtqueue_start, hw/net/
// vhost_net.c vhost_net_start_one) and with its messages.
#include "net/vhost_net.h"

#include <fcntl.h>
// <linux/virtio_ring.h> (included by vhost.h) has legacy C helpers that are not valid C++.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace nemu::net {

namespace {

// Feature bit numbers (virtio 1.2, 5.1.3 and 6).
constexpr unsigned kNotifyOnEmpty = 24, kIndirectDesc = 28, kEventIdx = 29, kMrgRxbuf = 15, kVersion1 = 32,
                   kMtu = 3, kAccessPlatform = 33, kRingPacked = 34, kRingReset = 40, kHashReport = 57;

constexpr const char* kInitFailed = "vhost-net requested but could not be initialized";

Result<> vhost_ioctl(int fd, unsigned long request, const void* arg, const char* what) {
    while (::ioctl(fd, request, arg) != 0) {
        if (errno == EINTR) continue;
        return fail("{} failed: {}", what, std::strerror(errno));
    }
    return {};
}

} // namespace

uint64_t vhost_kernel_feature_bits() {
    uint64_t bits = 0;
    for (unsigned b : {kNotifyOnEmpty, kIndirectDesc, kEventIdx, kMrgRxbuf, kVersion1, kMtu, kAccessPlatform,
                       kRingPacked, kRingReset, kHashReport})
        bits |= 1ull << b;
    return bits;
}

uint64_t vhost_mask_features(uint64_t offered, uint64_t kernel_features) {
    return offered & ~(vhost_kernel_feature_bits() & ~kernel_features);
}

uint64_t vhost_ack_features(uint64_t negotiated, bool backend_vnet_hdr) {
    uint64_t f = negotiated & vhost_kernel_feature_bits();
    // nemu gives the kernel no IOMMU (QEMU clears it without a vIOMMU, vhost_dev_set_features).
    f &= ~(1ull << kAccessPlatform);
    if (!backend_vnet_hdr) f |= 1ull << kVhostNetFVirtioNetHdr;
    return f;
}

std::vector<VhostMemRegion> build_mem_table(std::vector<VhostMemRegion> sections) {
    std::sort(sections.begin(), sections.end(), [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
    std::vector<VhostMemRegion> out;
    for (const auto& s : sections) {
        if (s.size == 0) continue;
        if (!out.empty()) {
            VhostMemRegion& last = out.back();
            if (last.gpa + last.size == s.gpa && last.host + last.size == s.host) {
                last.size += s.size;
                continue;
            }
        }
        out.push_back(s);
    }
    return out;
}

Result<UniqueFd> VhostNet::open_device() {
    UniqueFd fd(::open("/dev/vhost-net", O_RDWR | O_CLOEXEC));
    if (!fd) return fail("tap: open vhost char device failed: {}", std::strerror(errno));
    return fd;
}

Result<std::unique_ptr<VhostNet>> VhostNet::create(UniqueFd fd, bool backend_vnet_hdr) {
    // QEMU prints the cause (error_report_err) and fails with VHOST_NET_INIT_FAILED.
    auto init_failed = [](const Error& why) {
        std::fprintf(stderr, "nemu-system-x86_64: %s\n", why.msg.c_str());
        return fail("{}", kInitFailed);
    };
    if (auto r = vhost_ioctl(fd.get(), VHOST_SET_OWNER, nullptr, "vhost_set_owner"); !r) return init_failed(r.error());
    uint64_t features = 0;
    if (auto r = vhost_ioctl(fd.get(), VHOST_GET_FEATURES, &features, "vhost_get_features"); !r)
        return init_failed(r.error());
    // vhost_net_init: the tap without a vnet header needs the kernel to add it.
    uint64_t need = backend_vnet_hdr ? 0 : 1ull << kVhostNetFVirtioNetHdr;
    if (~features & need) {
        std::fprintf(stderr, "vhost lacks feature mask 0x%llx for backend\n",
                     static_cast<unsigned long long>(~features & need));
        return fail("{}", kInitFailed);
    }
    // Without VERSION_1 the kernel cannot serve a modern-only device (nemu has no legacy virtio).
    if (!(features & (1ull << kVersion1))) {
        std::fprintf(stderr, "vhost lacks feature mask 0x%llx for backend\n", 1ull << kVersion1);
        return fail("{}", kInitFailed);
    }
    return std::unique_ptr<VhostNet>(new VhostNet(std::move(fd), features, backend_vnet_hdr));
}

VhostNet::~VhostNet() = default;

Result<> VhostNet::set_features(uint64_t features) {
    return vhost_ioctl(m_fd.get(), VHOST_SET_FEATURES, &features, "vhost_set_features");
}

Result<> VhostNet::set_mem_table(std::span<const VhostMemRegion> regions) {
    // struct vhost_memory ends in a flexible array: one buffer, header then regions.
    std::vector<uint8_t> buf(sizeof(vhost_memory) + regions.size() * sizeof(vhost_memory_region));
    auto* mem = reinterpret_cast<vhost_memory*>(buf.data());
    mem->nregions = static_cast<uint32_t>(regions.size());
    auto* out = reinterpret_cast<vhost_memory_region*>(buf.data() + sizeof(vhost_memory));
    for (size_t i = 0; i < regions.size(); ++i)
        out[i] = vhost_memory_region{regions[i].gpa, regions[i].size, regions[i].host, 0};
    return vhost_ioctl(m_fd.get(), VHOST_SET_MEM_TABLE, buf.data(), "vhost_set_mem_table");
}

Result<> VhostNet::set_vring(const VhostVring& v) {
    vhost_vring_state num{v.index, v.num};
    TRY(vhost_ioctl(m_fd.get(), VHOST_SET_VRING_NUM, &num, "vhost_set_vring_num"));
    vhost_vring_state base{v.index, v.base};
    TRY(vhost_ioctl(m_fd.get(), VHOST_SET_VRING_BASE, &base, "vhost_set_vring_base"));
    vhost_vring_addr addr{};
    addr.index = v.index;
    addr.desc_user_addr = v.desc;
    addr.avail_user_addr = v.avail;
    addr.used_user_addr = v.used;
    TRY(vhost_ioctl(m_fd.get(), VHOST_SET_VRING_ADDR, &addr, "vhost_set_vring_addr"));
    TRY(set_vring_kick(v.index, v.kick_fd));
    return set_vring_call(v.index, v.call_fd);
}

Result<> VhostNet::set_vring_call(unsigned index, int fd) {
    vhost_vring_file f{index, fd};
    return vhost_ioctl(m_fd.get(), VHOST_SET_VRING_CALL, &f, "vhost_set_vring_call");
}

Result<> VhostNet::set_vring_kick(unsigned index, int fd) {
    vhost_vring_file f{index, fd};
    return vhost_ioctl(m_fd.get(), VHOST_SET_VRING_KICK, &f, "vhost_set_vring_kick");
}

Result<> VhostNet::set_backend(unsigned index, int tap_fd) {
    vhost_vring_file f{index, tap_fd};
    return vhost_ioctl(m_fd.get(), VHOST_NET_SET_BACKEND, &f, "vhost_net_set_backend");
}

Result<uint16_t> VhostNet::get_vring_base(unsigned index) {
    vhost_vring_state s{index, 0};
    TRY(vhost_ioctl(m_fd.get(), VHOST_GET_VRING_BASE, &s, "vhost_get_vring_base"));
    return static_cast<uint16_t>(s.num);
}

} // namespace nemu::net
