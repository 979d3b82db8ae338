// The real RbdClient: librados and librbd (Ceph 16, Debian's librbd-dev), each handle owned by
// a small RAII wrapper. Nothing here decides anything; rbd_node.cpp holds the logic.
//
// The two libraries are loaded with dlopen when the first rbd node opens, not linked: they
// bring some 25 more shared libraries (ceph-common, boost, ssl, ibverbs...) whose loading and
// relocation would cost every VM start-up milliseconds and megabytes of resident memory
// (QEMU, for the same reason, builds rbd as a loadable module, block-rbd.so).
#include <dlfcn.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <climits>
#include <utility>

#include "block/rbd/rbd_client.h"

namespace nemu::block {

namespace {

// The entry points used, resolved once; immutable after loading (never unloaded: librados
// keeps threads and static state that do not survive dlclose).
struct LibrbdApi {
    std::string error; // non-empty: the libraries could not be loaded
    decltype(&::rados_create) rados_create = nullptr;
    decltype(&::rados_conf_read_file) rados_conf_read_file = nullptr;
    decltype(&::rados_conf_set) rados_conf_set = nullptr;
    decltype(&::rados_connect) rados_connect = nullptr;
    decltype(&::rados_shutdown) rados_shutdown = nullptr;
    decltype(&::rados_ioctx_create) rados_ioctx_create = nullptr;
    decltype(&::rados_ioctx_destroy) rados_ioctx_destroy = nullptr;
    decltype(&::rados_ioctx_set_namespace) rados_ioctx_set_namespace = nullptr;
    decltype(&::rbd_namespace_exists) rbd_namespace_exists = nullptr;
    decltype(&::rbd_open) rbd_open = nullptr;
    decltype(&::rbd_open_read_only) rbd_open_read_only = nullptr;
    decltype(&::rbd_close) rbd_close = nullptr;
    decltype(&::rbd_aio_create_completion) rbd_aio_create_completion = nullptr;
    decltype(&::rbd_aio_release) rbd_aio_release = nullptr;
    decltype(&::rbd_aio_wait_for_complete) rbd_aio_wait_for_complete = nullptr;
    decltype(&::rbd_aio_get_return_value) rbd_aio_get_return_value = nullptr;
    decltype(&::rbd_aio_readv) rbd_aio_readv = nullptr;
    decltype(&::rbd_aio_writev) rbd_aio_writev = nullptr;
    decltype(&::rbd_flush) rbd_flush = nullptr;
    decltype(&::rbd_discard) rbd_discard = nullptr;
    decltype(&::rbd_write_zeroes) rbd_write_zeroes = nullptr;
    decltype(&::rbd_resize) rbd_resize = nullptr;
    decltype(&::rbd_stat) rbd_stat = nullptr;
};

template <class F> bool resolve(void* lib, const char* name, F& out, std::string& error) {
    out = reinterpret_cast<F>(::dlsym(lib, name));
    if (!out) error = fmt::format("cannot load rbd support: {} not found", name);
    return out != nullptr;
}

LibrbdApi load_librbd() {
    LibrbdApi a;
    // The sonames of Debian 12's librados2 and librbd1 (what librbd-dev's links point to).
    void* rados = ::dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);
    void* rbd = rados ? ::dlopen("librbd.so.1", RTLD_NOW | RTLD_LOCAL) : nullptr;
    if (!rados || !rbd) {
        a.error = fmt::format("cannot load rbd support: {}", ::dlerror());
        return a;
    }
    std::string& e = a.error;
    (void)(resolve(rados, "rados_create", a.rados_create, e) &&
           resolve(rados, "rados_conf_read_file", a.rados_conf_read_file, e) &&
           resolve(rados, "rados_conf_set", a.rados_conf_set, e) &&
           resolve(rados, "rados_connect", a.rados_connect, e) &&
           resolve(rados, "rados_shutdown", a.rados_shutdown, e) &&
           resolve(rados, "rados_ioctx_create", a.rados_ioctx_create, e) &&
           resolve(rados, "rados_ioctx_destroy", a.rados_ioctx_destroy, e) &&
           resolve(rados, "rados_ioctx_set_namespace", a.rados_ioctx_set_namespace, e) &&
           resolve(rbd, "rbd_namespace_exists", a.rbd_namespace_exists, e) &&
           resolve(rbd, "rbd_open", a.rbd_open, e) &&
           resolve(rbd, "rbd_open_read_only", a.rbd_open_read_only, e) &&
           resolve(rbd, "rbd_close", a.rbd_close, e) &&
           resolve(rbd, "rbd_aio_create_completion", a.rbd_aio_create_completion, e) &&
           resolve(rbd, "rbd_aio_release", a.rbd_aio_release, e) &&
           resolve(rbd, "rbd_aio_wait_for_complete", a.rbd_aio_wait_for_complete, e) &&
           resolve(rbd, "rbd_aio_get_return_value", a.rbd_aio_get_return_value, e) &&
           resolve(rbd, "rbd_aio_readv", a.rbd_aio_readv, e) &&
           resolve(rbd, "rbd_aio_writev", a.rbd_aio_writev, e) &&
           resolve(rbd, "rbd_flush", a.rbd_flush, e) &&
           resolve(rbd, "rbd_discard", a.rbd_discard, e) &&
           resolve(rbd, "rbd_write_zeroes", a.rbd_write_zeroes, e) &&
           resolve(rbd, "rbd_resize", a.rbd_resize, e) &&
           resolve(rbd, "rbd_stat", a.rbd_stat, e));
    return a;
}

// Loaded by the first caller (thread-safe static initialisation), read-only afterwards.
const LibrbdApi& api() {
    static const LibrbdApi loaded = load_librbd();
    return loaded;
}

// A librados/librbd handle, released through the LibrbdApi entry point `Release` when
// destroyed; the three kinds differ only in those two.
template <class Handle, auto Release>
class ApiHandle {
public:
    ApiHandle() = default;
    ApiHandle(ApiHandle&& o) noexcept : m_h(std::exchange(o.m_h, nullptr)) {}
    ApiHandle& operator=(ApiHandle&&) = delete;
    ~ApiHandle() {
        if (m_h) (api().*Release)(m_h);
    }
    Handle* out() { return &m_h; }
    Handle get() const { return m_h; }

private:
    Handle m_h = nullptr;
};

using Rados = ApiHandle<rados_t, &LibrbdApi::rados_shutdown>;         // rados_create ..
using IoCtx = ApiHandle<rados_ioctx_t, &LibrbdApi::rados_ioctx_destroy>; // rados_ioctx_create ..
using Image = ApiHandle<rbd_image_t, &LibrbdApi::rbd_close>;          // rbd_open ..

// An aio completion, waited for at once: librbd 16 has no synchronous readv/writev.
class Completion {
public:
    Completion() { m_ok = api().rbd_aio_create_completion(nullptr, nullptr, &m_c) == 0; }
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;
    ~Completion() {
        if (m_ok) api().rbd_aio_release(m_c);
    }
    bool ok() const { return m_ok; }
    rbd_completion_t get() const { return m_c; }
    int64_t wait() {
        api().rbd_aio_wait_for_complete(m_c);
        return api().rbd_aio_get_return_value(m_c);
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
        if (int r = api().rbd_aio_readv(m_image.get(), iov.data(), static_cast<int>(iov.size()), offset, c.get()); r < 0)
            return r;
        return c.wait();
    }
    int64_t writev(uint64_t offset, std::span<const iovec> iov) override {
        if (iov.size() > INT_MAX) return -EINVAL;
        Completion c;
        if (!c.ok()) return -ENOMEM;
        if (int r = api().rbd_aio_writev(m_image.get(), iov.data(), static_cast<int>(iov.size()), offset, c.get()); r < 0)
            return r;
        return c.wait();
    }
    int flush() override { return api().rbd_flush(m_image.get()); }
    int discard(uint64_t offset, uint64_t length) override { return api().rbd_discard(m_image.get(), offset, length); }
    int write_zeroes(uint64_t offset, uint64_t length, bool thick) override {
        const int flags = thick ? RBD_WRITE_ZEROES_FLAG_THICK_PROVISION : 0;
        const ssize_t r = api().rbd_write_zeroes(m_image.get(), offset, length, flags, 0);
        return r < 0 ? static_cast<int>(r) : 0;
    }
    int resize(uint64_t size) override { return api().rbd_resize(m_image.get(), size); }
    int stat(uint64_t& size, uint64_t& object_size) override {
        rbd_image_info_t info{};
        if (int r = api().rbd_stat(m_image.get(), &info, sizeof(info)); r < 0) return r;
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
        return api().rados_create(m_cluster.out(), user ? user->c_str() : nullptr);
    }
    int conf_read_file(const std::optional<std::string>& path) override {
        return api().rados_conf_read_file(m_cluster.get(), path ? path->c_str() : nullptr);
    }
    int conf_set(const std::string& key, const std::string& value) override {
        return api().rados_conf_set(m_cluster.get(), key.c_str(), value.c_str());
    }
    int connect() override { return api().rados_connect(m_cluster.get()); }
    int ioctx_create(const std::string& pool) override {
        return api().rados_ioctx_create(m_cluster.get(), pool.c_str(), m_io.out());
    }
    int namespace_exists(const std::string& ns, bool& exists) override {
        return api().rbd_namespace_exists(m_io.get(), ns.c_str(), &exists);
    }
    void set_namespace(const std::string& ns) override { api().rados_ioctx_set_namespace(m_io.get(), ns.c_str()); }
    int open_image(const std::string& name, const std::optional<std::string>& snapshot, bool read_only,
                   std::unique_ptr<RbdImage>& out) override {
        Image image;
        const char* snap = snapshot ? snapshot->c_str() : nullptr;
        const int r = read_only ? api().rbd_open_read_only(m_io.get(), name.c_str(), image.out(), snap)
                                : api().rbd_open(m_io.get(), name.c_str(), image.out(), snap);
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

Result<std::unique_ptr<RbdClient>> make_librbd_client() {
    if (!api().error.empty()) return fail("{}", api().error);
    return std::unique_ptr<RbdClient>(std::make_unique<LibrbdClient>());
}

} // namespace nemu::block
