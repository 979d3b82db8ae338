"""Several QMP monitors at once, and termination by signal (QEMU's
qemu_system_killed(): "terminating on signal N from pid P (name)", SHUTDOWN reason
host-signal, exit status 0)."""

import os
import re
import signal
import unittest

from qmp_harness import QMPTestCase


class MultiMonitorTest(QMPTestCase):

    def test_two_monitors_independent(self):
        m = self.start(monitors=2)
        a, b = m.monitors
        self.assertEqual(a.greeting, b.greeting)
        r1 = a.cmd_obj({"execute": "query-status", "id": "a"})
        r2 = b.cmd_obj({"execute": "query-status", "id": "b"})
        self.assertEqual((r1["id"], r2["id"]), ("a", "b"))
        self.assertEqual(r1["return"], r2["return"])
        # an error on one monitor does not disturb the other
        b.send_bytes(b"}\n")
        errors, sync = b.sync("after")
        self.assertTrue(errors)
        self.assertOk(sync)
        self.assertOk(a.cmd("query-status"))

    def test_events_reach_both(self):
        m = self.start(["-S"], monitors=2)
        a, b = m.monitors
        self.assertEqual(a.cmd("cont"), {"return": {}})
        ra, rb = a.wait_event("RESUME"), b.wait_event("RESUME")
        self.assertEqual(ra, rb)        # the same event, same timestamp
        self.assertEqual(b.cmd("stop"), {"return": {}})
        sa, sb = a.wait_event("STOP"), b.wait_event("STOP")
        self.assertEqual(sa, sb)
        self.assertEqual(a.cmd_ok("query-status")["status"], "paused")
        self.assertEqual(b.cmd("quit"), {"return": {}})
        for mon in (a, b):
            ev = mon.wait_event("SHUTDOWN")
            self.assertEqual(ev["data"], {"guest": False, "reason": "host-qmp-quit"})
            mon.read_until_eof()
        self.assertEqual(m.wait(), 0)

    def test_no_events_before_negotiation(self):
        # events go only to monitors in command mode (after qmp_capabilities)
        for start in (self.start, self.start_oracle):
            m = start(["-S"], monitors=2, negotiate=False)
            a, b = m.monitors
            self.assertEqual(a.cmd("qmp_capabilities"), {"return": {}})
            self.assertEqual(a.cmd("cont"), {"return": {}})
            a.wait_event("RESUME")
            self.assertEqual(b.cmd("qmp_capabilities"), {"return": {}})
            self.assertOk(b.cmd("query-status"))
            self.assertEqual(b.events, [], m.binary)


class SignalTest(QMPTestCase):

    LINE = re.compile(r"^<prog>: terminating on signal (\d+) from pid (\d+) \((.*)\)$")

    def kill_with(self, m, signum):
        m.proc.send_signal(signum)
        msgs = m.qmp.read_until_eof()
        status = m.wait()
        lines = m.stderr.decode(errors="replace").replace(m.binary, "<prog>").replace(
            os.path.basename(m.binary), "<prog>").splitlines()
        return msgs, status, lines

    def check_signal(self, signum):
        msgs, status, lines = self.kill_with(self.start(), signum)
        omsgs, ostatus, olines = self.kill_with(self.start_oracle(), signum)
        self.assertEqual(status, 0)
        self.assertEqual(ostatus, 0)
        self.assertEqual([x.get("event") for x in msgs], ["SHUTDOWN"])
        self.assertEqual(msgs[0]["data"], {"guest": False, "reason": "host-signal"})
        self.assertEqual(list(msgs[0].keys()), list(omsgs[0].keys()))
        self.assertEqual(len(lines), 1, lines)
        match = self.LINE.match(lines[0])
        self.assertIsNotNone(match, lines[0])
        self.assertEqual(int(match.group(1)), signum)
        self.assertEqual(int(match.group(2)), os.getpid())
        self.assertEqual(lines, olines)

    def test_sigterm(self):
        self.check_signal(signal.SIGTERM)

    def test_sigint(self):
        self.check_signal(signal.SIGINT)

    def test_sighup(self):
        self.check_signal(signal.SIGHUP)


if __name__ == "__main__":
    unittest.main()
