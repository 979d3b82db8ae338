#!/usr/bin/env python3
"""Command-line behaviour of the binary under test against Debian's qemu-system-x86_64 7.2,
run live: help texts, error messages (program name replaced by <prog>), exit statuses,
-daemonize/-pidfile.

usage: test_cli.py [BINARY] [--oracle] [unittest options]
  (or NEMU_BINARY=... python3 -m unittest test_cli; --oracle: BINARY is QEMU itself)
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qmp"))

from qmp_harness import (QMPClient, TIMEOUT, accel_args, binary_under_test,  # noqa: E402
                         is_oracle_mode, oracle_available, oracle_binary)


def run(binary, args, oracle=False):
    r = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    norm = lambda b: b.decode(errors="replace").replace(binary, "<prog>").replace(
        os.path.basename(binary), "<prog>")
    return r.returncode, norm(r.stdout), norm(r.stderr)


class OracleTest(unittest.TestCase):
    """A test comparing the binary under test with the oracle, which must be installed."""
    maxDiff = None

    def setUp(self):
        self.binary = binary_under_test()
        self.oracle_mode = is_oracle_mode()
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())


class CliTest(OracleTest):

    def both(self, args, accel=False):
        mine = run(self.binary, (accel_args(self.oracle_mode) if accel else []) + list(args))
        theirs = run(oracle_binary(), (["-accel", "tcg"] if accel else []) + list(args))
        return mine, theirs

    # --- informational options

    def test_version(self):
        (st, out, err), (ost, oout, oerr) = self.both(["-version"])
        self.assertEqual((st, err), (0, ""))
        self.assertEqual(ost, 0)
        lines, olines = out.splitlines(), oout.splitlines()
        self.assertRegex(lines[0], r"^QEMU emulator version 7\.2\.\d+ \(.+\)$")
        if not self.oracle_mode:
            # nemu keeps QEMU's first words (tools parse them) and names itself in brackets
            self.assertTrue(lines[0].startswith("QEMU emulator version 7.2.0 (nemu"), lines[0])
        else:
            # the copyright line is QEMU's own; nemu says what it is instead
            self.assertEqual(lines[1:], olines[1:])

    def test_machine_help(self):
        (st, out, err), (ost, oout, _) = self.both(["-machine", "help"])
        self.assertEqual((st, err), (0, ""))
        lines, olines = out.splitlines(), oout.splitlines()
        self.assertEqual(lines[0], "Supported machines are:")
        self.assertEqual(lines[0], olines[0])
        none = [l for l in lines if l.split()[0] == "none"]
        self.assertEqual(none, [l for l in olines if l.split()[0] == "none"])
        self.assertEqual(none, ["%-20s %s" % ("none", "empty machine")])
        for line in lines[1:]:
            name, _, desc = line.partition(" ")
            self.assertEqual(line, "%-20s %s" % (name, desc.lstrip(" ")), line)

    def test_accel_help(self):
        (st, out, err), (ost, oout, _) = self.both(["-accel", "help"])
        self.assertEqual((st, err), (0, ""))
        lines, olines = out.splitlines(), oout.splitlines()
        self.assertEqual(lines[0], "Accelerators supported in QEMU binary:")
        self.assertEqual(lines[0], olines[0])
        self.assertIn("kvm", lines[1:])
        # nemu has no TCG (and may add qtest): only kvm must be shared
        if self.oracle_mode:
            self.assertEqual(lines, olines)

    DEVICE_LINE = re.compile(r'^name "[^"]+"(, bus [^,]+)?(, alias "[^"]+")?'
                             r'(, desc "[^"]*")?(, no-user)?$')

    def test_device_help(self):
        (st, out, err), (ost, oout, _) = self.both(["-device", "help"])
        self.assertEqual((st, err), (0, ""))
        oheaders = {l for l in oout.splitlines() if l.endswith(":")}
        otheir = {re.match(r'name "([^"]+)"', l).group(1): l for l in oout.splitlines()
                  if l.startswith("name ")}
        count = 0
        for line in out.splitlines():
            if not line:
                continue
            if line.endswith(":"):
                self.assertIn(line, oheaders, "category header")
                continue
            self.assertRegex(line, self.DEVICE_LINE)
            name = re.match(r'name "([^"]+)"', line).group(1)
            count += 1
            if name in otheir:
                self.assertEqual(line, otheir[name])
        if count == 0:
            # nemu before its first device model (machine "none" only): nothing to list, and
            # nothing else may be printed either.
            self.assertEqual(out, "")
            return
        # groups are separated by one empty line, the output ends with a newline
        self.assertNotIn("\n\n\n", out)
        self.assertTrue(out.endswith("\n"))

    def test_object_help(self):
        (st, out, err), (ost, oout, _) = self.both(["-object", "help"])
        self.assertEqual((st, err), (0, ""))
        lines, olines = out.splitlines(), oout.splitlines()
        self.assertEqual(lines[0], "List of user creatable objects:")
        self.assertEqual(lines[0], olines[0])
        for line in lines[1:]:
            self.assertRegex(line, r"^  \S+$")
            self.assertIn(line, olines[1:])
        for needed in ["  iothread", "  memory-backend-ram"]:
            self.assertIn(needed, lines)
        self.assertEqual(lines[1:], sorted(lines[1:]))

    def test_object_type_help(self):
        mine, theirs = self.both(["-object", "memory-backend-ram,help"])
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0], 0)
        self.assertTrue(mine[1].startswith("memory-backend-ram options:\n"))

    # --- errors

    def test_bad_memory_size(self):
        mine, theirs = self.both(["-M", "none", "-display", "none", "-m", "5X"], accel=True)
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0], 1)
        self.assertTrue(mine[2].startswith(
            "<prog>: -m 5X: Parameter 'size' expects a non-negative number below 2^64\n"))

    def test_invalid_option(self):
        mine, theirs = self.both(["-foo"])
        self.assertEqual(mine, (1, "", "<prog>: -foo: invalid option\n"))
        self.assertEqual(mine, theirs)

    def test_missing_argument(self):
        mine, theirs = self.both(["-m"])
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0], 1)

    def test_unknown_machine(self):
        mine, theirs = self.both(["-machine", "nope", "-display", "none"])
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0], 1)


class DaemonizeTest(unittest.TestCase):
    """-daemonize returns only once the monitor listens; -pidfile is locked and removed."""

    def setUp(self):
        self.binary = binary_under_test()
        self.oracle_mode = is_oracle_mode()
        self.tmp = tempfile.TemporaryDirectory(prefix="nemu-cli-")
        self.addCleanup(self.tmp.cleanup)
        self.pidfds = []
        self.addCleanup(self.reap)

    def reap(self):
        for fd in self.pidfds:
            if not select.select([fd], [], [], 0)[0]:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                select.select([fd], [], [], TIMEOUT)
            os.close(fd)

    def argv(self, sock, pidfile, *extra):
        return ([self.binary, "-M", "none", "-display", "none", "-nodefaults"] +
                accel_args(self.oracle_mode) +
                ["-qmp", "unix:%s,server=on,wait=off" % sock, "-pidfile", pidfile,
                 "-daemonize"] + list(extra))

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def start_daemon(self, sock, pidfile):
        r = subprocess.run(self.argv(sock, pidfile), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the parent has exited: the socket must accept right now
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(sock)
        q = QMPClient(s)
        self.addCleanup(q.close)
        with open(pidfile) as f:
            pid = int(f.read().strip())
        fd = os.pidfd_open(pid)
        self.pidfds.append(fd)
        return q, pid, fd

    def test_daemonize_pidfile(self):
        sock, pidfile = self.path("qmp.sock"), self.path("vm.pid")
        q, pid, fd = self.start_daemon(sock, pidfile)
        q.negotiate()
        self.assertEqual(q.cmd_ok("query-status")["status"], "running")
        # the pid file names the daemon itself
        self.assertEqual(os.path.realpath("/proc/%d/exe" % pid),
                         os.path.realpath(self._which(self.binary)))
        with open(pidfile) as f:
            self.assertRegex(f.read(), r"^\d+\n$")
        # a second instance with the same pid file fails
        r = subprocess.run(self.argv(self.path("qmp2.sock"), pidfile),
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1)
        err = r.stderr.decode().replace(self.binary, "<prog>").replace(
            os.path.basename(self.binary), "<prog>")
        self.assertEqual(err, "<prog>: cannot create PID file: Cannot lock pid file: "
                              "Resource temporarily unavailable\n")
        self.assertTrue(os.path.exists(pidfile))
        self.assertFalse(os.path.exists(self.path("qmp2.sock")))
        # quit: the daemon exits and removes its pid file
        self.assertEqual(q.cmd("quit"), {"return": {}})
        q.read_until_eof()
        self.assertTrue(select.select([fd], [], [], TIMEOUT)[0], "daemon did not exit")
        self.assertFalse(os.path.exists(pidfile))

    def _which(self, binary):
        if os.path.sep in binary:
            return binary
        import shutil
        return shutil.which(binary)

    def check_failure(self, extra, expect_prefix):
        sock, pidfile = self.path("bad.sock"), self.path("bad.pid")
        r = subprocess.run(self.argv(sock, pidfile, *extra), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT)
        err = r.stderr.decode().replace(self.binary, "<prog>").replace(
            os.path.basename(self.binary), "<prog>")
        self.assertEqual(r.returncode, 1, err)
        self.assertTrue(err.startswith(expect_prefix), err)
        self.assertFalse(os.path.exists(pidfile), "pid file left by a failed start")
        # the same command line on the oracle gives the same message
        if oracle_available():
            argv = self.argv(sock, pidfile, *extra)
            argv[0] = oracle_binary()
            argv[argv.index("-nodefaults") + 1:argv.index("-qmp")] = ["-accel", "tcg"]
            o = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT)
            oerr = o.stderr.decode().replace(oracle_binary(), "<prog>").replace(
                os.path.basename(oracle_binary()), "<prog>")
            self.assertEqual((r.returncode, err), (o.returncode, oerr))

    def test_daemonize_bad_option_after(self):
        self.check_failure(["-foo"], "<prog>: -foo: invalid option\n")

    def test_daemonize_late_error(self):
        # detected after the fork, while creating objects: the parent must still report
        # the child's failure with exit status 1
        self.check_failure(["-object", "memory-backend-ram,id=m0"],
                           "<prog>: -object memory-backend-ram,id=m0: Parameter 'size' is "
                           "missing\n")

    def test_daemonize_bad_chardev(self):
        self.check_failure(["-chardev", "socket,id=x,path=%s" % self.path("none/x.sock")],
                           "<prog>: -chardev socket,id=x,path=")


class DeviceBackendErrorTest(OracleTest):
    """A device property naming a backend that does not exist: QEMU 7.2 names the asking
    property in full ("<type>.<prop>", the virtio-<x>-device behind a -pci proxy) and nemu
    gives every device that message from one place (hw/core/device_backends.h). The whole
    stderr is compared; nemu runs -M virt, QEMU microvm,pcie=on (a PCIe bus for the proxies)."""

    def machine(self, oracle):
        board = "microvm,pcie=on" if oracle else "virt"
        return ["-M", board, "-display", "none", "-nodefaults"] + accel_args(oracle)

    def check(self, args, message):
        mine = run(self.binary, self.machine(self.oracle_mode) + args)
        theirs = run(oracle_binary(), self.machine(True) + args)
        self.assertEqual(mine, theirs)
        self.assertEqual(mine, (1, "", "<prog>: %s: %s\n" % (" ".join(args[-2:]), message)))

    def test_blk_drive_not_found(self):
        self.check(["-device", "virtio-blk-pci,drive=nope"],
                   "Property 'virtio-blk-device.drive' can't find value 'nope'")

    def test_virtconsole_chardev_not_found(self):
        self.check(["-device", "virtio-serial-pci", "-device", "virtconsole,chardev=nope"],
                   "Property 'virtconsole.chardev' can't find value 'nope'")

    def test_virtserialport_chardev_not_found(self):
        self.check(["-device", "virtio-serial-pci", "-device", "virtserialport,chardev=nope"],
                   "Property 'virtserialport.chardev' can't find value 'nope'")

    def test_net_netdev_not_found(self):
        self.check(["-device", "virtio-net-pci,netdev=nope"],
                   "Property 'virtio-net-device.netdev' can't find value 'nope'")


def main():
    args = sys.argv[1:]
    rest = [sys.argv[0]]
    binary = None
    for a in args:
        if a == "--oracle":
            os.environ["NEMU_ORACLE_MODE"] = "1"
        elif binary is None and not a.startswith("-"):
            binary = a
        else:
            rest.append(a)
    if binary:
        os.environ["NEMU_BINARY"] = binary
    os.environ.setdefault("NEMU_ORACLE_MODE", "0")
    if not os.environ.get("NEMU_BINARY"):
        sys.exit("usage: test_cli.py BINARY [--oracle]")
    unittest.main(argv=rest, buffer=True)


if __name__ == "__main__":
    main()
