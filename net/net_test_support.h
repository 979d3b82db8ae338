#pragma once
// Shared by the net/ unit tests: whether this machine lets the test create a tap.

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include "util/unique_fd.h"

namespace nemu::net::test_support {

// /dev/net/tun opens and TUNSETIFF makes a tap (root or CAP_NET_ADMIN).
inline bool tun_usable() {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd) return false;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    return ::ioctl(fd.get(), TUNSETIFF, &ifr) == 0;
}

} // namespace nemu::net::test_support
