"""The VMM under test and a running L2 test guest: its command line, serial console and QMP.

The guest's console is the VMM's stdio (-nographic). The test guest's init prints
"NEMU-LAB: init" and then runs a shell with the prompt "lab# " on ttyS0; sh() sends
"echo BEGIN-n; CMD; echo END-n $?" and returns the output between the markers and the status.
QMP is a UNIX socket (-qmp unix:PATH,server=on,wait=off); events are collected by a thread.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

INIT_MARKER = "NEMU-LAB: init"
PROMPT = "lab# "
# quiet: every byte on the emulated UART is an exit (~50 us nested); pci=noearly: no early PCI
# scan. The CMOS RTC probe is not blacklisted: the legacy-device check must see it not happen.
APPEND = "console=ttyS0 quiet pci=noearly"
# A lab test exits with this status (EX_TEMPFAIL) when its guest hit a nested-SVM fault and
# the lab can rerun it on a fresh L1 (nemulab/l1.py, nemulab/cli.py).
EXIT_GUEST_FAULT = 75


class GuestError(Exception):
    """The guest or its VMM did not get where the test needed (a timeout, a reset by itself,
    an exit): under nested SVM usually a fault of the emulation, not a failed check."""


def l1_restart_available():
    """True inside a lab L1 that is not the last attempt: a guest fault then ends the run with
    EXIT_GUEST_FAULT and the rest runs on a fresh L1, instead of a retry in this L1 (after a
    fault the same L1 often faults again or freezes)."""
    try:
        return int(os.environ["NEMU_LAB_L1_ATTEMPT"]) < int(os.environ["NEMU_LAB_L1_ATTEMPTS"]) \
            and os.path.isdir(os.environ["NEMU_LAB_STATE"])
    except (KeyError, ValueError):
        return False


class Vmm:
    """kind "nemu" (path = nemu-system-x86_64) or "qemu" (path = qemu-system-x86_64)."""

    def __init__(self, kind, path=None):
        if kind not in ("nemu", "qemu"):
            raise ValueError("vmm kind must be nemu or qemu")
        self.kind = kind
        self.path = os.path.abspath(path) if path and os.sep in path else (path or "qemu-system-x86_64")

    def describe(self):
        return "%s (%s)" % (self.kind, self.path)

    def extra_append(self):
        # QEMU microvm's FADT does not say "no CMOS RTC" (IAPC_BOOT_ARCH bit 5), so Linux
        # registers rtc_cmos and its probe costs ~10 s nested; nemu's is checked, not skipped
        return "" if self.kind == "nemu" else "initcall_blacklist=cmos_init"

    def machine_args(self):
        if self.kind == "nemu":
            return ["-M", "virt", "-accel", "kvm", "-cpu", "host"]
        return ["-M", "microvm,rtc=off", "-accel", "kvm", "-cpu", "host", "-no-user-config"]


class Guest:
    def __init__(self, vmm, art, smp="2", mem="512M", kernel="bzimage", extra=(), append=""):
        self.vmm, self.art = vmm, art
        self.smp, self.mem, self.kernel, self.extra = smp, mem, kernel, list(extra)
        self.append = " ".join(a for a in (APPEND, vmm.extra_append(), append) if a)
        self.proc = None
        self.dir = None
        self.out = ""           # everything the serial console printed (\r removed)
        self.pos = 0            # sh()/wait_for() consume from here
        self.events = []        # QMP events, in order
        self.cond = threading.Condition()
        self.qmp_sock = None
        self.qmp_replies = []
        self.n = 0
        self.t0 = None
        # a RESET event ends every wait with "the guest reset by itself" unless the test
        # expects one (reboot, system_reset)
        self.allow_reset = False

    # ---------------------------------------------------------------------------- life cycle

    def command_line(self):
        k = self.art.vmlinuz if self.kernel == "bzimage" else self.art.vmlinux
        return ([self.vmm.path] + self.vmm.machine_args() +
                ["-m", self.mem, "-smp", self.smp, "-kernel", k, "-initrd", self.art.initrd_l2,
                 "-append", self.append, "-nographic",
                 "-qmp", "unix:%s,server=on,wait=off" % os.path.join(self.dir, "qmp.sock")] +
                self.extra)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="nemu-lab-guest.")
        self.errlog = open(os.path.join(self.dir, "stderr"), "w+")
        self.t0 = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.errlog)
        except OSError as e:
            raise GuestError("cannot start %s: %s" % (self.vmm.path, e))
        threading.Thread(target=self._read_serial, daemon=True).start()
        self._connect_qmp()

    def _read_serial(self):
        while True:
            data = os.read(self.proc.stdout.fileno(), 65536)
            with self.cond:
                if not data:
                    self.cond.notify_all()
                    return
                self.out += data.decode("utf-8", "replace").replace("\r", "")
                self.cond.notify_all()

    def _connect_qmp(self):
        path = os.path.join(self.dir, "qmp.sock")
        deadline = time.monotonic() + 20
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    why = ("the VMM exited with status %d" % self.proc.returncode
                           if self.proc.poll() is not None else "timeout")
                    raise GuestError("QMP socket never appeared (%s); %s"
                                     % (why, self.diagnostics())) from None
                time.sleep(0.05)
        self.qmp_sock = s
        threading.Thread(target=self._read_qmp, daemon=True).start()
        # The greeting comes once the VMM's main loop runs, i.e. after memory preallocation,
        # which under nested SVM on a busy machine took over 10 s for 384 MiB.
        self.wait_reply(lambda m: "QMP" in m, 60)
        self.qmp("qmp_capabilities")

    def _read_qmp(self):
        buf = b""
        while True:
            try:
                data = self.qmp_sock.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.qmp_replies.append({"closed": True})
                    self.cond.notify_all()
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    msg = json.loads(line)
                    (self.events if "event" in msg else self.qmp_replies).append(msg)
                self.cond.notify_all()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.qmp_sock is not None:
            self.qmp_sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GuestError("VMM still running %.0f s later; %s" % (timeout, self.diagnostics()))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    # ---------------------------------------------------------------------------- waiting

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                r = pred()
                if r is not None:
                    return r
                if not self.allow_reset and any(e["event"] == "RESET" for e in self.events):
                    raise GuestError("the guest reset by itself while waiting for %s; %s"
                                     % (what, self.diagnostics()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuestError("timeout (%.0f s) waiting for %s; %s" % (timeout, what, self.diagnostics()))
                if self.proc.poll() is not None and what != "exit":
                    # the process ended: one last look, then fail
                    self.cond.wait(0.2)
                    r = pred()
                    if r is not None:
                        return r
                    raise GuestError("VMM exited (status %s) while waiting for %s; %s"
                                     % (self.proc.returncode, what, self.diagnostics()))
                self.cond.wait(min(left, 0.5))

    def wait_for(self, regex, timeout=60):
        rx = re.compile(regex, re.S)

        def pred():
            m = rx.search(self.out, self.pos)
            if m:
                self.pos = m.end()
            return m
        return self._wait(pred, timeout, repr(regex))

    def wait_init(self, timeout=90):
        self.wait_for(re.escape(INIT_MARKER), timeout)
        self.boot_seconds = time.monotonic() - self.t0
        self.wait_for(re.escape(PROMPT), 30)

    def sh(self, cmd, timeout=30):
        """Run cmd in the guest shell: (status, output)."""
        self.n += 1
        n = self.n
        self.write("echo BEGIN-%d; %s; echo END-%d $?\n" % (n, cmd, n))
        m = self.wait_for(r"\nBEGIN-%d\n(.*?)END-%d (\d+)\n" % (n, n), timeout)
        self.wait_for(re.escape(PROMPT), 10)
        return int(m.group(2)), m.group(1)

    def write(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    # ---------------------------------------------------------------------------- QMP

    def wait_reply(self, pred, timeout):
        def p():
            for i, m in enumerate(self.qmp_replies):
                if pred(m):
                    del self.qmp_replies[i]
                    return m
            return None
        return self._wait(p, timeout, "a QMP reply")

    def qmp(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.qmp_sock.sendall(json.dumps(msg).encode() + b"\n")
        r = self.wait_reply(lambda m: "return" in m or "error" in m or "closed" in m, 20)
        if "closed" in r:
            raise GuestError("QMP closed while waiting for the reply to %s" % cmd)
        return r

    def wait_event(self, name, timeout=60, start=0):
        """The first event called name at index >= start."""
        def p():
            for e in self.events[start:]:
                if e["event"] == name:
                    return e
            return None
        return self._wait(p, timeout, "QMP event " + name)

    # ---------------------------------------------------------------------------- reports

    def diagnostics(self):
        self.errlog.flush()
        self.errlog.seek(0)
        err = self.errlog.read()[-1500:]
        tail = "\n".join(self.out.splitlines()[-25:])
        return ("command: %s\n--- VMM stderr ---\n%s\n--- serial console (tail) ---\n%s\n"
                "--- QMP events ---\n%s" % (shlex.join(self.command_line()), err, tail,
                                            [e["event"] for e in self.events]))


def boot_with_retries(make_guest, collect, on_retry, attempts=3):
    """Boot make_guest() and run collect(guest) -> outputs inside the retried part.

    The nested-SVM faults (a vCPU reset by a triple fault, or a guest that stops making
    progress; QEMU microvm shows both in the same L1) get attempts - 1 visible retries with a
    fresh guest: on_retry(attempt, reason) reports each. A last failure is raised. Where the
    lab can restart L1 (l1_restart_available) the first failure is raised at once: the run
    goes on in a fresh L1. Returns (guest, outputs)."""
    if l1_restart_available():
        attempts = 1
    for attempt in range(1, attempts + 1):
        g = make_guest()
        g.start()
        try:
            g.wait_init()
            outs = collect(g)
            if any(e["event"] == "RESET" for e in g.events):
                raise GuestError("the guest reset by itself")
        except GuestError as err:
            g.kill()
            if attempt < attempts:
                on_retry(attempt, str(err).split(";")[0])
                continue
            raise
        return g, outs
