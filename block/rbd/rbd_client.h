#pragma once
// The handful of librados/librbd calls the rbd node makes, behind an interface: the node's
// logic (option translation, the order of the connection steps, error wording and errno
// mapping, read-only and snapshot handling, length bookkeeping, request splitting) is
// unit-tested over a fake (rbd_node_test.cpp), and only librbd_client.cpp includes librbd.
//
// Every call returns librbd's convention: >= 0 on success (a byte count for I/O), -errno on
// failure. Thread: the opening calls on the main loop; RbdImage's I/O calls concurrently from
// the backend's worker threads (librbd images are thread-safe).

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "util/result.h"

namespace nemu::block {

// An open image. It owns the cluster connection and io context it was opened through, and
// closes the three in order (rbd_close, rados_ioctx_destroy, rados_shutdown) when destroyed.
class RbdImage {
public:
    virtual ~RbdImage() = default;
    // Bytes read (fewer than asked past the image's end), or -errno.
    virtual int64_t readv(uint64_t offset, std::span<const iovec> iov) = 0;
    // Bytes written, or -errno.
    virtual int64_t writev(uint64_t offset, std::span<const iovec> iov) = 0;
    virtual int flush() = 0;
    virtual int discard(uint64_t offset, uint64_t length) = 0;
    // thick: the range is allocated, not deallocated (RBD_WRITE_ZEROES_FLAG_THICK_PROVISION).
    virtual int write_zeroes(uint64_t offset, uint64_t length, bool thick) = 0;
    virtual int resize(uint64_t size) = 0;
    // rbd_stat: the image's size and object size.
    virtual int stat(uint64_t& size, uint64_t& object_size) = 0;
};

// The connection steps of QEMU 7.2 block/rbd.c qemu_rbd_connect and qemu_rbd_open, one call
// each; RbdNode::open makes them in QEMU's order. One client opens at most one image.
class RbdClient {
public:
    virtual ~RbdClient() = default;
    virtual int create(const std::optional<std::string>& user) = 0;           // rados_create
    virtual int conf_read_file(const std::optional<std::string>& path) = 0;   // nullopt: defaults
    virtual int conf_set(const std::string& key, const std::string& value) = 0;
    virtual int connect() = 0;                                                // rados_connect
    virtual int ioctx_create(const std::string& pool) = 0;
    virtual int namespace_exists(const std::string& ns, bool& exists) = 0;    // rbd_namespace_exists
    virtual void set_namespace(const std::string& ns) = 0;                    // rados_ioctx_set_namespace
    // rbd_open, or rbd_open_read_only; the image takes over the connection.
    virtual int open_image(const std::string& name, const std::optional<std::string>& snapshot, bool read_only,
                           std::unique_ptr<RbdImage>& image) = 0;
};

// The real client over librados/librbd (librbd_client.cpp), which loads them on first use; an
// error when they cannot be loaded.
Result<std::unique_ptr<RbdClient>> make_librbd_client();

} // namespace nemu::block
