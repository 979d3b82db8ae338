#pragma once
// A node of the block graph (QEMU's BlockDriverState): a protocol node (file, host_device)
// that talks to the host, or a format node (raw, qcow2, vpc) that interprets a child node.
//
// Nodes are SYNCHRONOUS and THREAD-SAFE: the I/O engine of the owning BlockBackend calls
// them from its worker threads, several requests at once. A format guards its metadata
// (tables, caches, allocation) with its own mutex and should not hold it across data I/O
// to already-allocated clusters. Asynchrony lives one level up (io_engine.h): worker
// threads, or io_uring directly on the host extent that map() reports.
//
// Errors carry the errno in Error::sys_errno (EIO for a bad image, ENOSPC, EINVAL for an
// out-of-range request, EROFS/EPERM for a write to a read-only node): the backend's
// werror/rerror policy decides on it.

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "block/block_types.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::block {

// Where the bytes at a virtual offset live, for the direct data path. For a write, Data
// means "write here and no metadata needs to change" (raw; an allocated, uncompressed
// qcow2 cluster not shared with a snapshot).
struct HostExtent {
    enum class Kind {
        Data,     // at host_offset in fd
        Zero,     // reads as zeroes (reads only)
        Indirect, // the node must do this I/O itself (call read()/write())
    };
    Kind kind = Kind::Indirect;
    uint64_t length = 0; // bytes from the queried offset with this same answer, > 0
    int fd = -1;
    uint64_t host_offset = 0;
};

// What query-block / query-named-block-nodes report about a node (QAPI BlockDeviceInfo and
// ImageInfo). Filled by each driver; the QMP layer adds node-name, cache and throttling.
struct NodeInfo {
    std::string format;            // "qcow2", "raw", "vpc", "file", "host_device"
    std::string filename;          // the protocol's file name, or the format's child's
    uint64_t virtual_size = 0;
    int64_t actual_size = -1;      // allocated bytes on the host, -1 if unknown
    uint64_t cluster_size = 0;     // 0 if the format has none
    bool dirty_flag = false;
    std::string backing_filename;  // as written in the image (empty: none)
    std::string backing_format;
    Json format_specific;          // ImageInfoSpecific: {"type":"qcow2","data":{...}} or null
};

class BlockNode {
public:
    virtual ~BlockNode() = default;
    BlockNode(const BlockNode&) = delete;
    BlockNode& operator=(const BlockNode&) = delete;

    // QAPI BlockdevDriver name: "file", "host_device", "raw", "qcow2", "vpc".
    virtual std::string_view driver() const = 0;
    // Virtual size in bytes (what a guest device sees).
    virtual uint64_t length() const = 0;

    // I/O at a byte offset; offset + total iov length must lie within length() (EINVAL
    // otherwise). Buffers need no alignment: a protocol opened with O_DIRECT bounces.
    virtual Result<> read(uint64_t offset, std::span<const iovec> iov) = 0;
    // fua: the data is on stable storage when the call returns.
    virtual Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) = 0;
    virtual Result<> flush() = 0;
    // Default: success without effect (discard is advisory).
    virtual Result<> discard(uint64_t offset, uint64_t length);
    // Default: writes zero buffers through write(). may_unmap allows deallocation.
    virtual Result<> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap);
    // block_resize. Default: "Cannot resize this image" style error (ENOTSUP).
    virtual Result<> truncate(uint64_t new_length);
    // See HostExtent. Default: Indirect for the whole range.
    virtual HostExtent map(uint64_t offset, uint64_t length, bool for_write);
    virtual NodeInfo info() const = 0;

    // Children, for query-named-block-nodes and for walking a backing chain.
    virtual BlockNode* file_child() const { return nullptr; }
    virtual BlockNode* backing_child() const { return nullptr; }

    bool read_only() const { return m_read_only; }
    const std::string& node_name() const { return m_node_name; }
    void set_node_name(std::string name) { m_node_name = std::move(name); }

    // The cache flags the node was opened with, where the opener recorded them (query-block's
    // "cache" per node: -blockdev nodes, a snapshot=on overlay); nullopt: the caller's default.
    const std::optional<CacheOptions>& open_cache() const { return m_open_cache; }
    void set_open_cache(const CacheOptions& c) { m_open_cache = c; }
    // The aio= mode given explicitly for this protocol node (-blockdev file.aio=): a backend
    // over it uses that mode, and an explicit io_uring has no silent fallback to threads
    // (QEMU's is the node's own setting). nullopt: not given.
    const std::optional<AioMode>& open_aio() const { return m_open_aio; }
    void set_open_aio(AioMode m) { m_open_aio = m; }

    // QEMU's "strong runtime options" (block.c append_strong_runtime_options): the driver's
    // options that change what the node shows and that a plain file name cannot say (raw's
    // explicit offset/size). Empty by default.
    virtual Json strong_options() const { return Json::object(); }
    // The backing file name the image header records ("" when none or no backing support),
    // and whether the backing child was given explicitly (-blockdev backing=, a snapshot
    // overlay) rather than opened from that name. Used to decide on a "json:{...}" file name
    // (block.c bdrv_backing_overridden).
    virtual std::string header_backing_name() const { return {}; }
    virtual bool backing_explicit() const { return false; }

protected:
    explicit BlockNode(bool read_only) : m_read_only(read_only) {}
    // EINVAL unless [offset, offset + len) lies within length(); EPERM when writing to a
    // read-only node. Every driver calls this first: guest requests are untrusted.
    Result<> check_request(uint64_t offset, uint64_t len, bool is_write) const;

private:
    bool m_read_only;
    std::string m_node_name;
    std::optional<CacheOptions> m_open_cache;
    std::optional<AioMode> m_open_aio;
};

// Total byte count of an iovec list.
uint64_t iov_size(std::span<const iovec> iov);
// The iovecs covering bytes [skip, skip + len) of iov (pointers into the same buffers).
std::vector<iovec> iov_slice(std::span<const iovec> iov, uint64_t skip, uint64_t len);
// Copy between an iovec list (starting skip bytes in) and a flat buffer.
void iov_to_buf(std::span<const iovec> iov, uint64_t skip, std::span<uint8_t> dst);
void iov_from_buf(std::span<const iovec> iov, uint64_t skip, std::span<const uint8_t> src);
void iov_memset(std::span<const iovec> iov, uint64_t skip, uint64_t len, uint8_t value);
// An error with errno set, for I/O paths: "<message>" with sys_errno = err.
Unexpected<Error> io_error(int err, std::string msg);

} // namespace nemu::block
