"""The lab tests' shared command line (test_boot.py, test_virtio.py):

    --vmm nemu PATH | --vmm qemu [PATH] [-k PATTERN]... [-v] [a script's own flags]

and running the calling module's tests with it. Runs inside L1 (tests/vm/lab run -- ...).
"""

import collections
import os
import sys
import unittest

Options = collections.namedtuple("Options", "kind path patterns verbose flags")


def parse(argv, prog, flags=()):
    """argv without the program name; prog names the script in messages ("test_boot.py");
    flags: the script's own switches ("--all"), returned in Options.flags when given. Exits
    with the usage on anything else, and when L1's /dev/kvm is missing."""
    usage = "usage: %s --vmm nemu PATH | --vmm qemu [PATH] [-k PATTERN] [-v]%s" % (
        prog, "".join(" [%s]" % f for f in flags))
    args = list(argv)
    kind = path = None
    patterns, verbose, given = [], False, set()
    while args:
        a = args.pop(0)
        if a == "--vmm" and args:
            kind = args.pop(0)
            if args and not args[0].startswith("-"):
                path = args.pop(0)
        elif a == "-k" and args:
            patterns.append(args.pop(0))
        elif a == "-v":
            verbose = True
        elif a in flags:
            given.add(a)
        else:
            sys.exit(usage)
    if kind not in ("nemu", "qemu") or (kind == "nemu" and not path):
        sys.exit(usage)
    if not os.path.exists("/dev/kvm"):
        sys.exit("%s: no /dev/kvm here; run it through tests/vm/lab run -- ..."
                 % os.path.splitext(prog)[0])
    return Options(kind, path, patterns, verbose, frozenset(given))


def run_tests(module_name, options):
    """The module's tests whose names contain one of the -k patterns (all without -k), with
    buffered output; returns the unittest result."""
    loader = unittest.TestLoader()
    if options.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in options.patterns]
    suite = loader.loadTestsFromModule(sys.modules[module_name])
    return unittest.TextTestRunner(verbosity=2 if options.verbose else 1, buffer=True).run(suite)
