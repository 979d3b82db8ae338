"""Each command's success reply against the oracle (QEMU 7.2, -M none), run live with the
same command line. Values are compared where they are QEMU's behaviour for -M none; shapes
only where nemu legitimately differs (package string, accelerator, subsets of lists)."""

import os
import tempfile
import unittest

from qmp_harness import (QMPTestCase, Schema, command_schema_diff, event_schema_diff, shape,
                         shape_diff)


# QAPI's rule for downstream extensions: a "__" + reverse-domain prefix (nemu: __org.nemu_).
DOWNSTREAM = "__org.nemu_"

class CommandTestBase(QMPTestCase):

    def pair(self, args=()):
        """nemu and the oracle, both started with args."""
        return self.start(args), self.start_oracle(args)

    def both(self, pair, name, **args):
        m, o = pair
        return m.qmp.cmd(name, **args), o.qmp.cmd(name, **args)


class SimpleQueriesTest(CommandTestBase):

    def test_query_version(self):
        got, want = self.both(self.pair(), "query-version")
        self.assertShape(got, want)
        v = got["return"]["qemu"]
        self.assertEqual((v["major"], v["minor"]), (7, 2))
        if not self.oracle_mode:
            self.assertEqual(v["micro"], 0)

    def test_query_name(self):
        got, want = self.both(self.pair(), "query-name")
        self.assertEqual(got, want)
        self.assertEqual(got, {"return": {}})
        got, want = self.both(self.pair(["-name", "guest-1"]), "query-name")
        self.assertEqual(got, want)
        self.assertEqual(got, {"return": {"name": "guest-1"}})

    def test_query_uuid(self):
        got, want = self.both(self.pair(), "query-uuid")
        self.assertEqual(got, want)
        uuid = "12345678-9abc-def0-1234-56789abcdef0"
        got, want = self.both(self.pair(["-uuid", uuid]), "query-uuid")
        self.assertEqual(got, want)
        self.assertEqual(got, {"return": {"UUID": uuid}})

    def test_query_status(self):
        got, want = self.both(self.pair(), "query-status")
        self.assertEqual(got, want)
        # (member order inside "return" is not part of the protocol: compared as dicts)
        got, want = self.both(self.pair(["-S"]), "query-status")
        self.assertEqual(got, want)
        self.assertEqual(got["return"]["status"], "prelaunch")

    def test_query_kvm(self):
        # shape only: QEMU runs TCG here, nemu KVM (or qtest)
        got, want = self.both(self.pair(), "query-kvm")
        self.assertShape(got, want)

    def test_fixed_replies(self):
        p = self.pair()
        for name in ["query-target", "query-current-machine", "query-cpus-fast",
                     "query-hotpluggable-cpus"]:
            got, want = self.both(p, name)
            self.assertEqual(got, want, name)

    def test_query_machines(self):
        got, want = self.both(self.pair(), "query-machines")
        self.assertShape(got, want)
        mine = {e["name"]: e for e in got["return"]}
        theirs = {e["name"]: e for e in want["return"]}
        self.assertIn("none", mine)
        # nemu lists fewer machines: the entry for "none" must be QEMU's, member by member
        self.assertEqual(mine["none"], theirs["none"])
        keys = {}
        for e in want["return"]:
            keys.update(shape(e))
        for name, e in mine.items():
            self.assertEqual(shape_diff(shape(e), {k: keys[k] for k in e if k in keys}), [],
                             name)
            self.assertTrue(set(e) <= set(keys), "%s: members %s" % (name, sorted(e)))

    def test_query_commands(self):
        got, want = self.both(self.pair(), "query-commands")
        self.assertShape(got, want)
        mine = [e["name"] for e in got["return"]]
        theirs = {e["name"] for e in want["return"]}
        self.assertEqual(len(mine), len(set(mine)), "duplicate commands")
        # nemu's own commands carry QAPI's downstream prefix "__RFQDN_" (docs/boot-timeline.md);
        # every other command must be one of QEMU's.
        self.assertEqual(sorted(n for n in set(mine) - theirs if not n.startswith(DOWNSTREAM)), [],
                         "commands QEMU does not have")
        self.assertTrue(all(n.startswith(DOWNSTREAM) for n in set(mine) - theirs))
        for required in ["qmp_capabilities", "query-commands", "query-qmp-schema", "quit"]:
            self.assertIn(required, mine)

    def test_query_qmp_schema(self):
        got, want = self.both(self.pair(), "query-qmp-schema")
        self.assertShape(got, want)
        a, b = Schema(got["return"]), Schema(want["return"])
        cmds = self.start().qmp.cmd_ok("query-commands")
        for c in cmds:
            self.assertIn(c["name"], a.commands, "query-commands lists %s, schema does not"
                          % c["name"])
        diffs = []
        for name in sorted(a.commands):
            if name not in b.commands:
                if not name.startswith(DOWNSTREAM):
                    diffs.append("%s: command not in QEMU's schema" % name)
                continue
            diffs += command_schema_diff(a, b, name)
        for name in sorted(a.events):
            if name not in b.events:
                diffs.append("%s: event not in QEMU's schema" % name)
                continue
            diffs += event_schema_diff(a, b, name)
        self.assertEqual(diffs, [], "\n".join(diffs))

    def test_query_command_line_options(self):
        got, want = self.both(self.pair(), "query-command-line-options")
        self.assertShape(got, want)
        theirs = {e["option"] for e in want["return"]}
        mine = {e["option"] for e in got["return"]}
        self.assertEqual(sorted(mine - theirs), [], "options QEMU does not list")
        # libvirt reads these option groups
        for opt in ["machine", "chardev", "object"]:
            if self.oracle_mode:
                self.assertIn(opt, mine)
        # the same option asked for by name
        got, want = self.both(self.pair(), "query-command-line-options", option="nope")
        self.assertEqual(got, want)

    def test_query_migrate_capabilities(self):
        got, want = self.both(self.pair(), "query-migrate-capabilities")
        self.assertShape(got, want)
        theirs = {e["capability"] for e in want["return"]}
        mine = {e["capability"] for e in got["return"]}
        self.assertEqual(sorted(mine - theirs), [])
        self.assertTrue(all(e["state"] is False for e in got["return"]))

    def test_query_chardev(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        results = []
        for i, start in enumerate([self.start, self.start_oracle]):
            path = os.path.join(tmp.name, "s%d.sock" % i)
            m = start(["-chardev", "null,id=n0",
                       "-chardev", "socket,id=s0,path=%s,server=on,wait=off" % path,
                       "-chardev", "ringbuf,id=r0,size=4096"])
            r = m.qmp.cmd("query-chardev")
            self.assertOk(r)
            norm = {}
            for e in r["return"]:
                e = dict(e)
                e["filename"] = e["filename"].replace(path, "<path>")
                if e["label"] == "mon0":
                    # the monitor's listening socket, made by the harness in its temp dir
                    self.assertTrue(e["filename"].startswith("unix:"), e)
                    self.assertTrue(e["filename"].endswith(",server=on"), e)
                    e["filename"] = "<monitor>"
                norm[e["label"]] = e
            results.append((r, norm))
        (got, mine), (want, theirs) = results
        self.assertShape(got, want)
        self.assertEqual(mine, theirs)

    def test_query_chardev_backends(self):
        got, want = self.both(self.pair(), "query-chardev-backends")
        self.assertShape(got, want)
        mine = {e["name"] for e in got["return"]}
        self.assertEqual(sorted(mine - {e["name"] for e in want["return"]}), [])
        for needed in ["socket", "null", "ringbuf", "file"]:
            self.assertIn(needed, mine)

    def test_query_iothreads(self):
        got, want = self.both(self.pair(["-object", "iothread,id=io0"]), "query-iothreads")
        self.assertShape(got, want)
        self.assertEqual(len(got["return"]), 1)
        self.assertGreater(got["return"][0]["thread-id"], 0)
        for e in got["return"] + want["return"]:
            e.pop("thread-id")
        self.assertEqual(got, want)

    def test_query_memdev(self):
        got, want = self.both(self.pair(["-object", "memory-backend-ram,id=m0,size=64M"]),
                              "query-memdev")
        self.assertEqual(got, want)
        self.assertEqual(got["return"][0]["size"], 64 << 20)


class RunStateTest(CommandTestBase):

    def run_state_sequence(self, m):
        q = m.qmp
        out = [q.cmd_ok("query-status")]
        self.assertEqual(q.cmd("cont"), {"return": {}})
        out.append(q.wait_event("RESUME"))
        out.append(q.cmd_ok("query-status"))
        self.assertEqual(q.cmd("stop"), {"return": {}})
        out.append(q.wait_event("STOP"))
        out.append(q.cmd_ok("query-status"))
        self.assertEqual(q.cmd("stop"), {"return": {}})   # stopping twice is not an error
        out.append(q.cmd_ok("query-status"))
        self.assertEqual(q.cmd("cont"), {"return": {}})
        out.append(q.wait_event("RESUME"))
        out.append(q.cmd_ok("query-status"))
        self.assertEqual(q.events, [], "no other events")
        return out

    def test_stop_cont_events(self):
        got = self.run_state_sequence(self.start(["-S"]))
        want = self.run_state_sequence(self.start_oracle(["-S"]))
        self.assertShape(got, want)
        statuses = [x["status"] for x in got if "status" in x]
        self.assertEqual(statuses, ["prelaunch", "running", "paused", "paused", "running"])
        self.assertEqual([x for x in got if "status" in x], [x for x in want if "status" in x])
        for ev in got:
            if "event" in ev:
                self.assertEqual(list(ev.keys()), ["timestamp", "event"])
                self.assertEqual(sorted(ev["timestamp"]), ["microseconds", "seconds"])

    def test_quit(self):
        for m in [self.start(), self.start_oracle()]:
            reply = m.qmp.cmd("quit")
            self.assertEqual(reply, {"return": {}})
            ev = m.qmp.wait_event("SHUTDOWN")
            self.assertEqual(ev["data"], {"guest": False, "reason": "host-qmp-quit"})
            self.assertEqual(list(ev.keys()), ["timestamp", "event", "data"])
            self.assertEqual(m.qmp.read_until_eof(), [])
            self.assertEqual(m.wait(), 0)
            self.assertEqual(m.stderr, b"")


if __name__ == "__main__":
    unittest.main()
