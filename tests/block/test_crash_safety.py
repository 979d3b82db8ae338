#!/usr/bin/env python3
"""Crash safety of nemu's qcow2 writes (issue #6).

usage: test_crash_safety.py NEMU_IO [ROUNDS]

A child `nemu-io crash-writer` writes 4 KiB blocks at random places of a qcow2 image, 8 at
a time, flushing after each batch, and reports every write before submitting it and every
completed flush. The test kills it with SIGKILL after a random number of reported events
(no timing involved), then:
  - `qemu-img check` must find no corruption (exit 0, or 3: leaked clusters only, which QEMU
    also allows after a crash);
  - every sector must hold either the last write to it that a completed flush covered (any
    write of that batch: a batch's writes are in flight together), or a later write to it that
    was submitted (or, with none of those, what it held before).
The same image goes through all rounds, so crashes pile up as they would in real life.
"""

import fcntl
import os
import random
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import block_test_util as u  # noqa: E402

BLOCK, SECTOR = 4096, 512
BATCH = 8  # writes in flight at once (nemu_io_crash.cpp kBatch)
ROUNDS = 200


def sector_stamp(data):
    """The write index stamped in a sector, or None if it is not a crash-writer sector."""
    index = int.from_bytes(data[:8], "little")
    fill = (index * 7 + 1) & 0xFF
    if data[8:] == bytes([fill]) * (SECTOR - 8):
        return index
    return None


def wait_until_unlocked(path):
    """Block until no process holds the image's lock bytes any more.

    A killed process's io_uring instance is torn down by the kernel after the process is
    reaped, and the files its in-flight requests hold stay open (with their OFD locks)
    until then. A blocking POSIX write lock over QEMU's lock bytes (100..299) waits for that
    without polling: POSIX and OFD locks conflict with each other."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, 200, 100)
        fcntl.lockf(fd, fcntl.LOCK_UN, 200, 100)
    finally:
        os.close(fd)


class CrashSafety(u.TempDirTest):
    def run_round(self, img, rng, before):
        events = rng.randrange(1, 400)
        seed = rng.randrange(1 << 30)
        child = subprocess.Popen([u.NEMU_IO, "crash-writer", "-f", "qcow2", str(seed), "100000", img],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        writes, durable = [], 0

        def take(line):
            nonlocal durable
            parts = line.split()
            if parts and parts[0] == "w":
                writes.append((int(parts[1]), int(parts[2])))
            elif parts and parts[0] == "durable":
                durable = int(parts[1])

        for seen, line in enumerate(child.stdout, 1):
            take(line)
            if seen >= events:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        # The child went on until the signal landed: every write it submitted was announced
        # on the pipe first, so read the rest before judging the image.
        for line in child.stdout:
            take(line)
        err = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
        self.assertEqual(child.returncode, -signal.SIGKILL, "writer ended before the kill: " + err)
        wait_until_unlocked(img)

        check = u.qemu_img("check", "-f", "qcow2", img, check=False)
        self.assertIn(check.returncode, (0, 3), "qemu-img check after a crash:\n" + check.stdout + check.stderr)
        after = self.path("after.raw")
        u.qemu_img("convert", "-f", "qcow2", "-O", "raw", img, after)
        now = u.read_file(after)
        self.verify(before, now, writes, durable)
        return now

    def verify(self, before, now, writes, durable):
        by_block = {}
        for index, block in writes:
            by_block.setdefault(block, []).append(index)
        for block, indices in by_block.items():
            flushed = [i for i in indices if i < durable]
            allowed = {i for i in indices if i >= durable}
            if flushed:
                # Writes of one batch are in flight together, so any of them may land last.
                last_batch = flushed[-1] // BATCH
                allowed.update(i for i in flushed if i // BATCH == last_batch)
            for s in range(block * BLOCK, (block + 1) * BLOCK, SECTOR):
                sector = now[s:s + SECTOR]
                if not flushed and sector == before[s:s + SECTOR]:
                    continue
                stamp = sector_stamp(sector)
                self.assertIn(stamp, allowed,
                              "sector at %d: holds write %s; allowed %s (flushed up to write %d)"
                              % (s, stamp, sorted(allowed), durable))
        # Blocks nobody wrote this round are unchanged.
        written = {b for _, b in writes}
        for block in range(len(before) // BLOCK):
            if block not in written:
                a = before[block * BLOCK:(block + 1) * BLOCK]
                self.assertEqual(a, now[block * BLOCK:(block + 1) * BLOCK], "block %d changed without a write" % block)

    def test_sigkill_at_random_points(self):
        rng = random.Random(int(os.environ.get("NEMU_CRASH_SEED", "20261124")))
        for cluster in ("64k", "4k"):
            img = self.path("crash-%s.qcow2" % cluster)
            u.qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + cluster, img, "8M")
            state = bytes(8 << 20)
            for _ in range(ROUNDS // 2):
                state = self.run_round(img, rng, state)
            # After all the crashes the image still takes a clean write and a clean check.
            u.nemu_io(img, "write -P 0x42 0 64k", "flush", fmt="qcow2")
            self.assertIn(u.qemu_img("check", "-f", "qcow2", img, check=False).returncode, (0, 3))


def main():
    global ROUNDS
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    u.NEMU_IO = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        ROUNDS = int(sys.argv.pop(1))
    unittest.main(buffer=True, verbosity=0)


if __name__ == "__main__":
    main()
