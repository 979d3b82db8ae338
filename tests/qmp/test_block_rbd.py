"""The rbd protocol (block/rbd/) against the oracle, QEMU 7.2 with Debian's qemu-block-extra
(its block-rbd module): with no Ceph cluster anywhere, every way of opening an rbd image
fails, and nemu must fail the same way -- -blockdev and -drive file=rbd:... start-up errors
(option checks, the file name syntax, the conf file, no monitor) and blockdev-add's replies.
Skipped when nemu was built without rbd or the oracle has no rbd module."""

import os
import tempfile
import unittest

from qmp_harness import binary_under_test, oracle_available, oracle_binary
from test_block import BlockBase, startup_error


class RbdTest(BlockBase):

    def setUp(self):
        super().setUp()
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())
        # CEPH_ARGS would hand both a monitor behind the test's back.
        saved = os.environ.pop("CEPH_ARGS", None)
        if saved is not None:
            self.addCleanup(os.environ.__setitem__, "CEPH_ARGS", saved)
        probe = ["-blockdev", "driver=rbd,pool=p,image=i,conf=/nonexistent,node-name=n0"]
        if "does not accept value 'rbd'" in (startup_error(os.path.abspath(binary_under_test()), probe, self.dir) or ""):
            self.skipTest("nemu built without rbd")
        if "error reading conf file" not in (startup_error(oracle_binary(), probe, self.dir) or ""):
            self.skipTest("the oracle has no block-rbd module (qemu-block-extra)")
        # A ceph.conf naming no monitor: rados_connect fails at once.
        fd, self.empty_conf = tempfile.mkstemp(suffix=".conf", dir=self.dir)
        os.close(fd)

    def check_same_error(self, args):
        theirs = startup_error(oracle_binary(), args, self.dir)
        mine = startup_error(os.path.abspath(binary_under_test()), args, self.dir)
        self.assertIsNotNone(theirs, args)
        self.assertEqual(mine, theirs, args)

    def test_cmdline_errors(self):
        conf = self.empty_conf
        for args in (["-blockdev", "driver=rbd,pool=p,image=i,conf=/nonexistent,node-name=n0"],
                     ["-blockdev", "driver=rbd,image=i,node-name=n0"],
                     ["-blockdev", "driver=rbd,pool=p,node-name=n0"],
                     ["-blockdev", "driver=rbd,pool=p,image=i,bogus=1,node-name=n0"],
                     ["-blockdev", "driver=rbd,pool=p,image=i,key-secret=sec0,node-name=n0"],
                     ["-blockdev", "driver=rbd,pool=p,image=i,conf=/nonexistent,key-secret=s,node-name=n0"],
                     ["-blockdev", "driver=rbd,pool=p,image=i,conf=%s,node-name=n0" % conf],
                     ["-blockdev", "driver=rbd,pool=p,image=i,conf=%s,user=admin,namespace=ns,"
                                   "snapshot=s,auth-client-required.0=cephx,node-name=n0" % conf],
                     ["-blockdev", "driver=rbd,pool=p,image=i,conf=%s,server.0.host=no.such.host.invalid,"
                                   "server.0.port=1,node-name=n0" % conf],
                     ["-blockdev", "driver=raw,node-name=r0,file.driver=rbd,file.pool=p,file.image=i,"
                                   "file.conf=/nonexistent"],
                     ["-drive", "file=rbd:p/i:conf=/nonexistent,if=none,id=d0"],
                     ["-drive", "file=rbd:p/ns/i@snap:conf=/nonexistent,if=none,id=d0"],
                     ["-drive", "file=rbd:p\\/x/i\\@y:conf=/non\\:existent,if=none,id=d0"],
                     ["-drive", "file=rbd:p,if=none,id=d0"],
                     ["-drive", "file=rbd:p/i:id,if=none,id=d0"],
                     ["-drive", "file=rbd:p/i:a\\=b,if=none,id=d0"],
                     ["-drive", "file=rbd:p/i:conf=/nonexistent:,if=none,id=d0"],
                     ["-drive", "file=rbd:p/i:conf=%s:no_such_option=1,if=none,id=d0" % conf],
                     ["-drive", "file=rbd:p/i:conf=%s:id=admin,if=none,id=d0" % conf],
                     ["-drive", "file=rbd:p/i:conf=%s,format=raw,if=none,id=d0" % conf]):
            with self.subTest(args=args):
                self.check_same_error(args)

    def test_blockdev_add_errors(self):
        conf = self.empty_conf
        reqs = [("blockdev-add", {"driver": "rbd", "pool": "p", "image": "i", "conf": "/nonexistent",
                                  "node-name": "n0"}),
                ("blockdev-add", {"driver": "rbd", "image": "i", "node-name": "n0"}),
                ("blockdev-add", {"driver": "rbd", "pool": 1, "image": "i", "node-name": "n0"}),
                ("blockdev-add", {"driver": "rbd", "pool": "p", "image": "i", "node-name": "n0",
                                  "auth-client-required": ["bogus"]}),
                ("blockdev-add", {"driver": "rbd", "pool": "p", "image": "i", "node-name": "n0",
                                  "server": [{"host": "h"}]}),
                ("blockdev-add", {"driver": "rbd", "pool": "p", "image": "i", "node-name": "n0",
                                  "key-secret": "sec0"}),
                ("blockdev-add", {"driver": "rbd", "pool": "p", "image": "i", "node-name": "n0",
                                  "conf": conf, "auth-client-required": ["cephx", "none"]}),
                ("blockdev-add", {"driver": "raw", "node-name": "r0",
                                  "file": {"driver": "rbd", "pool": "p", "image": "i", "conf": conf}}),
                ("query-named-block-nodes", {})]
        mine, theirs = self.both([], reqs)
        for (name, kw), a, b in zip(reqs, mine, theirs):
            with self.subTest(cmd=name, args=kw):
                self.assertEqual(a, b)


if __name__ == "__main__":
    unittest.main()
