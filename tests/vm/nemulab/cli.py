"""The lab tests' shared command line (test_boot.py, test_virtio.py):

    --vmm nemu PATH | --vmm qemu [PATH] [-k PATTERN]... [-v] [a script's own flags]

and running the calling module's tests with it. Runs inside L1 (tests/vm/lab run -- ...).

Under the lab's L1 retries (nemulab/l1.py) a test that passed is recorded in
$NEMU_LAB_STATE/passed and not run again on a later L1; a test that ends in a vmm.GuestError
(the guest reset by itself, stopped answering, ...) while a fresh L1 is still available stops
the run with vmm.EXIT_GUEST_FAULT, and the lab runs what is left on a fresh L1.
"""

import collections
import os
import sys
import unittest

from . import vmm

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


def _passed_file():
    state = os.environ.get("NEMU_LAB_STATE")
    return os.path.join(state, "passed") if state and os.path.isdir(state) else None


def _earlier_passes(path):
    if path is None or not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def _note(msg):
    sys.__stderr__.write("lab test: %s\n" % msg)
    sys.__stderr__.flush()


class _LabResult(unittest.TextTestResult):
    """Records each pass in the state file; a GuestError while a fresh L1 is available stops
    the run (the rest goes to the next L1)."""
    passed_file = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.guest_fault = None

    def addSuccess(self, test):
        super().addSuccess(test)
        if self.passed_file is not None:
            with open(self.passed_file, "a") as f:
                f.write(test.id() + "\n")

    def addError(self, test, err):
        super().addError(test, err)
        if issubclass(err[0], vmm.GuestError) and vmm.l1_restart_available():
            self.guest_fault = (test, err[1])
            self.stop()


def run_tests(module_name, options):
    """The module's tests whose names contain one of the -k patterns (all without -k), with
    buffered output, less those a previous L1 of this lab run passed; returns the unittest
    result, with .earlier_passed set. Exits with vmm.EXIT_GUEST_FAULT after a guest fault
    that a fresh L1 can retry."""
    loader = unittest.TestLoader()
    if options.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in options.patterns]
    suite = loader.loadTestsFromModule(sys.modules[module_name])
    passed_file = _passed_file()
    done = _earlier_passes(passed_file)
    if done:
        suite = unittest.TestSuite(t for t in _flatten(suite) if t.id() not in done)
        _note("%d test(s) passed on an earlier L1 of this run and are not run again" % len(done))
    result_class = type("LabResult", (_LabResult,), {"passed_file": passed_file})
    result = unittest.TextTestRunner(verbosity=2 if options.verbose else 1, buffer=True,
                                     resultclass=result_class).run(suite)
    result.earlier_passed = len(done)
    if result.guest_fault is not None:
        test, err = result.guest_fault
        _note("GUEST FAULT in %s: %s (the error above has the details). The run stops here; the lab reruns what is left on a fresh "
              "L1 (attempt %s of %s)." % (test.id(), str(err).split(";")[0], os.environ.get("NEMU_LAB_L1_ATTEMPT"),
                                          os.environ.get("NEMU_LAB_L1_ATTEMPTS")))
        sys.exit(vmm.EXIT_GUEST_FAULT)
    return result


def succeeded(result):
    """Green: no failure, and at least one test ran here or on an earlier L1."""
    return result.wasSuccessful() and result.testsRun + result.earlier_passed > 0


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t
