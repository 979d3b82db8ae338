"""Helpers shared by the block-layer suites: temp dirs, qemu-img/qemu-io, nemu-io."""

import os
import shutil
import subprocess
import tempfile
import unittest

NEMU_IO = os.environ.get("NEMU_IO", "")


def run(*args, check=True, input=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=input, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
    return p


def qemu_img(*args, check=True):
    return run("qemu-img", *args, check=check)


def qemu_io(fmt, image, *commands):
    args = ["qemu-io", "-f", fmt]
    for c in commands:
        args += ["-c", c]
    return run(*args, image)


def nemu_io(image, *commands, fmt=None, cache=None, aio=None, check=True, read_only=False):
    args = [NEMU_IO]
    if fmt:
        args += ["-f", fmt]
    if cache:
        args += ["-t", cache]
    if aio:
        args += ["-i", aio]
    if read_only:
        args += ["-r"]
    for c in commands:
        args += ["-c", c]
    args.append(image)
    return run(*args, check=check)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nemu-block-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def assert_same_as_qemu(self, image, fmt=None):
        """nemu's view of every byte of the image equals qemu-img convert -O raw's."""
        expect, got = self.path("expect.raw"), self.path("got.raw")
        args = ["convert", "-O", "raw"] + (["-f", fmt] if fmt else []) + [image, expect]
        qemu_img(*args)
        nemu_io(image, "dump " + got, fmt=fmt, read_only=True)
        a, b = read_file(expect), read_file(got)
        self.assertEqual(len(a), len(b), "virtual size differs")
        if a != b:
            first = next(i for i in range(len(a)) if a[i] != b[i])
            self.fail("content differs from qemu-img's first at byte %d (qemu %#x, nemu %#x)" % (first, a[first], b[first]))

    def assert_qemu_check_clean(self, image):
        p = qemu_img("check", "--output=json", image, check=False)
        # 0: no errors; 3: only leaked clusters (allowed after a crash, not otherwise).
        self.assertEqual(p.returncode, 0, "qemu-img check: %s%s" % (p.stdout, p.stderr))
