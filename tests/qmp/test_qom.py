"""QOM commands (qom-list, qom-get, qom-set, qom-list-types, qom-list-properties,
device-list-properties, object-add, object-del) and human-monitor-command, against the
oracle run live. nemu has fewer QOM types than QEMU: lists of types are compared as
subsets; properties of the types nemu has, and error replies, must be QEMU's."""

import unittest

from qmp_harness import QMPTestCase


def props(reply):
    return {p["name"]: p for p in reply["return"]}


class QomTest(QMPTestCase):

    def pair(self, args=()):
        return self.start(args), self.start_oracle(args)

    def same(self, pair, name, **args):
        m, o = pair
        got, want = m.qmp.cmd(name, **args), o.qmp.cmd(name, **args)
        self.assertEqual(got, want, "%s %s" % (name, args))
        return got

    def test_qom_list_root(self):
        m, o = self.pair()
        got = props(m.qmp.cmd("qom-list", path="/"))
        want = props(o.qmp.cmd("qom-list", path="/"))
        self.assertEqual(got, want)

    def test_qom_list_machine(self):
        m, o = self.pair()
        got = props(m.qmp.cmd("qom-list", path="/machine"))
        want = props(o.qmp.cmd("qom-list", path="/machine"))
        # nemu's -M none machine may lack some of QEMU's generic machine properties (e.g.
        # dt-compatible, phandle-start): require a subset with identical types, plus the
        # containers every machine has.
        for name, p in got.items():
            self.assertIn(name, want, "property %s not in QEMU's /machine" % name)
            self.assertEqual(p, want[name])
        for name in ["type", "peripheral", "peripheral-anon", "unattached", "smp",
                     "memory", "memory-backend"]:
            self.assertIn(name, got)
        for path in ["/machine/peripheral", "/machine/unattached", "/machine/peripheral-anon"]:
            self.same((m, o), "qom-get", path=path, property="type")

    def test_qom_get(self):
        p = self.pair()
        self.assertEqual(self.same(p, "qom-get", path="/machine", property="type"),
                         {"return": "none-machine"})
        self.same(p, "qom-get", path="/", property="type")
        self.same(p, "qom-get", path="/machine", property="nope")
        self.same(p, "qom-get", path="/nope", property="type")
        self.same(p, "qom-list", path="/nope")
        self.same(p, "qom-list", path="")

    def test_qom_set_errors(self):
        p = self.pair()
        r = self.same(p, "qom-set", path="/machine", property="type", value="x")
        self.assertEqual(r["error"]["class"], "GenericError")
        r = self.same(p, "qom-set", path="/nope", property="type", value="x")
        self.assertEqual(r["error"]["class"], "DeviceNotFound")
        self.same(p, "qom-set", path="/machine", property="nope", value="x")
        self.same(p, "qom-set", path="/machine", property="type")

    def test_qom_list_types(self):
        m, o = self.pair()
        for args in [{"implements": "memory-backend"},
                     {"implements": "memory-backend", "abstract": True},
                     {"implements": "memory-backend", "abstract": False}]:
            got = m.qmp.cmd("qom-list-types", **args)
            want = o.qmp.cmd("qom-list-types", **args)
            self.assertShape(got, want)
            mine = {t["name"]: t for t in got["return"]}
            theirs = {t["name"]: t for t in want["return"]}
            self.assertIn("memory-backend-ram", mine)
            for name, t in mine.items():
                self.assertEqual(t, theirs.get(name), "%s %s" % (args, name))
            if args.get("abstract"):
                self.assertEqual(mine["memory-backend"],
                                 {"abstract": True, "name": "memory-backend",
                                  "parent": "object"})
            else:
                self.assertNotIn("memory-backend", mine)
        self.same((m, o), "qom-list-types", implements="nope")
        got = m.qmp.cmd("qom-list-types")
        want = o.qmp.cmd("qom-list-types")
        self.assertShape(got, want)
        theirs = {t["name"] for t in want["return"]}
        mine = {t["name"] for t in got["return"]}
        # nemu's own types (its x86-64 "virt" machine...) may be new; QEMU's core ones not
        for name in ["iothread", "memory-backend-ram", "none-machine", "container"]:
            self.assertIn(name, mine)
        self.assertIn("iothread", theirs)

    def test_qom_list_properties(self):
        p = self.pair()
        for typename in ["memory-backend-ram", "iothread"]:
            got = p[0].qmp.cmd("qom-list-properties", typename=typename)
            want = p[1].qmp.cmd("qom-list-properties", typename=typename)
            self.assertShape(got, want, typename)
            self.assertEqual(props(got), props(want), typename)
        self.same(p, "qom-list-properties", typename="nope")

    def test_device_list_properties_errors(self):
        p = self.pair()
        r = self.same(p, "device-list-properties", typename="device")
        self.assertEqual(r["error"]["class"], "GenericError")
        r = self.same(p, "device-list-properties", typename="nope")
        self.assertEqual(r["error"], {"class": "DeviceNotFound",
                                      "desc": "Device 'nope' not found"})
        self.same(p, "device-list-properties", typename="memory-backend-ram")


class ObjectAddDelTest(QMPTestCase):

    SEQUENCE = [
        ("object-add", {"qom-type": "iothread", "id": "io1"}),
        ("object-add", {"qom-type": "iothread", "id": "io1"}),              # duplicate id
        ("object-add", {"qom-type": "nope", "id": "x1"}),                   # unknown type
        ("object-add", {"qom-type": "iothread", "id": "1x"}),               # bad id
        ("object-add", {"qom-type": "iothread"}),                           # missing id
        ("object-add", {"qom-type": "iothread", "id": "io2", "bogus": 1}),  # unknown prop
        ("object-add", {"qom-type": "iothread", "id": "io3", "poll-max-ns": "x"}),
        ("object-add", {"qom-type": "memory-backend-ram", "id": "m1"}),     # missing size
        ("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": "1M"}),
        ("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 1048576}),
        ("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 1048576}),
        ("object-add", {"qom-type": "memory-backend", "id": "m2", "size": 1048576}),
        ("query-memdev", {}),
        ("qom-get", {"path": "/objects/io1", "property": "poll-max-ns"}),
        ("qom-set", {"path": "/objects/io1", "property": "poll-max-ns", "value": 100}),
        ("qom-set", {"path": "/objects/io1", "property": "poll-max-ns", "value": "x"}),
        ("qom-get", {"path": "/objects/io1", "property": "poll-max-ns"}),
        ("qom-get", {"path": "/objects/m1", "property": "size"}),
        ("object-del", {"id": "io1"}),
        ("object-del", {"id": "io1"}),                                      # already gone
        ("object-del", {"id": "m1"}),
        ("object-del", {"id": "nope"}),
        ("object-del", {}),
        ("query-memdev", {}),
        ("query-iothreads", {}),
    ]

    def run_sequence(self, m):
        out = []
        for name, args in self.SEQUENCE:
            out.append(m.qmp.cmd(name, **args))
        return out

    def test_object_add_del(self):
        got = self.run_sequence(self.start())
        want = self.run_sequence(self.start_oracle())
        for (name, args), g, w in zip(self.SEQUENCE, got, want):
            self.assertEqual(g, w, "%s %s" % (name, args))
        self.assertEqual(got[0], {"return": {}})
        self.assertEqual(got[9], {"return": {}})
        self.assertEqual(got[-1], {"return": []})


class HumanMonitorTest(QMPTestCase):

    def hmp(self, m, line):
        r = m.qmp.cmd("human-monitor-command", **{"command-line": line})
        self.assertIn("return", r, line)
        self.assertIsInstance(r["return"], str)
        return r["return"]

    def test_info_version(self):
        m = self.start()
        v = m.qmp.cmd_ok("query-version")
        q = v["qemu"]
        self.assertEqual(self.hmp(m, "info version"),
                         "%d.%d.%d%s\r\n" % (q["major"], q["minor"], q["micro"], v["package"]))

    def test_info_status(self):
        m, o = self.start(["-S"]), self.start_oracle(["-S"])
        self.assertEqual(self.hmp(m, "info status"), self.hmp(o, "info status"))
        self.assertEqual(self.hmp(m, "info status"), "VM status: paused (prelaunch)\r\n")
        m.qmp.cmd_ok("cont")
        self.assertEqual(self.hmp(m, "info status"), "VM status: running\r\n")

    def test_info_qom_tree(self):
        text = self.hmp(self.start(), "info qom-tree")
        self.assertTrue(text.startswith("/machine (none-machine)\r\n"), text)
        for line in ["  /peripheral (container)\r\n", "  /peripheral-anon (container)\r\n",
                     "  /unattached (container)\r\n"]:
            self.assertIn(line, text)
        self.assertTrue(text.endswith("\r\n"))
        for line in text.split("\r\n")[:-1]:
            self.assertRegex(line, r"^( {2})*/\S+ \(\S+\)$")

    def test_help(self):
        mine, theirs = self.hmp(self.start(), "help"), self.hmp(self.start_oracle(), "help")
        self.assertTrue(mine.endswith("\r\n"))

        def commands(text):
            # one "name [args] -- description" entry per command; continuation lines of
            # long descriptions start with whitespace
            out = {}
            for line in text.split("\r\n"):
                if line and not line[0].isspace():
                    out[line.split()[0]] = line
            return out

        mc, tc = commands(mine), commands(theirs)
        self.assertIn("quit|q", mc)
        self.assertIn("info", mc)
        for name, line in mc.items():
            self.assertIn(name, tc, "HMP command %s not in QEMU's help" % name)
            self.assertEqual(line, tc[name])
        self.assertIn(" -- ", mc["info"])

    def test_unknown_command(self):
        m, o = self.start(), self.start_oracle()
        for line in ["nope", "info nope", "", "info"]:
            got, want = self.hmp(m, line), self.hmp(o, line)
            if line == "info":
                # "info" alone lists the info subcommands: nemu has fewer
                self.assertTrue(got.startswith("info "), got)
                continue
            self.assertEqual(got, want, line)
        self.assertEqual(self.hmp(m, "nope"), "unknown command: 'nope'\r\n")
        r = m.qmp.cmd("human-monitor-command")
        self.assertEqual(r, o.qmp.cmd("human-monitor-command"))


if __name__ == "__main__":
    unittest.main()
