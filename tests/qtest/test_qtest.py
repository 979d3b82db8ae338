#!/usr/bin/env python3
"""qtest protocol of the binary under test against Debian's qemu-system-x86_64 7.2, live.

usage: test_qtest.py BINARY [--oracle] [unittest options, e.g. -v or -k NAME]
  BINARY    the emulator under test (or $NEMU_BINARY)
  --oracle  BINARY is QEMU itself: only the comparisons run (checks the suite, not nemu)
Environment: QEMU_ORACLE (default qemu-system-x86_64), NEMU_TEST_TIMEOUT (seconds, 20).
Prints only unittest's summary when green; exits non-zero on failure.

The test plays libqtest's part (docs/devel/qtest.rst): it listens on a UNIX socket BEFORE
starting the process, passes `-qtest unix:PATH` so the emulator connects as a client, and
accepts with a timeout that fails the test. No sleeps: every wait is a blocking read with
a timeout.

How the oracle runs. Debian's build has no qtest accelerator ("-accel qtest: invalid
accelerator qtest"), and under TCG with `-M none` there is no CPU, so QEMU's qtest memory
commands (which go through first_cpu->as) crash it; an x86 CPU cannot be added to `-M none`
("apic-id property was not initialized properly"). The oracle therefore runs
`-M microvm -accel tcg -S`: RAM at guest physical address 0 as with `-M none -m`, no PCI,
nothing mapped at the addresses and ports used here, and -S so that no guest code runs and
touches RAM. Without the qtest accelerator QEMU answers clock_step/clock_set with
"FAIL Unknown command", so the clock is checked against QEMU's documented replies
(softmmu/qtest.c: "OK <virtual clock ns>") for nemu alone.

Malformed lines on which QEMU asserts (missing arguments, unparsable numbers, empty line,
zero-length read, ports >= 0x10000) or allocates without bound (huge read sizes) are checked
for nemu only: a "FAIL ..." reply and a session that keeps working.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

TIMEOUT = float(os.environ.get("NEMU_TEST_TIMEOUT", "20"))
RAM = 16 << 20
RAM_ARGS = ["-m", "16M", "-display", "none", "-nodefaults"]
NEMU_MACHINE = ["-M", "none", "-accel", "qtest"]
ORACLE_MACHINE = ["-M", "microvm", "-accel", "tcg", "-S"]

CONFIG = {"binary": os.environ.get("NEMU_BINARY"), "oracle_mode": False}


def oracle_binary():
    return os.environ.get("QEMU_ORACLE", "qemu-system-x86_64")


class Emulator:
    """One emulator process with its qtest connection (and optionally a QMP one)."""

    def __init__(self, testcase, binary, machine, extra=(), qmp=None, pass_fds=()):
        self.dir = tempfile.mkdtemp(prefix="nemu-qtest-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        path = os.path.join(self.dir, "qtest.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        testcase.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+b")
        testcase.addCleanup(self.stderr.close)
        args = [binary] + list(machine) + RAM_ARGS + ["-qtest", "unix:" + path] + list(extra)
        if qmp:
            args += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, pass_fds=pass_fds)
        testcase.addCleanup(self.kill)
        try:
            self.sock, _ = listener.accept()
        except socket.timeout:
            testcase.fail("%s did not connect to the qtest socket within %ss; stderr: %s"
                          % (binary, TIMEOUT, self.stderr_text()))
        testcase.addCleanup(self.sock.close)
        self.sock.settimeout(TIMEOUT)
        self.rfile = self.sock.makefile("rb")
        self.dead = False

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def terminate(self):
        """SIGTERM: an orderly exit, so QEMU flushes its (stdio-buffered) qtest log."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("no exit within %ss of SIGTERM" % TIMEOUT)

    def stderr_text(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def cmd(self, line):
        """Send one line, return the reply line without its newline, or "<EOF>"."""
        if self.dead:
            return "<EOF>"
        try:
            self.sock.sendall(line.encode() + b"\n")
            reply = self.rfile.readline()
        except (BrokenPipeError, ConnectionResetError):
            reply = b""
        if not reply:
            self.dead = True
            return "<EOF>"
        return reply.decode(errors="replace").rstrip("\n")

    def run(self, lines):
        return ["%s -> %s" % (line, self.cmd(line)) for line in lines]


class QMP:
    def __init__(self, testcase, sock):
        self.sock = sock
        testcase.addCleanup(sock.close)
        sock.settimeout(TIMEOUT)
        self.rfile = sock.makefile("rb")
        self.greeting = self.recv()

    def recv(self):
        line = self.rfile.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return json.loads(line)

    def execute(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.recv()
            if "event" not in reply:
                return reply


class QtestTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.binary = CONFIG["binary"]
        if not self.binary:
            self.skipTest("no binary given")
        self.oracle_mode = CONFIG["oracle_mode"]

    def start(self, **kw):
        machine = ORACLE_MACHINE if self.oracle_mode else NEMU_MACHINE
        return Emulator(self, self.binary, machine, **kw)

    def start_oracle(self, **kw):
        if shutil.which(oracle_binary()) is None:
            self.skipTest("oracle %s not installed" % oracle_binary())
        return Emulator(self, oracle_binary(), ORACLE_MACHINE, **kw)

    def nemu_only(self):
        if self.oracle_mode:
            self.skipTest("QEMU aborts on these inputs or lacks the qtest accelerator")

    def compare(self, lines):
        """The same lines to both; the transcripts must agree line by line."""
        mine = self.start().run(lines)
        theirs = self.start_oracle().run(lines)
        self.assertEqual(mine, theirs)
        self.assertNotIn("<EOF>", " ".join(theirs), "the oracle died: bad test input")

    # --- memory

    def test_typed_access_ram(self):
        lines = []
        for addr in (0, 0x1000, 0x1001, RAM - 8):
            lines += ["readb 0x%x" % addr, "readw 0x%x" % addr, "readl 0x%x" % addr,
                      "readq 0x%x" % addr]
            lines += ["writeb 0x%x 0x5a" % addr, "readq 0x%x" % addr,
                      "writew 0x%x 0x1234" % addr, "readq 0x%x" % addr,
                      "writel 0x%x 0xdeadbeef" % addr, "readq 0x%x" % addr,
                      "writeq 0x%x 0x0102030405060708" % addr, "readq 0x%x" % addr,
                      "readb 0x%x" % (addr + 7), "readw 0x%x" % (addr + 3),
                      "readl 0x%x" % (addr + 1)]
        # decimal numbers, values wider than the access, and accesses straddling RAM's end
        lines += ["writeb 4096 0x1ff", "readw 4096", "writew 10 -1", "readl 8",
                  "writel %d 0xaabbccdd" % (RAM - 2), "readl %d" % (RAM - 2),
                  "writeq %d 0x1122334455667788" % (RAM - 4), "readq %d" % (RAM - 4),
                  "read %d 8" % (RAM - 4)]
        self.compare(lines)

    def test_byte_strings(self):
        self.compare([
            "write 0x0 4 0x00112233", "read 0x0 4", "b64read 0x0 4",
            "write 0x1001 3 0xAbCdEf", "read 0x1000 5", "b64read 0x1000 5",
            "b64write 0x2000 6 AQIDBAUG", "read 0x2000 8", "b64read 0x2000 1",
            "b64read 0x2000 2", "b64read 0x2000 3",
            "memset 0x3000 16 0xa5", "read 0x2fff 18", "memset 0x3004 2 0x1ff",
            "read 0x3000 8", "memset 0x3000 0 0x11", "read 0x3000 1",
            "b64read 0x0 0",
            # data shorter or longer than the length given
            "write 0x4000 4 0xab", "read 0x4000 4", "write 0x4000 1 0xffee", "read 0x4000 4",
            # (not b64 data shorter than the length: QEMU then writes `length` bytes from a
            # buffer holding fewer, i.e. whatever follows on its heap)
            "b64write 0x4000 2 AQIDBA==", "read 0x4000 8",
            # lengths the protocol rejects without crashing
            "write 0x4000 2 0x", "b64write 0x4000 2 A", "read 0x4000 4",
            # crossing the end of RAM
            "memset %d 4 0x77" % (RAM - 2), "read %d 4" % (RAM - 2),
            "write %d 4 0x01020304" % (RAM - 2), "b64read %d 4" % (RAM - 2),
        ])

    def test_unassigned_memory(self):
        lines = []
        for addr in (RAM, RAM + 1, 0x10000000, 0x10000000000, 0xfffffffffffffff8):
            lines += ["readb 0x%x" % addr, "readw 0x%x" % addr, "readl 0x%x" % addr,
                      "readq 0x%x" % addr, "read 0x%x 4" % addr, "b64read 0x%x 3" % addr,
                      "writel 0x%x 0x12345678" % addr, "readl 0x%x" % addr,
                      "write 0x%x 2 0xabcd" % addr, "memset 0x%x 4 0x99" % addr,
                      "read 0x%x 4" % addr]
        self.compare(lines)

    def test_unassigned_port_writes(self):
        self.compare(["outb 0x80 0x12", "outw 0x1000 0x1234", "outl 0xc000 0x12345678",
                      "outb 0xffff 1", "outl 0xfffc 0xffffffff", "endianness"])

    # nemu answers "OK 0x0000" where QEMU's unassigned I/O reads give all ones
    # (inb -> "OK 0x00ff", inw -> "OK 0xffff", inl -> "OK 0xffffffff"). Remove the marker
    # once nemu matches: an unexpected success fails the run.
    def test_unassigned_port_reads(self):
        lines = []
        for port in (0x80, 0x1000, 0xc000, 0xfffc):
            lines += ["inb 0x%x" % port, "inw 0x%x" % port, "inl 0x%x" % port]
        self.compare(lines)

    def test_endianness_and_unknown(self):
        self.compare(["endianness", "endianness extra words", "foo", "READB 0",
                      "readb_ 0", "irq_intercept", "FAIL", "OK", "endianness"])

    # A deliberate difference: where QEMU takes malformed hex/base64 data without complaint
    # and stores garbage, nemu refuses it and leaves memory as it was.
    #   write 0 1 0xzz     QEMU "OK" (stores 0xff)     nemu "FAIL invalid hex data"
    #   write 0 2 abcd     QEMU "OK" (skips 2 chars)   nemu "FAIL invalid hex data"
    #   b64write 0 4 !!!!  QEMU "OK" (stores "!!!!")   nemu "FAIL invalid base64 data"
    def test_malformed_data_refused(self):
        self.nemu_only()
        vm = self.start()
        self.assertEqual(vm.cmd("write 0 4 0x11223344"), "OK")
        for bad in ["write 0 1 0xzz", "write 0 2 0xz1", "write 0 2 abcd", "b64write 0 4 !!!!"]:
            self.assertRegex(vm.cmd(bad), r"^FAIL invalid (hex|base64) data$", bad)
        self.assertEqual(vm.cmd("read 0 4"), "OK 0x11223344")

    # --- nemu alone

    def test_clock(self):
        self.nemu_only()
        vm = self.start()
        self.assertRegex(vm.cmd("clock_step"), r"^OK \d+$")
        self.assertEqual(vm.cmd("clock_set 5000"), "OK 5000")
        self.assertEqual(vm.cmd("clock_step 100"), "OK 5100")
        self.assertEqual(vm.cmd("clock_step 0x10"), "OK 5116")
        # the clock never goes back: QEMU warps forward only and reports the current value
        self.assertEqual(vm.cmd("clock_set 10"), "OK 5116")
        reply = vm.cmd("clock_step")
        self.assertRegex(reply, r"^OK \d+$")
        self.assertGreaterEqual(int(reply.split()[1]), 5116)

    def test_bad_input_keeps_session(self):
        self.nemu_only()
        vm = self.start()
        self.assertEqual(vm.cmd("writeb 0x1000 0x42"), "OK")
        bad = ["", "readb", "readq", "writeb", "writeb 0", "writeq 0x1000", "read", "read 0",
               "b64read 0", "write 0 4", "b64write 0 4", "memset 0 4", "inb", "outb 0x80",
               "readb 0x", "readb zzz", "writel 0 0xqq", "readb 0x10000000000000000",
               "read 0 0", "read 0 0x100000000", "b64read 0 0xffffffffffffffff",
               "memset 0 0x100000000 1", "write 0 0x100000000 0x00",
               "inb 0x10000", "outw 0x10000 1", "clock_step abc", "clock_set",
               "irq_intercept_in /no/such/device", "set_irq_in /no/such 0 0 1"]
        for line in bad:
            with self.subTest(line=line):
                self.assertRegex(vm.cmd(line), r"^FAIL .+")
                self.assertEqual(vm.cmd("endianness"), "OK little")
        self.assertEqual(vm.cmd("readb 0x1000"), "OK 0x0000000000000042")
        # a line longer than the protocol's limit is refused as a whole
        self.assertRegex(vm.cmd("write 0 1 0x" + "00" * (5 << 20)), r"^FAIL .+")
        self.assertEqual(vm.cmd("readb 0x1000"), "OK 0x0000000000000042")

    def test_qtest_log(self):
        """-qtest-log /dev/fd/2: "[R +secs] line" and "[S +secs] reply" on stderr, as QEMU."""
        lines = ["writeb 0x10 0x7", "readb 0x10", "foo", "endianness"]
        logs = []
        emulators = [self.start(extra=["-qtest-log", "/dev/fd/2"])]
        if not self.oracle_mode:
            emulators.append(self.start_oracle(extra=["-qtest-log", "/dev/fd/2"]))
        for vm in emulators:
            vm.run(lines)
            vm.terminate()
            log = [re.sub(r"^\[([RS]) \+[0-9.]+\]", r"[\1 T]", line)
                   for line in vm.stderr_text().splitlines() if re.match(r"^\[[RS] ", line)]
            logs.append(log)
        self.assertEqual(logs[0], ["[R T] writeb 0x10 0x7", "[S T] OK",
                                   "[R T] readb 0x10", "[S T] OK 0x0000000000000007",
                                   "[R T] foo", "[S T] FAIL Unknown command 'foo'",
                                   "[R T] endianness", "[S T] OK little"])
        if len(logs) > 1:
            self.assertEqual(logs[0], logs[1])

    # QEMU starts the log with "[I 0.000000] OPENED" (its CHR_EVENT_OPENED); nemu's log has
    # no such line (the connection is opened before -qtest-log's sink is attached).
    def test_qtest_log_opened(self):
        vm = self.start(extra=["-qtest-log", "/dev/fd/2"])
        self.assertEqual(vm.cmd("endianness"), "OK little")
        vm.terminate()
        self.assertRegex(vm.stderr_text(), r"(?m)^\[I \d+\.\d{6}\] OPENED$")

    # QEMU 7.2 logs to stderr when -qtest-log is not given (softmmu/qtest.c
    # qtest_server_init: qtest_log_fp = stderr); so does nemu.
    def test_qtest_log_default_stderr(self):
        vm = self.start()
        self.assertEqual(vm.cmd("endianness"), "OK little")
        vm.terminate()
        self.assertIn("] endianness", vm.stderr_text())

    # --- QMP next to qtest

    def qmp_connect(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        qmp = QMP(self, s)
        self.assertIn("QMP", qmp.greeting)
        self.assertEqual(qmp.execute("qmp_capabilities"), {"return": {}})
        return qmp

    def test_qmp_query_status_while_connected(self):
        replies = []
        emulators = [(self.start, [])]
        if not self.oracle_mode:
            emulators.append((self.start_oracle, []))
        for start, extra in emulators:
            d = tempfile.mkdtemp(prefix="nemu-qmp-")
            self.addCleanup(shutil.rmtree, d, True)
            qmp_path = os.path.join(d, "qmp.sock")
            # -S for both: the oracle needs it (see the module doc), so the states agree
            vm = start(qmp=qmp_path, extra=["-S"] + extra)
            # wait=off: the monitor listens before the emulator connects to qtest
            qmp = self.qmp_connect(qmp_path)
            out = [vm.cmd("writel 0x100 0xcafe")]
            out.append(qmp.execute("query-status"))
            out.append(vm.cmd("readl 0x100"))
            out.append(qmp.execute("query-status"))
            replies.append(out)
        self.assertEqual(replies[0], ["OK",
                                      {"return": {"status": "prelaunch", "singlestep": False,
                                                  "running": False}},
                                      "OK 0x000000000000cafe",
                                      {"return": {"status": "prelaunch", "singlestep": False,
                                                  "running": False}}])
        if len(replies) > 1:
            self.assertEqual(replies[0], replies[1])

    def test_qmp_quit_exits_zero(self):
        """QMP on an inherited listening fd (libvirt's way); quit ends the process with 0."""
        for start in ([self.start] if self.oracle_mode else [self.start, self.start_oracle]):
            with self.subTest(emulator=start.__name__):
                d = tempfile.mkdtemp(prefix="nemu-qmp-")
                self.addCleanup(shutil.rmtree, d, True)
                path = os.path.join(d, "qmp.sock")
                lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.addCleanup(lsock.close)
                lsock.bind(path)
                lsock.listen(1)
                fd = lsock.fileno()
                vm = start(extra=["-chardev", "socket,id=m,fd=%d,server=on,wait=off" % fd,
                                  "-mon", "chardev=m,mode=control"], pass_fds=(fd,))
                qmp = self.qmp_connect(path)
                self.assertEqual(vm.cmd("endianness"), "OK little")
                status = qmp.execute("query-status")["return"]
                self.assertIn(status["status"], ("running", "prelaunch"))
                self.assertEqual(qmp.execute("quit"), {"return": {}})
                try:
                    code = vm.proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.fail("still running %ss after quit" % TIMEOUT)
                self.assertEqual(code, 0, vm.stderr_text())
                self.assertEqual(vm.cmd("endianness"), "<EOF>")


def run_main(argv, config, oracle=False):
    """The qtest suites' command line: BINARY [--oracle] [unittest options]. Sets
    config["binary"] (made absolute when it is a path: tests change directories) and, when
    the suite has an oracle mode (oracle=True), config["oracle_mode"] on --oracle; runs the
    calling script's tests with buffered output. Returns the exit status."""
    args = list(argv[1:])
    if oracle and "--oracle" in args:
        args.remove("--oracle")
        config["oracle_mode"] = True
    if args and not args[0].startswith("-"):
        config["binary"] = args.pop(0)
    if not config["binary"]:
        sys.stderr.write("usage: %s BINARY%s [unittest options]\n"
                         % (argv[0], " [--oracle]" if oracle else ""))
        return 2
    if os.sep in config["binary"]:
        config["binary"] = os.path.abspath(config["binary"])
    prog = unittest.main(module="__main__", argv=[argv[0]] + args, exit=False, buffer=True)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, CONFIG, oracle=True))
