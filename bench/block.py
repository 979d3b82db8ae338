#!/usr/bin/env python3
"""Block-layer benchmark: nemu's block layer (tests/block nemu-io bench) beside
`qemu-img bench` on the same image files, in the same run, alternating (issue #6).

usage: bench/block.py [--nemu-io PATH] [--runs N] [--dir DIR] [--quick] [--size all|4k|1m]

Rows: 4 KiB "random" reads and writes and 1 MiB sequential reads and writes, on raw and
qcow2 images, queue depth 1 and 32, cache=none (O_DIRECT) with aio=io_uring for both tools.
qemu-img bench has no random pattern: its requests go STEP bytes apart, wrapping at the end of
the image, so the 4 KiB rows use a step of 1 MiB + 4 KiB over a 1 GiB image (every request in
a different 1 MiB region, no two neighbours adjacent), which defeats read-ahead as random I/O
does; nemu-io bench issues the same offsets in the same order. The images are fully written
first (qcow2: every cluster allocated), so writes are overwrites in both tools.

For each row: median wall time over N runs of each tool → requests/s (or MiB/s), the ratio
nemu/QEMU (> 1 = nemu faster), and the CPU time (user+sys from wait4) per request. The tools
take turns going first, run by run.

Prints a markdown table. Standard library only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NEMU_IO = os.path.join(HERE, "..", "build", "tests", "nemu-io")
GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10


def rows(quick):
    count4k = 4000 if quick else 40000
    # 8,000 x 1 MiB: with 1,000 the rows lasted well under a second and moved by +-40 % between
    # runs of the same tool on a virtual disk (docs/performance.md, block layer).
    count1m = 800 if quick else 8000
    out = []
    for fmt in ("raw", "qcow2"):
        for write in (False, True):
            for depth in (1, 32):
                out.append(dict(fmt=fmt, write=write, depth=depth, size=4 * KiB, step=MiB + 4 * KiB,
                                count=count4k, name="4 KiB random"))
            for depth in (1, 32):
                out.append(dict(fmt=fmt, write=write, depth=depth, size=MiB, step=MiB,
                                count=count1m, name="1 MiB sequential"))
    return out


def bench_args(row):
    args = ["-c", str(row["count"]), "-d", str(row["depth"]), "-s", str(row["size"]),
            "-S", str(row["step"]), "-t", "none", "-i", "io_uring", "-f", row["fmt"]]
    if row["write"]:
        args.append("-w")
    return args


def run_one(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if status != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), status, err))
    return wall, ru.ru_utime + ru.ru_stime


def make_images(d):
    imgs = {}
    for fmt in ("raw", "qcow2"):
        path = os.path.join(d, "bench." + fmt)
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, str(GiB)], check=True)
        # Allocate everything, so writes are overwrites and reads hit data.
        subprocess.run(["qemu-io", "-f", fmt, "-t", "none", "-c", "write -P 0x5a 0 1G", path],
                       check=True, stdout=subprocess.DEVNULL)
        imgs[fmt] = path
    return imgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nemu-io", default=DEFAULT_NEMU_IO)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where the 1 GiB images go (default: a temp dir in /var/tmp)")
    ap.add_argument("--quick", action="store_true", help="10x fewer requests (smoke run)")
    ap.add_argument("--size", choices=("all", "4k", "1m"), default="all", help="only the 4 KiB or the 1 MiB rows")
    opts = ap.parse_args()
    d = tempfile.mkdtemp(prefix="nemu-block-bench-", dir=opts.dir or "/var/tmp")
    try:
        run_rows(opts, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_rows(opts, d):
    imgs = make_images(d)
    print("| workload | format | rw | QD | nemu | qemu-img bench | ratio | CPU µs/req nemu | CPU µs/req QEMU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows(opts.quick):
        if opts.size != "all" and (row["size"] >= MiB) != (opts.size == "1m"):
            continue
        args = bench_args(row) + [imgs[row["fmt"]]]
        tools = {"nemu": [opts.nemu_io, "bench"] + args, "qemu": ["qemu-img", "bench"] + args}
        wall = {"nemu": [], "qemu": []}
        cpu = {"nemu": [], "qemu": []}
        for run in range(opts.runs):
            for tool in (("nemu", "qemu") if run % 2 == 0 else ("qemu", "nemu")):
                w, c = run_one(tools[tool])
                wall[tool].append(w)
                cpu[tool].append(c)
        med = {t: statistics.median(wall[t]) for t in wall}
        per_req_cpu = {t: statistics.median(cpu[t]) / row["count"] * 1e6 for t in cpu}
        if row["size"] >= MiB:
            rate = {t: row["count"] * row["size"] / MiB / med[t] for t in med}
            unit = "MiB/s"
        else:
            rate = {t: row["count"] / med[t] for t in med}
            unit = "req/s"
        print("| %s | %s | %s | %d | %.0f %s | %.0f %s | %.2f× | %.1f | %.1f |" % (
            row["name"], row["fmt"], "write" if row["write"] else "read", row["depth"],
            rate["nemu"], unit, rate["qemu"], unit, rate["nemu"] / rate["qemu"],
            per_req_cpu["nemu"], per_req_cpu["qemu"]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
