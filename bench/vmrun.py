"""Shared helpers for the guest benchmarks (boot.py, vmm_memory.py, exits.py, virtio_blk.py,
virtio_net.py).

Which VMMs run and how (add_vmm_options, select_vmms, vmm_argv, virtio_device): every VMM gets
`-M MACHINE -accel kvm -cpu host -m MEM -smp 1 -nodefaults -no-user-config -display none` and
the same -kernel/-initrd/-append; nemu is KVM-only, QEMU may run under --accel tcg to check a
script without KVM (-cpu max then). Guest tools (guest_initrd): static programs and scripts
appended as a second cpio archive to the lab's initramfs, cached by their sources' hash.

A VMM (nemu or QEMU) is started with its first serial port on one end of a socketpair:
`-chardev socket,id=bench_serial,fd=N -serial chardev:bench_serial` (a connected socket
passed by fd, client mode: both QEMU 7.2 and nemu take it; no listening, so no byte can be
lost before a connection is accepted). The other end is read here and every chunk is
timestamped on arrival (time.perf_counter, relative to just before fork/exec), so a
marker line's arrival time is known to the reader's wake-up latency (tens of µs).
Standard library only.
"""

import bisect
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
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


def add_device_bench_options(ap, initrd_help, append_help, timeout_help):
    """The options the in-guest device benches share: the lab guest (--kernel, --initrd,
    --append), --warmup, --mem, --timeout, --json and --build-only."""
    k, i = lab_guest()
    ap.add_argument("--kernel", default=k, required=k is None)
    ap.add_argument("--initrd", default=i, required=i is None, help=initrd_help)
    ap.add_argument("--append", default=DEFAULT_APPEND, help=append_help)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=float, default=180.0, help=timeout_help)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--build-only", action="store_true",
                    help="build the guest initramfs into the cache, print its path, exit")


# ------------------------------------------------------------------------------------------
# which VMMs, and their command lines


def add_vmm_options(ap, choices, default):
    """--nemu, --qemu, --vmms (a comma-separated subset of choices, in run order), --accel."""
    ap.add_argument("--nemu", default=DEFAULT_NEMU)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--vmms", default=default,
                    help="comma-separated subset of %s, in run order (default: %%(default)s)"
                         % ",".join(choices))
    ap.add_argument("--accel", default="kvm",
                    help="QEMU's accelerator; tcg checks the script and guest without KVM "
                         "(nemu, KVM-only, is then left out)")


def select_vmms(ap, opts, choices, prog):
    """The VMM names of --vmms that can run: unknown names are a usage error; nemu is left out
    (with a message on stderr: its column is pending) under --accel tcg or when its binary is
    missing."""
    names = [n for n in opts.vmms.split(",") if n]
    for n in names:
        if n not in choices:
            ap.error("unknown VMM %r (%s)" % (n, ", ".join(choices)))
    if opts.accel != "kvm" and "nemu" in names:
        print("%s: nemu is KVM-only: left out with --accel %s" % (prog, opts.accel),
              file=sys.stderr)
        names.remove("nemu")
    if "nemu" in names and not os.access(opts.nemu, os.X_OK):
        print("%s: nemu not found at %s: its column is pending" % (prog, opts.nemu),
              file=sys.stderr)
        names.remove("nemu")
    return names


def accel_of(name, opts):
    return "kvm" if name == "nemu" else opts.accel


def vmm_argv(name, machine, opts, kernel, initrd, append):
    """The common command line of VMM `name` ("nemu" or a QEMU machine's name) for -M machine;
    opts carries nemu, qemu, accel and mem."""
    binary = opts.nemu if name == "nemu" else opts.qemu
    accel = accel_of(name, opts)
    return [binary, "-M", machine, "-accel", accel, "-cpu", "host" if accel == "kvm" else "max",
            "-m", opts.mem, "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", kernel, "-initrd", initrd, "-append", append]


def virtio_device(name, spec):
    """-device spec for a virtio-pci device: QEMU makes one on a root bus transitional (legacy
    I/O BAR) unless disable-legacy=on; nemu's are modern only."""
    return ["-device", spec + ("" if name == "nemu" else ",disable-legacy=on")]


# ------------------------------------------------------------------------------------------
# guest tools appended to the lab's initramfs


def guest_initrd(base_initrd, tag, programs=(), files=()):
    """The initramfs base_initrd plus a second archive (the kernel unpacks concatenated
    archives in order) holding `programs` [(path in the guest, C source)] built static with
    $CC (gcc) -O2 and `files` [(path in the guest, file)] copied executable; cached under
    ~/.cache/nemu-bench/TAG by the hash of every input. Returns its path."""
    h = hashlib.sha256()
    for _, src in list(programs) + list(files):
        with open(src, "rb") as f:
            h.update(f.read())
    with open(base_initrd, "rb") as f:
        h.update(f.read())
    h.update(repr([dst for dst, _ in list(programs) + list(files)]).encode())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    out_dir = os.path.join(base, "nemu-bench", tag, h.hexdigest()[:16])
    out = os.path.join(out_dir, "initrd-%s.gz" % tag)
    if os.path.exists(out):
        return out
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tree.", dir=out_dir) as tree:
        names = set()
        for dst, src in list(programs) + list(files):
            parts = dst.split("/")
            for i in range(1, len(parts)):
                names.add("/".join(parts[:i]))
            names.add(dst)
            os.makedirs(os.path.join(tree, os.path.dirname(dst)), exist_ok=True)
        for dst, src in programs:
            subprocess.run([os.environ.get("CC", "gcc"), "-static", "-O2", "-Wall", "-o",
                            os.path.join(tree, dst), src], check=True)
        for dst, src in files:
            shutil.copy(src, os.path.join(tree, dst))
            os.chmod(os.path.join(tree, dst), 0o755)
        r = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=tree,
                           input="".join(n + "\n" for n in sorted(names)).encode(),
                           stdout=subprocess.PIPE, check=True)
        with open(base_initrd, "rb") as f:
            data = f.read() + gzip.compress(r.stdout, compresslevel=6)
        with open(out + ".tmp", "wb") as f:
            f.write(data)
        os.replace(out + ".tmp", out)
    return out


# ------------------------------------------------------------------------------------------
# a running VMM


class VmError(RuntimeError):
    pass


class Alternation:
    """The benches' run order: untimed warm-up boots of each VMM (one whose warm-up fails is
    left out), then rounds that boot each VMM left once, alternating, so load drifting over
    minutes hits both alike. A failed boot is counted and reported, never fatal.

    boot(name) -> result, raising VmError on failure; prog names the script in messages."""

    def __init__(self, names, boot, prog, choices):
        self.active = list(names)
        self.boot = boot
        self.prog = prog
        self.errors = {}
        self.failures = {n: 0 for n in choices}

    def warm_up(self, count):
        for _ in range(count):
            for n in list(self.active):
                try:
                    self.boot(n)
                except VmError as e:
                    self.errors[n] = str(e)
                    self.active.remove(n)
                    print("%s: warm-up boot failed, %s left out:\n%s" % (self.prog, n, e),
                          file=sys.stderr)

    def rounds(self, count):
        """Yields (round index, VMM name, result) for every boot that succeeded."""
        for r in range(count):
            for n in self.active:
                try:
                    res = self.boot(n)
                except VmError as e:
                    self.failures[n] += 1
                    self.errors[n] = str(e)
                    print("%s: run failed (%s):\n%s" % (self.prog, n, e), file=sys.stderr)
                    continue
                yield r, n, res


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
        self.shell_pos = 0      # sh() consumes the serial output from here
        self.shell_n = 0
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
        chunk = None
        if remaining > 0:
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                pass
        if chunk is None:
            raise self.error("timed out" + self.stall_report())
        if not chunk:
            self.eof = True
            raise self.error("serial closed (VMM exited, status %s)" % self.proc.poll())
        self._add_chunk(chunk)

    def _add_chunk(self, chunk):
        """Serial bytes that just arrived: into the buffer, with their arrival time."""
        self.buf += chunk
        self.chunk_ends.append(len(self.buf))
        self.chunk_times.append(time.perf_counter() - self.t0)

    def wait_for(self, marker, timeout, start=0):
        """Index in the serial output of `marker` (bytes) at or after `start`, reading
        until it has arrived completely."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(marker, start)
            if i >= 0:
                return i
            self._read_more(deadline)

    def wait_regex(self, regex, timeout, start=0):
        """The first match of the compiled bytes regex at or after `start`."""
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.buf, start)
            if m:
                return m
            self._read_more(deadline)

    def write(self, data):
        """Bytes to the guest's first serial port (its console's input)."""
        self.sock.sendall(data)

    def sh(self, cmd, timeout=60.0):
        """Run cmd in the lab guest's interactive shell on ttyS0 (tests/vm/l2-init: wait for
        its prompt first, wait_for(b"lab# ")): (exit status, output). The markers are
        printed by the shell, so the tty's echo of the command line does not match them."""
        self.shell_n += 1
        n = self.shell_n
        self.write(b"echo BEGIN-%d; %s; echo END-%d $?\n" % (n, cmd.encode(), n))
        m = self.wait_regex(re.compile(rb"\nBEGIN-%d\r?\n(.*?)END-%d (\d+)\r?\n" % (n, n),
                                       re.S), timeout, self.shell_pos)
        self.shell_pos = m.end()
        return int(m.group(2)), m.group(1).replace(b"\r", b"").decode(errors="replace")

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

    def stall_report(self):
        """After a timeout, what tells a stuck console from a stuck guest: each VMM thread's
        CPU ticks (all / in guest mode) over 2 s, then whether a newline typed on the console
        brings any output back within 5 s. Bytes it brings join the serial buffer."""
        try:
            before = thread_ticks(self.pid)
            time.sleep(2)
            after = thread_ticks(self.pid)
            threads = ", ".join("%s %d/%d" % (name, a - before[tid][1], g - before[tid][2])
                                for tid, (name, a, g) in sorted(after.items()) if tid in before)
        except OSError as e:
            threads = "unreadable (%s)" % e
        echoed = 0
        try:
            self.sock.sendall(b"\n")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self._add_chunk(chunk)
                echoed += len(chunk)
        except (OSError, socket.timeout):
            pass
        return ("\n  VMM threads over 2 s, CPU ticks all/guest (%d per s): %s\n"
                "  console after a newline: %d bytes in 5 s" % (CLK_TCK, threads, echoed))

    def error(self, what):
        serial = bytes(self.buf[-800:]).decode(errors="replace")
        return VmError("%s: %s\n  command: %s\n  VMM output: %s\n  serial tail: %r" % (
            self.label, what, " ".join(self.argv), self.output_tail().strip() or "(none)",
            serial))


CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_ticks(path):
    """(comm, utime + stime, guest_time) from a proc(5) stat file, in clock ticks."""
    with open(path) as f:
        head, rest = f.read().rsplit(")", 1)
    fields = rest.split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, guest_time 43
    return head.split("(", 1)[1], int(fields[11]) + int(fields[12]), int(fields[40])


def cpu_ticks(pid):
    """(utime + stime, guest_time) of the process, in clock ticks."""
    return stat_ticks("/proc/%d/stat" % pid)[1:]


def thread_ticks(pid):
    """{tid: (comm, utime + stime, guest_time)} for each thread of the process."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = stat_ticks("/proc/%d/task/%s/stat" % (pid, tid))
        except OSError:
            continue   # the thread ended meanwhile
    return out


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
