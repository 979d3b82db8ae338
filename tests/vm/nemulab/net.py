"""Guest <-> host networking in L1 for the lab tests and the benchmarks (tests/vm/test_virtio.py
net scenario, bench/virtio_net.py).

The VMM creates a tap itself (`-netdev tap,id=...,ifname=TAP,script=no,downscript=no`) in L1's
namespace; once the guest is up the tap is moved into a network namespace made for the run,
gets the host address there, and everything on the host side (peers, ping) runs inside that
namespace, so nothing touches L1's own interfaces. In the guest (the lab's busybox initramfs)
the one non-loopback interface is configured with busybox `ip` (GUEST_UP).
Standard library only; needs iproute2 (`ip`, `ss`) and busybox (ping) in L1.
"""

import re
import subprocess
import time

from .vmm import GuestError


class NetError(GuestError):
    """The host side could not be set up (a GuestError: the lab's boot retries apply)."""


def guest_up_cmd(guest_ip, prefix=24):
    """Busybox shell command for the guest: bring up its first non-loopback interface with
    guest_ip/prefix and print the interface's name."""
    return ("i=$(ls /sys/class/net | grep -v '^lo$' | head -n1) && ip link set $i up && "
            "ip addr add %s/%d dev $i && echo $i" % (guest_ip, prefix))


def guest_wait_host_cmd(host_ip, tries=50):
    """Busybox shell command for the guest: ping the host once a second until it answers
    (the tap may still be on its way into the namespace); status 0 once it did."""
    return ("n=0; until ping -c 1 -W 1 %s >/dev/null 2>&1; do n=$((n+1)); "
            "[ $n -ge %d ] && exit 1; done; true" % (host_ip, tries))


# busybox and iputils both print "... time=0.123 ms" per reply
_RTT = re.compile(r"\btime=([0-9.]+) ?ms\b")


def ping_rtts(text):
    """The round-trip times (ms) of every reply line in ping's output."""
    return [float(m.group(1)) for m in _RTT.finditer(text)]


class NetNs:
    """A network namespace holding the VMM's tap: host_ip on the tap, guest_ip for the guest."""

    def __init__(self, name, tap, host_ip, guest_ip, prefix=24):
        self.name, self.tap = name, tap
        self.host_ip, self.guest_ip, self.prefix = host_ip, guest_ip, prefix

    def netdev_args(self, netdev_id="n0", vhost=False):
        """The -netdev option (the same for nemu and QEMU) that makes the VMM create the tap."""
        return ["-netdev", "tap,id=%s,ifname=%s,script=no,downscript=no%s"
                % (netdev_id, self.tap, ",vhost=on" if vhost else "")]

    def create(self):
        """A fresh namespace (a stale one from an interrupted run is deleted first)."""
        self.delete()
        subprocess.run(["ip", "netns", "add", self.name], check=True)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def argv(self, *cmd):
        return ["ip", "netns", "exec", self.name] + [str(c) for c in cmd]

    def run(self, *cmd, **kw):
        """cmd inside the namespace: CompletedProcess with text stdout/stderr."""
        return subprocess.run(self.argv(*cmd), capture_output=True, text=True, **kw)

    def popen(self, *cmd, **kw):
        return subprocess.Popen(self.argv(*cmd), **kw)

    def adopt_tap(self, timeout=10.0):
        """Move the VMM's tap (waiting up to timeout s for it to exist) into the namespace and
        give it the host address; lo comes up too."""
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(["ip", "link", "set", self.tap, "netns", self.name],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise NetError("ip link set %s netns %s: %s" % (self.tap, self.name,
                                                                r.stderr.strip()))
            time.sleep(0.1)
        for cmd in (("ip", "addr", "add", "%s/%d" % (self.host_ip, self.prefix), "dev", self.tap),
                    ("ip", "link", "set", self.tap, "up"), ("ip", "link", "set", "lo", "up")):
            r = self.run(*cmd)
            if r.returncode:
                raise NetError("%s (in %s): %s" % (" ".join(cmd), self.name, r.stderr.strip()))

    def wait_listening(self, port, timeout=10.0):
        """Until a TCP listener on port exists in the namespace; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r":%d\b" % port, self.run("ss", "-ltn").stdout):
                return True
            time.sleep(0.1)
        return False

    def ping_guest(self, count, interval=None, wait=5, timeout=120):
        """busybox ping from the namespace to the guest (iputils-ping is not among the lab's
        host packages): (status, output)."""
        cmd = ["busybox", "ping", "-c", str(count), "-W", str(wait)]
        if interval is not None:
            cmd += ["-i", str(interval)]
        r = self.run(*(cmd + [self.guest_ip]), timeout=timeout)
        return r.returncode, r.stdout + r.stderr
