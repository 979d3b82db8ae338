// The NetClient plumbing shared by every backend: non-blocking frame I/O on a queue's fd,
// event-loop watches, the peer link and the link state (QEMU net/net.c semantics).
#include "net/net_client.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "util/event_loop.h"

namespace nemu::net {

std::optional<MacAddress> parse_mac(std::string_view text) {
    // Six two-digit hex groups separated by ':' or '-' (QEMU net_parse_macaddr).
    MacAddress mac{};
    if (text.size() != 17) return std::nullopt;
    for (size_t i = 0; i < 6; ++i) {
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        int hi = hex(text[i * 3]), lo = hex(text[i * 3 + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') return std::nullopt;
        mac[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return mac;
}

std::string format_mac(const MacAddress& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

Result<std::optional<size_t>> NetClient::receive(unsigned q, std::span<uint8_t> buf) {
    while (true) {
        ssize_t n = ::read(queue_fd(q), buf.data(), buf.size());
        if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<size_t>();
        return fail_errno(fmt::format("netdev {}: read", m_id), errno);
    }
}

Result<bool> NetClient::send(unsigned q, std::span<const iovec> frame) {
    while (true) {
        ssize_t n = ::writev(queue_fd(q), frame.data(), static_cast<int>(frame.size()));
        if (n >= 0) return true;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        // A frame the kernel refuses (EINVAL for a bad GSO header, EIO while the interface
        // is down) is dropped like a frame lost on the wire, as QEMU's tap_write_packet does.
        if (errno == EINVAL || errno == EIO || errno == EMSGSIZE || errno == EFAULT) return true;
        return fail_errno(fmt::format("netdev {}: write", m_id), errno);
    }
}

Result<> NetClient::watch(unsigned q, EventLoop& loop, uint32_t events, std::function<void(uint32_t)> handler) {
    return loop.add_fd(queue_fd(q), events, std::move(handler));
}

Result<> NetClient::modify_watch(unsigned q, EventLoop& loop, uint32_t events) {
    return loop.modify_fd(queue_fd(q), events);
}

void NetClient::unwatch(unsigned q, EventLoop& loop) { loop.remove_fd(queue_fd(q)); }

Result<> NetClient::attach(NetPeer& peer, std::string_view property) {
    // QEMU 7.2 qdev-properties-system.c set_netdev.
    if (m_peer) return fail("Property '{}' can't take value '{}', it's in use", property, m_id);
    m_peer = &peer;
    return {};
}

void NetClient::detach(const NetPeer& peer) {
    if (m_peer == &peer) m_peer = nullptr;
}

void NetClient::set_link_up(bool up) {
    m_link_up = up;
    if (m_peer) m_peer->link_changed(up);
}

} // namespace nemu::net
