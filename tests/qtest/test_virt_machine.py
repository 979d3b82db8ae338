#!/usr/bin/env python3
"""The x86 `virt` machine's devices through qtest (issue 4), against QEMU 7.2 live where it applies.

usage: test_virt_machine.py BINARY [unittest options, e.g. -v or -k NAME]
  BINARY    nemu-system-x86_64 (or $NEMU_BINARY)
Environment: QEMU_ORACLE (default qemu-system-x86_64), NEMU_TEST_TIMEOUT (seconds, 20).
Prints only unittest's summary when green; exits non-zero on failure.

nemu runs `-M virt -accel qtest`: the board's device map without vCPUs, so the devices are
reached with qtest's inb/outb/readl/writel (docs/x86-virt-machine.md has the map). The oracle is
`qemu-system-x86_64 -M microvm -accel tcg -S`, whose ISA 16550A sits at the same port 0x3F8 on
IOAPIC pin 4; both machines have their IOAPIC at /machine/ioapic, so `irq_intercept_in
/machine/ioapic` turns GSI edges into "IRQ raise N" / "IRQ lower N" lines on the qtest socket on
both. Those lines arrive before the reply of the command that caused them, or on their own when a
QMP command or the main loop caused them; every wait for one is a blocking read with a timeout.

Where QEMU and nemu differ on purpose, the test checks nemu alone and says why:
  * no wire timing: nemu's UART raises the FIFO character timeout as soon as a batch of bytes has
    been received (QEMU waits four character times on the virtual clock, which -S freezes);
  * loopback: nemu follows the PC16550D datasheet (MCR bit 4: the modem status interrupts stay
    operational, their sources being the MCR outputs), so MSR's delta bits track MCR changes;
    QEMU computes MSR from MCR without delta bits while in loopback.
Differences that look like nemu bugs are compared live and fail until nemu is fixed; each such
test says what QEMU does.
"""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_qtest import Emulator, QMP, TIMEOUT, oracle_binary, run_main  # noqa: E402

CONFIG = {"binary": os.environ.get("NEMU_BINARY")}
NEMU_MACHINE = ["-M", "virt", "-accel", "qtest"]
ORACLE_MACHINE = ["-M", "microvm", "-accel", "tcg", "-S"]
# microvm without the legacy devices it adds by default under TCG, for the unassigned-port check
ORACLE_BARE_MACHINE = ["-M", "microvm,pit=off,pic=off,rtc=off", "-accel", "tcg", "-S"]
COMMON_ARGS = ["-m", "64M", "-display", "none", "-nodefaults", "-qtest-log", "/dev/null"]
INTERCEPT = "irq_intercept_in /machine/ioapic"

# 16550A ports (COM1) and bits (PC16550D datasheet)
RBR = THR = DLL = 0x3F8
IER = DLM = 0x3F9
IIR = FCR = 0x3FA
LCR, MCR, LSR, MSR, SCR = 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF
LSR_DR = 0x01
UART_GSI, GED_GSI = 4, 16
GED_ESEL = 0xFEA00000
SLEEP_CONTROL, SLEEP_STATUS, RESET_REG = 0xFEA01000, 0xFEA01001, 0xFEA01002


class Machine(Emulator):
    """test_qtest's Emulator with the virt machine's arguments, optional stdio pipes, and the
    qtest "IRQ raise/lower N" lines kept apart from the replies."""

    def __init__(self, testcase, binary, machine, serial="null", extra=(), qmp=None,
                 pass_fds=(), stdin=subprocess.DEVNULL):
        # Emulator.__init__ has fixed -m 16M and stdio; the same steps with this machine's.
        self.dir = tempfile.mkdtemp(prefix="nemu-virt-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        path = os.path.join(self.dir, "qtest.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        testcase.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+b")
        testcase.addCleanup(self.stderr.close)
        args = [binary] + list(machine) + COMMON_ARGS + ["-qtest", "unix:" + path]
        if serial:
            args += ["-serial", serial]
        args += list(extra)
        if qmp:
            args += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        # The child holds the write end of a pipe: EOF on the read end means it has exited,
        # so an emulator that refuses its arguments fails the test at once, not after TIMEOUT.
        death_r, death_w = os.pipe()
        try:
            self.proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.DEVNULL,
                                         stderr=self.stderr,
                                         pass_fds=tuple(pass_fds) + (death_w,))
        finally:
            os.close(death_w)
        testcase.addCleanup(os.close, death_r)
        testcase.addCleanup(self.kill)
        ready, _, _ = select.select([listener, death_r], [], [], TIMEOUT)
        if listener not in ready:
            self.kill()
            testcase.fail("%s did not connect to the qtest socket (%s); stderr: %s"
                          % (binary, "exit code %s" % self.proc.returncode if ready
                             else "%ss" % TIMEOUT, self.stderr_text()))
        self.sock, _ = listener.accept()
        testcase.addCleanup(self.sock.close)
        self.sock.settimeout(TIMEOUT)
        self.rfile = self.sock.makefile("rb")
        self.dead = False
        self.irq_lines = []      # every IRQ line not yet consumed by wait_irq()
        self.last_irqs = []      # the IRQ lines that came before the last reply

    def readline(self):
        try:
            line = self.rfile.readline()
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:
            self.dead = True
            return "<EOF>"
        return line.decode(errors="replace").rstrip("\n")

    def cmd(self, line):
        self.last_irqs = []
        if self.dead:
            return "<EOF>"
        try:
            self.sock.sendall(line.encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            self.dead = True
            return "<EOF>"
        while True:
            reply = self.readline()
            if not reply.startswith("IRQ "):
                return reply
            self.last_irqs.append(reply)
            self.irq_lines.append(reply)

    def run(self, lines):
        """A transcript: each line with the IRQ lines and the reply it produced."""
        out = []
        for line in lines:
            reply = self.cmd(line)
            out.append("%s -> %s" % (line, " | ".join(self.last_irqs + [reply])))
        return out

    def wait_irq(self, gsi, raised):
        """Consume IRQ lines up to the first "IRQ raise|lower GSI", reading more if needed."""
        want = "IRQ %s %d" % ("raise" if raised else "lower", gsi)
        while self.irq_lines:
            if self.irq_lines.pop(0) == want:
                return
        while True:
            line = self.readline()
            if line == want:
                return
            if not line.startswith("IRQ "):
                raise AssertionError("waiting for %r, got %r" % (want, line))

    def value(self, line):
        reply = self.cmd(line)
        if not reply.startswith("OK 0x"):
            raise AssertionError("%s -> %s" % (line, reply))
        return int(reply.split()[1], 16)

    def inb(self, port):
        return self.value("inb 0x%x" % port)

    def outb(self, port, value):
        reply = self.cmd("outb 0x%x 0x%x" % (port, value))
        if reply != "OK":
            raise AssertionError("outb 0x%x 0x%x -> %s" % (port, value, reply))

    def guest_read(self, count):
        """Read `count` bytes as an interrupt-driven driver does: drain RBR while LSR.DR,
        then block until GSI 4 rises again. Needs IER.RDI and the IOAPIC intercept."""
        got = bytearray()
        while len(got) < count:
            if self.inb(LSR) & LSR_DR:
                got.append(self.inb(RBR))
                continue
            try:
                self.wait_irq(UART_GSI, True)
            except socket.timeout:
                raise AssertionError("the guest got %d of %d bytes; no more within %ss: %r"
                                     % (len(got), count, TIMEOUT, bytes(got[-16:]))) from None
        return bytes(got)


class VirtMachineTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.binary = CONFIG["binary"]
        if not self.binary:
            self.skipTest("no binary given")

    def start(self, **kw):
        return Machine(self, self.binary, NEMU_MACHINE, **kw)

    def start_oracle(self, machine=ORACLE_MACHINE, **kw):
        if shutil.which(oracle_binary()) is None:
            self.skipTest("oracle %s not installed" % oracle_binary())
        return Machine(self, oracle_binary(), machine, **kw)

    def compare(self, lines, intercept=True):
        """The same qtest lines to nemu and QEMU microvm: transcripts, IRQ lines included,
        must agree line by line."""
        lines = ([INTERCEPT] if intercept else []) + list(lines)
        mine = self.start().run(lines)
        theirs = self.start_oracle().run(lines)
        self.assertNotIn("<EOF>", " ".join(theirs), "the oracle died: bad test input")
        self.assertEqual(mine, theirs)
        return mine

    def qmp_path(self):
        d = tempfile.mkdtemp(prefix="nemu-virt-qmp-")
        self.addCleanup(shutil.rmtree, d, True)
        return os.path.join(d, "qmp.sock")

    def qmp_connect(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        qmp = QMP(self, s)
        self.assertIn("QMP", qmp.greeting)
        self.assertEqual(qmp.execute("qmp_capabilities"), {"return": {}})
        qmp.events = []
        return qmp

    def qmp_execute(self, qmp, name, **args):
        """QMP.execute, keeping the events that arrive before the reply."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        qmp.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = qmp.recv()
            if "event" not in reply:
                return reply
            qmp.events.append(reply)

    def next_event(self, qmp):
        if qmp.events:
            return qmp.events.pop(0)
        reply = qmp.recv()
        self.assertIn("event", reply, "an unexpected reply while waiting for an event")
        return reply

    # --- 1. UART registers, compared live with QEMU microvm

    def test_uart_power_on_registers(self):
        self.compare(["inb 0x3f8", "inb 0x3f9", "inb 0x3fa", "inb 0x3fb", "inb 0x3fd",
                      "inb 0x3fe", "inb 0x3ff",
                      # the divisor latch starts at 12 (9600 baud)
                      "outb 0x3fb 0x80", "inb 0x3f8", "inb 0x3f9", "outb 0x3fb 0x00",
                      # reading changed nothing
                      "inb 0x3fa", "inb 0x3fd", "inb 0x3fe"])

    # nemu BUG (QEMU compatibility): QEMU's UART comes out of reset with MCR = 0x08 (OUT2,
    # hw/char/serial.c serial_reset), nemu with 0x00 (the datasheet's reset value).
    def test_uart_power_on_mcr(self):
        self.compare(["inb 0x3fc"])

    def test_uart_divisor_latch(self):
        self.compare([
            "outb 0x3fb 0x80", "outb 0x3f8 0x01", "outb 0x3f9 0x02", "inb 0x3f8", "inb 0x3f9",
            "inb 0x3fb", "inb 0x3fa",
            # DLAB off: the same ports are RBR/IER again and the latch is kept
            "outb 0x3fb 0x03", "inb 0x3f8", "inb 0x3f9", "inb 0x3fb",
            "outb 0x3fb 0x83", "inb 0x3f8", "inb 0x3f9",
            # writes with DLAB set go to the latch, not to IER (no interrupt)
            "outb 0x3f9 0x0f", "inb 0x3f9", "outb 0x3fb 0x03", "inb 0x3f9", "inb 0x3fa",
            "outb 0x3fb 0xff", "inb 0x3fb", "outb 0x3fb 0x00", "inb 0x3fb"])

    def test_uart_scratch(self):
        lines = []
        for v in (0x00, 0xff, 0x5a, 0xa5, 0x01):
            lines += ["outb 0x3ff 0x%x" % v, "inb 0x3ff"]
        lines += ["outb 0x3fb 0x80", "inb 0x3ff", "outb 0x3ff 0x33", "outb 0x3fb 0x00",
                  "inb 0x3ff", "inb 0x3f8"]
        self.compare(lines)

    def test_uart_ier_write_masking(self):
        self.compare(["outb 0x3f9 0xff", "inb 0x3f9", "inb 0x3fa", "inb 0x3fa",
                      "outb 0x3f9 0xf0", "inb 0x3f9", "inb 0x3fa",
                      "outb 0x3f9 0x0d", "inb 0x3f9", "inb 0x3fa",
                      "outb 0x3f9 0x00", "inb 0x3f9"])

    def test_uart_fifo_control_bits(self):
        # IER = 0 here: see test_uart_fifo_reset_raises_thre for the THRE side of FCR
        lines = ["inb 0x3fa", "outb 0x3fa 0x01", "inb 0x3fa", "inb 0x3fa",
                 "outb 0x3fa 0xc7", "inb 0x3fa", "outb 0x3fa 0x00", "inb 0x3fa",
                 # the trigger bits are not programmed while FCR0 is written as 0
                 "outb 0x3fa 0xc0", "inb 0x3fa", "outb 0x3fa 0x41", "inb 0x3fa",
                 "outb 0x3fa 0x00", "inb 0x3fa", "inb 0x3fd"]
        self.compare(lines)

    def test_uart_fifo_trigger_levels(self):
        # Loopback fills the receive FIFO; RDI is reported once `trigger` bytes are in it.
        lines = []
        for bits, trigger in ((0x00, 1), (0x40, 4), (0x80, 8), (0xc0, 14)):
            lines += ["outb 0x3f9 0x00", "outb 0x3fa 0x%x" % (bits | 0x03), "outb 0x3fc 0x10"]
            lines += ["outb 0x3f8 0x%x" % (0x30 + i) for i in range(trigger)]
            lines += ["inb 0x3fd", "outb 0x3f9 0x01", "inb 0x3fa", "inb 0x3fd",
                      "outb 0x3fa 0x%x" % (bits | 0x03), "inb 0x3fa", "inb 0x3fd",
                      "outb 0x3fc 0x00"]
        lines += ["outb 0x3f9 0x00", "outb 0x3fa 0x00", "inb 0x3fa"]
        self.compare(lines)

    def test_uart_fifo_overrun(self):
        lines = ["outb 0x3fa 0x07", "outb 0x3fc 0x10"]
        lines += ["outb 0x3f8 0x%x" % i for i in range(16)]
        lines += ["inb 0x3fd", "outb 0x3f8 0x10", "inb 0x3fd", "inb 0x3fd"]
        lines += ["inb 0x3f8"] * 16
        lines += ["inb 0x3fd", "outb 0x3fc 0x00"]
        self.compare(lines)

    # nemu BUG (QEMU compatibility): writing FCR so that the transmit FIFO is reset (XFR,
    # bit 2, or toggling FIFO enable, which resets both FIFOs) makes QEMU's THR empty again
    # with a pending THRE interrupt: IIR 0xc2 and "IRQ raise 4". nemu leaves the interrupt
    # cleared (IIR 0xc1, no IRQ line).
    def test_uart_fifo_reset_raises_thre(self):
        self.compare(["outb 0x3f9 0x02", "inb 0x3fa", "inb 0x3fa",
                      "outb 0x3fa 0x01", "inb 0x3fa", "inb 0x3fa",
                      "outb 0x3fa 0x05", "inb 0x3fa", "inb 0x3fa",
                      "outb 0x3fa 0x00", "inb 0x3fa"])

    def test_uart_loopback_tx_to_rx(self):
        self.compare([
            "outb 0x3fc 0x10", "inb 0x3fc", "outb 0x3f9 0x01",
            # character mode: each byte sets LSR.DR and raises RDI
            "outb 0x3f8 0x41", "inb 0x3fd", "inb 0x3fa", "inb 0x3f8", "inb 0x3fd", "inb 0x3fa",
            # a second byte before the first is read: overrun, the new byte wins
            "outb 0x3f8 0x42", "outb 0x3f8 0x43", "inb 0x3fd", "inb 0x3fd", "inb 0x3f8",
            "inb 0x3fd", "inb 0x3f8",
            "outb 0x3f9 0x00",
            # FIFO mode: bytes queue up in order
            "outb 0x3fa 0x01", "outb 0x3f8 0x61", "outb 0x3f8 0x62", "outb 0x3f8 0x63",
            "inb 0x3fd", "inb 0x3f8", "inb 0x3f8", "inb 0x3f8", "inb 0x3fd",
            "outb 0x3fa 0x00",
            # leaving loopback: nothing left in the receiver
            "outb 0x3fc 0x03", "inb 0x3fc", "inb 0x3fd"])

    def test_uart_loopback_msr_mapping(self):
        """MCR -> MSR in loopback (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD): the status bits
        agree with QEMU; the delta bits are nemu's own (module doc), checked elsewhere."""
        lines = [INTERCEPT] + ["inb 0x3fe"]
        for mcr in range(0x10, 0x20):
            lines += ["outb 0x3fc 0x%x" % mcr, "inb 0x3fc", "inb 0x3fe"]
        lines += ["outb 0x3fc 0x00", "inb 0x3fc"]
        mine = self.start().run(lines)
        theirs = self.start_oracle().run(lines)

        def status_only(transcript):
            out = []
            for entry in transcript:
                if entry.startswith("inb 0x3fe -> OK 0x"):
                    value = int(entry.rsplit(" ", 1)[1], 16)
                    entry = "inb 0x3fe -> status 0x%02x" % (value & 0xf0)
                out.append(entry)
            return out
        self.assertEqual(status_only(mine), status_only(theirs))
        self.assertIn("inb 0x3fe -> status 0xf0", status_only(mine))

    def test_uart_thre_interrupt(self):
        self.compare([
            "outb 0x3f9 0x02", "inb 0x3fa", "inb 0x3fa", "inb 0x3fd",
            # a byte sent leaves at once: THRE again, and the interrupt with it
            "outb 0x3f8 0x41", "inb 0x3fd", "inb 0x3fa", "inb 0x3fa",
            # IER.THRI 0 -> 1 while THR is empty raises it even after an IIR read cleared it
            "outb 0x3f9 0x00", "inb 0x3fa", "outb 0x3f9 0x02", "inb 0x3fa", "inb 0x3fa",
            # masking it lowers the line; IIR shows nothing
            "outb 0x3f8 0x42", "outb 0x3f9 0x00", "inb 0x3fa", "inb 0x3fd",
            # higher priority first: RDI (a loopback byte) over THRE, which is still
            # pending once RBR has been read
            "outb 0x3fc 0x10", "outb 0x3f9 0x03", "inb 0x3fa", "inb 0x3fa",
            "outb 0x3f8 0x55", "inb 0x3fa", "inb 0x3f8", "inb 0x3fa", "inb 0x3fa",
            "outb 0x3fc 0x00", "outb 0x3f9 0x00", "inb 0x3fa"])

    # nemu BUG (QEMU compatibility, IRQ lines): writing THR while the THRE interrupt is
    # pending. QEMU (like the chip) drops the interrupt when THR is written and raises it
    # again when the byte has left: "IRQ lower 4 | IRQ raise 4", a new edge on the
    # edge-triggered GSI 4. nemu keeps the line high: no lines, no new edge.
    def test_uart_thr_write_while_thre_pending(self):
        self.compare(["outb 0x3f9 0x02", "outb 0x3f8 0x41", "outb 0x3f8 0x42", "inb 0x3fa",
                      "inb 0x3fa"])

    # nemu BUG (QEMU compatibility): reading RBR in FIFO mode with the receive FIFO empty
    # returns 0 in QEMU (serial_ioport_read: empty recv_fifo -> 0); nemu returns the last
    # byte read again. Character mode agrees (both return the last byte).
    def test_uart_rbr_read_with_empty_fifo(self):
        self.compare(["outb 0x3fc 0x10", "outb 0x3f8 0x63", "inb 0x3f8", "inb 0x3f8",
                      "outb 0x3fa 0x01", "outb 0x3f8 0x64", "inb 0x3f8", "inb 0x3fd",
                      "inb 0x3f8", "outb 0x3fa 0x00", "outb 0x3fc 0x00"])

    # --- UART, nemu alone (deliberate differences, see the module doc)

    def test_uart_loopback_msr_deltas(self):
        vm = self.start()
        self.assertEqual(vm.inb(MSR), 0xb0)             # a connected line: DCD, DSR, CTS
        vm.outb(MCR, 0x10)                              # loopback, all outputs low
        self.assertEqual(vm.inb(MSR), 0x0b)             # DCD, DSR, CTS fell: DDCD, DDSR, DCTS
        self.assertEqual(vm.inb(MSR), 0x00)             # reading cleared the deltas
        vm.outb(MCR, 0x1f)
        self.assertEqual(vm.inb(MSR), 0xfb)             # RI rose: no TERI (trailing edge only)
        vm.outb(MCR, 0x1b)                              # OUT1 low: RI falls
        self.assertEqual(vm.inb(MSR), 0xb4)
        self.assertEqual(vm.cmd(INTERCEPT), "OK")
        vm.outb(IER, 0x08)                              # modem status interrupt
        self.assertEqual(vm.inb(IIR), 0x01)
        vm.outb(MCR, 0x19)                              # RTS low: CTS falls
        self.assertEqual(vm.last_irqs, ["IRQ raise 4"])
        self.assertEqual(vm.inb(IIR), 0x00)             # MSI
        self.assertEqual(vm.inb(MSR), 0xa1)
        self.assertEqual(vm.last_irqs, ["IRQ lower 4"])
        self.assertEqual(vm.inb(IIR), 0x01)
        vm.outb(IER, 0x00)

    def test_uart_fifo_character_timeout(self):
        """Below the trigger level a received batch is reported as a character timeout at
        once (IIR 0xcc); reading a byte clears it and the main loop re-arms it while data is
        left (QEMU: four character times later on the virtual clock)."""
        vm = self.start()
        self.assertEqual(vm.cmd(INTERCEPT), "OK")
        vm.outb(FCR, 0xc7)                              # FIFO on, trigger 14
        vm.outb(MCR, 0x10)
        vm.outb(IER, 0x01)
        self.assertEqual(vm.inb(IIR), 0xc1)
        vm.outb(THR, 0x31)
        self.assertEqual(vm.last_irqs, ["IRQ raise 4"])
        vm.outb(THR, 0x32)
        self.assertEqual(vm.inb(IIR), 0xcc)
        self.assertEqual(vm.inb(RBR), 0x31)
        self.assertEqual(vm.last_irqs, ["IRQ lower 4"])
        vm.wait_irq(UART_GSI, False)
        vm.wait_irq(UART_GSI, True)                     # re-armed: one byte is left
        self.assertEqual(vm.inb(IIR), 0xcc)
        self.assertEqual(vm.inb(RBR), 0x32)
        self.assertEqual(vm.inb(IIR), 0xc1)
        self.assertEqual(vm.inb(LSR), 0x60)

    # --- 2. serial I/O through chardevs

    def socket_serial(self, start):
        path = os.path.join(tempfile.mkdtemp(prefix="nemu-virt-ser-"), "serial.sock")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        vm = start(serial="chardev:ser0",
                   extra=["-chardev", "socket,id=ser0,path=%s,server=on,wait=off" % path])
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.settimeout(TIMEOUT)
        client.connect(path)
        self.assertEqual(vm.cmd(INTERCEPT), "OK")
        vm.outb(IER, 0x01)
        return vm, client

    def check_socket_io(self, start):
        vm, client = self.socket_serial(start)
        # input first: once a byte has reached RBR the emulator has accepted the connection,
        # so the output below cannot be dropped for want of a peer
        client.sendall(b"Z")
        self.assertEqual(vm.guest_read(1), b"Z")
        self.assertEqual(vm.inb(LSR) & LSR_DR, 0)
        text = b"hello, virt\r\n"
        for byte in text:
            vm.outb(THR, byte)
        got = b""
        while len(got) < len(text):
            chunk = client.recv(4096)
            self.assertTrue(chunk, "the serial socket closed")
            got += chunk
        self.assertEqual(got, text)
        # more input than the receiver holds (character mode: one byte) arrives in order
        data = bytes(range(0x20, 0x7f))
        client.sendall(data)
        self.assertEqual(vm.guest_read(len(data)), data)
        vm.outb(FCR, 0x01)
        client.sendall(data)
        self.assertEqual(vm.guest_read(len(data)), data)

    def test_serial_socket_io(self):
        self.check_socket_io(self.start)

    def test_serial_socket_io_oracle(self):
        self.check_socket_io(self.start_oracle)

    def check_mux_stdio_input(self, start, fcr):
        """300 bytes through `-serial mon:stdio` all reach the guest (regression: the mux
        kept bytes once the UART had been filled exactly and never asked for them again)."""
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        vm = start(serial="mon:stdio", stdin=r)
        writer = os.fdopen(w, "wb")
        self.addCleanup(writer.close)
        self.assertEqual(vm.cmd(INTERCEPT), "OK")
        vm.outb(FCR, fcr)
        vm.outb(IER, 0x01)
        data = bytes(0x21 + (i * 7) % 0x5e for i in range(300))   # printable, no Ctrl-A
        writer.write(data)
        writer.flush()
        self.assertEqual(vm.guest_read(len(data)), data)
        self.assertEqual(vm.inb(LSR) & LSR_DR, 0)

    def test_serial_mux_stdio_300_bytes_fifo(self):
        self.check_mux_stdio_input(self.start, 0x07)

    def test_serial_mux_stdio_300_bytes_character_mode(self):
        self.check_mux_stdio_input(self.start, 0x00)

    def test_serial_mux_stdio_300_bytes_oracle(self):
        self.check_mux_stdio_input(self.start_oracle, 0x07)

    # --- 3. GED and the hardware-reduced ACPI registers (nemu alone)

    def start_with_qmp(self, extra=()):
        path = self.qmp_path()
        vm = self.start(qmp=path, extra=extra)
        return vm, self.qmp_connect(path)

    def test_acpi_poweroff_exits(self):
        vm, qmp = self.start_with_qmp()
        self.assertEqual(vm.cmd("writeb 0x%x 0x34" % SLEEP_CONTROL), "OK")
        event = self.next_event(qmp)
        self.assertEqual((event["event"], event["data"]),
                         ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}))
        try:
            code = vm.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("still running %ss after the guest powered off" % TIMEOUT)
        self.assertEqual(code, 0, vm.stderr_text())

    def test_acpi_poweroff_no_shutdown(self):
        vm, qmp = self.start_with_qmp(extra=["-no-shutdown"])
        self.assertEqual(vm.cmd("writeb 0x%x 0x34" % SLEEP_CONTROL), "OK")
        event = self.next_event(qmp)
        self.assertEqual((event["event"], event["data"]),
                         ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}))
        self.assertEqual(self.next_event(qmp)["event"], "STOP")
        self.assertEqual(self.qmp_execute(qmp, "query-status"),
                         {"return": {"status": "shutdown", "singlestep": False,
                                     "running": False}})
        self.assertIsNone(vm.proc.poll())
        self.assertEqual(vm.cmd("endianness"), "OK little")

    def test_acpi_reset(self):
        vm, qmp = self.start_with_qmp()
        vm.outb(SCR, 0x5a)
        vm.outb(IER, 0x05)
        self.assertEqual(vm.cmd("writeb 0x%x 0x42" % RESET_REG), "OK")
        event = self.next_event(qmp)
        self.assertEqual((event["event"], event["data"]),
                         ("RESET", {"guest": True, "reason": "guest-reset"}))
        # the machine reset the UART
        self.assertEqual((vm.inb(SCR), vm.inb(IER)), (0, 0))
        self.assertEqual(self.qmp_execute(qmp, "query-status")["return"]["status"], "running")

    def test_acpi_other_values_ignored(self):
        vm, qmp = self.start_with_qmp(extra=["-no-shutdown"])
        # SLP_EN with another sleep type, SLP_TYP=5 without SLP_EN, and every reset value
        # but 0x42 (ACPI 6.5 §4.8.3.6: the reset is RESET_VALUE written to RESET_REG)
        for v in (0x20, 0x14, 0x30, 0x3c, 0x24, 0x10, 0xff, 0x00):
            self.assertEqual(vm.cmd("writeb 0x%x 0x%x" % (SLEEP_CONTROL, v)), "OK")
        for v in (0x00, 0x01, 0x41, 0x43, 0xff, 0x34):
            self.assertEqual(vm.cmd("writeb 0x%x 0x%x" % (RESET_REG, v)), "OK")
        self.assertEqual(vm.cmd("writeb 0x%x 0xff" % SLEEP_STATUS), "OK")
        self.assertEqual([vm.cmd("readb 0x%x" % a) for a in (SLEEP_CONTROL, SLEEP_STATUS,
                                                             RESET_REG)],
                         ["OK 0x0000000000000000"] * 3)
        # requests are handled in order: had any write above done something, its event
        # would come before these two
        self.assertEqual(vm.cmd("writeb 0x%x 0x42" % RESET_REG), "OK")
        self.assertEqual(self.next_event(qmp)["event"], "RESET")
        self.assertEqual(vm.cmd("writeb 0x%x 0x34" % SLEEP_CONTROL), "OK")
        self.assertEqual(self.next_event(qmp)["event"], "SHUTDOWN")
        self.assertEqual(self.next_event(qmp)["event"], "STOP")
        self.assertIsNone(vm.proc.poll())

    def test_ged_power_button(self):
        vm, qmp = self.start_with_qmp()
        self.assertEqual(vm.cmd(INTERCEPT), "OK")
        self.assertEqual(vm.value("readl 0x%x" % GED_ESEL), 0)
        self.assertEqual(self.qmp_execute(qmp, "system_powerdown"), {"return": {}})
        self.assertEqual(self.next_event(qmp)["event"], "POWERDOWN")
        # an edge on GSI 16: raised and lowered again
        vm.wait_irq(GED_GSI, True)
        vm.wait_irq(GED_GSI, False)
        self.assertEqual(vm.value("readl 0x%x" % GED_ESEL), 2)   # power button, once
        self.assertEqual(vm.value("readl 0x%x" % GED_ESEL), 0)
        self.assertIsNone(vm.proc.poll())
        self.assertEqual(self.qmp_execute(qmp, "query-status")["return"]["status"], "running")

    # --- 4. boot timeline (port 0x80)

    def timeline(self, qmp):
        reply = self.qmp_execute(qmp, "__org.nemu_query-boot-timeline")
        self.assertIn("return", reply, reply)
        return reply["return"]

    def test_boot_timeline_guest_mark(self):
        vm, qmp = self.start_with_qmp()
        vm.outb(0x80, 0x42)
        marks = self.timeline(qmp)
        names = [m["name"] for m in marks]
        self.assertIn("machine-ready", names)
        self.assertEqual(names.count("guest-42"), 1, names)
        self.assertGreater(names.index("guest-42"), names.index("machine-ready"))
        ns = [m["ns"] for m in marks]
        self.assertEqual(ns, sorted(ns))
        self.assertLess(ns[names.index("machine-ready")], ns[names.index("guest-42")])
        self.assertTrue(all(isinstance(n, int) and n > 0 for n in ns), marks)
        vm.outb(0x80, 0x0a)
        self.assertEqual([m["name"] for m in self.timeline(qmp)][-1], "guest-0a")

    def test_boot_timeline_guest_marks_capped(self):
        vm, qmp = self.start_with_qmp()
        for i in range(300):
            vm.outb(0x80, i & 0xff)
        guest = [m["name"] for m in self.timeline(qmp) if m["name"].startswith("guest-")]
        self.assertLessEqual(len(guest), 256)
        # the first ones are kept, later ones dropped (docs/boot-timeline.md)
        self.assertEqual(guest, ["guest-%02x" % i for i in range(256)])

    # --- 5. unassigned I/O ports

    def test_unassigned_legacy_ports(self):
        """No PS/2, CMOS, PIT, PIC or PCI config ports: reads are all ones, writes are
        dropped. QEMU microvm agrees once its PIT, PIC and RTC are switched off."""
        lines = []
        for port in (0x60, 0x64, 0x70, 0x71, 0x40, 0x43, 0x20, 0x21, 0xa0, 0xa1, 0xcf8, 0xcfc,
                     0x92, 0x2f8):
            lines += ["inb 0x%x" % port]
        lines += ["inw 0x60", "inl 0xcf8", "inl 0xcfc", "outl 0xcf8 0x80000000", "inl 0xcf8",
                  "inl 0xcfc", "outb 0x70 0x0a", "inb 0x71", "outb 0x43 0x34", "inb 0x40"]
        mine = self.start().run(lines)
        for entry in mine:
            if entry.startswith("in"):
                self.assertRegex(entry, r"-> OK 0x(00ff|ffff|ffffffff)$")
        theirs = self.start_oracle(machine=ORACLE_BARE_MACHINE).run(lines)
        self.assertEqual(mine, theirs)

    # --- 6. bad input

    def test_kvm_needs_kernel(self):
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.skipTest("no usable /dev/kvm")
        try:
            proc = subprocess.run([self.binary, "-M", "virt", "-accel", "kvm", "-m", "64M",
                                   "-display", "none", "-nodefaults"],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("-M virt -accel kvm without -kernel still running after %ss" % TIMEOUT)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        err = proc.stderr.decode(errors="replace")
        self.assertIn("-kernel", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_qtest_needs_no_kernel(self):
        path = self.qmp_path()
        vm = self.start(qmp=path)
        qmp = self.qmp_connect(path)
        self.assertEqual(vm.cmd("endianness"), "OK little")
        self.assertEqual(self.qmp_execute(qmp, "query-status")["return"]["status"], "running")
        self.assertEqual(vm.stderr_text(), "")


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, CONFIG))
