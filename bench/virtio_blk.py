#!/usr/bin/env python3
"""virtio-blk in the guest: nemu -M virt vs QEMU -M microvm,pcie=on, same disk, same workloads.

4 KiB random read IOPS and 1 MiB sequential read/write throughput measured inside a Linux guest
on a virtio-blk-pci disk, for nemu `-M virt` and QEMU 7.2 `-M microvm,rtc=off,pcie=on`, same
kernel, initramfs, command line, raw image and -drive options, alternating boots (issue 5).

usage: bench/virtio_blk.py [--nemu PATH] [--qemu PATH] [--runs N] [--seconds S]
                           [--workloads MODE:BS:QD,...] [--dir DIR] [--image-size SIZE]
                           [--cache auto|none|writeback] [--aio io_uring|threads|native]
                           [--iothread] [--vmms nemu,microvm] [--accel kvm|tcg] [--json]
                           [--build-only]

The guest is the lab's (tests/vm/lab setup: Debian kernel + busybox initramfs with the
virtio-pci modules) plus an archive appended to its initramfs with bench/guest/blkbench
(static, built here with gcc: Linux native AIO + O_DIRECT on /dev/vda, fixed-seed random
offsets) and bench/guest/blk-init, started with `rdinit=/blkbench-init`. The workloads go to
the guest through the kernel parameter `blkbench=...`; each runs --seconds (guest clock) and
prints one result line on the serial console; then the guest powers off. Every VMM gets
`-accel kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config -display none`,
`-drive if=none,id=d0,file=IMG,format=raw,cache=C,aio=A -device virtio-blk-pci,drive=d0`
(QEMU also `disable-legacy=on`: its virtio-pci devices on a root bus are transitional
otherwise; nemu's are modern only). One untimed warm-up boot of each VMM, then --runs rounds
nemu, microvm. Per workload: median IOPS / MiB/s, min-max, ratio nemu/QEMU (above 1: nemu
faster), and the VMM process's CPU time per request (utime+stime from /proc/PID/stat between
the workload's begin and result lines; "outside guest" subtracts guest_time, the vCPU's time
in guest mode).

The image (a raw file of --image-size, every byte written first so reads hit data) goes to
--dir, default /dev/shm. --cache auto means `none` (O_DIRECT) when the directory's file system
takes O_DIRECT, else `writeback`: tmpfs before Linux 6.6 (the lab's L1 runs 6.1) refuses
O_DIRECT, so on tmpfs both VMMs read and write the host page cache, and what is measured is
the virtio/VMM path, not a disk. Needs a /dev/kvm that boots the guest: run it through
`tests/vm/lab run -- bench/virtio_blk.py`. Standard library only, plus gcc and cpio.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import vmrun

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(HERE, "guest")
TOOL_SRC = os.path.join(GUEST_DIR, "blkbench.c")
INIT_SRC = os.path.join(GUEST_DIR, "blk-init")
MACHINES = {
    # name: (label for the table, machine argument)
    "nemu": ("nemu", "virt"),
    "microvm": ("QEMU 7.2", "microvm,rtc=off,pcie=on"),
}
DEFAULT_WORKLOADS = "randread:4096:1,randread:4096:32,read:1048576:4,write:1048576:4"
RESULT = re.compile(rb"BLKBENCH-RESULT mode=(\S+) bs=(\d+) qd=(\d+) ios=(\d+) bytes=(\d+) "
                    rb"secs=([0-9.]+) iops=([0-9.]+) mibps=([0-9.]+)")


# ------------------------------------------------------------------------------------------
# guest artefacts: blkbench (static) + /blkbench-init in a cpio archive after the lab's initrd


def build_initrd(base_initrd):
    """The lab's initramfs with bin/blkbench and /blkbench-init appended (cached)."""
    return vmrun.guest_initrd(base_initrd, "virtio-blk", programs=[("bin/blkbench", TOOL_SRC)],
                              files=[("blkbench-init", INIT_SRC)])


# ------------------------------------------------------------------------------------------
# the image


def make_image(directory, size):
    """A raw image of `size` bytes in `directory`, every byte written (a pattern that differs
    per MiB), so reads hit allocated data on tmpfs as on a disk."""
    fd, path = tempfile.mkstemp(prefix="nemu-blk-bench-", suffix=".raw", dir=directory)
    chunk = 1 << 20
    with os.fdopen(fd, "wb") as f:
        for i in range(size // chunk):
            f.write(bytes([(i * 7 + 1) & 0xff]) * 16 + os.urandom(16) * (chunk // 16 - 1))
    return path


def direct_io_works(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


# ------------------------------------------------------------------------------------------
# one boot


def vmm_argv(name, opts):
    append = "%s rdinit=/blkbench-init blkbench=%s" % (opts.append, ",".join(
        "%s:%d" % (w, opts.seconds) for w in opts.workload_list))
    argv = vmrun.vmm_argv(name, MACHINES[name][1], opts, opts.kernel, opts.guest_initrd, append)
    argv += ["-drive", "if=none,id=d0,file=%s,format=raw,cache=%s,aio=%s" % (
        opts.image, opts.cache, opts.aio)]
    dev = "virtio-blk-pci,drive=d0"
    if opts.iothread:
        argv += ["-object", "iothread,id=io0"]
        dev += ",iothread=io0"
    return argv + vmrun.virtio_device(name, dev)


def boot_once(name, opts):
    """{workload: {"iops", "mibps", "cpu_us", "cpu_out_us"}} for one boot."""
    out = {}
    with vmrun.Vm(vmm_argv(name, opts), name) as vm:
        pos = vm.wait_for(b"BLKBENCH: ready", opts.timeout)
        begin = None
        while True:
            end = vm.wait_for(b"\n", opts.timeout, pos)
            line = bytes(vm.buf[pos:end]).strip(b"\r")
            pos = end + 1
            if line.startswith(b"BLKBENCH: begin "):
                begin = vmrun.cpu_ticks(vm.pid)
            elif line.startswith(b"BLKBENCH-RESULT "):
                cpu, guest = vmrun.cpu_ticks(vm.pid)
                m = RESULT.match(line)
                if not m or begin is None:
                    raise vm.error("cannot parse %r" % line)
                mode, bs, qd, ios = m.group(1).decode(), int(m.group(2)), int(m.group(3)), \
                    int(m.group(4))
                key = "%s:%d:%d" % (mode, bs, qd)
                per_io = 1e6 / vmrun.CLK_TCK / max(ios, 1)
                out[key] = {"iops": float(m.group(7)), "mibps": float(m.group(8)),
                            "cpu_us": (cpu - begin[0]) * per_io,
                            "cpu_out_us": (cpu - begin[0] - (guest - begin[1])) * per_io}
                begin = None
            elif line.startswith(b"BLKBENCH: error"):
                raise vm.error(line.decode(errors="replace"))
            elif line.startswith(b"BLKBENCH: done"):
                break
        vm.wait_exit(10.0)
    missing = [w for w in opts.workload_list if w not in out]
    if missing:
        raise vmrun.VmError("%s: no result for %s" % (name, ", ".join(missing)))
    return out


# ------------------------------------------------------------------------------------------


def parse_workloads(text):
    out = []
    for w in text.split(","):
        parts = w.split(":")
        if len(parts) != 3 or parts[0] not in ("randread", "read", "write") \
                or not parts[1].isdigit() or not parts[2].isdigit():
            raise ValueError("bad workload %r (MODE:BS:QD, MODE randread|read|write)" % w)
        out.append("%s:%d:%d" % (parts[0], int(parts[1]), int(parts[2])))
    return out


def describe(w):
    mode, bs, qd = w.split(":")
    bs = int(bs)
    size = "%d MiB" % (bs >> 20) if bs >= 1 << 20 else "%d KiB" % (bs >> 10)
    kind = {"randread": "random read", "read": "sequential read",
            "write": "sequential write"}[mode]
    return "%s %s, QD %s" % (size, kind, qd), ("IOPS" if mode == "randread" else "MiB/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    vmrun.add_vmm_options(ap, MACHINES, "nemu,microvm")
    vmrun.add_device_bench_options(
        ap, "the lab's initrd-l2.gz (busybox + virtio-pci modules)",
        "kernel command line before rdinit=/blkbench=, the same for every VMM "
        "(default: %(default)s)", "seconds per console line")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8, help="per workload (guest clock)")
    ap.add_argument("--workloads", default=DEFAULT_WORKLOADS, help="MODE:BS:QD,...")
    ap.add_argument("--dir", default="/dev/shm", help="where the image goes")
    ap.add_argument("--image-size", default="1G")
    ap.add_argument("--cache", default="auto", help="auto (none if O_DIRECT works), none, "
                    "writeback, ...: the same -drive cache= for both VMMs")
    ap.add_argument("--aio", default="io_uring")
    ap.add_argument("--iothread", action="store_true",
                    help="-object iothread,id=io0 and iothread=io0 on the device, both VMMs")
    opts = ap.parse_args()
    try:
        opts.workload_list = parse_workloads(opts.workloads)
    except ValueError as e:
        ap.error(str(e))

    try:
        opts.guest_initrd = build_initrd(opts.initrd)
    except (OSError, subprocess.CalledProcessError) as e:
        print("virtio_blk.py: cannot build the guest initramfs: %s" % e, file=sys.stderr)
        return 1
    if opts.build_only:
        print(opts.guest_initrd)
        return 0

    names = vmrun.select_vmms(ap, opts, MACHINES, "virtio_blk.py")

    opts.image = make_image(opts.dir, vmrun.parse_size(opts.image_size))
    try:
        if opts.cache == "auto":
            opts.cache = "none" if direct_io_works(opts.image) else "writeback"
        return run(opts, names)
    finally:
        os.unlink(opts.image)


def run(opts, names):
    alt = vmrun.Alternation(names, lambda n: boot_once(n, opts), "virtio_blk.py", MACHINES)
    alt.warm_up(opts.warmup)
    samples = {n: {w: [] for w in opts.workload_list} for n in MACHINES}
    by_round = [{} for _ in range(opts.runs)]   # [{vmm: result}] per round, for the paired ratios
    for r, n, res in alt.rounds(opts.runs):
        by_round[r][n] = res
        for w in opts.workload_list:
            samples[n][w].append(res[w])
        print("virtio_blk.py: round %d %s: %s" % (r + 1, n, "  ".join(
            "%s=%.0f" % (w, res[w]["iops" if w.startswith("randread") else "mibps"])
            for w in opts.workload_list)), file=sys.stderr, flush=True)
    errors, failures = alt.errors, alt.failures

    def stat(n, w, key):
        return vmrun.summary([s[key] for s in samples[n][w]])

    def metric(w):
        return "iops" if w.startswith("randread") else "mibps"

    def paired(w):
        """nemu/QEMU of the two boots of each round: the machine's load drifts over minutes
        (other jobs), and neighbouring boots see about the same load."""
        k = metric(w)
        return vmrun.summary([r["nemu"][w][k] / r["microvm"][w][k] for r in by_round
                              if "nemu" in r and "microvm" in r and r["microvm"][w][k] > 0])

    if opts.json:
        vmrun.print_json({
            "benchmark": "virtio-blk", "runs": opts.runs, "seconds": opts.seconds,
            "image": {"dir": opts.dir, "size": opts.image_size, "cache": opts.cache,
                      "aio": opts.aio, "iothread": opts.iothread},
            "results": {n: {w: {"metric": metric(w), "value": stat(n, w, metric(w)),
                                "cpu_us_per_io": stat(n, w, "cpu_us"),
                                "cpu_outside_guest_us_per_io": stat(n, w, "cpu_out_us"),
                                "paired_ratio_nemu_qemu": paired(w),
                                "samples": samples[n][w]} for w in opts.workload_list}
                        for n in names},
            "failures": {n: failures[n] for n in names},
            "argv": {n: vmm_argv(n, opts) for n in names},
            "errors": errors,
        })
        return 1 if any(failures.values()) else 0

    def med(n, w, key):
        s = stat(n, w, key)
        return s["median"] if s else None

    print("| workload | unit | nemu `-M virt` (median) | min–max | QEMU 7.2 `-M microvm,pcie=on` "
          "(median) | min–max | ratio nemu/QEMU | median of per-round ratios | VMM CPU µs/req nemu | QEMU | of which outside "
          "the guest: nemu | QEMU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in opts.workload_list:
        label, unit = describe(w)
        key = metric(w)
        spec = "%.0f" if key == "iops" else "%.1f"

        def mm(n):
            s = stat(n, w, key)
            return (spec + "–" + spec) % (s["min"], s["max"]) if s else "pending"

        pr = paired(w)
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, unit, vmrun.fmt(med("nemu", w, key), spec), mm("nemu"),
            vmrun.fmt(med("microvm", w, key), spec), mm("microvm"),
            vmrun.ratio(med("nemu", w, key), med("microvm", w, key)),
            vmrun.fmt(pr and pr["median"], "%.2f"),
            vmrun.fmt(med("nemu", w, "cpu_us")), vmrun.fmt(med("microvm", w, "cpu_us")),
            vmrun.fmt(med("nemu", w, "cpu_out_us")), vmrun.fmt(med("microvm", w, "cpu_out_us"))))
    print()
    print("%d alternating boots each (%s; runs ok: %s) after %d warm-up boot(s), %d s per "
          "workload in the guest (O_DIRECT, Linux AIO on /dev/vda); image: %s raw in %s, "
          "`cache=%s,aio=%s`%s; `-cpu host -m %s -smp 1`. Goal: ratio >= 1." % (
              opts.runs, ", ".join(alt.active) or "none",
              ", ".join("%s %d/%d" % (n, len(samples[n][opts.workload_list[0]]), opts.runs)
                        for n in names), opts.warmup, opts.seconds, opts.image_size, opts.dir,
              opts.cache, opts.aio, ", iothread" if opts.iothread else "", opts.mem))
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
