#!/usr/bin/env python3
"""pci-lite through qtest (issue 5): the ECAM window, the host bridge at 00.0 and empty slots,
compared live with QEMU 7.2's gpex host bridge on `-M microvm,pcie=on`.

usage: test_pci.py BINARY [unittest options, e.g. -v or -k NAME]
  BINARY    nemu-system-x86_64 (or $NEMU_BINARY)
Environment: QEMU_ORACLE (default qemu-system-x86_64), NEMU_TEST_TIMEOUT (seconds, 20).
Prints only unittest's summary when green; exits non-zero on failure.

nemu runs `-M virt -accel qtest`, QEMU `-M microvm,pcie=on -accel tcg -S`; both put ECAM at
0xE0000000 (PCIe 4.0 7.2.2: bus << 20 | device << 15 | function << 12 | register), so the same
readl/writel lines go to both and the replies are compared whole.

Adding device cases: put the -device arguments in DEVICE_CASES; each case starts both emulators
with them and compares the function's identity and capability list (BAR addresses differ: QEMU
leaves BAR assignment to its firmware, which -S never runs; nemu lays BARs out at plug time).

Differences on purpose, checked on nemu alone:
  * Command register: nemu has no I/O window, so the I/O Space bit is not writable (QEMU: 0x0547
    writable, nemu 0x0546).
  * Devices: interrupt pin 0 (no INTx; QEMU 1) and capabilities at other offsets: the cases
    compare identity and the set of capability IDs.
"""

import os
import shutil
import socket
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_qtest import QMP, TIMEOUT, oracle_binary, run_main  # noqa: E402
from test_virt_machine import Machine  # noqa: E402

CONFIG = {"binary": os.environ.get("NEMU_BINARY")}
NEMU_MACHINE = ["-M", "virt", "-accel", "qtest"]
ORACLE_MACHINE = ["-M", "microvm,pcie=on", "-accel", "tcg", "-S"]

ECAM = 0xE0000000
HOST_BRIDGE_ID = 0x00081B36   # Red Hat 1b36:0008, QEMU's gpex-root

# -device argument lists, e.g. ["-device", "virtio-rng-pci,addr=3"], with the devfn to inspect.
# QEMU's virtio devices on pcie.0 are transitional unless disable-legacy=on; nemu's are modern only.
DEVICE_CASES = [
    (["-device", "virtio-rng-pci,addr=3,disable-legacy=on"], (3, 0)),
]


def ecam(bus, slot, fn, reg):
    return ECAM + (bus << 20 | slot << 15 | fn << 12 | reg)


class PciTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.binary = CONFIG["binary"]
        if not self.binary:
            self.skipTest("no binary given")

    def start(self, extra=()):
        return Machine(self, self.binary, NEMU_MACHINE, extra=extra)

    def start_oracle(self, extra=()):
        if shutil.which(oracle_binary()) is None:
            self.skipTest("oracle %s not installed" % oracle_binary())
        return Machine(self, oracle_binary(), ORACLE_MACHINE, extra=extra)

    def both(self, lines, extra=()):
        """The same qtest lines to nemu and QEMU: (nemu transcript, QEMU transcript)."""
        return self.start(extra).run(lines), self.start_oracle(extra).run(lines)

    def header_lines(self, slot, fn):
        return ["readl 0x%x" % ecam(0, slot, fn, reg) for reg in range(0, 0x40, 4)] + \
               ["readl 0x%x" % ecam(0, slot, fn, 0x100)]

    # --- the host bridge -----------------------------------------------------------------------

    def test_host_bridge_header(self):
        nemu, qemu = self.both(self.header_lines(0, 0))
        self.assertEqual(nemu, qemu)
        self.assertEqual(nemu[0], "readl 0x%x -> OK 0x%016x" % (ECAM, HOST_BRIDGE_ID))

    def test_host_bridge_has_no_bars(self):
        lines = []
        for bar in range(6):
            at = ecam(0, 0, 0, 0x10 + 4 * bar)
            lines += ["writel 0x%x 0xffffffff" % at, "readl 0x%x" % at]
        nemu, qemu = self.both(lines)
        self.assertEqual(nemu, qemu)
        self.assertTrue(all(l.endswith("OK 0x0000000000000000") for l in nemu[1::2]), nemu)

    def test_narrow_reads(self):
        lines = ["readb 0x%x" % ecam(0, 0, 0, r) for r in range(0, 16)] + \
                ["readw 0x%x" % ecam(0, 0, 0, r) for r in range(0, 16, 2)]
        nemu, qemu = self.both(lines)
        self.assertEqual(nemu, qemu)

    def test_identity_is_read_only(self):
        lines = ["writel 0x%x 0xdeadbeef" % ecam(0, 0, 0, 0), "readl 0x%x" % ecam(0, 0, 0, 0),
                 "writel 0x%x 0xffffffff" % ecam(0, 0, 0, 8), "readl 0x%x" % ecam(0, 0, 0, 8)]
        nemu, qemu = self.both(lines)
        self.assertEqual(nemu, qemu)

    def test_command_register(self):
        at = ecam(0, 0, 0, 4)
        nemu = self.start().run(["writew 0x%x 0xffff" % at, "readw 0x%x" % at])
        self.assertEqual(nemu[1], "readw 0x%x -> OK 0x0000000000000546" % at)

    # --- empty space ---------------------------------------------------------------------------

    def test_empty_slots_functions_and_buses_float_high(self):
        lines = []
        for slot, fn in [(1, 0), (3, 0), (31, 0), (0, 1), (0, 7), (5, 3)]:
            lines += ["readl 0x%x" % ecam(0, slot, fn, 0), "readw 0x%x" % ecam(0, slot, fn, 2),
                      "readb 0x%x" % ecam(0, slot, fn, 0xfff)]
        for bus in (1, 2, 255):
            lines.append("readl 0x%x" % ecam(bus, 0, 0, 0))
        # writes to absent functions are dropped
        lines += ["writel 0x%x 0x12345678" % ecam(0, 1, 0, 0x3c), "readl 0x%x" % ecam(0, 1, 0, 0x3c)]
        nemu, qemu = self.both(lines)
        self.assertEqual(nemu, qemu)
        for line in nemu:
            if line.startswith("read"):
                self.assertRegex(line, r"-> OK 0x0*(ff|ffff|ffffffff)$")

    # --- QOM -----------------------------------------------------------------------------------

    def test_qom_tree(self):
        """The host bridge as QEMU's microvm has it: an anonymous gpex-pcihost under
        /machine/unattached with its gpex_root function (addr 0) and the root bus pcie.0."""
        d = tempfile.mkdtemp(prefix="nemu-pci-qmp-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "qmp.sock")
        self.start_machine_with_qmp(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        qmp = QMP(self, s)
        self.assertEqual(qmp.execute("qmp_capabilities"), {"return": {}})
        listing = qmp.execute("qom-list", path="/machine/unattached")["return"]
        hosts = [c["name"] for c in listing if c["type"] == "child<gpex-pcihost>"]
        self.assertEqual(len(hosts), 1, listing)
        host = "/machine/unattached/" + hosts[0]
        children = {c["name"]: c["type"] for c in qmp.execute("qom-list", path=host)["return"]}
        self.assertEqual(children.get("gpex_root"), "child<gpex-root>", children)
        root = host + "/gpex_root"
        self.assertEqual(qmp.execute("qom-get", path=root, property="addr"), {"return": 0})
        self.assertEqual(qmp.execute("qom-get", path=root, property="multifunction"), {"return": False})

    def start_machine_with_qmp(self, path):
        return Machine(self, self.binary, NEMU_MACHINE, qmp=path)

    # --- devices (once -device creates PCI devices) --------------------------------------------

    def device_identity_lines(self, slot, fn):
        return ["readl 0x%x" % ecam(0, slot, fn, reg) for reg in (0, 8, 0xc, 0x2c)]

    def capability_ids(self, m, slot, fn):
        """The capability IDs along the list from 0x34 (at most 48 hops)."""
        ids, at = [], m.value("readb 0x%x" % ecam(0, slot, fn, 0x34))
        while at and len(ids) < 48:
            ids.append(m.value("readb 0x%x" % ecam(0, slot, fn, at)))
            at = m.value("readb 0x%x" % ecam(0, slot, fn, at + 1))
        return ids

    def test_device_cases(self):
        for extra, (slot, fn) in DEVICE_CASES:
            with self.subTest(device=" ".join(extra)):
                nemu_m = self.start(extra)
                if nemu_m.cmd("readl 0x%x" % ECAM) == "<EOF>":
                    self.skipTest("nemu does not create %s yet: %s" % (extra[1], nemu_m.stderr_text()))
                qemu_m = self.start_oracle(extra)
                lines = self.device_identity_lines(slot, fn)
                self.assertEqual(nemu_m.run(lines), qemu_m.run(lines))
                self.assertEqual(nemu_m.value("readb 0x%x" % ecam(0, slot, fn, 0x3d)), 0)   # no INTx
                self.assertEqual(sorted(self.capability_ids(nemu_m, slot, fn)),
                                 sorted(self.capability_ids(qemu_m, slot, fn)))
                # config space size: conventional (256 bytes) on both
                self.assertEqual(nemu_m.run(["readl 0x%x" % ecam(0, slot, fn, 0x100)]),
                                 qemu_m.run(["readl 0x%x" % ecam(0, slot, fn, 0x100)]))


class QueryPciTest(unittest.TestCase):
    """query-pci compared whole with QEMU 7.2 microvm,pcie=on for the same devices, after the
    differences nemu has on purpose: no INTx (irq_pin 0 and no "irq" member; QEMU: pin A), and
    BARs already placed in the host-bridge windows (QEMU without firmware leaves them at -1)."""
    maxDiff = None
    ARGS = ["-device", "virtio-rng-pci,addr=3,id=rng0,disable-legacy=on",
            "-device", "virtio-rng-pci,disable-legacy=on"]

    def query(self, binary, machine):
        d = tempfile.mkdtemp(prefix="nemu-pci-qmp-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "qmp.sock")
        Machine(self, binary, machine, extra=self.ARGS, qmp=path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        self.addCleanup(s.close)
        qmp = QMP(self, s)
        self.assertEqual(qmp.execute("qmp_capabilities"), {"return": {}})
        return qmp.execute("query-pci")

    def test_query_pci(self):
        if not CONFIG["binary"]:
            self.skipTest("no binary given")
        if shutil.which(oracle_binary()) is None:
            self.skipTest("oracle %s not installed" % oracle_binary())
        mine = self.query(CONFIG["binary"], NEMU_MACHINE)["return"]
        theirs = self.query(oracle_binary(), ORACLE_MACHINE)["return"]
        placed = []
        for dev in mine[0]["devices"]:
            for r in dev["regions"]:
                placed.append((r["address"], r["size"]))
                self.assertEqual(r["address"] % r["size"], 0, r)   # naturally aligned
                r["address"] = -1
        self.assertEqual(len(set(a for a, _ in placed)), len(placed), placed)   # no overlap
        for dev in theirs[0]["devices"]:
            if dev["slot"] != 0:
                self.assertEqual(dev.pop("irq"), 0)
                dev["irq_pin"] = 0
        self.assertEqual(mine, theirs)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, CONFIG))
