#pragma once
// vhost-net: the kernel's virtio-net datapath (Linux drivers/vhost/net.c, uapi
// <linux/vhost.h>; QEMU 7.2 hw/net/vhost_net.c and hw/virtio/vhost.c are the reference for
// the order of the ioctls and for the messages). One VhostNet serves one queue pair: its vring
// 0 is the receive queue, vring 1 the transmit queue (VHOST_NET_VQ_RX/TX), and its backend is
// the tap queue's fd. The kernel reads and writes the driver's rings in guest RAM through the
// memory table (guest-physical -> nemu's virtual addresses), takes the driver's doorbells from
// the kick eventfd and signals used buffers on the call eventfd.
//
// Thread: created on the main loop (-netdev / netdev_add); every ioctl on the main loop except
// set_vring_call, which also runs on the vCPU thread that masks or unmasks an MSI-X vector.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu::net {

// vhost-only feature bits (<linux/vhost_types.h>).
inline constexpr unsigned kVhostFLogAll = 26;
inline constexpr unsigned kVhostNetFVirtioNetHdr = 27;
// vring numbers inside one vhost-net device (drivers/vhost/net.c VHOST_NET_VQ_RX/TX).
inline constexpr unsigned kVhostNetRx = 0, kVhostNetTx = 1;

// The virtio feature bits whose offer depends on the kernel's support (QEMU 7.2
// hw/net/vhost_net.c kernel_feature_bits): NOTIFY_ON_EMPTY, INDIRECT_DESC, EVENT_IDX,
// MRG_RXBUF, VERSION_1, MTU, ACCESS_PLATFORM, RING_PACKED, RING_RESET, HASH_REPORT. The kernel
// has no packed rings, so RING_PACKED leaves the offer when vhost is on.
uint64_t vhost_kernel_feature_bits();
// What a NIC may offer with vhost: `offered` without the kernel-dependent bits the kernel
// lacks (QEMU vhost_get_features).
uint64_t vhost_mask_features(uint64_t offered, uint64_t kernel_features);
// What VHOST_SET_FEATURES gets once the driver negotiated `negotiated` (QEMU vhost_net_start /
// vhost_dev_set_features): the kernel-dependent bits it acked, plus VHOST_NET_F_VIRTIO_NET_HDR
// when the tap has no vnet header (the kernel then adds and strips the header itself).
uint64_t vhost_ack_features(uint64_t negotiated, bool backend_vnet_hdr);

// One guest RAM piece for VHOST_SET_MEM_TABLE (struct vhost_memory_region).
struct VhostMemRegion {
    uint64_t gpa = 0;
    uint64_t size = 0;
    uint64_t host = 0;   // nemu's virtual address of gpa
    bool operator==(const VhostMemRegion&) const = default;
};
// The table the kernel gets: sorted by gpa, empty pieces dropped, neighbours that are
// contiguous in both guest and host address merged (the kernel's default limit is 64 regions,
// vhost max_mem_regions).
std::vector<VhostMemRegion> build_mem_table(std::vector<VhostMemRegion> sections);

// One vring's setup: sizes and host addresses of the split ring's three areas (virtio 1.2,
// 2.7), where the device resumes (last_avail_idx), and the doorbell/interrupt eventfds.
struct VhostVring {
    unsigned index = 0;   // kVhostNetRx or kVhostNetTx
    uint16_t num = 0;
    uint64_t desc = 0, avail = 0, used = 0;
    uint16_t base = 0;
    int kick_fd = -1, call_fd = -1;
};

class VhostNet {
public:
    // Opens /dev/vhost-net. QEMU's message: "tap: open vhost char device failed: <strerror>".
    static Result<UniqueFd> open_device();
    // Takes a vhost-net fd (opened above or passed as vhostfd=): VHOST_SET_OWNER and
    // VHOST_GET_FEATURES (QEMU vhost_dev_init), and checks that the kernel has what the tap
    // needs ("vhost lacks feature mask ... for backend"). On failure the detail is printed
    // (QEMU's error_report) and the error is QEMU's "vhost-net requested but could not be
    // initialized".
    static Result<std::unique_ptr<VhostNet>> create(UniqueFd fd, bool backend_vnet_hdr);
    ~VhostNet();
    VhostNet(const VhostNet&) = delete;
    VhostNet& operator=(const VhostNet&) = delete;

    int fd() const { return m_fd.get(); }
    uint64_t kernel_features() const { return m_features; }
    bool backend_vnet_hdr() const { return m_backend_vnet_hdr; }

    Result<> set_features(uint64_t features);
    Result<> set_mem_table(std::span<const VhostMemRegion> regions);
    // VHOST_SET_VRING_NUM, _BASE, _ADDR, _KICK, _CALL in QEMU's vhost_virtqueue_start order.
    Result<> set_vring(const VhostVring& vring);
    Result<> set_vring_call(unsigned index, int fd);
    Result<> set_vring_kick(unsigned index, int fd);
    // VHOST_NET_SET_BACKEND: the tap queue's fd, or -1 to detach (the kernel stops the vring).
    Result<> set_backend(unsigned index, int tap_fd);
    // VHOST_GET_VRING_BASE: where the device stopped (last_avail_idx); stops the vring.
    Result<uint16_t> get_vring_base(unsigned index);

private:
    VhostNet(UniqueFd fd, uint64_t features, bool vnet_hdr)
        : m_fd(std::move(fd)), m_features(features), m_backend_vnet_hdr(vnet_hdr) {}
    UniqueFd m_fd;
    uint64_t m_features = 0;
    bool m_backend_vnet_hdr = true;
};

} // namespace nemu::net
