"""--preconfig: the machine waits uninitialised until x-exit-preconfig; only commands marked
allow-preconfig run before that. Compared with the oracle."""

import unittest

from qmp_harness import QMPTestCase


class PreconfigTest(QMPTestCase):
    def sequence(self, proc):
        q = proc.qmp
        return [q.cmd("query-status"),
                q.cmd("qom-get", path="/machine", property="type"),
                q.cmd("query-cpus-fast"),
                q.cmd("x-exit-preconfig"),
                q.cmd("query-status"),
                q.cmd("query-cpus-fast"),
                q.cmd("x-exit-preconfig")]

    def test_preconfig_matches_oracle(self):
        mine = self.sequence(self.start(args=["--preconfig"]))
        theirs = self.sequence(self.start_oracle(args=["--preconfig"]))
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0]["return"]["status"], "prelaunch")
        self.assertEqual(mine[4]["return"]["status"], "running")
        self.assertIn("error", mine[2])
        self.assertEqual(mine[5], {"return": []})


if __name__ == "__main__":
    unittest.main()
