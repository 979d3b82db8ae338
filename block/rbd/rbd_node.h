#pragma once
// The protocol node "rbd" (QEMU 7.2 block/rbd.c): an image in a Ceph cluster, reached through
// librados/librbd (rbd_client.h). Opened from BlockdevOptionsRbd (-blockdev, blockdev-add) or a
// `rbd:pool/image...` file name (-drive file=, backing names); see rbd_options.h.
//
// Thread: opened and destroyed on the main loop (opening connects to the cluster and blocks
// for as long as librados does: client_mount_timeout, 300 s by default, when monitors are
// named but do not answer; QEMU blocks the same way). I/O methods are called concurrently
// from the backend's worker threads: map() stays Indirect, so io_uring sends every request
// to the thread pool. The length is atomic; growing it is serialised by m_resize_mutex.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "block/block_node.h"
#include "block/block_types.h"
#include "block/rbd/rbd_client.h"
#include "block/rbd/rbd_options.h"
#include "util/result.h"

namespace nemu::block {

// Largest piece of one request handed to librbd: its C calls take int lengths for discard
// (larger ones are EINVAL) and return int, so bigger requests go in pieces.
inline constexpr uint64_t kRbdMaxRequest = 1ull << 30;

class RbdNode final : public BlockNode {
public:
    // qemu_rbd_connect + qemu_rbd_open, errors as QEMU 7.2 words them (strerror appended):
    //   error initializing / error reading conf file CONF / invalid conf option KEY /
    //   No secret with id 'ID' / Could not set 'auth_client_required' / error connecting /
    //   error opening pool POOL / error checking namespace / namespace 'NS' does not exist /
    //   error reading header from IMAGE / error getting image info from IMAGE /
    //   rbd snapshots are read-only (a snapshot without read-only or auto-read-only).
    // A read-only node opens the image with rbd_open_read_only (QEMU uses rbd_open always).
    static Result<std::shared_ptr<RbdNode>> open(const RbdOptions& opts, const OpenFlags& flags, RbdClient& client);

    std::string_view driver() const override { return "rbd"; }
    uint64_t length() const override { return m_length.load(std::memory_order_acquire); }
    // Short reads from librbd are padded with zeroes.
    Result<> read(uint64_t offset, std::span<const iovec> iov) override;
    // Writes past the end grow the image first (qemu_rbd_start_co), so formats can append.
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) override;
    Result<> flush() override;
    Result<> discard(uint64_t offset, uint64_t length) override;
    // rbd_write_zeroes, thick-provisioned unless may_unmap; grows the image like write().
    Result<> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
    // rbd_resize ("Failed to resize file: ...").
    Result<> truncate(uint64_t new_length) override;
    // format "rbd", the json: file name, cluster size = object size, ImageInfoSpecificRbd.
    NodeInfo info() const override;
    // pool, namespace, image, conf, snapshot, user, server.N.* (the json: file name's members).
    Json strong_options() const override { return m_strong; }

    struct Private {};
    RbdNode(Private, std::unique_ptr<RbdImage> image, const RbdOptions& opts, bool read_only, uint64_t size,
            uint64_t object_size);

private:
    Result<> grow_to(uint64_t end);

    std::unique_ptr<RbdImage> m_image;
    Json m_strong;
    std::string m_image_name;
    std::atomic<uint64_t> m_length;
    uint64_t m_object_size;
    std::mutex m_resize_mutex; // a growing write or truncate at a time
};

// RbdNode::open over the real librbd client, as the graph builder stores nodes.
Result<std::shared_ptr<BlockNode>> open_rbd(const RbdOptions& opts, const OpenFlags& flags);

} // namespace nemu::block
