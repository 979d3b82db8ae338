"""libvirt 9.0's capability probe, replayed.

libvirt (src/qemu/qemu_process.c qemuProcessQMPLaunch) starts the binary with
  -S -no-user-config -nodefaults -nographic -machine none,accel=kvm:tcg
  -qmp unix:PATH,server=on,wait=off -pidfile PATH -daemonize
and relies on -daemonize returning only once the monitor socket listens. Then
(qemu_capabilities.c virQEMUCapsInitQMPMonitor) it sends, in this order:
  qmp_capabilities, query-version, query-target, query-qmp-schema, query-kvm,
  qom-list-types, device-list-properties (for each device type of virQEMUCapsDeviceProps
  that qom-list-types listed), qom-list-properties (virQEMUCapsObjectProps, then the
  machine's "<name>-machine" type), query-machines, query-cpu-definitions, query-tpm-models,
  query-tpm-types, query-command-line-options, query-migrate-capabilities,
  query-sev-capabilities / query-sgx-capabilities (only when sev-guest / sgx-epc exist),
  query-cpu-model-expansion (static on "host" under KVM, "max" otherwise; then full on the
  static result; then, if max-x86_64-cpu has a "migratable" property, static again with
  migratable=off and full on that), and quits.
libvirt 9.0 reads commands and events from query-qmp-schema (query-events no longer exists
in QEMU 7.2); query-commands is sent here too because older libvirt and other tools do.
If the first probe ran with KVM and the binary lists "tcg-accel" in qom-list-types, libvirt
probes a second time with -machine none,accel=tcg (virQEMUCapsInitQMP).

Every command must get a reply (no hang), and no reply may be an error where QEMU's (run
with the same sequence in the same environment) is a result, except DeviceNotFound for a
type the binary does not list in qom-list-types (libvirt only asks for listed types).
The probe runs twice: on the host as it is, and with /dev/kvm hidden (a private mount
namespace) where accel=kvm:tcg must fall back cleanly.
"""

import os
import select
import shutil
import signal
import subprocess
import tempfile
import unittest
import socket

from qmp_harness import (QMPClient, QMPTestCase, TIMEOUT, oracle_available, oracle_binary,
                         shape, shape_diff)

# virQEMUCapsDeviceProps (libvirt 9.0): the device types whose properties libvirt reads
DEVICES = [
    "virtio-blk-pci", "virtio-net-pci", "virtio-scsi-pci", "virtio-blk-ccw",
    "virtio-net-ccw", "virtio-scsi-ccw", "vfio-pci", "scsi-disk", "ide-hd", "PIIX4_PM",
    "usb-redir", "usb-host", "scsi-generic", "i440FX-pcihost", "q35-pcihost", "usb-storage",
    "kvm-pit", "VGA", "vmware-svga", "qxl", "virtio-gpu-pci", "virtio-gpu-device",
    "ICH9-LPC", "virtio-balloon-pci", "virtio-balloon-ccw", "virtio-balloon-device",
    "nec-usb-xhci", "intel-iommu", "spapr-pci-host-bridge", "virtio-gpu-ccw",
    "virtual-css-bridge", "mch", "nvdimm", "pcie-root-port", "vhost-user-fs-device",
    "virtio-mem-pci", "virtio-iommu-pci",
]

# virQEMUCapsObjectProps (libvirt 9.0) and the machine type of -machine none
OBJECTS = ["memory-backend-file", "memory-backend-memfd", "max-x86_64-cpu", "input-linux",
           "sev-guest", "none-machine"]

# replies whose shape must be QEMU's
SHAPED = {"query-version", "query-target", "query-kvm", "query-tpm-models",
          "query-tpm-types", "query-migrate-capabilities", "query-cpu-definitions",
          "qom-list-types", "query-commands"}

HIDE_KVM = r"""
set -e
keep=$(mktemp -d)
mount --bind /dev "$keep"
mount -t tmpfs -o size=64k,mode=755 tmpfs /dev
for n in null zero full random urandom tty; do
  [ -e "$keep/$n" ] || continue
  touch /dev/$n; mount --bind "$keep/$n" /dev/$n
done
mkdir -p /dev/pts /dev/shm
mount --bind "$keep/pts" /dev/pts 2>/dev/null || true
mount --bind "$keep/shm" /dev/shm 2>/dev/null || true
umount -l "$keep"; rmdir "$keep"
exec "$@"
"""


def hide_kvm_prefix():
    """argv prefix that runs a command with /dev/kvm hidden, or None where unshare fails."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        return None
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE_KVM, "sh"]
    try:
        r = subprocess.run(prefix + ["test", "!", "-e", "/dev/kvm"], timeout=TIMEOUT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if r.returncode == 0 else None


class Daemon:
    """The binary started as libvirt does (-daemonize), in a temporary directory."""

    def __init__(self, binary, accel="kvm:tcg", prefix=()):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="nemu-probe-")
        self.sock = os.path.join(self.tmp, "qmp.monitor")
        self.pidfile = os.path.join(self.tmp, "qmp.pid")
        self.argv = list(prefix) + [
            binary, "-S", "-no-user-config", "-nodefaults", "-nographic",
            "-machine", "none,accel=" + accel,
            "-qmp", "unix:%s,server=on,wait=off" % self.sock,
            "-pidfile", self.pidfile, "-daemonize"]
        self.pid = None
        self.pidfd = None
        self.qmp = None
        self.status = None
        self.stderr = b""

    def start(self):
        r = subprocess.run(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.status, self.stderr = r.returncode, r.stderr
        if r.returncode != 0:
            return False
        with open(self.pidfile) as f:
            self.pid = int(f.read().strip())
        self.pidfd = os.pidfd_open(self.pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(self.sock)     # must succeed at once: -daemonize returned
        self.qmp = QMPClient(s)
        self.qmp.read_greeting()
        return True

    def wait_exit(self):
        """Wait (pidfd, no polling) for the daemon to exit; True if it did."""
        if self.pidfd is None:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], TIMEOUT)
        return bool(ready)

    def close(self):
        if self.qmp:
            self.qmp.close()
        if self.pidfd is not None:
            if not select.select([self.pidfd], [], [], 0)[0]:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                select.select([self.pidfd], [], [], TIMEOUT)
            os.close(self.pidfd)
            self.pidfd = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def probe(daemon):
    """libvirt's sequence; returns {label: (request, reply)} in order."""
    q = daemon.qmp
    out = {}

    def ask(label, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        reply = q.cmd_obj(req)
        out[label] = (req, reply)
        return reply

    ask("qmp_capabilities", "qmp_capabilities")
    ask("query-version", "query-version")
    ask("query-target", "query-target")
    ask("query-qmp-schema", "query-qmp-schema")
    ask("query-commands", "query-commands")
    kvm = ask("query-kvm", "query-kvm")
    types = ask("qom-list-types", "qom-list-types")
    names = {t["name"] for t in types.get("return", [])}
    for dev in DEVICES:
        ask("device-list-properties " + dev, "device-list-properties", typename=dev)
    for obj in OBJECTS:
        ask("qom-list-properties " + obj, "qom-list-properties", typename=obj)
    ask("query-machines", "query-machines")
    ask("query-cpu-definitions", "query-cpu-definitions")
    ask("query-tpm-models", "query-tpm-models")
    ask("query-tpm-types", "query-tpm-types")
    ask("query-command-line-options", "query-command-line-options")
    ask("query-migrate-capabilities", "query-migrate-capabilities")
    if "sev-guest" in names:
        ask("query-sev-capabilities", "query-sev-capabilities")
    if "sgx-epc" in names:
        ask("query-sgx-capabilities", "query-sgx-capabilities")
    ask("query-gic-capabilities", "query-gic-capabilities")   # ARM only: CommandNotFound
    model = "host" if kvm.get("return", {}).get("enabled") else "max"
    static = ask("expansion static", "query-cpu-model-expansion", type="static",
                 model={"name": model})
    if "return" in static:
        ask("expansion full", "query-cpu-model-expansion", type="full",
            model=static["return"]["model"])
    # libvirt asks for the non-migratable expansion only when max-x86_64-cpu has a
    # "migratable" property (QEMU_CAPS_CPU_MIGRATABLE, from qom-list-properties above)
    maxprops = out["qom-list-properties max-x86_64-cpu"][1].get("return", [])
    if any(p.get("name") == "migratable" for p in maxprops):
        static = ask("expansion static non-migratable", "query-cpu-model-expansion",
                     type="static", model={"name": model, "props": {"migratable": False}})
    if "return" in static and "expansion static non-migratable" in out:
        ask("expansion full non-migratable", "query-cpu-model-expansion", type="full",
            model=static["return"]["model"])
    ask("quit", "quit")
    return out, names, model


class LibvirtProbeTest(QMPTestCase):

    def run_probe(self, binary, accel="kvm:tcg", prefix=()):
        d = Daemon(binary, accel, prefix)
        self.addCleanup(d.close)
        self.assertTrue(d.start(), "%s failed to start as libvirt does (status %s): %s" % (
            " ".join(d.argv[-16:]), d.status, d.stderr.decode(errors="replace")))
        self.assertTrue(os.path.exists(d.pidfile))
        result = probe(d)
        d.qmp.read_until_eof()
        self.assertTrue(d.wait_exit(), "did not exit after quit")
        self.assertFalse(os.path.exists(d.pidfile), "pid file left behind")
        self.assertFalse(os.path.exists(d.sock), "monitor socket left behind")
        return result

    def compare(self, mine, theirs, my_types):
        failures = []
        for label, (req, want) in theirs.items():
            if label not in mine:
                if "return" in want and not label.startswith("expansion"):
                    failures.append("%s: not asked (QEMU answers it)" % label)
                continue
            got = mine[label][1]
            if "return" in want and "error" in got:
                cls = got["error"]["class"]
                typename = req.get("arguments", {}).get("typename")
                if cls == "DeviceNotFound" and typename and typename not in my_types:
                    continue   # libvirt never asks for an unlisted type
                failures.append("%s: error %s where QEMU returns a result" % (label,
                                                                           got["error"]))
            elif "return" in want and label in SHAPED:
                diffs = shape_diff(shape(got["return"]), shape(want["return"]))
                if diffs:
                    failures.append("%s: %s" % (label, "; ".join(diffs)))
        for label, (req, got) in mine.items():
            if "return" not in got and "error" not in got:
                failures.append("%s: neither return nor error: %s" % (label, got))
        return failures

    def check(self, prefix=()):
        if not oracle_available():
            self.skipTest("no oracle")
        mine, my_types, my_model = self.run_probe(self.binary, prefix=prefix)
        theirs, _, _ = self.run_probe(oracle_binary(), prefix=prefix)
        failures = self.compare(mine, theirs, my_types)
        self.assertEqual(failures, [], "\n".join(failures))
        v = mine["query-version"][1]["return"]["qemu"]
        self.assertGreaterEqual((v["major"], v["minor"]), (4, 2))   # libvirt 9.0's minimum
        return my_types, my_model

    def test_probe_host(self):
        types, model = self.check()
        if model == "host" and "tcg-accel" in types:
            # libvirt probes again for TCG: that must work too
            mine, _, _ = self.run_probe(self.binary, accel="tcg")
            self.assertIn("return", mine["query-version"][1])

    def test_probe_without_dev_kvm(self):
        prefix = hide_kvm_prefix()
        if prefix is None:
            self.skipTest("cannot hide /dev/kvm here (needs root and unshare)")
        self.check(prefix)

    def test_no_tcg_type_without_tcg(self):
        """A binary without TCG must not list "tcg-accel": libvirt would start it again
        with accel=tcg (virQEMUCapsInitQMP) and fail the whole probe."""
        d = Daemon(self.binary)
        self.addCleanup(d.close)
        self.assertTrue(d.start(), d.stderr.decode(errors="replace"))
        d.qmp.cmd_ok("qmp_capabilities")
        types = {t["name"] for t in d.qmp.cmd_ok("qom-list-types")}
        d.qmp.cmd("quit")
        d.qmp.read_until_eof()
        self.assertTrue(d.wait_exit())
        if "tcg-accel" in types:
            t = Daemon(self.binary, accel="tcg")
            self.addCleanup(t.close)
            self.assertTrue(t.start(), "lists tcg-accel but -machine none,accel=tcg fails: %s"
                            % t.stderr.decode(errors="replace"))
            t.qmp.cmd_ok("qmp_capabilities")
            t.qmp.cmd("quit")
            t.qmp.read_until_eof()
            self.assertTrue(t.wait_exit())


if __name__ == "__main__":
    unittest.main()
