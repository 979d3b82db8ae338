"""L1: a QEMU-TCG VM (-cpu max: AMD SVM + NPT) whose Debian kernel loads kvm_amd, so commands
run inside it get a real /dev/kvm. The host root is shared read-only (9p) under a tmpfs overlay,
the working directory read-write at the same path; stdout/stderr come back over virtio-serial
ports (files on the host, streamed live); a heartbeat port lets a watchdog notice a frozen L1
(~2 in 100 nested boots freeze the whole L1 under TCG).

A frozen or dead L1, and a command that exits with vmm.EXIT_GUEST_FAULT (its guest reset by
itself or stopped making progress: the nested-SVM faults, after which the same L1 often fails
again or freezes), are retried on a fresh L1, up to NEMU_LAB_L1_ATTEMPTS L1s in all (default 8).
Every attempt shares one read-write state directory, NEMU_LAB_STATE, in which the lab tests
record what passed (nemulab/cli.py), so a fresh L1 runs only what is left.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import artefacts
from .vmm import EXIT_GUEST_FAULT

QEMU = os.environ.get("NEMU_LAB_QEMU", "qemu-system-x86_64")
EXIT_TIMEOUT = 124
EXIT_LAB_FAILED = 125
# no heartbeat for this long after the first one = L1 froze; before the first one, the boot limit
WATCHDOG_SEC = float(os.environ.get("NEMU_LAB_WATCHDOG", "60"))
BOOT_LIMIT_SEC = float(os.environ.get("NEMU_LAB_BOOT_LIMIT", "180"))
_ENV_SKIP = {"BASH", "BASHOPTS", "SHELLOPTS", "SHLVL", "PWD", "OLDPWD", "_", "TERM", "DISPLAY",
             "TMUX", "TMUX_PANE", "DBUS_SESSION_BUS_ADDRESS", "COLUMNS", "LINES"}

log = artefacts.log


class Options:
    def __init__(self):
        self.mem = os.environ.get("NEMU_LAB_MEM", "3G")
        self.smp = os.environ.get("NEMU_LAB_SMP", "2")
        self.cpu = os.environ.get("NEMU_LAB_CPU", "max")
        # TCG's thread mode for L1: "multi" (one host thread per vCPU) or "single".
        self.tcg_thread = os.environ.get("NEMU_LAB_TCG_THREAD", "multi")
        self.l1_attempts = max(1, int(os.environ.get("NEMU_LAB_L1_ATTEMPTS", "8")))
        self.timeout = float(os.environ.get("NEMU_LAB_TIMEOUT", "3600"))
        self.shares = []
        self.env = []
        self.keep = False
        self.verbose = False
        self.console = False  # "lab shell": the command runs on the virtio console (a TTY)
        self.stdin_data = None  # "lab shell" without a TTY: this is the command's stdin


def _command_script(argv, opts, cwd):
    lines = ["# written by tests/vm/lab"]
    for k, v in sorted(os.environ.items()):
        if k in _ENV_SKIP or k.startswith(("SSH_", "XDG_")) or not k.replace("_", "a").isalnum() \
                or k[0].isdigit():
            continue
        lines.append("export %s=%s" % (k, shlex.quote(v)))
    for e in opts.env:
        k, _, v = e.partition("=")
        lines.append("export %s=%s" % (k, shlex.quote(v)))
    lines.append("export NEMU_LAB_GUEST=1 NEMU_LAB_CACHE=%s" % shlex.quote(artefacts.cache_root()))
    if opts.console:
        lines.append("export TERM=%s" % shlex.quote(os.environ.get("TERM", "vt100")))
    lines.append("cd %s 2>/dev/null || cd /" % shlex.quote(cwd))
    redirect = " < /run/nemu-lab/stdin" if opts.stdin_data is not None else ""
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv) + redirect)
    return "\n".join(lines) + "\n"


def _qemu_args(art, run, opts, shares):
    args = [QEMU, "-accel", "tcg,thread=" + opts.tcg_thread, "-M", "pc", "-cpu", opts.cpu, "-smp", str(opts.smp),
            "-m", opts.mem, "-nodefaults", "-no-user-config", "-display", "none",
            "-monitor", "none", "-no-reboot",
            "-serial", "file:%s/console.log" % run,
            "-kernel", art.vmlinuz, "-initrd", art.initrd_l1,
            "-append", "console=ttyS0 quiet loglevel=4 panic=-1 " + os.environ.get("NEMU_LAB_APPEND", ""),
            "-device", "virtio-rng-pci",
            "-virtfs", "local,path=%s,mount_tag=nemulab_ctl,security_model=none,id=ctl" % run,
            "-virtfs", "local,path=/,mount_tag=nemulab_root,security_model=none,multidevs=remap,"
                       "readonly=on,id=root",
            "-device", "virtio-serial-pci"]
    for name in ("stdout", "stderr", "heartbeat"):
        args += ["-chardev", "file,id=c%s,path=%s/%s" % (name, run, name),
                 "-device", "virtserialport,chardev=c%s,name=nemulab.%s" % (name, name)]
    if opts.console:
        args += ["-chardev", "stdio,id=con,signal=off", "-device", "virtconsole,chardev=con"]
    for i, s in enumerate(shares):
        args += ["-virtfs", "local,path=%s,mount_tag=nemulab_s%d,security_model=none,"
                            "multidevs=remap,id=s%d" % (s, i, i)]
    return args


class _Tail:
    def __init__(self, path, out):
        self.path, self.out, self.pos = path, out, 0

    def pump(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        if data:
            self.pos += len(data)
            self.out.buffer.write(data)
            self.out.flush()


def _boot_once(art, argv, opts, attempt):
    """Returns (status, l1_failed): l1_failed when L1 froze or died before CMD reported."""
    cwd = os.getcwd()
    shares = [os.path.realpath(s) for s in opts.shares]
    if cwd != "/" and cwd not in shares:
        shares.insert(0, cwd)
    run = tempfile.mkdtemp(prefix="nemu-lab.", dir=os.environ.get("NEMU_LAB_TMPDIR", "/tmp"))
    proc = None
    try:
        with open(os.path.join(run, "mode"), "w") as f:
            f.write("console\n" if opts.console else "stream\n")
        with open(os.path.join(run, "cmd.sh"), "w") as f:
            f.write(_command_script(argv, opts, cwd))
        with open(os.path.join(run, "shares"), "w") as f:
            f.write("".join("nemulab_s%d\t%s\n" % (i, s) for i, s in enumerate(shares)))
        for name in ("stdout", "stderr", "heartbeat", "console.log"):
            open(os.path.join(run, name), "w").close()
        if opts.stdin_data is not None:
            with open(os.path.join(run, "stdin"), "wb") as f:
                f.write(opts.stdin_data)
        args = _qemu_args(art, run, opts, shares)
        t0 = time.monotonic()
        stdin = None if opts.console else subprocess.DEVNULL
        with open(os.path.join(run, "qemu.log"), "w") as qlog:
            proc = subprocess.Popen(args, stdin=stdin, stdout=None if opts.console else qlog,
                                    stderr=qlog, start_new_session=not opts.console)
        tails = [] if opts.console else [_Tail(os.path.join(run, "stdout"), sys.stdout),
                                         _Tail(os.path.join(run, "stderr"), sys.stderr)]
        hb_path = os.path.join(run, "heartbeat")
        hb_size, hb_time, first_hb = 0, time.monotonic(), None
        froze = timed_out = False
        while True:
            try:
                qrc = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            for t in tails:
                t.pump()
            now = time.monotonic()
            size = os.path.getsize(hb_path)
            if size != hb_size:
                hb_size, hb_time = size, now
                if first_hb is None:
                    first_hb = now - t0
            limit = WATCHDOG_SEC if first_hb is not None else BOOT_LIMIT_SEC
            if now - hb_time > limit:
                froze = True
            elif now - t0 > opts.timeout:
                timed_out = True
            if froze or timed_out:
                proc.kill()
                qrc = proc.wait()
                break
        for t in tails:
            t.pump()
        wall = time.monotonic() - t0
        if os.environ.get("NEMU_LAB_TIMING") == "1":
            log("L1 wall time %.1f s (first heartbeat at %s s)" %
                (wall, "%.1f" % first_hb if first_hb is not None else "-"))
        if opts.verbose:
            sys.stderr.write("---- L1 console ----\n" + open(os.path.join(run, "console.log"),
                                                             errors="replace").read())
        rc_path = os.path.join(run, "rc")
        if os.path.exists(rc_path) and open(rc_path).read().strip():
            return int(open(rc_path).read().strip()), False
        if froze:
            log("L1 froze: no heartbeat for %.0f s (attempt %d)" % (limit, attempt))
            _console_tail(run)
            return EXIT_LAB_FAILED, True
        if timed_out:
            log("timeout after %.0f s" % opts.timeout)
            return EXIT_TIMEOUT, False
        # L1 reset or powered off before the command reported (with -no-reboot a triple fault
        # or panic ends QEMU): like a freeze, a TCG nested-SVM fault, not the command's doing
        log("L1 ended without a status (qemu rc=%s, attempt %d); qemu log and console tail:"
            % (qrc, attempt))
        sys.stderr.write(open(os.path.join(run, "qemu.log"), errors="replace").read()[-2000:])
        _console_tail(run)
        return EXIT_LAB_FAILED, True
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if opts.keep:
            log("run directory kept: " + run)
        else:
            shutil.rmtree(run, ignore_errors=True)


def _console_tail(run):
    lines = open(os.path.join(run, "console.log"), errors="replace").read().splitlines()
    sys.stderr.write("".join("  | %s\n" % l for l in lines[-30:]))


def run(argv, opts):
    """Run argv in a fresh L1; exit status = argv's. A failed L1 or a guest fault is retried
    visibly on another fresh L1 (opts.l1_attempts in all), with the state directory kept."""
    art = artefacts.ensure()
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    state = tempfile.mkdtemp(prefix="nemu-lab-state.", dir=os.environ.get("NEMU_LAB_TMPDIR", "/tmp"))
    base_env, base_shares = list(opts.env), list(opts.shares)
    try:
        for attempt in range(1, opts.l1_attempts + 1):
            opts.env = base_env + ["NEMU_LAB_STATE=" + state, "NEMU_LAB_L1_ATTEMPT=%d" % attempt,
                                   "NEMU_LAB_L1_ATTEMPTS=%d" % opts.l1_attempts]
            opts.shares = base_shares + [state]
            status, l1_failed = _boot_once(art, argv, opts, attempt)
            if status == EXIT_GUEST_FAULT and attempt < opts.l1_attempts:
                why = "the command's guest hit a nested-SVM fault (reported above)"
            elif l1_failed and attempt < opts.l1_attempts:
                why = "L1 froze or died: a TCG nested-SVM fault, not the command's result"
            else:
                return status
            log("RETRY: running the command again on a fresh L1 (attempt %d of %d failed: %s)"
                % (attempt, opts.l1_attempts, why))
        return status
    finally:
        opts.env, opts.shares = base_env, base_shares
        signal.signal(signal.SIGTERM, old)
        shutil.rmtree(state, ignore_errors=True)
