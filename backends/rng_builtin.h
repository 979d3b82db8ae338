#pragma once
// "rng-builtin" (QEMU 7.2 backends/rng-builtin.c): entropy from the host kernel's
// getrandom(2), handed out from a deferred call on the main loop (QEMU: a bottom half), so a
// request is always answered after request() returns. No properties besides "opened".
// virtio-rng creates one as its "default-backend" child when no rng= is given.
// Thread: main loop only.

#include <vector>

#include "backends/rng_backend.h"

namespace nemu::backends {

class RngBuiltin final : public RngBackend {
private:
    void kick() override;
    void serve();

    bool m_scheduled = false;
    std::vector<uint8_t> m_buf;
};

} // namespace nemu::backends
