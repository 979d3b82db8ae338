#pragma once
// Character devices: a backend (socket, stdio, pty, file, null, ringbuf, mux) feeding one
// frontend (serial port, monitor, qtest, virtio-console), QEMU's chardev model. Backends are
// QOM types "chardev-<backend>" under the abstract "chardev".
//
// Flow control (QEMU's can_read/read pair): a backend reads from its fd only while the
// frontend's can_receive() is non-zero, and at most that many bytes; when the frontend can
// take input again it calls accept_input(). Output never blocks the loop: what the fd does
// not take is buffered and flushed on EPOLLOUT, up to kMaxOutputBuffer per connection.
//
// Thread: main loop only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "chardev/chardev_options.h"
#include "qom/object.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace nemu {
class EventLoop;
}
namespace nemu::qom {
class TypeRegistry;
}

namespace nemu::chardev {

// Output a peer has not read yet, per connection. Past it the peer is considered stuck and
// the connection is dropped (STYLE.md rule 8: allocations bounded by named constants).
inline constexpr size_t kMaxOutputBuffer = 16 * 1024 * 1024;

// QEMU's QEMUChrEvent subset: OPENED/CLOSED, and MUX_IN/MUX_OUT when a mux moves the focus.
enum class ChardevEvent { Opened, Closed, MuxIn, MuxOut };

struct CharFrontend {
    virtual ~CharFrontend() = default;
    // How many bytes receive() may be given now; 0 pauses input until accept_input().
    virtual size_t can_receive() = 0;
    virtual void receive(std::span<const uint8_t> data) = 0;
    virtual void on_event(ChardevEvent) {}
};

class Chardev : public qom::Object {
public:
    ~Chardev() override;

    // Called once, after creation. Acquires the backend's resources (connect, listen, open).
    Result<> open(EventLoop& loop, const ChardevOptions& options);

    // Bytes accepted (all of them unless an error is returned). A backend without a peer
    // (a disconnected socket, a pty no one opened) discards the data, as QEMU does.
    virtual Result<size_t> write(std::span<const uint8_t> data) = 0;

    // One frontend per chardev (a mux takes several). Attaching to a connected backend
    // delivers Opened at once; always-open backends (stdio, null, file, ringbuf) are connected.
    virtual Result<> attach(CharFrontend& frontend);
    virtual void detach(CharFrontend& frontend);
    // The frontend can take input again (its can_receive() went from 0 to non-zero).
    void accept_input();

    bool is_connected() const { return m_connected; }
    // The last file descriptor the peer passed with SCM_RIGHTS (QMP getfd), if any.
    virtual UniqueFd take_received_fd() { return UniqueFd(); }
    // query-chardev "filename": "unix:/tmp/q.sock,server=on", "disconnected:tcp:...", "pty:/dev/pts/3"
    virtual std::string filename() const = 0;
    // query-chardev "label": the id.
    std::string_view label() const { return m_label; }
    void set_label(std::string label) { m_label = std::move(label); }
    // query-chardev "frontend-open": a frontend is attached and has the device open
    // (virtio-console follows the guest's port state through set_frontend_open).
    virtual bool frontend_open() const { return m_frontend != nullptr && m_frontend_open; }
    void set_frontend_open(bool open) { m_frontend_open = open; }

    // chardev-remove refuses a chardev in use: QEMU's "Chardev 'ID' is busy".
    Result<> check_can_remove() const override;

protected:
    EventLoop& loop() const { return *m_loop; }
    virtual Result<> open_backend(const ChardevOptions& options) = 0;
    // Backends report their peer coming and going; the frontend gets Opened/Closed.
    void set_connected(bool connected);
    // Input side, for backends: how much the frontend takes, and the delivery.
    size_t frontend_can_receive();
    void deliver(std::span<const uint8_t> data);
    // The frontend changed (attach/detach/accept_input): re-evaluate read interest.
    virtual void update_input() {}
    CharFrontend* frontend() const { return m_frontend; }

private:
    EventLoop* m_loop = nullptr;
    CharFrontend* m_frontend = nullptr;
    std::string m_label;
    bool m_connected = false;
    bool m_frontend_open = false;
};

// Adds the abstract "chardev" (parent "object") and "chardev-socket", "chardev-stdio",
// "chardev-null", "chardev-file", "chardev-pty", "chardev-ringbuf", "chardev-memory"
// (QEMU's ringbuf alias) and "chardev-mux".
void register_chardev_types(qom::TypeRegistry& registry);

// Create and open a chardev of options.backend with label `id`. With options.mux, the result
// is a "chardev-mux" labelled `id` owning the backend labelled "<id>-base" (QEMU's naming).
Result<std::unique_ptr<Chardev>> create_chardev(const qom::TypeRegistry& registry, EventLoop& loop,
                                                std::string_view id, const ChardevOptions& options);

} // namespace nemu::chardev
