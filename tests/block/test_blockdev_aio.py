#!/usr/bin/env python3
"""-blockdev / blockdev-add with an explicit aio=io_uring where the kernel refuses a ring
(strace's io_uring_setup fault injection, as a sandbox would), against QEMU 7.2 (issue #6).

usage: test_blockdev_aio.py NEMU_BINARY [-k PATTERN] [-v]

QEMU sets the ring up when the file node opens, so an explicit aio=io_uring fails the
-blockdev (keyval and JSON, the file node alone or nested as file.aio) and blockdev-add with
"Unable to use io_uring: failed to init linux io_uring ring"; without aio= (nemu's default
io_uring) and with aio=threads the node opens.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import block_test_util as u  # noqa: E402
import io_uring_refused  # noqa: E402
from io_uring_refused import REFUSED  # noqa: E402

NEMU = ""
QEMU = "qemu-system-x86_64"


class BlockdevAio(u.TempDirTest):
    def setUp(self):
        super().setUp()
        if not shutil.which("strace"):
            self.fail("strace is needed (scripts/setup-deps.sh installs it)")
        u.qemu_img("create", "-q", "-f", "raw", self.path("r.raw"), "1M")
        u.qemu_img("create", "-q", "-f", "qcow2", self.path("q.qcow2"), "1M")

    def run_vmm(self, binary, args, qmp=()):
        """(startup error text after 'binary: ', QMP replies) under io_uring_setup = EPERM."""
        extra = ["-accel", "tcg"] if binary == QEMU else []
        return io_uring_refused.run(binary, extra + args, self.dir, qmp)

    def both(self, args, qmp=()):
        mine = self.run_vmm(NEMU, args, qmp)
        if shutil.which(QEMU):
            self.assertEqual(mine, self.unstale(self.run_vmm(QEMU, args, qmp)))
        return mine

    @staticmethod
    def unstale(result):
        """luring_init reports errno, which liburing does not set: QEMU appends whatever an
        earlier call left there (": Inappropriate ioctl for device" in some runs, nothing in
        others); nemu gives the text without it."""
        err, replies = result
        cut = lambda t: t[:t.index(REFUSED) + len(REFUSED)] if t and REFUSED in t else t  # noqa: E731
        for r in replies:
            if "error" in r:
                r["error"]["desc"] = cut(r["error"]["desc"])
        return cut(err), replies

    def test_blockdev_forms_refused(self):
        for spec in ["driver=file,filename=r.raw,node-name=f,aio=io_uring",
                     "driver=raw,node-name=r,file.driver=file,file.filename=r.raw,file.aio=io_uring",
                     "driver=qcow2,node-name=q,file.driver=file,file.filename=q.qcow2,file.aio=io_uring",
                     json.dumps({"driver": "raw", "node-name": "r",
                                 "file": {"driver": "file", "filename": "r.raw", "aio": "io_uring"}})]:
            err, _ = self.both(["-blockdev", spec])
            self.assertEqual(err, "-blockdev %s: %s" % (spec, REFUSED))

    def test_default_and_threads_open(self):
        for spec in ["driver=raw,node-name=r,file.driver=file,file.filename=r.raw",
                     "driver=raw,node-name=r,file.driver=file,file.filename=r.raw,file.aio=threads"]:
            err, _ = self.both(["-blockdev", spec])
            self.assertIsNone(err, spec)

    def test_blockdev_add_refused(self):
        add = {"execute": "blockdev-add",
               "arguments": {"driver": "raw", "node-name": "r",
                             "file": {"driver": "file", "filename": "r.raw", "aio": "io_uring"}}}
        ok = {"execute": "blockdev-add",
              "arguments": {"driver": "raw", "node-name": "r2",
                            "file": {"driver": "file", "filename": "q.qcow2", "aio": "threads"}}}
        err, replies = self.both([], [add, ok])
        self.assertIsNone(err)
        self.assertEqual(replies[1], {"error": {"class": "GenericError", "desc": REFUSED}})
        self.assertEqual(replies[2], {"return": {}})


def main():
    global NEMU
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    NEMU = os.path.abspath(sys.argv.pop(1))
    unittest.main(buffer=True, verbosity=0)


if __name__ == "__main__":
    main()
