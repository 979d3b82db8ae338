#!/usr/bin/env bash
# nemu's main job today: start nemu-system-x86_64 with machine "none" and a QMP monitor,
# and show a QMP exchange (greeting, qmp_capabilities, query-version, query-status,
# qom-list, quit). Configures and builds first if needed.
#
# usage: scripts/demo.sh [--builddir=DIR]        (DIR defaults to build)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=build
for arg in "$@"; do
    case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        *) echo "usage: $0 [--builddir=DIR]" >&2; exit 2 ;;
    esac
done
cd "$SRC"

if [[ ! -f "$builddir/build.ninja" ]]; then
    ./configure --builddir="$builddir"
fi
ninja -C "$builddir" -j"$(nproc 2>/dev/null || echo 2)" system/nemu-system-x86_64
exec python3 scripts/qmp_demo.py "$builddir/system/nemu-system-x86_64"
