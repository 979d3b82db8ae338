#!/usr/bin/env python3
"""Start-up benchmark: process start to QMP greeting, and to the reply of the first
query-status (after qmp_capabilities), for nemu and QEMU in the same run, alternating.

usage: bench/startup.py [--nemu PATH] [--qemu PATH] [--runs N] [--nemu-accel ACCEL]

The QMP monitor is a listening UNIX socket made here and passed as an inherited fd
(-chardev socket,fd=N,server=on,wait=off -mon chardev=...,mode=control); the client
connects before the process is even started, so the time measured is the binary's own:
from just before fork/exec to the greeting line (and to the query-status reply).
Prints a markdown table (medians over N runs each) and the stripped size of nemu.
Standard library only; `strip` (binutils) is used for the size.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NEMU = os.path.join(HERE, "..", "build-main", "system", "nemu-system-x86_64")
TIMEOUT = 20.0


def read_line(sock, buf, deadline):
    while b"\n" not in buf[0]:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("monitor closed before replying")
        buf[0] += chunk
    line, _, buf[0] = buf[0].partition(b"\n")
    return line


def one_run(argv_prefix):
    """Returns (ms to greeting, ms to query-status reply)."""
    with tempfile.TemporaryDirectory(prefix="nemu-bench-") as tmp:
        path = os.path.join(tmp, "qmp.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)       # queued in the backlog until the child accepts
        fd = ls.fileno()
        argv = argv_prefix + ["-chardev", "socket,id=mon0,fd=%d,server=on,wait=off" % fd,
                              "-mon", "chardev=mon0,mode=control"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ls.close()
        try:
            buf = [b""]
            deadline = time.monotonic() + TIMEOUT
            read_line(c, buf, deadline)
            t1 = time.perf_counter()
            c.sendall(b'{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n')
            read_line(c, buf, deadline)
            line = read_line(c, buf, deadline)
            while b'"event"' in line:
                line = read_line(c, buf, deadline)
            t2 = time.perf_counter()
            if b'"return"' not in line:
                raise RuntimeError("query-status failed: %r" % line)
            c.sendall(b'{"execute":"quit"}\n')
            proc.wait(TIMEOUT)
        except Exception:
            proc.kill()
            proc.wait()
            raise RuntimeError("%s: %s" % (" ".join(argv), proc.stderr.read().decode(
                errors="replace")))
        finally:
            proc.stderr.close()
            c.close()
        return (t1 - t0) * 1000.0, (t2 - t0) * 1000.0


def stripped_size(binary):
    strip = shutil.which("strip")
    if not strip:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "bin")
        shutil.copy(binary, copy)
        subprocess.run([strip, copy], check=True)
        return os.path.getsize(copy)


def fmt_ms(values):
    return "%.1f" % statistics.median(values) if values else "pending"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nemu", default=os.path.normpath(DEFAULT_NEMU))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--nemu-accel", default="",
                    help="-accel value for nemu (default: none, nemu's own default)")
    opts = ap.parse_args()

    qemu_argv = [opts.qemu, "-M", "none", "-accel", "tcg", "-display", "none", "-nodefaults"]
    nemu_argv = [opts.nemu, "-M", "none", "-display", "none", "-nodefaults"]
    if opts.nemu_accel:
        nemu_argv += ["-accel", opts.nemu_accel]
    have_nemu = os.access(opts.nemu, os.X_OK)
    nemu_error = None
    if have_nemu:
        try:
            one_run(nemu_argv)      # warm the page cache once, like QEMU's below
        except RuntimeError as e:
            have_nemu, nemu_error = False, str(e)
    one_run(qemu_argv)

    res = {"nemu": ([], []), "qemu": ([], [])}
    for _ in range(opts.runs):
        if have_nemu:
            g, s = one_run(nemu_argv)
            res["nemu"][0].append(g)
            res["nemu"][1].append(s)
        g, s = one_run(qemu_argv)
        res["qemu"][0].append(g)
        res["qemu"][1].append(s)

    def ratio(i):
        if not res["nemu"][i]:
            return "pending"
        return "%.2f" % (statistics.median(res["nemu"][i]) / statistics.median(res["qemu"][i]))

    size = stripped_size(opts.nemu) if os.path.exists(opts.nemu) else None
    qsize = stripped_size(shutil.which(opts.qemu) or opts.qemu)
    print("| binary | start → QMP greeting (ms, median) | start → query-status reply "
          "(ms, median) | stripped size |")
    print("|---|---|---|---|")
    print("| nemu (`-M none%s`) | %s | %s | %s |" % (
        " -accel " + opts.nemu_accel if opts.nemu_accel else "", fmt_ms(res["nemu"][0]),
        fmt_ms(res["nemu"][1]), "%.2f MiB" % (size / 1048576) if size else "pending"))
    print("| QEMU 7.2 (`-M none -accel tcg`) | %s | %s | %s |" % (
        fmt_ms(res["qemu"][0]), fmt_ms(res["qemu"][1]),
        "%.2f MiB" % (qsize / 1048576) if qsize else "?"))
    print("| ratio nemu/QEMU | %s | %s | %s |" % (
        ratio(0), ratio(1), "%.3f" % (size / qsize) if size and qsize else "pending"))
    print()
    print("%d alternating runs each; goals: greeting ≤ 10 ms and ≤ 0.2× QEMU; "
          "nemu ≤ 4 MiB stripped." % opts.runs)
    if nemu_error:
        print("nemu did not start: %s" % nemu_error.strip(), file=sys.stderr)
    elif not have_nemu:
        print("nemu not found at %s: its column is pending" % opts.nemu, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
