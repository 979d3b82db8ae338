#!/usr/bin/env python3
"""Run nemu's QMP integration tests (tests/qmp/test_*.py) against a binary.

usage: run.py [BINARY] [--oracle] [-k PATTERN] [-v]
  BINARY     the emulator under test (default: $NEMU_BINARY)
  --oracle   BINARY is QEMU itself (Debian's qemu-system-x86_64): "-accel tcg" is added.
             Use this to check that the suite describes QEMU's behaviour.
  -k PATTERN only tests whose name matches (unittest -k semantics)
  -v         verbose
Prints only unittest's summary when green; exits non-zero on failure.
Environment: QEMU_ORACLE (oracle binary for live comparisons, default qemu-system-x86_64),
NEMU_ACCEL (accelerator for nemu, default qtest; empty for none), NEMU_TEST_TIMEOUT (s).
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=os.environ.get("NEMU_BINARY"))
    ap.add_argument("--oracle", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=None)
    ap.add_argument("-v", dest="verbose", action="store_true")
    ap.add_argument("--pattern", default="test_*.py", help="test file glob")
    opts = ap.parse_args()
    if not opts.binary:
        ap.error("no binary given (argument or NEMU_BINARY)")
    os.environ["NEMU_BINARY"] = opts.binary
    os.environ["NEMU_ORACLE_MODE"] = "1" if opts.oracle else "0"
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if opts.patterns:
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in opts.patterns]
    suite = loader.discover(HERE, pattern=opts.pattern, top_level_dir=HERE)
    runner = unittest.TextTestRunner(verbosity=2 if opts.verbose else 1, buffer=True)
    result = runner.run(suite)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
