"""Memory backends over QMP against the oracle (QEMU 7.2, -M none), run live with the same
command line: query-memdev for memory-backend-ram/-memfd/-file, query-memory-size-summary,
qom-set rules on live backends, and the backends' property lists."""

import os
import tempfile
import unittest

from qmp_harness import QMPTestCase


def by_id(reply):
    """query-memdev lists backends in QEMU's hash order; compare them keyed by id."""
    return {m["id"]: m for m in reply["return"]}



class MemdevBase(QMPTestCase):

    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="nemu-memdev-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = self._tmp.name

    def both(self, args, name, **kw):
        mine = self.start(args)
        theirs = self.start_oracle(args)
        return mine.qmp.cmd(name, **kw), theirs.qmp.cmd(name, **kw)


class MemdevTest(MemdevBase):

    def test_query_memdev_all_types(self):
        args = ["-object", "memory-backend-ram,id=r,size=1M",
                "-object", "memory-backend-memfd,id=mf,size=2M,seal=off",
                "-object", "memory-backend-memfd,id=ms,size=1M,share=off,merge=off",
                "-object", "memory-backend-file,id=f,size=1M,mem-path=%s,share=on,prealloc=on,"
                           "dump=off,merge=off" % self.dir,
                "-object", "memory-backend-ram,id=p,size=1M,host-nodes=0,policy=preferred"]
        got, want = self.both(args, "query-memdev")
        self.assertEqual(by_id(got), by_id(want))
        self.assertEqual(set(by_id(got)), {"r", "mf", "ms", "f", "p"})
        self.assertTrue(by_id(got)["mf"]["share"])      # memfd defaults to share=on
        self.assertEqual(by_id(got)["p"]["host-nodes"], [0])
        self.assertEqual(os.listdir(self.dir), [])      # temporary files are unlinked

    def test_query_memdev_file_keeps_named_file(self):
        path = os.path.join(self.dir, "guest.ram")
        got, want = self.both(["-object", "memory-backend-file,id=f,size=2M,mem-path=%s" % path],
                              "query-memdev")
        self.assertEqual(got, want)
        self.assertEqual(os.path.getsize(path), 2 << 20)

    def test_query_memdev_empty(self):
        got, want = self.both([], "query-memdev")
        self.assertEqual(got, want)
        self.assertEqual(got, {"return": []})

    def test_memory_size_summary(self):
        got, want = self.both([], "query-memory-size-summary")
        self.assertEqual(got, want)
        self.assertEqual(got, {"return": {"base-memory": 0, "plugged-memory": 0}})
        for m in (["-m", "1G"], ["-m", "256M,slots=2,maxmem=1G"]):
            got, want = self.both(m, "query-memory-size-summary")
            self.assertEqual(got, want, m)
        self.assertEqual(got["return"]["base-memory"], 256 << 20)

    def test_qom_set_on_live_backends(self):
        args = ["-object", "memory-backend-ram,id=r,size=1M",
                "-object", "memory-backend-memfd,id=m,size=1M",
                "-object", "memory-backend-file,id=f,size=1M,mem-path=%s" % self.dir]
        sets = [("r", "share", True), ("r", "size", 2 << 20), ("r", "merge", False),
                ("r", "prealloc", True), ("r", "prealloc-threads", 4), ("r", "reserve", False),
                ("r", "policy", "bind"), ("r", "host-nodes", [0]), ("r", "dump", False),
                ("r", "prealloc-threads", 0), ("m", "seal", False), ("m", "hugetlb", True),
                ("m", "hugetlbsize", 2 << 20), ("f", "mem-path", "/x"), ("f", "align", 4096),
                ("f", "readonly", True), ("f", "discard-data", True), ("f", "pmem", True)]
        mine, theirs = self.start(args), self.start_oracle(args)
        for obj, prop, value in sets:
            kw = dict(path="/objects/" + obj, property=prop, value=value)
            self.assertEqual(mine.qmp.cmd("qom-set", **kw), theirs.qmp.cmd("qom-set", **kw),
                             "%s.%s=%r" % (obj, prop, value))
        got, want = mine.qmp.cmd("query-memdev"), theirs.qmp.cmd("query-memdev")
        self.assertEqual(by_id(got), by_id(want))

    def test_backend_property_lists(self):
        for t in ("memory-backend-ram", "memory-backend-memfd", "memory-backend-file"):
            got, want = self.both([], "qom-list-properties", typename=t)
            strip = lambda r: sorted((p["name"], p["type"], p.get("description"))
                                     for p in r["return"])
            self.assertEqual(strip(got), strip(want), t)

    def test_object_add_and_del_ram(self):
        mine, theirs = self.start(), self.start_oracle()
        for m in (mine, theirs):
            self.assertOk(m.qmp.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": "x",
                                                     "size": 1 << 20, "share": True}))
        self.assertEqual(mine.qmp.cmd("query-memdev"), theirs.qmp.cmd("query-memdev"))
        for args in ({"size": 0}, {"size": 1 << 20, "prealloc-threads": 0},
                     {"size": 1 << 20, "policy": "bind"},
                     {"size": 1 << 20, "reserve": False, "prealloc": True}):
            req = dict({"qom-type": "memory-backend-ram", "id": "y"}, **args)
            self.assertEqual(mine.qmp.cmd("object-add", **req), theirs.qmp.cmd("object-add", **req),
                             args)
        for m in (mine, theirs):
            self.assertOk(m.qmp.cmd("object-del", id="x"))
        self.assertEqual(mine.qmp.cmd("query-memdev"), {"return": []})


class ImplicitRamBackendTest(MemdevBase):
    """The machine's own RAM is a backend in /objects ("ram" on -M none, "microvm.ram" on
    microvm), memory-backend-file with -mem-path, preallocated with -mem-prealloc."""

    def test_machine_ram_is_a_memdev(self):
        got, want = self.both(["-m", "64M"], "query-memdev")
        self.assertEqual(got, want)
        self.assertEqual(got["return"][0]["id"], "ram")

    def test_mem_path_and_prealloc(self):
        args = ["-m", "64M", "-mem-path", self.dir, "-mem-prealloc"]
        got, want = self.both(args, "query-memdev")
        self.assertEqual(got, want)
        self.assertTrue(got["return"][0]["prealloc"])
        self.assertEqual(os.listdir(self.dir), [])


if __name__ == "__main__":
    unittest.main()
