"""The block layer's command line and QMP against the oracle (QEMU 7.2, -M none), live with
the same images made by qemu-img in a temporary directory: -drive/-blockdev errors,
blockdev-del, block_resize (checked with qemu-img info after quit).
query-block, query-named-block-nodes (flat or with backing images), query-blockstats (per
backend and query-nodes), block_set_io_throttle and blockdev-add (file, raw, qcow2 with
nested and referenced children, its errors), compared whole with QEMU's replies."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from qmp_harness import QMPTestCase, binary_under_test, oracle_available, oracle_binary

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import io_uring_refused  # noqa: E402


def startup_error(binary, args, cwd):
    """The first error line without the program name, or None if the process started."""
    p = subprocess.run([binary, "-M", "none", "-display", "none", "-S", "-qmp", "stdio"] + args,
                       input=b'{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
                       capture_output=True, cwd=cwd, timeout=20)
    for line in p.stderr.decode(errors="replace").splitlines():
        if ": " in line and not line.startswith(("WARNING", " ")):
            prog, _, rest = line.partition(": ")
            if "qemu-system" in prog or "nemu-system" in prog:
                return rest
    return None


class BlockBase(QMPTestCase):

    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="nemu-block-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = self._tmp.name
        for args in (["-f", "raw", "r.raw", "1M"], ["-f", "qcow2", "a.qcow2", "1M"]):
            subprocess.run(["qemu-img", "create", "-q"] + args, cwd=self.dir, check=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def both(self, args, requests):
        """nemu's and QEMU's replies to the same requests; one at a time (image locks)."""
        out = []
        for start in (self.start, self.start_oracle):
            m = start(args)
            out.append([m.qmp.cmd(name, **kw) for name, kw in requests])
            m.close()
        return out


class BlockCmdlineTest(BlockBase):

    def check_same_error(self, args):
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())
        theirs = startup_error(oracle_binary(), args, self.dir)
        mine = startup_error(os.path.abspath(binary_under_test()), args, self.dir)
        self.assertIsNotNone(theirs, args)
        self.assertEqual(mine, theirs, args)

    def test_errors_as_qemu(self):
        for args in (["-blockdev", "driver=foo,node-name=x"],
                     ["-blockdev", "driver=file,filename=/nonexistent,node-name=x"],
                     ["-blockdev", "driver=file,filename=r.raw,node-name=1x"],
                     ["-blockdev", "driver=file,filename=r.raw"],
                     ["-blockdev", "driver=file,filename=r.raw,node-name=x,read-only=bogus"],
                     ["-blockdev", "driver=file,filename=r.raw,node-name=a",
                      "-blockdev", "driver=file,filename=r.raw,node-name=a"],
                     ["-drive", "file=r.raw,if=none,cache=bogus"],
                     ["-drive", "file=r.raw,if=none,aio=bogus"],
                     ["-drive", "file=r.raw,if=none,discard=bogus"],
                     ["-drive", "file=r.raw,if=none,detect-zeroes=bogus"],
                     ["-drive", "file=r.raw,if=none,werror=bogus"],
                     ["-drive", "file=r.raw,if=none,rerror=bogus"],
                     ["-drive", "file=r.raw,if=none,format=foo"],
                     ["-drive", "file=/nonexistent,if=none"],
                     ["-drive", "file=r.raw,if=none,id=1x"],
                     ["-drive", "file=r.raw,if=none,readonly=x"],
                     ["-drive", "file=r.raw,if=bogus"],
                     # throttling.* (and the legacy names): QemuOpts numbers, throttle_is_valid
                     ["-drive", "file=r.raw,if=none,throttling.iops-total=abc"],
                     ["-drive", "file=r.raw,if=none,throttling.bps-total=1k"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total=18446744073709551616"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total=-1"],
                     ["-drive", "file=r.raw,if=none,throttling.bps-total=1000000000000001"],
                     ["-drive", "file=r.raw,if=none,throttling.bps-total=10,throttling.bps-read=5"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total=10,throttling.iops-total-max=5"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total-max=5"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total=1,throttling.iops-total-max=2,"
                                "throttling.iops-total-max-length=0"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-total-max-length=5"],
                     ["-drive", "file=r.raw,if=none,throttling.iops-size=10"],
                     ["-drive", "file=r.raw,if=none,throttling.bogus=1"],
                     ["-drive", "file=r.raw,if=none,bps_rd=-1"],
                     ["-drive", "file=r.raw,if=none,iops=5,throttling.iops-total=6"]):
            with self.subTest(args=args):
                self.check_same_error(args)

    def test_libvirt_json_blockdev_starts(self):
        storage = json.dumps({"driver": "file", "filename": self.path("r.raw"),
                              "node-name": "libvirt-1-storage", "auto-read-only": True,
                              "discard": "unmap", "cache": {"direct": False, "no-flush": False}})
        self.assertIsNone(startup_error(os.path.abspath(binary_under_test()), ["-blockdev", storage], self.dir))


class AioExplicitTest(BlockBase):
    """io_uring_setup refused (strace's fault injection, as a sandbox would): an explicit
    aio=io_uring fails as QEMU's does; nemu's default (io_uring) falls back to threads."""

    def setUp(self):
        super().setUp()
        if not shutil.which("strace"):
            self.fail("strace is needed (scripts/setup-deps.sh installs it)")

    def under_strace(self, binary, args):
        return io_uring_refused.run(binary, args, self.dir)[0]

    def test_explicit_io_uring_refused(self):
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())
        args = ["-drive", "if=none,id=d0,format=raw,file=r.raw,aio=io_uring"]
        theirs = self.under_strace(oracle_binary(), ["-accel", "tcg"] + args)
        mine = self.under_strace(os.path.abspath(binary_under_test()), args)
        self.assertEqual(theirs, "-drive if=none,id=d0,format=raw,file=r.raw,aio=io_uring: "
                                 "Unable to use io_uring: failed to init linux io_uring ring")
        self.assertEqual(mine, theirs)

    def test_default_falls_back(self):
        self.assertIsNone(self.under_strace(os.path.abspath(binary_under_test()),
                                            ["-drive", "if=none,id=d0,format=raw,file=r.raw"]))


class DriveThrottleQueryTest(BlockBase):
    """-drive throttling.* as query-block shows it, against QEMU."""

    def test_query_block(self):
        args = ["-drive", "if=none,id=d0,format=raw,file=%s,iops=10,throttling.bps-read=1000,"
                          "throttling.bps-read-max=2000,throttling.bps-read-max-length=3,iops_size=512"
                % self.path("r.raw"),
                "-drive", "if=none,id=d1,format=qcow2,file=%s,throttling.bps-total=1048576,"
                          "throttling.iops-write=5,throttling.iops-write-max=50,group=g1"
                % self.path("a.qcow2"),
                "-drive", "if=none,id=d2,format=raw,file=%s,throttling.group=g2"
                % self.path("r2.raw")]
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", "r2.raw", "64k"], cwd=self.dir, check=True)
        mine, theirs = self.both(args, [("query-block", {})])
        self.assertEqual(mask_auto_names(mine), mask_auto_names(theirs))
        d0 = mine[0]["return"][0]["inserted"]
        self.assertEqual((d0["iops"], d0["bps_rd"], d0["bps_rd_max"], d0["group"]), (10, 1000, 2000, "d0"))


class BlockQmpTest(BlockBase):

    def test_blockdev_del(self):
        args = ["-blockdev", "driver=file,filename=%s,node-name=f1" % self.path("r.raw")]
        reqs = [("blockdev-del", {"node-name": "nope"}),
                ("blockdev-del", {"node-name": "f1"}),
                ("blockdev-del", {"node-name": "f1"})]
        mine, theirs = self.both(args, reqs)
        self.assertEqual(mine, theirs)

    def test_block_resize_then_qemu_img(self):
        m = self.start(["-blockdev", "driver=file,filename=%s,node-name=f1" % self.path("r.raw")])
        self.assertOk(m.qmp.cmd("block_resize", **{"node-name": "f1", "size": 2 << 20}))
        m.close()
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-f", "raw",
                                          self.path("r.raw")], capture_output=True,
                                         check=True).stdout)
        self.assertEqual(info["virtual-size"], 2 << 20)

    def test_block_resize_errors(self):
        args = ["-blockdev", "driver=file,filename=%s,node-name=f1" % self.path("r.raw")]
        reqs = [("block_resize", {"node-name": "nope", "size": 1 << 20}),
                ("block_resize", {"device": "d", "node-name": "f1", "size": 1 << 20})]
        mine, theirs = self.both(args, reqs)
        self.assertEqual(mine, theirs)


def mask_auto_names(reply):
    """QEMU's automatic node names are "#block" plus a random-looking number (id_generate
    uses a counter shared with other ids); nemu counts from 0. Only the number is masked."""
    return json.loads(re.sub(r'"#block\d+"', '"#block"', json.dumps(reply)))


class BlockQueryTest(BlockBase):
    """The same -drive/-blockdev graph in both; every reply compared whole."""

    def setUp(self):
        super().setUp()
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "b.qcow2", "1M"], cwd=self.dir, check=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o.qcow2"],
                       cwd=self.dir, check=True)
        self.args = ["-drive", "if=none,id=d0,format=raw,file=%s" % self.path("r.raw"),
                     "-drive", "if=none,id=d1,file=%s,cache=none" % self.path("o.qcow2"),
                     "-blockdev", "driver=file,filename=%s,node-name=f1" % self.path("a.qcow2"),
                     "-blockdev", json.dumps({"driver": "qcow2", "file": "f1", "node-name": "q1",
                                              "backing": None})]

    def compare(self, reqs):
        mine, theirs = self.both(self.args, reqs)
        for (name, kw), a, b in zip(reqs, mine, theirs):
            with self.subTest(cmd=name, args=kw):
                self.assertEqual(mask_auto_names(a), mask_auto_names(b))

    def test_queries(self):
        self.compare([("query-block", {}),
                      ("query-named-block-nodes", {}),
                      ("query-named-block-nodes", {"flat": True}),
                      ("query-blockstats", {}),
                      ("query-blockstats", {"query-nodes": True})])

    def test_io_throttle(self):
        base = {"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0}
        self.compare([("block_set_io_throttle", base),
                      ("block_set_io_throttle", dict(base, device="nope")),
                      ("block_set_io_throttle", dict(base, id="nope")),
                      ("block_set_io_throttle", dict(base, device="d0", id="x")),
                      ("block_set_io_throttle", dict(base, device="d0", bps=-1)),
                      ("block_set_io_throttle", dict(base, device="d0", bps=10, bps_rd=5)),
                      ("block_set_io_throttle", dict(base, device="d0", iops=10, iops_max=5)),
                      ("block_set_io_throttle", dict(base, device="d0", bps=1000000, iops=100,
                                                     bps_max=2000000, iops_size=4096)),
                      ("query-block", {}),
                      ("block_set_io_throttle", dict(base, device="d1", bps_wr=1 << 20, group="g")),
                      ("query-block", {}),
                      ("block_set_io_throttle", dict(base, device="d0")),
                      ("query-block", {})])


class DriveSnapshotQueryTest(BlockBase):
    """-drive snapshot=on: the temporary qcow2 overlay as QEMU shows it (json: file names,
    cache=unsafe overlay, read-only base, node order). The overlay's random vl.XXXXXX name
    is masked; both make it in the same $TMPDIR."""

    def test_queries(self):
        tmp = tempfile.mkdtemp(prefix="nemu-snap-", dir=self.dir)
        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = tmp
        try:
            reqs = [("query-block", {}), ("query-named-block-nodes", {})]
            for drive in ("if=none,id=d0,format=raw,snapshot=on,file=%s" % self.path("r.raw"),
                          "if=none,id=d1,snapshot=on,cache=none,file=%s" % self.path("a.qcow2")):
                mine, theirs = self.both(["-drive", drive], reqs)
                for (name, kw), a, b in zip(reqs, mine, theirs):
                    with self.subTest(cmd=name, drive=drive):
                        mask = lambda r: json.loads(re.sub(r"vl\.[A-Za-z0-9]{6}", "vl.X",  # noqa: E731
                                                           json.dumps(mask_auto_names(r))))
                        self.assertEqual(mask(a), mask(b))
        finally:
            if old is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = old


class BlockdevAddTest(BlockBase):

    def test_add_query_delete(self):
        f = lambda name: self.path(name)
        reqs = [("blockdev-add", {"driver": "file", "filename": f("r.raw"), "node-name": "rf"}),
                ("blockdev-add", {"driver": "raw", "file": "rf", "node-name": "rr"}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "q",
                                  "file": {"driver": "file", "filename": f("a.qcow2"),
                                           "cache": {"direct": True}},
                                  "backing": None}),
                ("blockdev-add", {"driver": "foo", "node-name": "x"}),
                ("blockdev-add", {"driver": "file", "filename": f("nope"), "node-name": "x"}),
                ("blockdev-add", {"driver": "file", "filename": f("r.raw")}),
                ("blockdev-add", {"driver": "file", "filename": f("r.raw"), "node-name": "rf"}),
                ("blockdev-add", {"driver": "file", "filename": 1, "node-name": "x"}),
                ("blockdev-add", {"driver": "file", "filename": f("r.raw"), "node-name": "x",
                                  "bogus": 1}),
                ("blockdev-add", {"driver": "raw", "node-name": "x", "file": "nonode"}),
                ("blockdev-add", {"driver": "file", "filename": f("r.raw"), "node-name": "1x"}),
                ("blockdev-add", {"driver": "file", "filename": f("r.raw"), "node-name": "x",
                                  "detect-zeroes": "unmap"}),
                ("query-named-block-nodes", {}),
                ("query-blockstats", {"query-nodes": True}),
                ("blockdev-del", {"node-name": "rf"}),
                ("blockdev-del", {"node-name": "rr"}),
                ("blockdev-del", {"node-name": "rf"}),
                ("query-named-block-nodes", {"flat": True})]
        mine, theirs = self.both([], reqs)
        for (name, kw), a, b in zip(reqs, mine, theirs):
            with self.subTest(cmd=name, args=kw):
                self.assertEqual(mask_auto_names(a), mask_auto_names(b))

    def test_json_file_names(self):
        """Nodes whose options a plain file name cannot say: QEMU's json:{...} names
        (bdrv_refresh_filename), in QDict's member order, nested and as backing."""
        for args in (["-f", "raw", "r1.raw", "1M"], ["-f", "raw", "r2.raw", "1M"],
                     ["-f", "qcow2", "b.qcow2", "1M"], ["-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o.qcow2"],
                     ["-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o2.qcow2"],
                     ["-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o3.qcow2"]):
            subprocess.run(["qemu-img", "create", "-q"] + args, cwd=self.dir, check=True)
        f = lambda name: {"driver": "file", "filename": self.path(name)}  # noqa: E731
        reqs = [("blockdev-add", {"driver": "raw", "node-name": "a", "offset": 512, "file": f("r.raw")}),
                # (one node per file: nemu's image locks refuse a second writer in-process)
                ("blockdev-add", {"driver": "raw", "node-name": "s", "offset": 0, "size": 4096,
                                  "file": dict(f("r1.raw"), **{"node-name": "sf"})}),
                ("blockdev-add", {"driver": "raw", "node-name": "nest", "file": "a"}),
                ("blockdev-add", {"driver": "raw", "node-name": "sz", "size": 8192, "file": f("r2.raw")}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "n1", "backing": None, "file": f("o.qcow2")}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "bn", "file": f("b.qcow2")}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "n2", "backing": "bn", "file": f("o2.qcow2")}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "an", "backing": None, "file": f("a.qcow2")}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "n3", "backing": "an", "file": f("o3.qcow2")}),
                ("query-named-block-nodes", {}),
                ("query-named-block-nodes", {"flat": True})]
        mine, theirs = self.both([], reqs)
        for (name, kw), a, b in zip(reqs, mine, theirs):
            with self.subTest(cmd=name, args=kw):
                self.assertEqual(mask_auto_names(a), mask_auto_names(b))
        names = {n["node-name"]: n["file"] for n in mine[-1]["return"]}
        self.assertTrue(names["a"].startswith('json:{"offset": 512, "driver": "raw", "file": '), names["a"])
        # The header says "b.qcow2", the backing node is named by its absolute path.
        self.assertTrue(names["n2"].startswith('json:{"backing": {"driver": "qcow2", '), names["n2"])
        self.assertEqual(names["bn"], self.path("b.qcow2"))

    def test_vpc_and_header_backing(self):
        for args in (["-f", "vpc", "v.vhd", "1M"], ["-f", "vpc", "-o", "subformat=fixed", "vf.vhd", "1M"],
                     ["-f", "qcow2", "b.qcow2", "1M"], ["-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o.qcow2"]):
            subprocess.run(["qemu-img", "create", "-q"] + args, cwd=self.dir, check=True)
        reqs = [("blockdev-add", {"driver": "vpc", "node-name": "v",
                                  "file": {"driver": "file", "filename": self.path("v.vhd")}}),
                ("blockdev-add", {"driver": "vpc", "node-name": "vf", "read-only": True,
                                  "file": {"driver": "file", "filename": self.path("vf.vhd")}}),
                ("blockdev-add", {"driver": "qcow2", "node-name": "o",
                                  "file": {"driver": "file", "filename": self.path("o.qcow2")}}),
                ("query-named-block-nodes", {}),
                ("query-blockstats", {"query-nodes": True})]
        # A probed raw -drive next to them (the raw-probing warning goes to stderr).
        mine, theirs = self.both(["-drive", "if=none,id=p,file=%s" % self.path("r.raw")], reqs)
        for (name, kw), a, b in zip(reqs, mine, theirs):
            with self.subTest(cmd=name, args=kw):
                self.assertEqual(mask_auto_names(a), mask_auto_names(b))


if __name__ == "__main__":
    unittest.main()
