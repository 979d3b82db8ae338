#!/usr/bin/env python3
"""virtio-pci devices through qtest, driven by tests/support/virtio_qtest.py (issue 5).

usage: test_virtio.py BINARY [--oracle] [unittest options, e.g. -v or -k NAME]
  BINARY    nemu-system-x86_64 (or $NEMU_BINARY)
  --oracle  BINARY is QEMU itself (or $NEMU_VIRTIO_ORACLE=1): every test runs against QEMU
            with the QEMU platform profile, which checks the suite and the driver, not nemu
Environment: QEMU_ORACLE (default qemu-system-x86_64), NEMU_TEST_TIMEOUT (seconds, 20).
Prints only unittest's summary when green; exits non-zero on failure.

nemu runs `-M virt -accel qtest`. The oracle is `qemu-system-x86_64 -M microvm,pcie=on,acpi=on
-accel tcg` (Debian's build has no qtest accelerator) with every virtio device given
disable-legacy=on, as nemu's are modern-only (virtio_qtest.PLATFORMS has the facts). QEMU's
vCPU cannot be parked with -S here: virtio-rng hands out entropy only while the VM runs
(virtio-rng.c checks the run state), so QEMU runs with a 64 KiB BIOS image made of HLT
instructions: the vCPU halts at the reset vector with interrupts off and touches nothing.

Each test drives the device as a guest would (the driver's VirtioPciDevice) on both VMMs and
compares what the spec or QEMU compatibility mandates. Where nemu differs on purpose, the test
runs on nemu alone and says why.

Device helpers are grouped per device (RNG below); a virtio-blk/console/net section adds its
own `open_*` helper and tests on the same VirtioCase base.
"""

import json
import os
import shutil
import socket
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from test_qtest import QMP, TIMEOUT, oracle_binary  # noqa: E402
from test_virt_machine import Machine  # noqa: E402
import virtio_qtest as vq  # noqa: E402
from virtio_qtest import (ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK,  # noqa: E402
                          DEVICE_NEEDS_RESET, F_VERSION_1, F_INDIRECT_DESC, F_EVENT_IDX,
                          F_RING_PACKED, NO_VECTOR, CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_PCI,
                          VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE)

CONFIG = {"binary": os.environ.get("NEMU_BINARY"),
          "oracle_mode": os.environ.get("NEMU_VIRTIO_ORACLE") == "1"}

VIRTIO_ID_RNG = 4
CONFIG_VECTOR, QUEUE0_VECTOR = 0, 1
# An address no RAM backs on either board: -m 64M, below both MMIO windows.
OUTSIDE_RAM = 0x4000_0000


class Vm:
    """One emulator with its qtest I/O, its QMP connection and the platform profile."""

    def __init__(self, machine, io, qmp, platform):
        self.machine, self.io, self.qmp, self.platform = machine, io, qmp, platform

    def qmp_execute(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.qmp.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.qmp.recv()
            if "event" not in reply:
                return reply

    def assert_alive(self, testcase):
        """The machine still answers QMP and qtest."""
        testcase.assertEqual(self.qmp_execute("query-status")["return"]["status"], "running")
        testcase.assertEqual(self.machine.cmd("endianness"), "OK little")
        testcase.assertIsNone(self.machine.proc.poll(), self.machine.stderr_text())


class VirtioCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.binary = CONFIG["binary"]
        if not self.binary:
            self.skipTest("no binary given")
        self.oracle_mode = CONFIG["oracle_mode"]

    # --- emulators

    def halt_bios(self):
        d = tempfile.mkdtemp(prefix="nemu-virtio-bios-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "hlt.bin")
        with open(path, "wb") as f:
            f.write(b"\xf4" * 0x10000)
        return path

    def launch(self, binary, platform, devices):
        d = tempfile.mkdtemp(prefix="nemu-virtio-qmp-")
        self.addCleanup(shutil.rmtree, d, True)
        qmp_path = os.path.join(d, "qmp.sock")
        extra = []
        if platform == "qemu":
            extra += ["-bios", self.halt_bios()]
        for dev in devices:
            extra += ["-device", vq.device_args(platform, dev)]
        machine = Machine(self, binary, vq.PLATFORMS[platform]["machine"], extra=extra,
                          qmp=qmp_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect(qmp_path)
            qmp = QMP(self, s)
        except (OSError, EOFError) as e:
            s.close()
            machine.kill()
            self.fail("%s %s: no QMP (%s); stderr: %s"
                      % (binary, " ".join(extra), e, machine.stderr_text().strip()))
        self.assertEqual(qmp.execute("qmp_capabilities"), {"return": {}})
        return Vm(machine, vq.QtestIO(machine), qmp, platform)

    def start(self, devices):
        """The VMM under test (QEMU itself with --oracle)."""
        return self.launch(self.binary, "qemu" if self.oracle_mode else "nemu", devices)

    def start_oracle(self, devices):
        if shutil.which(oracle_binary()) is None:
            self.skipTest("oracle %s not installed" % oracle_binary())
        return self.launch(oracle_binary(), "qemu", devices)

    def both(self, devices):
        return self.start(devices), self.start_oracle(devices)

    def nemu_only(self):
        if self.oracle_mode:
            self.skipTest("checks nemu's deliberate behaviour (see the docstring)")

    # --- generic virtio helpers

    def open_virtio(self, vm, virtio_id, slot=None):
        return vq.VirtioPciDevice.probe(vm.io, vm.platform, virtio_id, slot)

    def expect_needs_reset(self, vm, dev, generation_before):
        """§2.1.2: an error state sets DEVICE_NEEDS_RESET and, with DRIVER_OK set, sends a
        configuration change notification (here: the config vector's MSI write)."""
        vq.wait_until(lambda: dev.status & DEVICE_NEEDS_RESET,
                      "DEVICE_NEEDS_RESET in the device status (status 0x%x)" % dev.status)
        dev.msix.wait(CONFIG_VECTOR)
        self.assertTrue(dev.status & DRIVER_OK)
        vm.assert_alive(self)
        return dev.read_common("config_generation") != generation_before

    def check_recovers(self, vm, dev, request):
        """A reset clears the error and the device serves requests again (§2.1.2)."""
        dev.reset()
        self.assertEqual(dev.status, 0)
        q, = dev.init()
        request(vm, dev, q)

    # --- virtio-rng helpers

    def open_rng(self, vm, slot=2):
        return self.open_virtio(vm, VIRTIO_ID_RNG, slot)

    def rng_request(self, vm, dev, q, sizes=(64,)):
        bufs = [(dev.mem.alloc(n), n, True) for n in sizes]
        for addr, n, _ in bufs:
            vm.io.memset(addr, n, 0)
        total = sum(sizes)
        got = q.submit(bufs)
        self.assertGreater(got, 0, "an entropy request returned no bytes")
        self.assertLessEqual(got, total)
        data = b"".join(vm.io.memread(a, n) for a, n, _ in bufs)[:got]
        # got random bytes are all zero with probability 2^-(8*got)
        self.assertNotEqual(data, bytes(got), "the device reported bytes it did not write")
        dev.msix.wait(QUEUE0_VECTOR)
        return got


class RngTest(VirtioCase):
    """virtio-rng-pci (virtio 1.2 §5.4): one request queue, no feature bits, no config."""

    DEVICE = "virtio-rng-pci,addr=2"

    def test_rng_discovered_at_addr(self):
        def layout(vm):
            return [(repr(f), f.vendor_id, f.device_id)
                    for f in vq.enumerate_bus(vm.io, vm.platform)]
        mine, theirs = self.both(["virtio-rng-pci,addr=5"])
        self.assertEqual(layout(mine), layout(theirs))
        self.assertEqual(layout(mine)[1:], [("00:05.0", 0x1AF4, 0x1044)])
        self.assertIsNone(vq.find_virtio(mine.io, mine.platform, VIRTIO_ID_RNG, slot=2))
        self.assertIsNotNone(vq.find_virtio(mine.io, mine.platform, VIRTIO_ID_RNG, slot=5))

    def test_rng_identity(self):
        mine, theirs = self.both([self.DEVICE])
        ids = vq.find_virtio(mine.io, mine.platform, VIRTIO_ID_RNG, 2).ids()
        self.assertEqual(ids, vq.find_virtio(theirs.io, theirs.platform, VIRTIO_ID_RNG, 2).ids())
        # §4.1.2: modern device id 0x1040 + 4, revision >= 1 for a non-transitional device
        self.assertEqual((ids["vendor"], ids["device"]), (0x1AF4, 0x1044))
        self.assertGreaterEqual(ids["revision"], 1)
        self.assertEqual(ids["header_type"] & 0x7F, 0)

    def test_rng_capability_layout(self):
        def layout(vm):
            dev = self.open_rng(vm)
            types = sorted({c.cfg_type for c in dev.virtio_caps})
            for c in dev.virtio_caps:
                # §4.1.4: cap_len covers the structure; regions lie inside their BAR
                cap_len = dev.fn.cfg_read(c.offset + 2, 1)
                self.assertGreaterEqual(cap_len, 20 if c.cfg_type == CFG_NOTIFY else 16, c)
                if c.cfg_type != CFG_PCI:
                    bar = dev.bars[c.bar]
                    self.assertLessEqual(c.region_offset + c.length, bar.size, c)
            self.assertGreaterEqual(dev.common.length, 0x38)
            mult = dev.notify.multiplier
            self.assertTrue(mult == 0 or (mult & (mult - 1) == 0 and mult % 2 == 0), mult)
            self.assertIsNotNone(dev.msix, "no MSI-X capability")
            for bar in dev.bars.values():
                self.assertFalse(bar.is_io, "a modern device needs no I/O BAR: %r" % bar)
            # the spec's mandatory set (§4.1.4: common, notify, ISR, PCI cfg access)
            mandatory = [t for t in types if t in (CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_PCI)]
            return mandatory, dev.msix.table_size
        mine, theirs = self.both([self.DEVICE])
        self.assertEqual(layout(mine), layout(theirs))

    def test_rng_features_offered(self):
        def offered(vm):
            return self.open_rng(vm).device_features()
        mine, theirs = self.both([self.DEVICE])
        f = offered(mine)
        self.assertTrue(f >> F_VERSION_1 & 1, "VERSION_1 not offered: 0x%x" % f)
        self.assertEqual(f & 0xFFFFFF, 0, "virtio-rng has no device feature bits: 0x%x" % f)
        ring = (1 << F_VERSION_1) | (1 << F_INDIRECT_DESC) | (1 << F_EVENT_IDX)
        self.assertEqual(f & ring, offered(theirs) & ring)

    def test_rng_negotiation(self):
        def run(vm):
            dev = self.open_rng(vm)
            out = []
            dev.reset()
            for bits in (ACKNOWLEDGE, DRIVER):
                dev.add_status(bits)
                out.append(dev.status)
            dev.write_driver_features(1 << F_VERSION_1)
            out.append(dev.read_driver_features())
            dev.add_status(FEATURES_OK)
            out.append(dev.status)                   # FEATURES_OK re-read (§3.1.1 step 6)
            # Not compared: a feature the device did not offer. The driver MUST NOT accept
            # one (§2.2.1) and what the device then does is open: QEMU 7.2 drops the bit
            # silently and keeps FEATURES_OK, a device may as well refuse FEATURES_OK.
            return out
        mine, theirs = self.both([self.DEVICE])
        result = run(mine)
        self.assertEqual(result, run(theirs))
        self.assertEqual(result, [1, 3, 1 << F_VERSION_1, 0xB])

    def test_rng_requests(self):
        vm = self.start([self.DEVICE])
        dev = self.open_rng(vm)
        q, = dev.init()
        self.assertEqual(dev.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)
        self.rng_request(vm, dev, q, (64,))
        self.rng_request(vm, dev, q, (16, 48))       # a chain of two writable buffers
        for _ in range(q.size + 2):                  # wraps the rings
            self.rng_request(vm, dev, q, (8,))
        self.assertFalse(dev.msix.fired(CONFIG_VECTOR))

    def test_rng_packed_requests(self):
        """VIRTIO_F_RING_PACKED (§2.8) with QEMU's `packed=on`: offered, negotiated, and
        requests served through the rings' wrap."""
        for vm in self.both(["virtio-rng-pci,addr=2,packed=on"]):
            dev = self.open_rng(vm)
            self.assertTrue(dev.device_features() >> F_RING_PACKED & 1)
            q, = dev.init(wanted=(1 << F_VERSION_1) | (1 << F_RING_PACKED))
            self.assertIsInstance(q, vq.PackedQueue)
            self.rng_request(vm, dev, q, (64,))
            self.rng_request(vm, dev, q, (16, 48))
            for _ in range(2 * q.size + 1):          # both wrap counters flip twice
                self.rng_request(vm, dev, q, (8,))
            self.assertEqual(q.used_wrap, q.avail_wrap)

    def test_rng_two_devices(self):
        """Two devices: each has its own BARs and rings and serves its own requests."""
        for vm in self.both(["virtio-rng-pci,addr=2", "virtio-rng-pci,addr=3"]):
            a, b = self.open_rng(vm, 2), self.open_rng(vm, 3)
            spans = sorted((bar.address, bar.address + bar.size)
                           for dev in (a, b) for bar in dev.bars.values())
            for (_, end), (start, _) in zip(spans, spans[1:]):
                self.assertLessEqual(end, start, "BARs overlap: %r" % spans)
            qa, = a.init()
            qb, = b.init()
            self.rng_request(vm, a, qa)
            self.rng_request(vm, b, qb)
            self.assertFalse(a.msix.fired(QUEUE0_VECTOR))
            a.reset()
            self.rng_request(vm, b, qb)              # b untouched by a's reset

    def test_rng_msix_masking(self):
        """PCI 3.0 §6.8.3.4: a masked vector's message sets its pending bit instead;
        unmasking sends it and clears the bit."""
        vm = self.start([self.DEVICE])
        dev = self.open_rng(vm)
        q, = dev.init()
        entry = dev.msix.table + 16 * QUEUE0_VECTOR
        vm.io.writel(entry + 12, 1)                  # mask vector 1
        buf = dev.mem.alloc(32)
        q.submit([(buf, 32, True)])
        vq.wait_until(lambda: dev.msix.pending(QUEUE0_VECTOR), "the PBA bit of vector 1")
        self.assertFalse(dev.msix.fired(QUEUE0_VECTOR))
        vm.io.writel(entry + 12, 0)
        dev.msix.wait(QUEUE0_VECTOR)
        self.assertFalse(dev.msix.pending(QUEUE0_VECTOR))

    def test_rng_reset_clears_state(self):
        def run(vm):
            dev = self.open_rng(vm)
            q, = dev.init()
            self.rng_request(vm, dev, q)
            dev.reset()
            snap = dev.common_snapshot()
            del snap["config_generation"]            # not specified across a reset
            # and the device works again after a fresh initialisation
            q, = dev.init()
            self.rng_request(vm, dev, q)
            return snap
        mine, theirs = self.both([self.DEVICE])
        snap = run(mine)
        # QEMU 7.2 also offers VIRTIO_F_RING_RESET (bit 40, per-queue reset through the
        # queue_reset register); nemu does not implement queue reset and does not offer it.
        other = run(theirs)
        other["device_feature"] &= ~(1 << 40)
        self.assertEqual(snap, other)
        self.assertEqual((snap["device_status"], snap["q0.queue_enable"], snap["q0.queue_desc"],
                          snap["q0.queue_driver"], snap["q0.queue_device"]), (0, 0, 0, 0, 0))
        self.assertEqual((snap["config_msix_vector"], snap["q0.queue_msix_vector"]),
                         (NO_VECTOR, NO_VECTOR))

    # --- hostile drivers: each must leave the device in DEVICE_NEEDS_RESET with a config
    # change interrupt, the machine running, and the device usable again after a reset.

    def hostile(self, corrupt, vms=None):
        def run(vm):
            dev = self.open_rng(vm)
            q, = dev.init()
            self.rng_request(vm, dev, q)
            gen = dev.read_common("config_generation")
            corrupt(vm, dev, q)
            q.kick()
            self.expect_needs_reset(vm, dev, gen)
            self.check_recovers(vm, dev, self.rng_request)
        for vm in vms or self.both([self.DEVICE]):
            run(vm)

    def test_rng_hostile_descriptor_loop(self):
        def corrupt(vm, dev, q):
            buf = dev.mem.alloc(64)
            q.write_desc(0, buf, 32, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1)
            q.write_desc(1, buf + 32, 32, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0)
            q.io.writew(q.avail + 4 + 2 * (q.avail_idx % q.size), 0)
            q.avail_idx += 1
            q.set_avail_idx(q.avail_idx)
        self.hostile(corrupt)

    def test_rng_hostile_buffer_outside_ram(self):
        """nemu alone: a buffer no RAM backs is a driver error (issue 5: every address is
        validated where it enters). QEMU 7.2 maps it through a bounce buffer
        (address_space_map on unassigned memory), drops the bytes and completes the request,
        so there is nothing to compare."""
        self.nemu_only()

        def corrupt(vm, dev, q):
            q.add_chain([(OUTSIDE_RAM, 64, True)])
        self.hostile(corrupt, vms=[self.start([self.DEVICE])])

    def test_rng_hostile_avail_index_jump(self):
        def corrupt(vm, dev, q):
            buf = dev.mem.alloc(64)
            q.add_chain([(buf, 64, True)])
            q.set_avail_idx(q.avail_idx + q.size + 1)  # more heads than the ring holds
        self.hostile(corrupt)

    def test_rng_hostile_next_out_of_range(self):
        def corrupt(vm, dev, q):
            buf = dev.mem.alloc(64)
            q.write_desc(0, buf, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, q.size + 3)
            q.io.writew(q.avail + 4 + 2 * (q.avail_idx % q.size), 0)
            q.avail_idx += 1
            q.set_avail_idx(q.avail_idx)
        self.hostile(corrupt)

    def test_rng_hostile_head_out_of_range(self):
        def corrupt(vm, dev, q):
            q.io.writew(q.avail + 4 + 2 * (q.avail_idx % q.size), q.size + 1)
            q.avail_idx += 1
            q.set_avail_idx(q.avail_idx)
        self.hostile(corrupt)


def main(argv):
    args = list(argv[1:])
    if args and not args[0].startswith("-"):
        CONFIG["binary"] = args.pop(0)
    if "--oracle" in args:
        args.remove("--oracle")
        CONFIG["oracle_mode"] = True
    if not CONFIG["binary"]:
        sys.stderr.write("usage: %s BINARY [--oracle] [unittest options]\n" % argv[0])
        return 2
    if os.sep in CONFIG["binary"]:
        CONFIG["binary"] = os.path.abspath(CONFIG["binary"])
    prog = unittest.main(argv=[argv[0]] + args, exit=False, buffer=True)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
