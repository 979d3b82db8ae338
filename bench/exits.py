#!/usr/bin/env python3
"""Exit cost: PIO and MMIO exits to unassigned addresses, nemu -M virt vs QEMU -M microvm.

Port-I/O and MMIO exits per second to an unassigned port/address, nemu `-M virt` vs QEMU
`-M microvm`, with a tiny PVH guest (bench/guest/exitloop.S).

usage: bench/exits.py [--nemu PATH] [--qemu PATH] [--runs N] [--count N]
                      [--vmms nemu,microvm] [--accel kvm|tcg] [--guest ELF] [--json]

The guest is built here with gcc/as/ld (bench/guest/build_guest.py, into
~/.cache/nemu-bench unless --guest names a prebuilt ELF) and booted with
`-kernel exitloop.elf -accel kvm -cpu host -m 256M -smp 1 -nodefaults`. It prints a line on
COM1 before and after each phase (`EXITLOOP: pio`, `EXITLOOP: mmio`, `EXITLOOP: done`) and
runs --count `outb` to port 0x700, then --count 32-bit stores to 0xd0000000, both
unassigned. The host timestamps the serial bytes as they arrive (bench/vmrun.py):
a phase lasts from the newline of the line before it to the first byte of the line after it,
so exit cost = phase time / count (the few exits of the framing, a port 0x80 byte and one
LSR read, are included and negligible for count >= 10^4). Then the guest powers off
(hardware-reduced ACPI sleep register of either machine) or halts, and the VMM is killed.
Medians over --runs alternating runs; ratio nemu/microvm (below 1: nemu's exits are cheaper).
`--accel tcg` runs QEMU under TCG to check the guest and the script without KVM (nemu,
KVM-only, is then left out; TCG "exits" are not VM exits).
"""

import argparse
import os
import subprocess
import sys

import vmrun

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest"))
import build_guest  # noqa: E402

MACHINES = {"nemu": ("nemu", "virt"), "microvm": ("QEMU 7.2", "microvm,rtc=off")}
PHASES = (("pio", b"EXITLOOP: pio\n", b"EXITLOOP: mmio\n"),
          ("mmio", b"EXITLOOP: mmio\n", b"EXITLOOP: done\n"))


def vmm_argv(name, opts):
    binary = opts.nemu if name == "nemu" else opts.qemu
    accel = "kvm" if name == "nemu" else opts.accel
    return [binary, "-M", MACHINES[name][1], "-accel", accel,
            "-cpu", "host" if accel == "kvm" else "max", "-m", opts.mem, "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-kernel", opts.guest]


def run_once(name, opts):
    """{phase: seconds} for one boot of the guest."""
    with vmrun.Vm(vmm_argv(name, opts), name) as vm:
        vm.wait_for(b"EXITLOOP: start\n", opts.timeout)
        out = {}
        for phase, before, after in PHASES:
            i = vm.wait_for(before, opts.timeout)
            j = vm.wait_for(after, opts.timeout, i + len(before))
            out[phase] = vm.time_of(j) - vm.time_of(i + len(before) - 1)
        vm.wait_exit(opts.exit_wait)   # powered off, or killed on leaving the block
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nemu", default=vmrun.DEFAULT_NEMU)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=20000,
                    help="exits per phase (default %(default)s: ~1 s per phase at the lab's "
                         "~50 µs per nested exit)")
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per marker")
    ap.add_argument("--exit-wait", type=float, default=1.0,
                    help="seconds to let the guest power off before the VMM is killed")
    ap.add_argument("--vmms", default="nemu,microvm", help="subset of nemu,microvm, in run order")
    ap.add_argument("--accel", default="kvm", help="QEMU's accelerator (nemu: always kvm)")
    ap.add_argument("--guest", default=None, help="prebuilt exitloop.elf (built with --count)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    opts = ap.parse_args()

    names = [n for n in opts.vmms.split(",") if n]
    for n in names:
        if n not in MACHINES:
            ap.error("unknown VMM %r (nemu, microvm)" % n)
    if opts.accel != "kvm" and "nemu" in names:
        print("exits.py: nemu is KVM-only: left out with --accel %s" % opts.accel, file=sys.stderr)
        names.remove("nemu")
    if "nemu" in names and not os.access(opts.nemu, os.X_OK):
        print("exits.py: nemu not found at %s: its column is pending" % opts.nemu,
              file=sys.stderr)
        names.remove("nemu")
    if not opts.guest:
        try:
            opts.guest = build_guest.build(opts.count, opts.count)
        except (OSError, subprocess.CalledProcessError) as e:
            print("exits.py: cannot build the guest: %s" % e, file=sys.stderr)
            return 1

    secs = {n: {"pio": [], "mmio": []} for n in MACHINES}
    failures = {n: 0 for n in MACHINES}
    errors = {}
    for _ in range(opts.runs):
        for n in names:
            try:
                r = run_once(n, opts)
            except vmrun.VmError as e:
                failures[n] += 1
                errors[n] = str(e)
                print("exits.py: run failed (%s):\n%s" % (n, e), file=sys.stderr)
                continue
            for phase in r:
                secs[n][phase].append(r[phase])

    # µs per exit for each run; exits/s from the median µs.
    us = {n: {p: vmrun.summary([s * 1e6 / opts.count for s in secs[n][p]]) for p in secs[n]}
          for n in MACHINES}

    def med(n, p):
        return us[n][p]["median"] if us[n][p] else None

    if opts.json:
        vmrun.print_json({
            "benchmark": "exit-cost", "unit": "us/exit", "runs": opts.runs, "count": opts.count,
            "guest": opts.guest, "qemu_accel": opts.accel,
            "results": {n: {"pio": us[n]["pio"], "mmio": us[n]["mmio"],
                            "samples_s": secs[n], "failures": failures[n],
                            "argv": vmm_argv(n, opts)} for n in names},
            "ratio_nemu_microvm": {p: (med("nemu", p) / med("microvm", p)
                                       if med("nemu", p) and med("microvm", p) else None)
                                   for p in ("pio", "mmio")},
            "errors": errors,
        })
        return 1 if any(failures.values()) else 0

    def rate(n, p):
        m = med(n, p)
        return "%.0f" % (1e6 / m) if m else "pending"

    def mm(n, p):
        s = us[n][p]
        return "%.2f–%.2f" % (s["min"], s["max"]) if s else "pending"

    print("| VMM | machine | PIO exit (µs, median) | min–max | PIO exits/s | MMIO exit (µs, "
          "median) | min–max | MMIO exits/s | runs ok |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in ("nemu", "microvm"):
        label, machine = MACHINES[n]
        accel = "kvm" if n == "nemu" else opts.accel
        print("| %s | `-M %s -accel %s` | %s | %s | %s | %s | %s | %s | %s |" % (
            label, machine, accel, vmrun.fmt(med(n, "pio"), "%.2f"), mm(n, "pio"),
            rate(n, "pio"), vmrun.fmt(med(n, "mmio"), "%.2f"), mm(n, "mmio"), rate(n, "mmio"),
            "%d/%d" % (len(secs[n]["pio"]), opts.runs) if n in names else "—"))
    print("| ratio nemu/microvm | | %s | | | %s | | | |" % (
        vmrun.ratio(med("nemu", "pio"), med("microvm", "pio")),
        vmrun.ratio(med("nemu", "mmio"), med("microvm", "mmio"))))
    print()
    print("%d alternating runs each, %d exits per phase (`outb` to port 0x700; 32-bit store "
          "to 0xd0000000), timed by the serial markers around each phase; guest "
          "bench/guest/exitloop.S (PVH, 32-bit protected mode), -m %s -smp 1." % (
              opts.runs, opts.count, opts.mem))
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
