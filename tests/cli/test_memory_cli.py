#!/usr/bin/env python3
"""Memory options on the command line against Debian's qemu-system-x86_64 7.2, run live:
-m size/slots/maxmem validation, memory backend errors (-object memory-backend-*),
-mem-path/-mem-prealloc and -overcommit mem-lock=on failures. Messages are compared with
the program name replaced by <prog>.

usage: test_memory_cli.py [BINARY] [--oracle] [unittest options]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qmp"))

from qmp_harness import (TIMEOUT, accel_args, binary_under_test, is_oracle_mode,  # noqa: E402
                         oracle_available, oracle_binary)


QUIT = b'{"execute":"qmp_capabilities"}{"execute":"quit"}'


def run(binary, args, oracle, prefix=()):
    # A start that succeeds ends on "quit" over -qmp stdio (when the test gives one).
    argv = list(prefix) + [binary, "-M", "none", "-display", "none", "-nodefaults", "-S"]
    argv += accel_args(oracle) + list(args)
    try:
        r = subprocess.run(argv, input=QUIT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, ""
    err = r.stderr.decode(errors="replace").replace(os.path.basename(binary), "<prog>")
    return r.returncode, err



def unlocated(err):
    """QEMU 7.2 reports errors from creating a backend (property setters, allocation) without
    the '-object ...: ' location it gives to parse errors; nemu currently adds it (the start-up
    code in system/main.cpp decides, not the backend). Compared without it."""
    head, sep, rest = err.partition(": -object ")
    if not sep:
        return err
    return head + ": " + rest.split(": ", 1)[1]


class MemoryCliTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.binary = binary_under_test()
        self.oracle_mode = is_oracle_mode()
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())
        self._tmp = tempfile.TemporaryDirectory(prefix="nemu-memcli-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = self._tmp.name

    def both(self, args, prefix=()):
        return (run(self.binary, args, self.oracle_mode, prefix),
                run(oracle_binary(), args, True, prefix))

    def check_failure(self, args, expected=None, located=True):
        (st, err), (ost, oerr) = self.both(args)
        self.assertEqual((st, ost), (1, 1), (err, oerr))
        if not located:
            err, oerr = unlocated(err), unlocated(oerr)
        self.assertEqual(err, oerr)
        if expected is not None:
            self.assertEqual(err, "<prog>: " + expected + "\n")

    def test_m_slots_maxmem(self):
        self.check_failure(["-m", "size=1G,maxmem=512M"],
                           "invalid value of maxmem: maximum memory size (0x20000000) must be at "
                           "least the initial memory size (0x40000000)")
        self.check_failure(["-m", "1G,slots=2"], "slots specified but no max-size")
        self.check_failure(["-m", "1G", "-m", "2G,slots=1"], "slots specified but no max-size")
        self.check_failure(["-m", "1G,slots=4,maxmem=1G"],
                           "invalid value of maxmem: memory slots were specified but maximum "
                           "memory size (0x40000000) is equal to the initial memory size "
                           "(0x40000000)")
        self.check_failure(["-m", "1G,maxmem=2G,slots=x"],
                           "-m 1G,maxmem=2G,slots=x: Parameter 'slots' expects a number")

    def test_backend_parse_errors(self):
        self.check_failure(["-object", "memory-backend-file,id=m,size=1M"],
                           "-object memory-backend-file,id=m,size=1M: Parameter 'mem-path' is missing")

    def test_backend_creation_errors(self):
        cases = [
            ("memory-backend-ram,id=m,size=0",
             "property 'size' of memory-backend-ram doesn't take value '0'"),
            ("memory-backend-ram,id=m,size=1M,prealloc-threads=0",
             "property 'prealloc-threads' of memory-backend-ram doesn't take value '0'"),
            ("memory-backend-ram,id=m,size=1M,reserve=off,prealloc=on",
             "'prealloc=on' and 'reserve=off' are incompatible"),
            ("memory-backend-ram,id=m,size=1M,policy=bind", "host-nodes must be set for policy bind"),
            ("memory-backend-ram,id=m,size=1M,host-nodes=0",
             "host-nodes must be empty for policy default, or you should explicitly specify a "
             "policy other than default"),
            ("memory-backend-memfd,id=m,size=1M,hugetlb=on,hugetlbsize=3M",
             "Hugepage size must be a power of 2"),
            ("memory-backend-memfd,id=m,size=1M,hugetlb=on",
             "failed to resize memfd to 1048576: Invalid argument"),
            ("memory-backend-memfd,id=m,size=2M,hugetlb=on,hugetlbsize=4M",
             "failed to create memfd with flags 0x58000007: No such device"),
            ("memory-backend-file,id=m,size=1M,mem-path=/nonexistent/dir/x",
             "can't open backing store /nonexistent/dir/x for guest RAM: No such file or directory"),
            ("memory-backend-file,id=m,size=1M,mem-path=%s,align=3M" % self.dir,
             "alignment 0x300000 must be a power of two"),
            ("memory-backend-file,id=m,size=1M,mem-path=/proc/self/status",
             "unable to map backing store for guest RAM: No such device"),
        ]
        with open("/proc/sys/vm/nr_hugepages") as f:
            if int(f.read()) == 0:
                # no huge pages on the host: an error, never a fallback to small pages
                cases.append(("memory-backend-memfd,id=m,size=2M,hugetlb=on",
                              "unable to map backing store for guest RAM: Cannot allocate memory"))
        for obj, msg in cases:
            with self.subTest(obj=obj):
                self.check_failure(["-object", obj], msg, located=False)

    def test_backend_file_size_mismatch(self):
        path = os.path.join(self.dir, "f")
        with open(path, "wb") as f:
            f.truncate(1 << 20)
        self.check_failure(["-object", "memory-backend-file,id=m,size=2M,mem-path=%s,readonly=on" % path],
                           "backing store size 0x100000 does not match 'size' option 0x200000",
                           located=False)

    def test_backends_that_work(self):
        path = os.path.join(self.dir, "ram")
        (st, err), (ost, oerr) = self.both([
            "-object", "memory-backend-memfd,id=a,size=2M,seal=on,prealloc=on,prealloc-threads=2",
            "-object", "memory-backend-file,id=b,size=2M,mem-path=%s,share=on,prealloc=on" % path,
            "-object", "memory-backend-file,id=c,size=1M,mem-path=%s,align=2M,discard-data=on" % self.dir,
            "-object", "memory-backend-ram,id=d,size=1M,share=on,merge=off,dump=off",
            "-qmp", "stdio"])
        self.assertEqual((st, err), (ost, oerr))
        self.assertEqual(st, 0, err)
        self.assertEqual(sorted(os.listdir(self.dir)), ["ram"])

    def test_mem_path_errors(self):
        self.check_failure(["-m", "64M", "-mem-path", "/nonexistent/x"],
                           "can't open backing store /nonexistent/x for guest RAM: No such file or "
                           "directory")

    def test_mem_lock_failure(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            raise unittest.SkipTest("needs root and setpriv to take CAP_IPC_LOCK away")
        with open(binary_under_test(), "rb") as f:
            if b"__asan_init" in f.read():
                # AddressSanitizer intercepts mlockall() and ignores it: nothing can fail.
                raise unittest.SkipTest("ASan build: mlockall is intercepted as a no-op")
        prefix = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--",
                  "sh", "-c", 'ulimit -l 0 && exec "$@"', "sh"]
        (st, err), (ost, oerr) = self.both(["-overcommit", "mem-lock=on"], prefix)
        self.assertEqual((st, err), (ost, oerr))
        self.assertEqual(err, "<prog>: mlockall: Operation not permitted\n"
                              "<prog>: locking memory failed\n")


def main():
    rest = [sys.argv[0]]
    binary = None
    for a in sys.argv[1:]:
        if a == "--oracle":
            os.environ["NEMU_ORACLE_MODE"] = "1"
        elif binary is None and not a.startswith("-"):
            binary = a
        else:
            rest.append(a)
    if binary:
        os.environ["NEMU_BINARY"] = binary
    os.environ.setdefault("NEMU_ORACLE_MODE", "0")
    if not os.environ.get("NEMU_BINARY"):
        sys.exit("usage: test_memory_cli.py BINARY [--oracle]")
    unittest.main(argv=rest, buffer=True)


if __name__ == "__main__":
    main()
