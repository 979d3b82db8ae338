#!/usr/bin/env python3
"""Write system/startup-order.txt: the text sections of the functions nemu runs to boot a guest.

The linker (gold, --section-ordering-file; system/meson.build) puts these sections together at
the start of the binary's text. Why: the kernel maps file pages 64 KiB at a time around each
page fault ("fault-around"), so a few hundred start-up functions scattered over 3 MiB of text
kept about 2.2 MiB of the binary resident; packed, they need a few hundred KiB
(docs/performance.md, "VMM memory beside guest RAM").

How: the binary runs twice under valgrind's callgrind, which lists every function that ran:
  1. start-up with `-M virt -accel qtest` and a QMP session (what libvirt's probe does);
  2. a boot of the lab's test guest under KVM up to its init's marker (needs a /dev/kvm that
     boots Linux: run this script inside the lab).
Each function of the binary that ran becomes the line `.text.<mangled name>` (-ffunction-
sections names each function's section so). Lines are sorted, so the file diffs well. A stale
list costs memory, never correctness: the linker ignores names it does not find.

usage (from the top of the tree, after `ninja -C build`):
    tests/vm/lab run -- scripts/startup_order.py --nemu build/system/nemu-system-x86_64
Needs valgrind (Debian package valgrind), which the tests do not need.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import vmrun  # noqa: E402

APPEND = "console=ttyS0 quiet pci=noearly initcall_blacklist=cmos_init"


def callgrind(out):
    # --vgdb=no: no FIFOs in /tmp (the lab's /tmp may not hold them). --demangle=no: the
    # names are matched with nm's exactly (valgrind's demangler spells some differently).
    return ["valgrind", "--tool=callgrind", "--vgdb=no", "--demangle=no",
            "--callgrind-out-file=" + out]


def qmp_exchange(path, timeout=120.0):
    """Wait for the QMP socket, then greeting, qmp_capabilities, query-status, quit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise RuntimeError("no QMP socket at %s" % path)
            time.sleep(0.1)
    with s:
        s.settimeout(timeout)
        f = s.makefile("rwb")
        f.readline()
        for cmd in ("qmp_capabilities", "query-status", "quit"):
            f.write(b'{"execute": "%s"}\n' % cmd.encode())
            f.flush()
            f.readline()


def profile_qtest(nemu, out, tmp):
    qmp = os.path.join(tmp, "qmp.sock")
    qtest = os.path.join(tmp, "qtest.sock")
    argv = callgrind(out) + [nemu, "-M", "virt", "-accel", "qtest", "-m", "256M", "-nodefaults",
                             "-display", "none", "-qtest", "unix:%s,server=on,wait=off" % qtest,
                             "-qmp", "unix:%s,server=on,wait=off" % qmp]
    with open(os.path.join(tmp, "qtest.log"), "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            qmp_exchange(qmp)
            if proc.wait(120) != 0:
                raise RuntimeError("qtest start-up exited with %d" % proc.returncode)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def profile_boot(nemu, out):
    kernel, initrd = vmrun.lab_guest()
    if not kernel:
        raise RuntimeError("no lab guest: run tests/vm/lab setup first")
    opts = argparse.Namespace(nemu=nemu, qemu="qemu-system-x86_64", accel="kvm", mem="256M")
    argv = callgrind(out) + vmrun.vmm_argv("nemu", "virt", opts, kernel, initrd, APPEND)
    with vmrun.Vm(argv, "nemu") as vm:
        vm.wait_for(b"NEMU-LAB: init", 900)
        vm.proc.send_signal(signal.SIGTERM)
        if vm.wait_exit(120) is None:
            raise RuntimeError("nemu did not exit on SIGTERM")


def functions_run(path, binary):
    """Symbol names of the functions of `binary` that ran, from a callgrind output file
    (name compression: "fn=(id) name" or "cfn=(id) name" defines, "fn=(id)" refers; "ob="
    sets the object;
    a recursive call's name gets a "'N" suffix)."""
    objects, names, ran, current = {}, {}, set(), None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
            if m:
                if m.group(3):
                    objects[m.group(2)] = m.group(3)
                if m.group(1) == "ob":
                    current = objects.get(m.group(2))
                continue
            # A name is given where its id first appears, which may be a callee line.
            m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3)
                if (m.group(1) == "fn" and current and os.path.realpath(current) == binary
                        and m.group(2) in names):
                    ran.add(re.sub(r"'\d+$", "", names[m.group(2)]))
    return ran


def text_sections(binary, ran):
    """`.text.<name>` for every function symbol of `binary` named in `ran`, and for the
    aliases at its address: callgrind names one of them (a constructor's C1, say) while the
    section is named after another (C2)."""
    lines = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    at = {}
    for line in lines:
        p = line.split(None, 2)
        if len(p) == 3 and p[1] in "tTwW":
            at.setdefault(p[0], []).append(p[2])
    out = set()
    for names in at.values():
        if any(n in ran for n in names):
            out.update(".text." + n for n in names)
    return sorted(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nemu", required=True, help="the built nemu-system-x86_64")
    ap.add_argument("--out", default=os.path.join(REPO, "system", "startup-order.txt"))
    opts = ap.parse_args()
    nemu = os.path.realpath(opts.nemu)
    with tempfile.TemporaryDirectory(prefix="nemu-startup-order-") as tmp:
        qtest_out, boot_out = os.path.join(tmp, "qtest.cg"), os.path.join(tmp, "boot.cg")
        profile_qtest(nemu, qtest_out, tmp)
        profile_boot(nemu, boot_out)
        ran = functions_run(qtest_out, nemu) | functions_run(boot_out, nemu)
    sections = text_sections(nemu, ran)
    with open(opts.out, "w") as f:
        f.write("".join(s + "\n" for s in sections))
    print("startup_order.py: %d functions ran, %d sections written to %s" % (
        len(ran), len(sections), opts.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
