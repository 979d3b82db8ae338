"""Greeting, capabilities negotiation, id echo and reply member order (QMP spec,
docs/interop/qmp-spec.txt sections 2.2-2.4 and 4)."""

import unittest

from qmp_harness import QMPTestCase


class GreetingTest(QMPTestCase):

    def test_greeting_shape_and_version(self):
        m = self.start(negotiate=False)
        g = m.qmp.greeting
        self.assertEqual(list(g.keys()), ["QMP"])
        self.assertEqual(list(g["QMP"].keys()), ["version", "capabilities"])
        self.assertEqual(g["QMP"]["capabilities"], ["oob"])
        v = g["QMP"]["version"]
        self.assertEqual(sorted(v.keys()), ["package", "qemu"])
        self.assertIsInstance(v["package"], str)
        q = v["qemu"]
        self.assertEqual(sorted(q.keys()), ["major", "micro", "minor"])
        self.assertEqual((q["major"], q["minor"]), (7, 2))
        self.assertIsInstance(q["micro"], int)
        if not self.oracle_mode:
            # Debian's QEMU is 7.2.<stable release>; nemu reports exactly 7.2.0 and carries
            # its own version in "package".
            self.assertEqual(q["micro"], 0)
        o = self.start_oracle(negotiate=False)
        self.assertShape(g, o.qmp.greeting, "greeting")
        # query-version returns the same data as the greeting
        self.assertEqual(m.qmp.cmd("qmp_capabilities"), {"return": {}})
        self.assertEqual(m.qmp.cmd_ok("query-version"), v)

    def test_negotiation_errors(self):
        m = self.start(negotiate=False)
        self.assertError(m.qmp.cmd("query-status"), "CommandNotFound",
                         "Expecting capabilities negotiation with 'qmp_capabilities'")
        self.assertError(m.qmp.cmd("nope"), "CommandNotFound",
                         "Expecting capabilities negotiation with 'qmp_capabilities'")
        self.assertEqual(m.qmp.cmd("qmp_capabilities"), {"return": {}})
        self.assertError(m.qmp.cmd("qmp_capabilities"), "CommandNotFound",
                         "Capabilities negotiation is already complete, command ignored")
        self.assertOk(m.qmp.cmd("query-status"))
        # the id is echoed on negotiation errors too, "id" before "error"
        r = m.qmp.cmd_obj({"execute": "qmp_capabilities", "id": "again"})
        self.assertEqual(list(r.keys()), ["id", "error"])
        self.assertEqual(r["id"], "again")

    def test_negotiation_with_arguments_matches_oracle(self):
        requests = [
            {"execute": "qmp_capabilities", "arguments": {"enable": ["nope"]}},
            {"execute": "qmp_capabilities", "arguments": {"enable": "oob"}},
            {"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}},
            {"execute": "query-status", "id": 1},
            {"exec-oob": "query-status", "id": 2},
            {"exec-oob": "qmp_capabilities", "id": 3},
        ]
        m = self.start(negotiate=False)
        o = self.start_oracle(negotiate=False)
        for req in requests:
            got, want = m.qmp.cmd_obj(req), o.qmp.cmd_obj(req)
            self.assertEqual(got, want, "request %s" % req)
            self.assertEqual(list(got.keys()), list(want.keys()), "member order, %s" % req)

    def test_id_echoed_with_any_json_value(self):
        m = self.start()
        o = self.start_oracle()
        for ident in [5, -1, 1.5, "abc", "", None, True, False, [], [1, {"a": None}],
                      {}, {"x": [1, "y"]}, "\u00e9\u4e2d"]:
            for execute in ["query-status", "nope"]:
                req = {"execute": execute, "id": ident}
                got, want = m.qmp.cmd_obj(req), o.qmp.cmd_obj(req)
                self.assertIn("id", got, req)
                self.assertEqual(got["id"], ident)
                self.assertEqual(type(got["id"]), type(ident))
                self.assertEqual(list(got.keys()), list(want.keys()), req)
                self.assertEqual(got, want, req)

    def test_reply_member_order(self):
        m = self.start()
        r = m.qmp.cmd_obj({"execute": "query-target", "id": 7})
        self.assertEqual(list(r.keys()), ["return", "id"])
        r = m.qmp.cmd_obj({"execute": "nope", "id": 7})
        self.assertEqual(list(r.keys()), ["id", "error"])
        self.assertEqual(list(r["error"].keys()), ["class", "desc"])
        self.assertEqual(r["error"], {"class": "CommandNotFound",
                                      "desc": "The command nope has not been found"})
        r = m.qmp.cmd("query-target")
        self.assertEqual(list(r.keys()), ["return"])


if __name__ == "__main__":
    unittest.main()
