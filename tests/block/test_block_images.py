#!/usr/bin/env python3
"""Interoperability of nemu's block layer with qemu-img 7.2 (issue #6).

usage: test_block_images.py NEMU_IO [-k PATTERN] [-v]

Images that qemu-img makes, in every variant nemu supports, read back through nemu exactly
as `qemu-img convert -O raw` reads them; images that nemu writes pass `qemu-img check` and
`qemu-img compare` with the content expected; backing chains work both ways; broken images
give a clear error (exit status 1, never a signal).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import block_test_util as u  # noqa: E402
from block_test_util import nemu_io, qemu_img, qemu_io  # noqa: E402

MiB = 1 << 20

# qemu-io commands that leave data, zeroes and holes in interesting places: the first and
# last cluster, a run across an L2-table boundary (64 KiB clusters: 512 MiB per L2 table
# would be too big here, so small clusters provide the boundary), a partial cluster, zeroes.
PATTERN_WRITES = [
    "write -P 0x11 0 4k",
    "write -P 0x22 60k 8k",
    "write -P 0x33 1M 192k",
    "write -P 0x44 3583k 1k",
    "write -z 1088k 64k",
]


def make_image(t, fmt, size="4M", opts=None, name=None):
    path = t.path(name or "img." + fmt)
    args = ["create", "-q", "-f", fmt]
    if opts:
        args += ["-o", opts]
    qemu_img(*args, path, size)
    return path


class ReadsWhatQemuWrote(u.TempDirTest):
    def check_variant(self, fmt, opts=None, size="4M"):
        img = make_image(self, fmt, size, opts)
        qemu_io(fmt, img, *PATTERN_WRITES)
        self.assert_same_as_qemu(img, fmt)

    def test_raw(self):
        self.check_variant("raw")

    def test_qcow2_v2(self):
        self.check_variant("qcow2", "compat=0.10")

    def test_qcow2_v3_cluster_sizes(self):
        for cs in ("512", "4k", "64k", "2M"):
            with self.subTest(cluster_size=cs):
                self.check_variant("qcow2", "cluster_size=" + cs)

    def test_qcow2_refcount_widths(self):
        for bits in ("1", "16", "64"):
            with self.subTest(refcount_bits=bits):
                self.check_variant("qcow2", "refcount_bits=" + bits)

    def test_qcow2_lazy_refcounts(self):
        self.check_variant("qcow2", "lazy_refcounts=on")

    def test_qcow2_compressed_zlib_and_zstd(self):
        for ctype in ("zlib", "zstd"):
            with self.subTest(compression_type=ctype):
                raw = make_image(self, "raw", name="src.raw")
                qemu_io("raw", raw, *PATTERN_WRITES)
                img = self.path("c-%s.qcow2" % ctype)
                qemu_img("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=" + ctype, raw, img)
                self.assert_same_as_qemu(img, "qcow2")

    def test_qcow2_probed_without_format(self):
        img = make_image(self, "qcow2")
        qemu_io("qcow2", img, *PATTERN_WRITES)
        self.assert_same_as_qemu(img)

    def test_vpc_fixed_and_dynamic(self):
        for sub in ("fixed", "dynamic"):
            for size in ("4M", "10M", "127M"):
                with self.subTest(subformat=sub, size=size):
                    img = make_image(self, "vpc", size, "subformat=" + sub, name="%s-%s.vhd" % (sub, size))
                    qemu_io("vpc", img, *PATTERN_WRITES)
                    self.assert_same_as_qemu(img, "vpc")

    def test_vpc_force_size(self):
        img = make_image(self, "vpc", "10M", "subformat=dynamic,force_size=on")
        qemu_io("vpc", img, *PATTERN_WRITES)
        self.assert_same_as_qemu(img, "vpc")

    def test_backing_chain_qcow2_qcow2_raw(self):
        base = make_image(self, "raw", name="base.raw")
        qemu_io("raw", base, "write -P 0xaa 0 4M")
        mid = self.path("mid.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid)  # relative name
        qemu_io("qcow2", mid, "write -P 0xbb 1M 1M", "write -z 2M 64k")
        top = self.path("top.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
        qemu_io("qcow2", top, "write -P 0xcc 1536k 4k", "discard 3M 64k")
        self.assert_same_as_qemu(top, "qcow2")


class QemuReadsWhatNemuWrote(u.TempDirTest):
    WRITES = [
        "write -P 0x5a 0 512",
        "write -P 0x6b 4095 2",
        "write -P 0x7c 65000 70000",
        "write -P 0x8d 3M 1M",
        "write -z 3200k 64k",
        "write -P 0x9e 1234567 89",
    ]

    def expected_raw(self, size="4M"):
        raw = make_image(self, "raw", size, name="expect.raw")
        qemu_io("raw", raw, *self.WRITES)
        return raw

    def check_variant(self, fmt, opts=None, size="4M", cache=None):
        img = make_image(self, fmt, size, opts)
        nemu_io(img, *self.WRITES, "flush", fmt=fmt, cache=cache)
        if fmt == "qcow2":
            self.assert_qemu_check_clean(img)
        p = qemu_img("compare", "-f", fmt, "-F", "raw", img, self.expected_raw(size), check=False)
        self.assertEqual(p.returncode, 0, "qemu-img compare: " + p.stdout + p.stderr)

    def test_raw(self):
        self.check_variant("raw")

    def test_raw_cache_none(self):
        self.check_variant("raw", cache="none")

    def test_qcow2_variants(self):
        for opts in ("compat=0.10", "cluster_size=512", "cluster_size=64k", "cluster_size=2M",
                     "refcount_bits=1", "refcount_bits=64", "lazy_refcounts=on"):
            with self.subTest(opts=opts):
                self.check_variant("qcow2", opts)

    def test_qcow2_cache_none_threads(self):
        img = make_image(self, "qcow2")
        nemu_io(img, *self.WRITES, fmt="qcow2", cache="none", aio="threads")
        self.assert_qemu_check_clean(img)
        p = qemu_img("compare", "-f", "qcow2", "-F", "raw", img, self.expected_raw(), check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_vpc(self):
        for sub in ("fixed", "dynamic"):
            with self.subTest(subformat=sub):
                self.check_variant("vpc", "subformat=" + sub)

    def test_overlay_on_a_qemu_made_chain(self):
        base = make_image(self, "qcow2", name="base.qcow2")
        qemu_io("qcow2", base, "write -P 0x11 0 4M")
        top = self.path("top.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
        nemu_io(top, "write -P 0x22 100k 10k", "write -z 1M 64k", fmt="qcow2")
        self.assert_qemu_check_clean(top)
        # The base is untouched; the chain reads as the writes say.
        self.assertEqual(qemu_img("compare", "-f", "qcow2", "-F", "raw", base, self._filled(0x11), check=False).returncode, 0)
        expect = self._filled(0x11, name="chain.raw")
        qemu_io("raw", expect, "write -P 0x22 100k 10k", "write -z 1M 64k")
        p = qemu_img("compare", "-f", "qcow2", "-F", "raw", top, expect, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def _filled(self, byte, name="filled.raw"):
        raw = make_image(self, "raw", name=name)
        qemu_io("raw", raw, "write -P %#x 0 4M" % byte)
        return raw

    def test_read_only_open_leaves_the_file_alone(self):
        img = make_image(self, "qcow2", opts="lazy_refcounts=on")
        qemu_io("qcow2", img, *PATTERN_WRITES)
        before = u.read_file(img)
        nemu_io(img, "read -P 0x11 0 4k", fmt="qcow2", read_only=True)
        self.assertEqual(before, u.read_file(img))
        p = nemu_io(img, "write -P 1 0 512", fmt="qcow2", read_only=True, check=False)
        self.assertEqual(p.returncode, 1)


class DirtyImages(u.TempDirTest):
    """An image QEMU left dirty (lazy refcounts, killed before the refcounts were written
    back) is repaired on a read-write open, as QEMU 7.2 does; a read-only open leaves it."""

    def crashed_image(self):
        img = make_image(self, "qcow2", opts="lazy_refcounts=on")
        args = ["qemu-io", "-f", "qcow2"]
        for c in PATTERN_WRITES + ["sigraise 9"]:
            args += ["-c", c]
        p = u.run(*args, img, check=False)
        self.assertEqual(p.returncode, -9, p.stderr)
        self.assertTrue(self.dirty(img))
        self.assertNotEqual(qemu_img("check", img, check=False).returncode, 0, "expected refcount errors")
        return img

    def dirty(self, img):
        return int.from_bytes(u.read_file(img)[72:80], "big") & 1 == 1

    def raw_of(self, img, name):
        out = self.path(name)
        qemu_img("convert", "-U", "-f", "qcow2", "-O", "raw", img, out)
        return u.read_file(out)

    def test_read_write_open_repairs(self):
        img = self.crashed_image()
        expect = self.raw_of(img, "before.raw")
        nemu_io(img, "read -P 0x11 0 4k", "write -P 0x66 2M 64k", "flush", fmt="qcow2")
        self.assertFalse(self.dirty(img))
        self.assert_qemu_check_clean(img)
        p = qemu_img("check", img, check=False)
        self.assertIn("No errors were found", p.stdout)
        self.assertNotIn("leaked", p.stdout)
        after = self.raw_of(img, "after.raw")
        self.assertEqual(after[:2 * MiB] + after[2 * MiB + 65536:], expect[:2 * MiB] + expect[2 * MiB + 65536:])
        self.assertEqual(after[2 * MiB:2 * MiB + 65536], b"\x66" * 65536)

    def test_read_only_open_leaves_it_dirty(self):
        img = self.crashed_image()
        before = u.read_file(img)
        self.assert_same_as_qemu(img, "qcow2")
        self.assertEqual(u.read_file(img), before)

    def test_too_low_refcount_raised(self):
        img = make_image(self, "qcow2")
        qemu_io("qcow2", img, *PATTERN_WRITES)
        expect = self.raw_of(img, "before.raw")
        data = bytearray(u.read_file(img))
        table = int.from_bytes(data[48:56], "big")
        block = int.from_bytes(data[table:table + 8], "big")
        last = len(data) // 65536 - 1  # a data cluster: qemu-io allocated it last
        data[block + 2 * last:block + 2 * last + 2] = b"\0\0"
        data[79] |= 1
        with open(img, "wb") as f:
            f.write(data)
        self.assertNotEqual(qemu_img("check", img, check=False).returncode, 0)
        nemu_io(img, "write -P 0x77 3M 128k", "flush", fmt="qcow2")
        self.assertFalse(self.dirty(img))
        self.assert_qemu_check_clean(img)
        after = self.raw_of(img, "after.raw")
        self.assertEqual(after[:3 * MiB], expect[:3 * MiB])
        self.assertEqual(after[3 * MiB:3 * MiB + 131072], b"\x77" * 131072)

    def test_unrepairable_dirty_image_fails_cleanly(self):
        img = self.crashed_image()
        data = bytearray(u.read_file(img))
        l1 = int.from_bytes(data[40:48], "big")
        data[l1:l1 + 8] = ((1 << 63) | (1 << 40)).to_bytes(8, "big")  # L2 table past the end
        with open(img, "wb") as f:
            f.write(data)
        p = nemu_io(img, "read 0 4k", fmt="qcow2", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Could not repair dirty image: Input/output error", p.stderr)
        self.assertEqual(u.read_file(img), bytes(data))


class BrokenImages(u.TempDirTest):
    def assert_clean_failure(self, image, fmt, *commands):
        p = nemu_io(image, *(commands or ("dump " + self.path("out.raw"),)), fmt=fmt, read_only=True, check=False)
        self.assertEqual(p.returncode, 1, "expected a clean error, got status %d: %s" % (p.returncode, p.stderr))
        self.assertTrue(p.stderr.strip(), "no error message")
        return p.stderr

    def patch(self, path, offset, data):
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def test_truncated_qcow2(self):
        img = make_image(self, "qcow2")
        qemu_io("qcow2", img, *PATTERN_WRITES)
        os.truncate(img, 100)
        self.assert_clean_failure(img, "qcow2")

    def test_qcow2_with_a_huge_l1_table(self):
        img = make_image(self, "qcow2")
        self.patch(img, 36, (0x7fffffff).to_bytes(4, "big"))  # l1_size
        self.assert_clean_failure(img, "qcow2")

    def test_qcow2_l1_offset_past_the_end(self):
        img = make_image(self, "qcow2")
        self.patch(img, 40, (1 << 50).to_bytes(8, "big"))  # l1_table_offset
        self.assert_clean_failure(img, "qcow2")

    def test_qcow2_backing_loop(self):
        a, b = self.path("a.qcow2"), self.path("b.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", a, "4M")
        qemu_img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
        qemu_img("rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", a)
        err = self.assert_clean_failure(b, "qcow2")
        self.assertIn("backing", err.lower())

    def test_vpc_bad_checksum(self):
        img = make_image(self, "vpc", opts="subformat=fixed")
        size = os.path.getsize(img)
        self.patch(img, size - 512 + 64, b"\xff\xff\xff\xff")  # footer checksum
        self.assert_clean_failure(img, "vpc")

    def test_wrong_format_named(self):
        img = make_image(self, "raw")
        err = self.assert_clean_failure(img, "qcow2")
        self.assertIn("qcow2", err)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    u.NEMU_IO = os.path.abspath(sys.argv.pop(1))
    unittest.main(buffer=True, verbosity=0)


if __name__ == "__main__":
    main()
