"""Shared helpers for the guest benchmarks (boot.py, vmm_memory.py, exits.py).

A VMM (nemu or QEMU) is started with its first serial port on one end of a socketpair:
`-chardev socket,id=bench_serial,fd=N -serial chardev:bench_serial` (a connected socket
passed by fd, client mode: both QEMU 7.2 and nemu take it; no listening, so no byte can be
lost before a connection is accepted). The other end is read here and every chunk is
timestamped on arrival (time.perf_counter, relative to just before fork/exec), so a
marker line's arrival time is known to the reader's wake-up latency (tens of µs).
Standard library only.
"""

import bisect
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time

SERIAL_ID = "bench_serial"
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_NEMU = os.path.join(REPO, "build-main", "system", "nemu-system-x86_64")
# Same command line for every VMM. pci=noearly: the early PCI scan costs seconds under nested
# KVM (tests/vm/README.md); initcall_blacklist=cmos_init: QEMU microvm's FADT does not say
# "no CMOS RTC", so Linux probes one for ~10 s nested; nemu's virt has none either way.
DEFAULT_APPEND = "console=ttyS0 quiet pci=noearly initcall_blacklist=cmos_init"
MARKER = "NEMU-LAB: init"


def lab_guest():
    """(kernel, initrd) of the lab's test guest (tests/vm/lab setup), or (None, None)."""
    cache = os.environ.get("NEMU_LAB_CACHE", "/var/cache/nemu-lab")
    try:
        with open(os.path.join(cache, "current")) as f:
            d = os.path.join(cache, f.read().strip())
    except OSError:
        return None, None
    k, i = os.path.join(d, "vmlinuz"), os.path.join(d, "initrd-l2.gz")
    return (k, i) if os.path.exists(k) and os.path.exists(i) else (None, None)


def add_guest_options(ap):
    """--kernel/--initrd/--append/--marker, defaulting to the lab's test guest."""
    k, i = lab_guest()
    ap.add_argument("--kernel", default=k, required=k is None,
                    help="bzImage (default: the lab's, %(default)s)")
    ap.add_argument("--initrd", default=i, required=i is None,
                    help="initramfs whose init prints the marker (default: the lab's, "
                         "%(default)s; or bench/guest/mkinitrd.sh OUT)")
    ap.add_argument("--append", default=DEFAULT_APPEND,
                    help="kernel command line, the same for every VMM (default: %(default)s)")
    ap.add_argument("--marker", default=MARKER, help="default: %(default)s")


class VmError(RuntimeError):
    pass


class Vm:
    """One VMM process with its serial console captured and timestamped."""

    def __init__(self, argv, label):
        self.label = label
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        self.argv = list(argv) + ["-chardev", "socket,id=%s,fd=%d" % (SERIAL_ID, fd),
                                  "-serial", "chardev:" + SERIAL_ID]
        self.log = tempfile.TemporaryFile(prefix="nemu-bench-vmm-")
        self.sock = ours
        self.buf = bytearray()
        self.chunk_ends = []    # offset one past each chunk's last byte
        self.chunk_times = []   # its arrival time, seconds since t0
        self.eof = False
        self.t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(self.argv, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT)
        except OSError as e:
            ours.close()
            self.log.close()
            raise VmError("%s: cannot start %s: %s" % (label, self.argv[0], e)) from e
        finally:
            theirs.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    @property
    def pid(self):
        return self.proc.pid

    def _read_more(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self.error("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise self.error("timed out") from None
        now = time.perf_counter() - self.t0
        if not chunk:
            self.eof = True
            raise self.error("serial closed (VMM exited, status %s)" % self.proc.poll())
        self.buf += chunk
        self.chunk_ends.append(len(self.buf))
        self.chunk_times.append(now)

    def wait_for(self, marker, timeout, start=0):
        """Index in the serial output of `marker` (bytes) at or after `start`, reading
        until it has arrived completely."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(marker, start)
            if i >= 0:
                return i
            self._read_more(deadline)

    def time_of(self, index):
        """Seconds from spawn to the arrival of the serial byte at `index`."""
        return self.chunk_times[bisect.bisect_right(self.chunk_ends, index)]

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGSTOP: freeze the VMM (and the guest) so /proc can be read at leisure."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.sock.close()
        self.log.close()

    def output_tail(self, limit=2000):
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text[-limit:]

    def error(self, what):
        serial = bytes(self.buf[-800:]).decode(errors="replace")
        return VmError("%s: %s\n  command: %s\n  VMM output: %s\n  serial tail: %r" % (
            self.label, what, " ".join(self.argv), self.output_tail().strip() or "(none)",
            serial))


def parse_size(text):
    """QEMU-style size with an optional K/M/G/T suffix (default unit for -m: MiB)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(float(t) * (1 << 20))


def summary(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def fmt(value, spec="%.1f"):
    return spec % value if value is not None else "pending"


def ratio(a, b, spec="%.2f"):
    if a is None or b is None or b == 0:
        return "pending"
    return spec % (a / b)


def median_of(results, key):
    s = results.get(key)
    return s["median"] if s else None


def print_json(obj):
    print(json.dumps(obj, indent=2, sort_keys=False))
