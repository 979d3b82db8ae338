// The real RbdClient: librados and librbd (Ceph 16, Debian's librbd-dev), each handle owned by
// a small RAII wrapper. Nothing here decides anything; rbd_node.cpp holds the logic.
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <climits>
#include <utility>

#include "block/rbd/rbd_client.h"

namespace nemu::block {

namespace {

// A cluster handle (rados_create .. rados_shutdown).
class Rados {
public:
    Rados() = default;
    Rados(Rados&& o) noexcept : m_h(std::exchange(o.m_h, nullptr)) {}
    Rados& operator=(Rados&&) = delete;
    ~Rados() {
        if (m_h) rados_shutdown(m_h);
    }
    rados_t* out() { return &m_h; }
    rados_t get() const { return m_h; }

private:
    rados_t m_h = nullptr;
};

// A pool's I/O context (rados_ioctx_create .. rados_ioctx_destroy).
class IoCtx {
public:
    IoCtx() = default;
    IoCtx(IoCtx&& o) noexcept : m_h(std::exchange(o.m_h, nullptr)) {}
    IoCtx& operator=(IoCtx&&) = delete;
    ~IoCtx() {
        if (m_h) rados_ioctx_destroy(m_h);
    }
    rados_ioctx_t* out() { return &m_h; }
    rados_ioctx_t get() const { return m_h; }

private:
    rados_ioctx_t m_h = nullptr;
};

// An open image (rbd_open .. rbd_close).
class Image {
public:
    Image() = default;
    Image(Image&& o) noexcept : m_h(std::exchange(o.m_h, nullptr)) {}
    Image& operator=(Image&&) = delete;
    ~Image() {
        if (m_h) rbd_close(m_h);
    }
    rbd_image_t* out() { return &m_h; }
    rbd_image_t get() const { return m_h; }

private:
    rbd_image_t m_h = nullptr;
};

// An aio completion, waited for at once: librbd 16 has no synchronous readv/writev.
class Completion {
public:
    Completion() { m_ok = rbd_aio_create_completion(nullptr, nullptr, &m_c) == 0; }
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;
    ~Completion() {
        if (m_ok) rbd_aio_release(m_c);
    }
    bool ok() const { return m_ok; }
    rbd_completion_t get() const { return m_c; }
    int64_t wait() {
        rbd_aio_wait_for_complete(m_c);
        return rbd_aio_get_return_value(m_c);
    }

private:
    rbd_completion_t m_c = nullptr;
    bool m_ok = false;
};

class LibrbdImage final : public RbdImage {
public:
    // Members are destroyed in reverse order: the image, then the io context, then the cluster.
    LibrbdImage(Rados cluster, IoCtx io, Image image)
        : m_cluster(std::move(cluster)), m_io(std::move(io)), m_image(std::move(image)) {}

    int64_t readv(uint64_t offset, std::span<const iovec> iov) override {
        if (iov.size() > INT_MAX) return -EINVAL;
        Completion c;
        if (!c.ok()) return -ENOMEM;
        if (int r = rbd_aio_readv(m_image.get(), iov.data(), static_cast<int>(iov.size()), offset, c.get()); r < 0)
            return r;
        return c.wait();
    }
    int64_t writev(uint64_t offset, std::span<const iovec> iov) override {
        if (iov.size() > INT_MAX) return -EINVAL;
        Completion c;
        if (!c.ok()) return -ENOMEM;
        if (int r = rbd_aio_writev(m_image.get(), iov.data(), static_cast<int>(iov.size()), offset, c.get()); r < 0)
            return r;
        return c.wait();
    }
    int flush() override { return rbd_flush(m_image.get()); }
    int discard(uint64_t offset, uint64_t length) override { return rbd_discard(m_image.get(), offset, length); }
    int write_zeroes(uint64_t offset, uint64_t length, bool thick) override {
        const int flags = thick ? RBD_WRITE_ZEROES_FLAG_THICK_PROVISION : 0;
        const ssize_t r = rbd_write_zeroes(m_image.get(), offset, length, flags, 0);
        return r < 0 ? static_cast<int>(r) : 0;
    }
    int resize(uint64_t size) override { return rbd_resize(m_image.get(), size); }
    int stat(uint64_t& size, uint64_t& object_size) override {
        rbd_image_info_t info{};
        if (int r = rbd_stat(m_image.get(), &info, sizeof(info)); r < 0) return r;
        size = info.size;
        object_size = info.obj_size;
        return 0;
    }

private:
    Rados m_cluster;
    IoCtx m_io;
    Image m_image;
};

class LibrbdClient final : public RbdClient {
public:
    int create(const std::optional<std::string>& user) override {
        return rados_create(m_cluster.out(), user ? user->c_str() : nullptr);
    }
    int conf_read_file(const std::optional<std::string>& path) override {
        return rados_conf_read_file(m_cluster.get(), path ? path->c_str() : nullptr);
    }
    int conf_set(const std::string& key, const std::string& value) override {
        return rados_conf_set(m_cluster.get(), key.c_str(), value.c_str());
    }
    int connect() override { return rados_connect(m_cluster.get()); }
    int ioctx_create(const std::string& pool) override {
        return rados_ioctx_create(m_cluster.get(), pool.c_str(), m_io.out());
    }
    int namespace_exists(const std::string& ns, bool& exists) override {
        return rbd_namespace_exists(m_io.get(), ns.c_str(), &exists);
    }
    void set_namespace(const std::string& ns) override { rados_ioctx_set_namespace(m_io.get(), ns.c_str()); }
    int open_image(const std::string& name, const std::optional<std::string>& snapshot, bool read_only,
                   std::unique_ptr<RbdImage>& out) override {
        Image image;
        const char* snap = snapshot ? snapshot->c_str() : nullptr;
        const int r = read_only ? rbd_open_read_only(m_io.get(), name.c_str(), image.out(), snap)
                                : rbd_open(m_io.get(), name.c_str(), image.out(), snap);
        if (r < 0) return r;
        out = std::make_unique<LibrbdImage>(std::move(m_cluster), std::move(m_io), std::move(image));
        return 0;
    }

private:
    // Destroyed in reverse order when no image took them over.
    Rados m_cluster;
    IoCtx m_io;
};

} // namespace

std::unique_ptr<RbdClient> make_librbd_client() { return std::make_unique<LibrbdClient>(); }

} // namespace nemu::block
