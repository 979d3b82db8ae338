#!/usr/bin/env python3
"""virtio-net in the guest: nemu -M virt vs QEMU -M microvm,pcie=on, same tap backend, same load.

Guest -> host TCP throughput and host -> guest ping latency through a virtio-net-pci on
`-netdev tap`, for nemu `-M virt` and QEMU 7.2 `-M microvm,rtc=off,pcie=on`, same kernel,
initramfs, command line and device options, alternating boots (issue 5).

usage: bench/virtio_net.py [--nemu PATH] [--qemu PATH] [--rounds N] [--seconds S]
                           [--pings N] [--ping-interval SEC] [--sender netbench|nc] [--vhost]
                           [--vmms nemu,microvm] [--accel kvm|tcg] [--json] [--build-only]

Each VMM gets `-accel kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config -display none`
(bench/vmrun.py), `-netdev tap,id=n0,ifname=nbench0,script=no,downscript=no,vhost=off|on` and
`-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:88` (QEMU also `disable-legacy=on`). The
VMM creates the tap in L1's namespace; once the guest's shell is up the tap is moved into a
namespace made for the boot, with 10.78.0.1/24 (tests/vm/nemulab/net.py, shared with the lab's
net scenario); the guest (the lab's busybox initramfs + bench/guest/netbench, its shell on the
serial port, driven through bench/vmrun.py's Vm.sh) takes 10.78.0.2/24. Per boot:
  1. guest -> host TCP: a receiver in the namespace (Python, 1 MiB recv_into) times first byte
     -> EOF and counts bytes; the guest runs `netbench send 10.78.0.1 5000 SECONDS` (static C,
     256 KiB writes of zeros for SECONDS of guest clock; --sender nc: busybox
     `timeout S nc ... < /dev/zero` instead). MiB/s on the receiver's clock, and the VMM
     process's CPU time (utime+stime, /proc/PID/stat) per MiB moved.
  2. host -> guest ping: `busybox ping -c N -i SEC 10.78.0.2` from the namespace; the median
     of the N round-trip times.
One untimed warm-up boot of each VMM, then --rounds rounds of nemu, microvm. Prints a markdown
table: medians, min-max, nemu vs QEMU as "> 1 = nemu better" (throughput nemu/QEMU, latency
QEMU/nemu), also as the median of per-round ratios (neighbouring boots see about the same load).
Needs /dev/kvm, /dev/net/tun, iproute2 and busybox where it runs, and root: run it through
`tests/vm/lab run -- bench/virtio_net.py`. Standard library only, plus gcc and cpio.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import vmrun

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "vm"))
sys.dont_write_bytecode = True
from nemulab import net  # noqa: E402

TOOL_SRC = os.path.join(HERE, "guest", "netbench.c")
MACHINES = {
    # name: (label for the table, machine argument)
    "nemu": ("nemu", "virt"),
    "microvm": ("QEMU 7.2", "microvm,rtc=off,pcie=on"),
}
NETNS = net.NetNs("nemubench-net", "nbench0", "10.78.0.1", "10.78.0.2")
PORT = 5000
MAC = "52:54:00:12:34:88"
PROMPT = b"lab# "
SEND_RESULT = re.compile(r"NETBENCH-SEND bytes=(\d+) secs=([0-9.]+) mibps=([0-9.]+)")
# The host side of the TCP workload, run in the namespace: accept one connection, count bytes,
# time first byte -> EOF. Prints "listening" once bound, then "BYTES SECONDS".
RECEIVER = r"""
import socket, sys, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2]))); srv.listen(1); srv.settimeout(float(sys.argv[3]))
print("listening", flush=True)
c, _ = srv.accept(); c.settimeout(float(sys.argv[3]))
buf = bytearray(1 << 20); view = memoryview(buf); n = c.recv_into(view); t0 = time.perf_counter()
total = n
while n:
    n = c.recv_into(view); total += n
print(total, time.perf_counter() - t0, flush=True)
"""


def build_initrd(base_initrd):
    """The lab's initramfs (its /init gives a shell on ttyS0) plus bin/netbench (cached)."""
    return vmrun.guest_initrd(base_initrd, "virtio-net", programs=[("bin/netbench", TOOL_SRC)])


def vmm_argv(name, opts):
    argv = vmrun.vmm_argv(name, MACHINES[name][1], opts, opts.kernel, opts.guest_initrd,
                          opts.append)
    return (argv + NETNS.netdev_args("n0", vhost=opts.vhost) +
            vmrun.virtio_device(name, "virtio-net-pci,netdev=n0,mac=" + MAC))


def sender_cmd(opts):
    if opts.sender == "nc":
        return "timeout %d nc %s %d < /dev/zero; true" % (opts.seconds, NETNS.host_ip, PORT)
    return "/bin/netbench send %s %d %d" % (NETNS.host_ip, PORT, opts.seconds)


def guest_sh(vm, cmd, timeout=60.0):
    status, out = vm.sh(cmd, timeout)
    if status != 0:
        raise vm.error("guest command failed (status %d): %s\n%s" % (status, cmd, out))
    return out


def tcp_once(vm, opts):
    """{"mibps", "bytes", "cpu_ms_per_mib", "cpu_out_ms_per_mib", "guest_mibps"} for one
    guest -> host transfer. CPU: the VMM process's utime+stime per MiB received; "out": minus
    guest_time (the vCPU in guest mode), i.e. the VMM's own work (exits, datapath, interrupts)."""
    recv = NETNS.popen(sys.executable, "-c", RECEIVER, NETNS.host_ip, PORT,
                       opts.seconds + 60, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    try:
        if recv.stdout.readline().strip() != "listening":
            raise vm.error("the receiver did not start: %s" % recv.stderr.read())
        cpu0, guest0 = vmrun.cpu_ticks(vm.pid)
        out = guest_sh(vm, sender_cmd(opts), timeout=opts.seconds + 90)
        cpu1, guest1 = vmrun.cpu_ticks(vm.pid)
        try:
            got, err = recv.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise vm.error("the receiver saw no EOF") from None
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    f = got.split()
    if recv.returncode != 0 or len(f) != 2:
        raise vm.error("receiver failed (status %s): %s %s" % (recv.returncode, got, err))
    nbytes, secs = int(f[0]), float(f[1])
    mib = nbytes / float(1 << 20)
    if mib <= 0 or secs <= 0:
        raise vm.error("nothing received (%s)" % got.strip())
    m = SEND_RESULT.search(out)
    return {"mibps": mib / secs, "bytes": nbytes,
            "cpu_ms_per_mib": (cpu1 - cpu0) * 1000.0 / vmrun.CLK_TCK / mib,
            "cpu_out_ms_per_mib": (cpu1 - cpu0 - (guest1 - guest0)) * 1000.0 / vmrun.CLK_TCK / mib,
            "guest_mibps": float(m.group(3)) if m else None}


def ping_once(vm, opts):
    """{"rtt_ms": median RTT, "loss": lost replies} for one host -> guest ping series."""
    status, out = NETNS.ping_guest(opts.pings, interval=opts.ping_interval,
                                   timeout=opts.pings * (opts.ping_interval + 1) + 60)
    rtts = net.ping_rtts(out)
    if not rtts:
        raise vm.error("host -> guest ping: no replies (status %d): %s" % (status, out))
    return {"rtt_ms": statistics.median(rtts), "loss": opts.pings - len(rtts),
            "rtt_min_ms": min(rtts), "rtt_max_ms": max(rtts)}


def boot_once(name, opts):
    """{"tcp": {...}, "ping": {...}} for one boot."""
    NETNS.create()
    try:
        with vmrun.Vm(vmm_argv(name, opts), name) as vm:
            i = vm.wait_for(vmrun.MARKER.encode(), opts.timeout)
            vm.shell_pos = vm.wait_for(PROMPT, opts.timeout, i) + len(PROMPT)
            try:
                NETNS.adopt_tap()
            except net.NetError as e:
                raise vm.error(str(e)) from None
            guest_sh(vm, net.guest_up_cmd(NETNS.guest_ip))
            guest_sh(vm, net.guest_wait_host_cmd(NETNS.host_ip), timeout=120)
            res = {"tcp": tcp_once(vm, opts), "ping": ping_once(vm, opts)}
            vm.write(b"poweroff -f\n")
            vm.wait_exit(10.0)
            return res
    finally:
        NETNS.delete()


# ------------------------------------------------------------------------------------------

ROWS = [
    # key, metric, label, unit, higher is better, format
    ("tcp", "mibps", "guest → host TCP", "MiB/s", True, "%.1f"),
    ("ping", "rtt_ms", "host → guest ping RTT (median of each series)", "ms", False, "%.3f"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    vmrun.add_vmm_options(ap, MACHINES, "nemu,microvm")
    vmrun.add_device_bench_options(
        ap, "the lab's initrd-l2.gz (busybox, virtio-pci modules, shell on ttyS0)",
        "kernel command line, the same for every VMM (default: %(default)s)",
        "seconds to the guest's shell")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=10, help="TCP send time (guest clock)")
    ap.add_argument("--pings", type=int, default=50)
    ap.add_argument("--ping-interval", type=float, default=0.05)
    ap.add_argument("--sender", choices=("netbench", "nc"), default="netbench")
    ap.add_argument("--vhost", action="store_true", help="vhost=on for both VMMs")
    opts = ap.parse_args()

    try:
        opts.guest_initrd = build_initrd(opts.initrd)
    except (OSError, subprocess.CalledProcessError) as e:
        print("virtio_net.py: cannot build the guest initramfs: %s" % e, file=sys.stderr)
        return 1
    if opts.build_only:
        print(opts.guest_initrd)
        return 0
    for dev in ["/dev/net/tun"] + (["/dev/vhost-net"] if opts.vhost else []):
        if not os.path.exists(dev):
            print("virtio_net.py: no %s here (run it through tests/vm/lab run)" % dev,
                  file=sys.stderr)
            return 1
    names = vmrun.select_vmms(ap, opts, MACHINES, "virtio_net.py")
    return run(opts, names)


def run(opts, names):
    alt = vmrun.Alternation(names, lambda n: boot_once(n, opts), "virtio_net.py", MACHINES)
    alt.warm_up(opts.warmup)
    by_round = [{} for _ in range(opts.rounds)]   # [{vmm: result}]
    for r, n, res in alt.rounds(opts.rounds):
        by_round[r][n] = res
        print("virtio_net.py: round %d %s: tcp %.1f MiB/s (guest %s), %.2f ms CPU/MiB "
              "(%.2f outside the guest); "
              "ping median %.3f ms (%.3f-%.3f, %d lost)" % (
                  r + 1, n, res["tcp"]["mibps"], vmrun.fmt(res["tcp"]["guest_mibps"]),
                  res["tcp"]["cpu_ms_per_mib"], res["tcp"]["cpu_out_ms_per_mib"],
                  res["ping"]["rtt_ms"],
                  res["ping"]["rtt_min_ms"], res["ping"]["rtt_max_ms"],
                  res["ping"]["loss"]), file=sys.stderr, flush=True)
    errors, failures = alt.errors, alt.failures
    load = os.getloadavg()

    def samples(n, key, metric):
        return [r[n][key][metric] for r in by_round if n in r]

    def stat(n, key, metric):
        return vmrun.summary(samples(n, key, metric))

    def better(a, b, higher):
        """nemu vs QEMU, > 1 = nemu better."""
        if a is None or b is None or a <= 0 or b <= 0:
            return None
        return a / b if higher else b / a

    def paired(key, metric, higher):
        return vmrun.summary([better(r["nemu"][key][metric], r["microvm"][key][metric], higher)
                              for r in by_round if "nemu" in r and "microvm" in r])

    def med(n, key, metric):
        s = stat(n, key, metric)
        return s["median"] if s else None

    if opts.json:
        vmrun.print_json({
            "benchmark": "virtio-net", "rounds": opts.rounds, "seconds": opts.seconds,
            "pings": opts.pings, "ping_interval": opts.ping_interval, "sender": opts.sender,
            "vhost": opts.vhost, "loadavg_l1": load,
            "results": {n: {key: {metric: stat(n, key, metric) for metric in
                                  ({"mibps", "cpu_ms_per_mib", "cpu_out_ms_per_mib", "guest_mibps"}
                                   if key == "tcp"
                                   else {"rtt_ms", "loss"})} for key in ("tcp", "ping")}
                        for n in names},
            "nemu_vs_qemu": {key: {"of_medians": better(med("nemu", key, m),
                                                        med("microvm", key, m), hi),
                                   "paired": paired(key, m, hi)}
                             for key, m, _, _, hi, _ in ROWS},
            "rounds_raw": by_round, "failures": {n: failures[n] for n in names},
            "argv": {n: vmm_argv(n, opts) for n in names}, "errors": errors,
        })
        return 1 if any(failures.values()) else 0

    print("| workload | unit | nemu `-M virt` (median) | min–max | QEMU 7.2 `-M microvm,pcie=on` "
          "(median) | min–max | nemu vs QEMU (> 1: nemu better) | median of per-round ratios "
          "| VMM CPU ms/MiB nemu | QEMU | of which outside the guest: nemu | QEMU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, metric, label, unit, higher, spec in ROWS:
        def mm(n):
            s = stat(n, key, metric)
            return (spec + "–" + spec) % (s["min"], s["max"]) if s else "pending"
        pr = paired(key, metric, higher)
        cpu = [vmrun.fmt(med(n, "tcp", m), "%.1f") if key == "tcp" else ""
               for m in ("cpu_ms_per_mib", "cpu_out_ms_per_mib") for n in ("nemu", "microvm")]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, unit, vmrun.fmt(med("nemu", key, metric), spec), mm("nemu"),
            vmrun.fmt(med("microvm", key, metric), spec), mm("microvm"),
            vmrun.fmt(better(med("nemu", key, metric), med("microvm", key, metric), higher),
                      "%.2f"),
            vmrun.fmt(pr and pr["median"], "%.2f"), cpu[0], cpu[1], cpu[2], cpu[3]))
    print()
    print("%d alternating boots each (%s; runs ok: %s) after %d warm-up boot(s); TCP: %s for "
          "%d s (guest clock), receiver in the namespace times first byte -> EOF; ping: "
          "busybox `ping -c %d -i %s` host -> guest; `-netdev tap,...,vhost=%s`, `-cpu host "
          "-m %s -smp 1`; L1 load average at the end %.2f %.2f %.2f. Goal: >= 1." % (
              opts.rounds, ", ".join(alt.active) or "none",
              ", ".join("%s %d/%d" % (n, len(samples(n, "tcp", "mibps")), opts.rounds)
                        for n in names), opts.warmup,
              "bench/guest/netbench (256 KiB writes)" if opts.sender == "netbench"
              else "busybox nc < /dev/zero", opts.seconds, opts.pings, opts.ping_interval,
              "on" if opts.vhost else "off", opts.mem, load[0], load[1], load[2]))
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
