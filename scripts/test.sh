#!/usr/bin/env bash
# Build nemu if needed and run every test suite (unit, qmp, cli, qtest, oracle comparisons)
# with meson test. Ends with the line "N passed, N failed"; exits non-zero on any failure.
#
# usage: scripts/test.sh [--builddir=DIR] [--sanitizers] [MESON-TEST-ARGS...]
#   --builddir=DIR  build directory [build]; configured with --enable-tests if new
#   --sanitizers    ASan+UBSan build (configures DIR with --enable-sanitizers)
#   other arguments go to meson test (e.g. --suite unit, or a test name)
# Environment: NEMU_TEST_LABEL prefixes the summary line ("L: N passed, N failed").
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=build
sanitizers=0
meson_test_args=()
for arg in "$@"; do
    case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --sanitizers) sanitizers=1 ;;
        *) meson_test_args+=("$arg") ;;
    esac
done
cd "$SRC"

configure_args=(--builddir="$builddir" --enable-tests)
[[ $sanitizers == 1 ]] && configure_args+=(--enable-sanitizers)
if [[ ! -f "$builddir/build.ninja" ]]; then
    ./configure "${configure_args[@]}"
elif [[ $sanitizers == 1 ]] && ! meson introspect --buildoptions "$builddir" | python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
sys.exit(0 if opts.get("b_sanitize") == "address,undefined" else 1)'; then
    ./configure "${configure_args[@]}"
fi

ninja -C "$builddir" -j"$(nproc 2>/dev/null || echo 2)"

log="$builddir/meson-logs/testlog.json"
rm -f "$log"
multiplier=1
[[ $sanitizers == 1 ]] && multiplier=3
status=0
meson test -C "$builddir" --no-rebuild --print-errorlogs --timeout-multiplier "$multiplier" \
    "${meson_test_args[@]}" || status=$?

label=()
[[ -n "${NEMU_TEST_LABEL:-}" ]] && label=(--label "$NEMU_TEST_LABEL")
python3 scripts/test-summary.py "${label[@]}" "$log" || status=1
exit "$status"
