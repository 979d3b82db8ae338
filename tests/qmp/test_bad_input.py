"""Bad input on the QMP socket: every case must give error replies and leave the connection
working (each is followed by a query-status barrier that must succeed). The error replies
before the barrier are compared with the oracle's, run live with the same bytes: classes
always, messages too (QEMU's JSON parser and dispatcher messages are deterministic)."""

import os
import threading
import unittest

from qmp_harness import QMPTestCase, TIMEOUT

CASES = [
    ("truncated_json", b'{"execute":"query-st\n'),
    ("truncated_object", b'{"execute":\n}\n'),
    ("stray_close", b'}\n'),
    ("stray_close_bracket", b']\n'),
    ("invalid_utf8", b'\xff\xfe\n'),
    ("invalid_utf8_in_string", b'{"execute":"query-\xc3\x28status"}\n'),
    ("scalar", b'42\n'),
    ("string", b'"query-status"\n'),
    ("array", b'[1, 2]\n'),
    ("empty_object", b'{}\n'),
    ("nesting_1025", b'[' * 1025 + b']' * 1025 + b'\n'),
    ("nesting_in_args", b'{"execute":"query-status","arguments":{"a":' + b'[' * 1100 +
     b']' * 1100 + b'}}\n'),
    ("unknown_command", b'{"execute":"nope"}\n'),
    ("missing_argument", b'{"execute":"qom-get","arguments":{"path":"/machine"}}\n'),
    ("extra_argument", b'{"execute":"query-status","arguments":{"x":1}}\n'),
    ("mistyped_argument", b'{"execute":"qom-get","arguments":{"path":1,"property":"type"}}\n'),
    ("mistyped_bool", b'{"execute":"qom-list-types","arguments":{"abstract":"yes"}}\n'),
    ("execute_not_string", b'{"execute":1}\n'),
    ("execute_null", b'{"execute":null}\n'),
    ("arguments_not_object", b'{"execute":"query-status","arguments":[]}\n'),
    ("arguments_null", b'{"execute":"query-status","arguments":null}\n'),
    ("unexpected_member", b'{"execute":"query-status","foo":1}\n'),
    ("no_execute", b'{"arguments":{}}\n'),
    ("control_member", b'{"execute":"query-status","control":{}}\n'),
    ("exec_oob_without_negotiation", b'{"exec-oob":"query-status"}\n'),
    ("both_execute_and_oob", b'{"execute":"query-status","exec-oob":"query-status"}\n'),
    ("single_quotes", b"{'execute':'nope'}\n"),
    ("bad_escape", b'{"execute":"query-\\qstatus"}\n'),
    ("bad_number", b'{"execute":"query-status","id":01}\n'),
    # not here: an id of 1e999999, which QEMU 7.2 echoes as the invalid JSON token "inf"
    ("literal", b'{"execute":"query-status","id":tru}\n'),
    ("nul_byte", b'{"execute":"query-status"\x00}\n'),
    ("control_char", b'{"execute":"query-\x01status"}\n'),
    ("many_errors", b'}' * 50 + b'\n'),
]


# Malformed JSON where QEMU's lexer splits the input into several bad tokens and reports
# each ("stray '01'" then "expecting value"); nemu reports one error per malformed message,
# of the same class and wording family, and resynchronises at the same places. For these the
# test asserts class, wording family and recovery; every other case must match QEMU exactly
# (parser-level messages such as "invalid keyword 'tru'" do).
LEXER_LEVEL = {"truncated_json", "invalid_utf8", "bad_number", "nul_byte", "control_char"}


def assert_lexer_errors(test, got, name):
    test.assertTrue(got, "no error reply for %s" % name)
    for r in got:
        test.assertEqual(r["error"]["class"], "GenericError", r)
        test.assertRegex(r["error"]["desc"], r"^(JSON (parse error|nesting depth|token)|QMP input must be a JSON object)", r)


def run_case(qmp, data, tag):
    qmp.send_bytes(data)
    before, reply = qmp.sync(tag)
    return before, reply


class BadInputTest(QMPTestCase):
    """Each case runs on fresh processes, so that one case that breaks the stream (a parser
    that waits for more input, a closed connection) cannot mask the others."""

    def fresh_pair(self, negotiate=True):
        m = self.start(negotiate=negotiate)
        o = self.start_oracle(negotiate=negotiate)
        return m, o

    def test_cases_match_oracle(self):
        for name, data in CASES:
            with self.subTest(case=name):
                m, o = self.fresh_pair()
                want, osync = run_case(o.qmp, data, "sync-" + name)
                self.assertIn("return", osync)
                got, sync = run_case(m.qmp, data, "sync-" + name)
                self.assertIn("return", sync, "connection broken after %s" % name)
                self.assertTrue(got, "no error reply for %s" % name)
                for r in got:
                    self.assertEqual(list(r.keys()), ["error"], r)
                    self.assertEqual(list(r["error"].keys()), ["class", "desc"], r)
                if name in LEXER_LEVEL:
                    assert_lexer_errors(self, got, name)
                    assert_lexer_errors(self, want, name)
                else:
                    self.assertEqual([r.get("error", {}).get("class") for r in got],
                                     [r.get("error", {}).get("class") for r in want], name)
                    self.assertEqual(got, want, name)
                self.assertOk(m.qmp.cmd("query-status"))
                m.close()
                o.close()

    def test_cases_in_sequence(self):
        """All cases on one connection, one after the other: the parser recovers."""
        m = self.start()
        for name, data in CASES:
            errors, sync = run_case(m.qmp, data, "sync-" + name)
            self.assertTrue(errors, "no error reply for %s" % name)
            self.assertOk(sync, name)

    def test_before_negotiation(self):
        # the same parser runs before qmp_capabilities: errors, then negotiation works
        for name, data in CASES[:12]:
            with self.subTest(case=name):
                m, o = self.fresh_pair(negotiate=False)
                mine, theirs = [], []
                for q, out in [(o.qmp, theirs), (m.qmp, mine)]:
                    q.send_bytes(data)
                    q.send_bytes(b'{"execute":"qmp_capabilities","id":"neg"}\n')
                    while True:
                        r = q.read_reply()
                        out.append(r)
                        if r.get("id") == "neg":
                            break
                if name in LEXER_LEVEL:
                    assert_lexer_errors(self, mine[:-1], name)
                else:
                    self.assertEqual(mine, theirs, name)
                self.assertEqual(mine[-1], {"return": {}, "id": "neg"})
                m.close()
                o.close()

    def test_huge_string_argument(self):
        """A 32 MiB string argument (QEMU's token limit is 64 MiB): an error reply, and the
        connection keeps working. QEMU's lexer takes ~2 s per MiB here, so the oracle is
        asked with 1 MiB and the binary under test gets NEMU_QMP_BIG_MIB (default 32)."""
        mib = int(os.environ.get("NEMU_QMP_BIG_MIB", "32"))
        m, o = self.start(), self.start_oracle()

        def big(n):
            return (b'{"execute":"query-status","arguments":{"x":"' + b"a" * (n << 20) +
                    b'"}}\n')

        o.qmp.send_bytes(big(1))
        want, osync = o.qmp.sync("after-1M")
        # send from a thread with a plain blocking socket write: the peer may read slowly
        data = big(mib)
        err = []

        def send():
            try:
                m.qmp.sock.sendall(data)
            except OSError as e:
                err.append(e)

        m.qmp.sock.settimeout(None)
        t = threading.Thread(target=send)
        t.start()
        t.join(max(TIMEOUT, 6.0 * mib))
        self.assertFalse(t.is_alive(), "the binary did not read a %d MiB request" % mib)
        self.assertEqual(err, [])
        got, sync = m.qmp.sync("after-big")
        self.assertOk(sync)
        self.assertEqual(got, want)
        self.assertEqual(got, [{"error": {"class": "GenericError",
                                          "desc": "Parameter 'x' is unexpected"}}])


if __name__ == "__main__":
    unittest.main()
