#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang and run every fuzz_* executable for a bounded
# time. Prints one line per harness and "fuzz: N passed, N failed"; non-zero on any crash,
# leak, sanitizer report or hang. Crash inputs land in DIR/fuzz-artifacts/.
#
# usage: scripts/fuzz.sh [--builddir=DIR] [--runs=N] [--max-time=SECONDS]
#   defaults: DIR=build-fuzz, N=200000 runs, 60 s per harness (whichever ends first)
# Seeds: tests/fuzz/corpus/<harness>/ is used when present (never written to).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=build-fuzz
runs=200000
max_time=60
for arg in "$@"; do
    case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --runs=*) runs=${arg#*=} ;;
        --max-time=*) max_time=${arg#*=} ;;
        *) echo "usage: $0 [--builddir=DIR] [--runs=N] [--max-time=SECONDS]" >&2; exit 2 ;;
    esac
done
cd "$SRC"

if [[ ! -f "$builddir/build.ninja" ]]; then
    CXX=${CXX:-clang++} ./configure --builddir="$builddir" --enable-fuzzing --disable-tests
fi
ninja -C "$builddir" -j"$(nproc 2>/dev/null || echo 2)"

mapfile -t harnesses < <(find "$builddir" -type f -name 'fuzz_*' -perm -u+x | sort)
log="$builddir/meson-logs/fuzzlog.json"
mkdir -p "$builddir/meson-logs" "$builddir/fuzz-artifacts" "$builddir/fuzz-logs"
: > "$log"
if [[ ${#harnesses[@]} -eq 0 ]]; then
    echo "fuzz: no fuzz_* executables in $builddir (configured without --enable-fuzzing?)" >&2
    exit 1
fi

# UBSan findings must stop the run (libFuzzer then saves the input); ASan's leak check at
# exit stays on.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
for exe in "${harnesses[@]}"; do
    name=$(basename "$exe")
    corpus="$work/$name"
    mkdir -p "$corpus"
    seeds=()
    [[ -d "tests/fuzz/corpus/$name" ]] && seeds=("tests/fuzz/corpus/$name")
    out="$builddir/fuzz-logs/$name.log"
    start=$SECONDS
    if "$exe" -runs="$runs" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$builddir/fuzz-artifacts/$name-" \
            "$corpus" "${seeds[@]}" > "$out" 2>&1; then
        result=OK
        done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out" | tail -1 || true)
        echo "$name: OK (${done_line:-finished} in $((SECONDS - start)) s)"
    else
        result=FAIL
        status=1
        echo "$name: FAILED after $((SECONDS - start)) s; last lines of $out:"
        tail -40 "$out" | sed 's/^/    /'
    fi
    printf '{"name": "%s", "result": "%s"}\n' "$name" "$result" >> "$log"
done

python3 scripts/test-summary.py --label fuzz "$log" || status=1
exit "$status"
