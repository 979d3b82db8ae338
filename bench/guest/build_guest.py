#!/usr/bin/env python3
"""Build the exitloop PVH guest (exitloop.S + exitloop.ld beside this file) with Debian's
gcc (preprocessor + as) and ld, outside the repository: into --out, or by default
${XDG_CACHE_HOME:-~/.cache}/nemu-bench/exitloop-<pio>-<mmio>/exitloop.elf. Rebuilt when a
source is newer than the ELF. Prints the ELF's path.

usage: bench/guest/build_guest.py [--pio-count N] [--mmio-count N] [--out DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [os.path.join(HERE, "exitloop.S"), os.path.join(HERE, "exitloop.ld")]


def cache_dir(pio_count, mmio_count):
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nemu-bench", "exitloop-%d-%d" % (pio_count, mmio_count))


def build(pio_count, mmio_count, out_dir=None):
    """Path of exitloop.elf for these counts, building it if missing or stale."""
    out_dir = out_dir or cache_dir(pio_count, mmio_count)
    elf = os.path.join(out_dir, "exitloop.elf")
    newest = max(os.path.getmtime(s) for s in SOURCES)
    if os.path.exists(elf) and os.path.getmtime(elf) >= newest:
        return elf
    os.makedirs(out_dir, exist_ok=True)
    gcc = os.environ.get("CC", "gcc")
    ld = os.environ.get("LD", "ld")
    with tempfile.TemporaryDirectory(prefix="nemu-exitloop-", dir=out_dir) as tmp:
        obj = os.path.join(tmp, "exitloop.o")
        tmp_elf = os.path.join(tmp, "exitloop.elf")
        # The guest is 32-bit code (.code32) in an ELF64 object, like Linux's vmlinux with its
        # PVH entry; -march/-m flags of the host do not matter for hand-written assembly.
        subprocess.run([gcc, "-c", "-nostdlib", "-DPIO_COUNT=%d" % pio_count,
                        "-DMMIO_COUNT=%d" % mmio_count, "-o", obj, SOURCES[0]], check=True)
        subprocess.run([ld, "-T", SOURCES[1], "-nostdlib", "-static", "-z", "noexecstack",
                        "--no-warn-rwx-segments", "-o", tmp_elf, obj], check=True)
        os.replace(tmp_elf, elf)
    return elf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pio-count", type=int, default=20000)
    ap.add_argument("--mmio-count", type=int, default=20000)
    ap.add_argument("--out", default=None)
    opts = ap.parse_args()
    if not shutil.which(os.environ.get("CC", "gcc")):
        print("build_guest.py: gcc not found (apt-get install gcc binutils)", file=sys.stderr)
        return 1
    try:
        print(build(opts.pio_count, opts.mmio_count, opts.out))
    except subprocess.CalledProcessError as e:
        print("build_guest.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
