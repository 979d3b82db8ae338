#!/usr/bin/env python3
"""Boot to init: nemu -M virt vs QEMU -M microvm (and q35), spawn to the init's marker.

Process spawn to the guest init's marker line on the serial console, for nemu `-M virt`
and QEMU `-M microvm` (and `-M q35` as a reference), same kernel, initrd and command line,
alternating runs.

usage: bench/boot.py [--kernel K --initrd I] [--nemu PATH] [--qemu PATH] [--runs N]
                     [--marker TEXT] [--append CMDLINE] [--vmms nemu,microvm,q35] [--json]

Every VMM gets `-accel kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config
-display none` and its serial port on a socketpair (bench/vmrun.py); the clock starts just
before fork/exec and stops when the marker (default `NEMU-LAB: init`, what the lab guest's
init prints) has arrived; then the VMM is killed. One untimed warm-up boot of each VMM
first (page cache; a VMM that fails it is reported and its column is "pending"), then
--runs rounds of nemu, microvm, q35. Prints a markdown table (median, min, max, ratio
nemu/microvm) ready for docs/performance.md, or JSON with --json. When the marker line
carries `uptime=S` (the lab's does), the guest's own uptime at the marker is shown too:
spawn-to-marker minus it is what passes before the guest clock starts (VMM start-up,
firmware, kernel decompression).
Needs a usable /dev/kvm where it runs (the host, or the lab: tests/vm/lab run -- ...);
`--accel tcg` runs the QEMU machines under TCG, to check the script itself without KVM
(nemu is KVM-only and is then left out).
Kernel and initrd default to the lab's test guest (tests/vm/lab setup builds them); an
initrd that prints the marker can also be made with bench/guest/mkinitrd.sh OUT.
"""

import argparse
import os
import re
import sys

import vmrun

MACHINES = {
    # name: (label for the table, machine argument)
    "nemu": ("nemu", "virt"),
    "microvm": ("QEMU 7.2", "microvm,rtc=off"),
    "q35": ("QEMU 7.2 (reference)", "q35"),
}


def vmm_argv(name, opts):
    return vmrun.vmm_argv(name, MACHINES[name][1], opts, opts.kernel, opts.initrd, opts.append)


UPTIME = re.compile(rb"uptime=([0-9]+(?:\.[0-9]+)?)")


def boot_once(name, opts):
    """(ms from spawn to the complete marker on the serial console, the guest's uptime in s
    if the marker line carries one: the lab's init prints `NEMU-LAB: init uptime=S`)."""
    with vmrun.Vm(vmm_argv(name, opts), name) as vm:
        i = vm.wait_for(opts.marker.encode(), opts.timeout)
        ms = vm.time_of(i + len(opts.marker) - 1) * 1000.0
        try:
            end = vm.wait_for(b"\n", 5.0, i)
        except vmrun.VmError:
            return ms, None
        m = UPTIME.search(bytes(vm.buf[i:end]))
        return ms, float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    vmrun.add_vmm_options(ap, MACHINES, "nemu,microvm,q35")
    vmrun.add_guest_options(ap)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed boots of each VMM first")
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per boot")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    opts = ap.parse_args()

    names = vmrun.select_vmms(ap, opts, MACHINES, "boot.py")

    alt = vmrun.Alternation(names, lambda n: boot_once(n, opts), "boot.py", MACHINES)
    alt.warm_up(opts.warmup)
    times = {n: [] for n in MACHINES}
    uptimes = {n: [] for n in MACHINES}    # guest uptime at the marker, s
    for _, n, (ms, up) in alt.rounds(opts.runs):
        times[n].append(ms)
        if up is not None:
            uptimes[n].append(up)
    errors, failures = alt.errors, alt.failures

    res = {n: vmrun.summary(times[n]) for n in MACHINES}
    nemu_m = vmrun.median_of(res, "nemu")
    microvm_m = vmrun.median_of(res, "microvm")
    q35_m = vmrun.median_of(res, "q35")
    if opts.json:
        vmrun.print_json({
            "benchmark": "boot-to-init", "unit": "ms", "runs": opts.runs,
            "kernel": opts.kernel, "initrd": opts.initrd, "append": opts.append,
            "marker": opts.marker, "mem": opts.mem, "qemu_accel": opts.accel,
            "results": {n: dict(res[n] or {}, samples=times[n], failures=failures[n],
                                guest_uptime_s=vmrun.summary(uptimes[n]),
                                argv=vmm_argv(n, opts)) for n in names},
            "ratio_nemu_microvm": nemu_m / microvm_m if nemu_m and microvm_m else None,
            "ratio_nemu_q35": nemu_m / q35_m if nemu_m and q35_m else None,
            "errors": errors,
        })
        return 1 if any(failures.values()) else 0

    print("| VMM | machine | spawn → `%s` (ms, median) | min | max | guest uptime at the "
          "marker (ms, median) | runs ok |" % opts.marker)
    print("|---|---|---|---|---|---|---|")
    for n in ("nemu", "microvm", "q35"):
        label, machine = MACHINES[n]
        s = res[n]
        up = vmrun.summary(uptimes[n])
        accel = vmrun.accel_of(n, opts)
        print("| %s | `-M %s -accel %s` | %s | %s | %s | %s | %s |" % (
            label, machine, accel, vmrun.fmt(s and s["median"], "%.0f"),
            vmrun.fmt(s and s["min"], "%.0f"), vmrun.fmt(s and s["max"], "%.0f"),
            vmrun.fmt(up and up["median"] * 1000.0, "%.0f") if s else "pending",
            "%d/%d" % (len(times[n]), opts.runs) if n in names else "—"))
    print("| ratio nemu/microvm | | %s | | | | |" % vmrun.ratio(nemu_m, microvm_m))
    print("| ratio nemu/q35 | | %s | | | | |" % vmrun.ratio(nemu_m, q35_m))
    print()
    print("%d alternating runs each (%s) after %d warm-up boot(s); `-cpu %s -m %s -smp 1 "
          "-nodefaults`; kernel `%s`, initrd `%s`, command line `%s`. Goal: nemu/microvm < 1." % (
              opts.runs, ", ".join(alt.active) or "none", opts.warmup,
              "host" if opts.accel == "kvm" else "max (QEMU), host (nemu)", opts.mem,
              os.path.basename(opts.kernel), os.path.basename(opts.initrd), opts.append))
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
