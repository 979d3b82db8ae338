#!/usr/bin/env python3
"""VMM memory beside guest RAM: nemu -M virt vs QEMU -M microvm, RSS minus guest RAM Rss.

The resident memory of the VMM process minus the resident part of the guest RAM mapping,
once the guest's init has printed its marker; nemu `-M virt` and QEMU `-M microvm`, same
kernel, initrd and command line, alternating runs.

usage: bench/vmm_memory.py [--kernel K --initrd I] [--nemu PATH] [--qemu PATH] [--runs N]
                           [--marker TEXT] [--append CMDLINE] [--vmms nemu,microvm] [--json]
                           [--detail]

The VMMs are started exactly as by bench/boot.py (-m 256M by default). When the marker has
arrived the process is frozen with SIGSTOP (so a guest that powers off right after its
marker cannot race the reading), then /proc/PID/smaps_rollup (RSS, anonymous) and
/proc/PID/smaps are read. The guest RAM mapping is the anonymous, memfd or shared-zero
mapping whose size is the -m size (up to 4 MiB more, for alignment); its Rss is the guest
pages touched. VMM memory = RSS - guest RAM Rss (the issue's measure), shown with the
anonymous part alone (RSS counts shared library pages, anonymous memory does not).
Medians over --runs runs; ratio nemu/microvm. Goal (issue 4): nemu <= 5 MiB and <= 0.3x QEMU.
Kernel and initrd default to the lab's test guest (tests/vm/lab setup builds them).
"""

import argparse
import os
import re
import sys

import boot
import vmrun

HEADER = re.compile(r"^([0-9a-f]+-[0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$")
FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")
SLACK_KB = 4096


def read_fields(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = FIELD.match(line.strip())
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def read_smaps(pid):
    """List of mappings: dict(perms, path, Size, Rss, Anonymous, ...) in kB."""
    maps = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            h = HEADER.match(line)
            if h:
                maps.append({"range": h.group(1), "perms": h.group(2), "path": h.group(3).strip()})
                continue
            m = FIELD.match(line.strip())
            if m and maps:
                maps[-1][m.group(1)] = int(m.group(2))
    return maps


def is_ram_like(path):
    # Private anonymous (no path, or a name given with PR_SET_VMA), memfd, shared anonymous.
    return (path == "" or path.startswith("[anon") or path.startswith("/memfd:")
            or path.startswith("/dev/zero"))


def guest_ram_mapping(maps, ram_kb):
    cands = [m for m in maps if is_ram_like(m["path"])
             and ram_kb <= m.get("Size", 0) <= ram_kb + SLACK_KB]
    if not cands:
        biggest = sorted(maps, key=lambda m: -m.get("Size", 0))[:5]
        raise vmrun.VmError("no anonymous/memfd mapping of %d kB; largest: %s" % (
            ram_kb, ", ".join("%s %d kB %r" % (m["perms"], m.get("Size", 0), m["path"])
                              for m in biggest)))
    return max(cands, key=lambda m: m.get("Rss", 0))


def print_detail(name, maps, ram, threads):
    """Where the memory beside guest RAM sits: Rss and Anonymous per file (or [heap],
    [stack], anonymous), largest first, to stderr."""
    by = {}
    for m in maps:
        if m is ram:
            continue
        key = m["path"] or "(anonymous)"
        rss, anon = by.get(key, (0, 0))
        by[key] = (rss + m.get("Rss", 0), anon + m.get("Anonymous", 0))
    huge = sum(m.get("AnonHugePages", 0) for m in maps if m is not ram)
    print("vmm_memory.py: %s, %d threads; guest RAM Rss %d kB (%d kB in huge pages); "
          "beside it %d kB in huge pages; Rss / Anonymous kB beside guest RAM:" % (
              name, threads, ram.get("Rss", 0), ram.get("AnonHugePages", 0), huge),
          file=sys.stderr)
    for key, (rss, anon) in sorted(by.items(), key=lambda kv: -kv[1][0]):
        if rss:
            print("  %7d %7d  %s" % (rss, anon, key), file=sys.stderr)
    for m in maps:
        if m is not ram and not m["path"] and m.get("Rss", 0) >= 64:
            print("  anonymous mapping %s %s: %d kB, Rss %d kB, %d kB in huge pages" % (
                m["range"], m["perms"], m.get("Size", 0), m["Rss"], m.get("AnonHugePages", 0)),
                file=sys.stderr)


def measure_once(name, opts):
    """(rss, guest_rss, beside, anon_beside) in KiB."""
    with vmrun.Vm(boot.vmm_argv(name, opts), name) as vm:
        vm.wait_for(opts.marker.encode(), opts.timeout)
        vm.stop()
        rollup = read_fields("/proc/%d/smaps_rollup" % vm.pid)
        maps = read_smaps(vm.pid)
        ram = guest_ram_mapping(maps, vmrun.parse_size(opts.mem) // 1024)
        if opts.detail:
            print_detail(name, maps, ram, len(os.listdir("/proc/%d/task" % vm.pid)))
    rss, guest = rollup["Rss"], ram.get("Rss", 0)
    return rss, guest, rss - guest, rollup.get("Anonymous", 0) - ram.get("Anonymous", 0)


def mib(kb):
    return kb / 1024.0 if kb is not None else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nemu", default=vmrun.DEFAULT_NEMU)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    vmrun.add_guest_options(ap)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per boot")
    ap.add_argument("--vmms", default="nemu,microvm",
                    help="comma-separated subset of nemu,microvm,q35, in run order")
    ap.add_argument("--accel", default="kvm", help="QEMU's accelerator (nemu: always kvm)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--detail", action="store_true",
                    help="also print each run's memory per mapped file to stderr")
    opts = ap.parse_args()

    names = [n for n in opts.vmms.split(",") if n]
    for n in names:
        if n not in boot.MACHINES:
            ap.error("unknown VMM %r (nemu, microvm, q35)" % n)
    if opts.accel != "kvm" and "nemu" in names:
        print("vmm_memory.py: nemu is KVM-only: left out with --accel %s" % opts.accel,
              file=sys.stderr)
        names.remove("nemu")
    if "nemu" in names and not os.access(opts.nemu, os.X_OK):
        print("vmm_memory.py: nemu not found at %s: its column is pending" % opts.nemu,
              file=sys.stderr)
        names.remove("nemu")

    samples = {n: [] for n in boot.MACHINES}   # (rss, guest, beside, anon_beside) KiB
    failures = {n: 0 for n in boot.MACHINES}
    errors = {}
    for _ in range(opts.runs):
        for n in names:
            try:
                samples[n].append(measure_once(n, opts))
            except (vmrun.VmError, OSError, KeyError) as e:
                failures[n] += 1
                errors[n] = str(e)
                print("vmm_memory.py: run failed (%s):\n%s" % (n, e), file=sys.stderr)

    def col(n, i):
        return vmrun.summary([s[i] for s in samples[n]])

    beside = {n: col(n, 2) for n in boot.MACHINES}
    nemu_m = vmrun.median_of(beside, "nemu")
    qemu_m = vmrun.median_of(beside, "microvm")
    if opts.json:
        vmrun.print_json({
            "benchmark": "vmm-memory-beside-guest-ram", "unit": "KiB", "runs": opts.runs,
            "kernel": opts.kernel, "initrd": opts.initrd, "append": opts.append,
            "marker": opts.marker, "mem": opts.mem, "qemu_accel": opts.accel,
            "results": {n: {"rss": col(n, 0), "guest_ram_rss": col(n, 1), "beside": beside[n],
                            "anonymous_beside": col(n, 3), "failures": failures[n],
                            "samples": [dict(zip(("rss", "guest_ram_rss", "beside",
                                                  "anonymous_beside"), s))
                                        for s in samples[n]],
                            "argv": boot.vmm_argv(n, opts)} for n in names},
            "ratio_nemu_microvm": nemu_m / qemu_m if nemu_m and qemu_m else None,
            "errors": errors,
        })
        return 1 if any(failures.values()) else 0

    print("| VMM | machine | RSS (MiB) | guest RAM Rss (MiB) | RSS beside guest RAM "
          "(MiB, median) | min | max | anonymous beside guest RAM (MiB) | runs ok |")
    print("|---|---|---|---|---|---|---|---|---|")
    shown = [n for n in ("nemu", "microvm", "q35") if n in names or n in ("nemu", "microvm")]
    for n in shown:
        label, machine = boot.MACHINES[n]
        rss, guest, anon, b = col(n, 0), col(n, 1), col(n, 3), beside[n]
        f = lambda s, k="median": vmrun.fmt(mib(s[k]) if s else None, "%.2f")  # noqa: E731
        print("| %s | `-M %s` | %s | %s | %s | %s | %s | %s | %s |" % (
            label, machine, f(rss), f(guest), f(b), f(b, "min"), f(b, "max"), f(anon),
            "%d/%d" % (len(samples[n]), opts.runs) if n in names else "—"))
    print("| ratio nemu/microvm | | | | %s | | | %s | |" % (
        vmrun.ratio(nemu_m, qemu_m),
        vmrun.ratio(vmrun.median_of({"a": col("nemu", 3)}, "a"),
                    vmrun.median_of({"a": col("microvm", 3)}, "a"))))
    print()
    print("%d alternating runs each, read at the marker `%s` with the VMM stopped; -m %s; "
          "kernel `%s`, initrd `%s`, command line `%s`. Goal: nemu ≤ 5 MiB and ≤ 0.3× QEMU "
          "microvm." % (opts.runs, opts.marker, opts.mem, os.path.basename(opts.kernel),
                        os.path.basename(opts.initrd), opts.append))
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
