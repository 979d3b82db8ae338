#pragma once
// The virtio block device ("virtio-blk-device", wrapped as "virtio-blk-pci" by virtio_pci.h):
// virtio 1.2, 5.2. Requests from the driver's queues go to a BlockBackend (block/) with the
// guest's own buffers as iovecs (zero copy: they point into guest RAM through the virtqueue).
// Property names, defaults and error messages are QEMU 7.2's (hw/block/virtio-blk.c,
// `-device virtio-blk-pci,help`).
//
// Threads: properties, realize, activate and deactivate on the main loop. The queues, the
// requests and their completions live on the "home" loop: the iothread's (iothread=ID) or the
// main loop. activate()/deactivate() hand the kick fds to the home loop and wait for it, so
// after deactivate() returns the home loop no longer touches the queues. read_config() and
// write_config() come from vCPU threads: the only mutable config field (writeback) is atomic.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hw/virtio/virtio_device.h"

namespace nemu {
class EventLoop;
}
namespace nemu::block {
class BlockBackend;
}
namespace nemu::hw {
struct DeviceBackends;
}

namespace nemu::hw::virtio {

struct DescChain;
class Virtqueue;

// Feature bits (virtio 1.2, 5.2.3).
inline constexpr unsigned kBlkFSizeMax = 1;
inline constexpr unsigned kBlkFSegMax = 2;
inline constexpr unsigned kBlkFGeometry = 4;
inline constexpr unsigned kBlkFRo = 5;
inline constexpr unsigned kBlkFBlkSize = 6;
inline constexpr unsigned kBlkFFlush = 9;
inline constexpr unsigned kBlkFTopology = 10;
inline constexpr unsigned kBlkFConfigWce = 11;
inline constexpr unsigned kBlkFMq = 12;
inline constexpr unsigned kBlkFDiscard = 13;
inline constexpr unsigned kBlkFWriteZeroes = 14;

// Request types (5.2.6).
inline constexpr uint32_t kBlkTIn = 0;
inline constexpr uint32_t kBlkTOut = 1;
inline constexpr uint32_t kBlkTFlush = 4;
inline constexpr uint32_t kBlkTGetId = 8;
inline constexpr uint32_t kBlkTDiscard = 11;
inline constexpr uint32_t kBlkTWriteZeroes = 13;
// Status byte values (5.2.6).
inline constexpr uint8_t kBlkSOk = 0;
inline constexpr uint8_t kBlkSIoErr = 1;
inline constexpr uint8_t kBlkSUnsupp = 2;
// struct virtio_blk_discard_write_zeroes flags: VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP.
inline constexpr uint32_t kBlkWriteZeroesFlagUnmap = 1;

inline constexpr uint32_t kBlkSectorSize = 512;   // capacity and `sector` units (5.2.4, 5.2.6)
inline constexpr uint32_t kBlkIdBytes = 20;       // VIRTIO_BLK_ID_BYTES (GET_ID)
inline constexpr uint32_t kBlkReqHeaderBytes = 16;   // le32 type, le32 reserved, le64 sector
inline constexpr uint32_t kBlkDwzSegmentBytes = 16;  // le64 sector, le32 num_sectors, le32 flags
// QEMU's BDRV_REQUEST_MAX_SECTORS: the largest request (and discard/write-zeroes limit).
inline constexpr uint32_t kBlkMaxRequestSectors = 4194303;
inline constexpr uint16_t kBlkAutoNumQueues = 0xFFFF;   // num-queues unset (QEMU's "auto")
inline constexpr uint16_t kBlkMaxQueueSize = 1024;      // QEMU's VIRTQUEUE_MAX_SIZE
inline constexpr uint16_t kBlkMaxQueues = 1024;         // QEMU's VIRTIO_QUEUE_MAX

// Offsets in struct virtio_blk_config (5.2.4), little-endian.
namespace blk_config {
inline constexpr uint32_t kCapacity = 0, kSizeMax = 8, kSegMax = 12, kCylinders = 16, kHeads = 18,
                          kSectors = 19, kBlkSize = 20, kPhysicalBlockExp = 24, kAlignmentOffset = 25,
                          kMinIoSize = 26, kOptIoSize = 28, kWriteback = 32, kNumQueues = 34,
                          kMaxDiscardSectors = 36, kMaxDiscardSeg = 40, kDiscardSectorAlignment = 44,
                          kMaxWriteZeroesSectors = 48, kMaxWriteZeroesSeg = 52, kWriteZeroesMayUnmap = 56;
// QEMU 7.2's config sizes: the fields before discard, then up to the last field of each
// offered feature (hw/block/virtio-blk-common.c feature_sizes).
inline constexpr uint32_t kSizeBase = 36, kSizeDiscard = 48, kSizeWriteZeroes = 57;
} // namespace blk_config

class VirtioBlk final : public VirtioDevice {
public:
    VirtioBlk();
    ~VirtioBlk() override;

    // VirtioDevice
    uint16_t device_id() const override { return kDeviceIdBlock; }
    uint64_t device_features() const override;
    std::vector<uint16_t> queue_max_sizes() const override;
    uint32_t config_size() const override;
    void read_config(uint32_t offset, std::span<uint8_t> out) const override;
    void write_config(uint32_t offset, std::span<const uint8_t> in) override;
    Result<> activate(const VirtioActivation& activation) override;
    void deactivate() override;

    // realize() with the backends given explicitly (realize() asks the machine through
    // device_backends(); unit tests call this without a machine).
    Result<> realize_with(DeviceBackends& backends);

    // After realize: the backend, the loop requests run on, the disk size in 512-byte sectors.
    block::BlockBackend* backend() const { return m_backend.get(); }
    EventLoop* home_loop() const { return m_home; }
    uint64_t capacity_sectors() const { return m_capacity; }
    bool read_only() const { return m_read_only; }
    bool writeback() const { return m_wce.load(std::memory_order_relaxed); }

    // Properties (QEMU 7.2 names; see register_virtio_blk_type for types and defaults).
    std::string m_drive, m_iothread, m_serial;
    uint16_t m_num_queues = kBlkAutoNumQueues, m_queue_size = 256;
    uint64_t m_logical_block_size = 0, m_physical_block_size = 0;   // 0: 512
    uint64_t m_min_io_size = 0, m_opt_io_size = 0;
    uint64_t m_discard_granularity = 0xFFFFFFFF;                    // -1: the block size
    bool m_discard = true, m_write_zeroes = true, m_config_wce = true, m_seg_max_adjust = true;
    bool m_report_discard_granularity = true, m_request_merging = true, m_share_rw = false;
    bool m_x_enable_wce_if_config_wce = true;
    uint32_t m_max_discard_sectors = kBlkMaxRequestSectors, m_max_write_zeroes_sectors = kBlkMaxRequestSectors;
    std::string m_write_cache = "auto", m_werror = "auto", m_rerror = "auto";

protected:
    Result<> realize() override;

private:
    struct Queue;
    struct Request;
    friend struct Request;

    // Home loop (virtio_blk_request.cpp).
    void on_kick(Queue& q);
    void process_queue(Queue& q);
    // Parses and starts one chain; false when the driver broke the rules (broken() called).
    bool start_request(Queue& q, DescChain chain);
    void complete(Request& req, uint8_t status, bool notify);
    // A failed request under werror/rerror (QEMU virtio_blk_handle_rw_error): completed with
    // IOERR (report) or OK (ignore), or parked until the VM runs again (stop).
    void on_request_error(const std::shared_ptr<Request>& req, int err);
    // Main loop, on every VM resume (IoErrorHost::on_resume): io-status back to ok and the
    // parked requests started again on the home loop (QEMU qmp_cont + virtio_blk_dma_restart_cb).
    void on_vm_resume();
    void retry_parked();
    void flush_notify(Queue& q);
    void mark_broken(const std::string& why);

    // Runs fn on the home loop and waits for it (inline when home is the main loop).
    void run_on_home(const std::function<void()>& fn);
    void start_on_home();
    void stop_on_home();

    // Set by realize.
    std::shared_ptr<block::BlockBackend> m_backend;
    EventLoop* m_home = nullptr;
    EventLoop* m_main = nullptr;
    uint64_t m_capacity = 0;       // 512-byte sectors
    uint32_t m_blk_size = kBlkSectorSize;
    uint32_t m_phys_block_size = kBlkSectorSize;
    bool m_read_only = false;
    std::atomic<bool> m_wce{true};

    // Home loop, between activate and deactivate.
    VirtioActivation m_act;
    std::vector<std::unique_ptr<Queue>> m_queues;
    uint64_t m_in_flight = 0;
    // Requests a stop policy parked (QEMU's s->rq), oldest first: retried on resume, dropped
    // by a reset (deactivate) without being pushed, as QEMU's virtio_blk_reset.
    std::vector<std::shared_ptr<Request>> m_parked;
    bool m_broken = false;
    bool m_active = false;
    std::shared_ptr<void> m_resume_handle;   // main loop; see on_vm_resume

public:
    // Tests: how many requests a stop policy holds (home loop).
    size_t parked_requests() const { return m_parked.size(); }
};

// One queue the driver enabled, as the home loop serves it.
struct VirtioBlk::Queue {
    uint16_t index = 0;
    Virtqueue* vq = nullptr;
    const EventFd* kick = nullptr;
    bool watched = false;          // the kick fd is registered on the home loop
    bool pending_notify = false;   // pushed without deciding on an interrupt yet
};

// "virtio-blk-device" with QEMU 7.2's properties; the transport wraps it as "virtio-blk-pci"
// (register_virtio_pci_proxies, after this).
void register_virtio_blk_type(qom::TypeRegistry& registry);

} // namespace nemu::hw::virtio
