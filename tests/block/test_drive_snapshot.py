#!/usr/bin/env python3
"""-drive snapshot=on and the global -snapshot (issue 6), through a real virtio-blk-pci device
driven over qtest (tests/qtest/test_virtio.py's BlkCase): the guest's writes read back, the
image file is untouched (`qemu-img compare` with a copy made before), and the temporary
overlay QEMU would leave in $TMPDIR as vl.XXXXXX is gone while the VM still runs (nemu
unlinks it at once). Also against the oracle (QEMU 7.2): the same device-visible behaviour.

usage: test_drive_snapshot.py BINARY [unittest options]"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "qtest"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
import virtio_qtest as vq  # noqa: E402
from test_qtest import run_main  # noqa: E402
from test_virtio import CONFIG, BlkCase, blk_pattern  # noqa: E402


class DriveSnapshotTest(BlkCase):

    def setUp(self):
        super().setUp()
        self.tmpdir = tempfile.mkdtemp(prefix="nemu-snap-tmp-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        old = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.tmpdir   # inherited by the VMM (QEMU's get_tmp_filename)
        self.addCleanup(lambda: os.environ.__setitem__("TMPDIR", old) if old is not None
                        else os.environ.pop("TMPDIR", None))

    def write_through(self, launcher, drive_opts="", global_snapshot=False, expect_isolated=True):
        placed = blk_pattern(5, 2 * vq.BLK_SECTOR)
        if global_snapshot:
            orig = self.start if launcher == "nemu" else self.start_oracle
            start = lambda devs, args=(): orig(devs, args=["-snapshot"] + list(args))  # noqa: E731
        else:
            start = self.start if launcher == "nemu" else self.start_oracle
        vm, img = self.launch_blk(start, drive_opts=drive_opts, contents=[(4, placed)])
        ref = img + ".orig"
        shutil.copyfile(img, ref)
        dev = self.open_blk(vm)
        q, = dev.init()
        data = blk_pattern(6, 4 * vq.BLK_SECTOR)
        self.assertEqual(self.blk_write(vm, dev, q, 8, data)[0], vq.BLK_S_OK)
        self.assertEqual(self.blk_write(vm, dev, q, 4, data[:512])[0], vq.BLK_S_OK)
        status, got, _ = self.blk_read(vm, dev, q, 8, len(data))
        self.assertEqual((status, got), (vq.BLK_S_OK, data))
        # Partly overwritten, partly still the base's bytes (copy-on-write in the overlay).
        status, got, _ = self.blk_read(vm, dev, q, 4, 2 * vq.BLK_SECTOR)
        self.assertEqual(got, data[:512] + placed[512:])
        self.assertEqual(self.blk_submit(vm, dev, q, vq.BLK_T_FLUSH)[0], vq.BLK_S_OK)
        left = os.listdir(self.tmpdir)
        # -U: the VM still runs (and holds the image's lock with snapshot=off).
        same = subprocess.run(["qemu-img", "compare", "-q", "-U", "-f", "raw", "-F", "raw", img, ref]).returncode == 0
        self.assertEqual(same, expect_isolated, "image changed" if expect_isolated else "image unchanged")
        return left

    def test_snapshot_on_keeps_image(self):
        left = self.write_through("nemu", ",snapshot=on")
        self.assertEqual(left, [], "temporary overlay still in TMPDIR while running")
        self.assertEqual(os.listdir(self.tmpdir), [])

    def test_global_snapshot(self):
        self.assertEqual(self.write_through("nemu", global_snapshot=True), [])

    def test_snapshot_off_wins_over_global(self):
        # vl.c drive_enable_snapshot only sets a default: snapshot=off writes the image.
        self.write_through("nemu", ",snapshot=off", global_snapshot=True, expect_isolated=False)

    def test_oracle_agrees(self):
        if not shutil.which("qemu-system-x86_64"):
            self.skipTest("no oracle")
        self.write_through("qemu", ",snapshot=on")
        self.write_through("qemu", ",snapshot=off", global_snapshot=True, expect_isolated=False)

    def test_no_tmpdir(self):
        os.environ["TMPDIR"] = os.path.join(self.tmpdir, "missing")
        img = self.make_image()
        p = subprocess.run([CONFIG["binary"], "-M", "none", "-display", "none", "-S",
                            "-drive", "if=none,id=d0,format=raw,snapshot=on,file=" + img],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn("Could not open temporary file '%s/vl." % os.environ["TMPDIR"], err)
        self.assertIn("': No such file or directory", err)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, CONFIG))
