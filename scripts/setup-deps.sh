#!/usr/bin/env bash
# Install the Debian 12 packages needed to build and test nemu (README "Dependencies" says
# why each one is needed). Skips apt entirely when everything is already installed, so it is
# cheap to run again; uses sudo only when not root.
#
# usage: scripts/setup-deps.sh [--force]     (--force: run apt-get even if all are present)
set -euo pipefail

PACKAGES=(
    build-essential     # g++ 12, make
    meson ninja-build pkg-config
    python3             # QAPI generator, QMP/CLI tests, demo (standard library only)
    nlohmann-json3-dev  # JSON
    libfmt-dev          # formatting (g++ 12 has no <format>)
    libgtest-dev        # GoogleTest unit tests
    clang libclang-rt-14-dev   # clang++ 14 and libFuzzer for the fuzz harnesses
    qemu-system-x86 qemu-utils # QEMU 7.2: live oracle in tests, benchmark baseline, nested-KVM lab L1
    acpica-tools        # iasl -d checks the ACPI tables nemu builds
    busybox-static cpio xz-utils # the lab guest's initramfs and the PVH vmlinux extraction
    binutils            # readelf/objcopy for the lab's tiny guests
    liburing-dev        # block layer: aio=io_uring
    zlib1g-dev libzstd-dev # block layer: compressed qcow2 clusters (deflate and zstd)
    iproute2            # virtio-net tests: ip tuntap/netns/link for the tap and its namespace
    strace              # block tests: io_uring_setup refused by fault injection (aio=io_uring errors)
    librbd-dev          # block layer: the rbd protocol (switch rbd, auto; build-tested, no cluster)
    qemu-block-extra    # QEMU's block-rbd module: the oracle for the rbd error tests
)

force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 && $force -eq 0 ]]; then
    echo "setup-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    echo "setup-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
fi

echo "setup-deps: installing ${missing[*]:-${PACKAGES[*]}}"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
