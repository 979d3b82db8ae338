#!/usr/bin/env bash
# The README's first command: boot the demo guest (Debian 12's kernel and a busybox initramfs,
# built from Debian packages by the lab, tests/vm/) with nemu-system-x86_64 -M virt under KVM
# and show its serial console up to a shell prompt. Runs on the host's /dev/kvm when a Linux
# guest boots there, otherwise inside the nested-KVM lab VM (tests/vm/README.md). With a
# terminal the console is interactive (type `poweroff -f`, or Ctrl-A x, to end); without one a
# few commands are typed and the guest powers off. Configures and builds first if needed.
#
# usage: scripts/demo.sh [--builddir=DIR] [--qmp]     (DIR defaults to build)
#   --qmp  instead: the QMP exchange demo (machine "none": greeting, query-version, quit)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=build
qmp=0
for arg in "$@"; do
    case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --qmp) qmp=1 ;;
        *) echo "usage: $0 [--builddir=DIR] [--qmp]" >&2; exit 2 ;;
    esac
done
cd "$SRC"

if [[ ! -f "$builddir/build.ninja" ]]; then
    ./configure --builddir="$builddir"
fi
ninja -C "$builddir" -j"$(nproc 2>/dev/null || echo 2)" system/nemu-system-x86_64
nemu="$SRC/$builddir/system/nemu-system-x86_64"
[[ $qmp == 1 ]] && exec python3 scripts/qmp_demo.py "$nemu"

if [[ -t 0 ]]; then
    exec tests/vm/lab shell -t 3600 --vmm nemu="$nemu"
fi
# No terminal: type a few commands at the guest's prompt, then power it off.
printf '%s\n' 'uname -sr' 'grep -c ^processor /proc/cpuinfo' 'head -1 /proc/meminfo' 'poweroff -f' |
    tests/vm/lab shell -t 600 --vmm nemu="$nemu"
