#!/usr/bin/env python3
"""Unit tests of the lab harness's fault handling, without an L1 or a guest: the L1 retry loop
(nemulab/l1.run with the L1 boot replaced), the record of passed tests and the guest-fault exit
(nemulab/cli.run_tests), and the fail-fast on a RESET nobody asked for (nemulab/vmm.Guest)."""

import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from nemulab import cli, l1, vmm  # noqa: E402


def fake_module(name, attempt_that_faults):
    """A test module with test_a (passes) and test_b (a GuestError on the given L1 attempt)."""
    mod = types.ModuleType(name)
    ran = []

    class Case(unittest.TestCase):
        def test_a(self):
            ran.append("a")

        def test_b(self):
            ran.append("b")
            if os.environ.get("NEMU_LAB_L1_ATTEMPT") == attempt_that_faults:
                raise vmm.GuestError("timeout waiting for the prompt; console tail ...")

    Case.__module__ = name
    Case.__qualname__ = "Case"
    mod.Case = Case
    sys.modules[name] = mod
    return ran


class RunTests(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.state)
        self.opts = cli.Options("nemu", "x", [], False, frozenset())
        self.stderr = open(os.devnull, "w")
        self.addCleanup(self.stderr.close)

    def run_on(self, module, attempt, attempts="3"):
        env = {"NEMU_LAB_STATE": self.state, "NEMU_LAB_L1_ATTEMPT": attempt,
               "NEMU_LAB_L1_ATTEMPTS": attempts}
        with mock.patch.dict(os.environ, env), mock.patch.object(sys, "__stderr__", self.stderr), \
                mock.patch.object(sys, "stderr", self.stderr):
            return cli.run_tests(module, self.opts)

    def test_fault_moves_the_rest_to_the_next_l1(self):
        ran = fake_module("lab_fake_1", "1")
        with self.assertRaises(SystemExit) as cm:
            self.run_on("lab_fake_1", "1")
        self.assertEqual(cm.exception.code, vmm.EXIT_GUEST_FAULT)
        self.assertEqual(ran, ["a", "b"])
        with open(os.path.join(self.state, "passed")) as f:
            self.assertEqual(f.read().split(), ["lab_fake_1.Case.test_a"])
        result = self.run_on("lab_fake_1", "2")
        self.assertEqual(ran, ["a", "b", "b"])          # test_a is not run again
        self.assertEqual((result.testsRun, result.earlier_passed), (1, 1))
        self.assertTrue(cli.succeeded(result))

    def test_last_l1_reports_the_fault_as_an_error(self):
        fake_module("lab_fake_2", "3")
        result = self.run_on("lab_fake_2", "3")
        self.assertEqual(len(result.errors), 1)
        self.assertFalse(cli.succeeded(result))

    def test_all_passed_earlier_is_green(self):
        fake_module("lab_fake_3", "none")
        with open(os.path.join(self.state, "passed"), "w") as f:
            f.write("lab_fake_3.Case.test_a\nlab_fake_3.Case.test_b\n")
        result = self.run_on("lab_fake_3", "2")
        self.assertEqual((result.testsRun, result.earlier_passed), (0, 2))
        self.assertTrue(cli.succeeded(result))

    def test_nothing_run_is_not_green(self):
        fake_module("lab_fake_4", "none")
        opts = cli.Options("nemu", "x", ["no_such_test"], False, frozenset())
        with mock.patch.object(sys, "stderr", self.stderr):
            result = cli.run_tests("lab_fake_4", opts)
        self.assertFalse(cli.succeeded(result))


class L1Retries(unittest.TestCase):
    def run_with(self, outcomes, attempts=3):
        calls = []

        def boot_once(art, argv, opts, attempt):
            env = dict(e.split("=", 1) for e in opts.env)
            calls.append((attempt, env["NEMU_LAB_STATE"], env["NEMU_LAB_L1_ATTEMPT"],
                          env["NEMU_LAB_L1_ATTEMPTS"], env["NEMU_LAB_STATE"] in opts.shares,
                          os.path.isdir(env["NEMU_LAB_STATE"])))
            return outcomes[len(calls) - 1]

        opts = l1.Options()
        opts.l1_attempts = attempts
        with mock.patch.object(l1, "_boot_once", boot_once), \
                mock.patch.object(l1.artefacts, "ensure", lambda: None), \
                mock.patch.object(l1, "log", lambda msg: None):
            status = l1.run(["true"], opts)
        self.assertEqual(opts.env, [])
        self.assertEqual(opts.shares, [])
        return status, calls

    def test_guest_fault_then_green(self):
        status, calls = self.run_with([(vmm.EXIT_GUEST_FAULT, False), (0, False)])
        self.assertEqual(status, 0)
        self.assertEqual([c[0] for c in calls], [1, 2])
        self.assertEqual(calls[0][1], calls[1][1])      # one state directory for the run
        self.assertEqual([c[2:] for c in calls], [("1", "3", True, True), ("2", "3", True, True)])
        self.assertFalse(os.path.exists(calls[0][1]))  # removed at the end

    def test_frozen_l1_twice_then_green(self):
        status, calls = self.run_with([(l1.EXIT_LAB_FAILED, True)] * 2 + [(0, False)])
        self.assertEqual((status, len(calls)), (0, 3))

    def test_gives_up_after_the_last_l1(self):
        status, calls = self.run_with([(vmm.EXIT_GUEST_FAULT, False)] * 3)
        self.assertEqual((status, len(calls)), (vmm.EXIT_GUEST_FAULT, 3))

    def test_a_failed_command_is_not_retried(self):
        status, calls = self.run_with([(1, False), (0, False)])
        self.assertEqual((status, len(calls)), (1, 1))


class GuestResetFailsFast(unittest.TestCase):
    def guest(self):
        g = vmm.Guest(vmm.Vmm("qemu"), types.SimpleNamespace(vmlinuz="k", vmlinux="k", initrd_l2="i"))
        g.dir = "/tmp"
        g.proc = subprocess.Popen(["sleep", "30"])
        self.addCleanup(g.proc.wait)
        self.addCleanup(g.proc.kill)
        g.errlog = tempfile.TemporaryFile("w+")
        self.addCleanup(g.errlog.close)
        g.events.append({"event": "RESET", "data": {"guest": True, "reason": "guest-reset"}})
        return g

    def test_unexpected_reset_ends_the_wait(self):
        g = self.guest()
        with self.assertRaisesRegex(vmm.GuestError, "the guest reset by itself"):
            g.wait_for("never printed", timeout=20)

    def test_expected_reset_is_waited_for(self):
        g = self.guest()
        g.allow_reset = True
        self.assertEqual(g.wait_event("RESET", 1)["data"]["reason"], "guest-reset")

    def test_no_retries_inside_an_l1_that_can_be_replaced(self):
        state = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, state)
        boots = []

        def stalled():
            raise vmm.GuestError("timeout waiting for the init marker")

        def make_guest():
            boots.append(1)
            return types.SimpleNamespace(start=lambda: None, wait_init=stalled, kill=lambda: None)
        env = {"NEMU_LAB_STATE": state, "NEMU_LAB_L1_ATTEMPT": "1", "NEMU_LAB_L1_ATTEMPTS": "2"}
        with mock.patch.dict(os.environ, env):
            with self.assertRaises(vmm.GuestError):
                vmm.boot_with_retries(make_guest, None, lambda *a: None)
        self.assertEqual(len(boots), 1)
        env["NEMU_LAB_L1_ATTEMPT"] = "2"
        with mock.patch.dict(os.environ, env):
            with self.assertRaises(vmm.GuestError):
                vmm.boot_with_retries(make_guest, None, lambda *a: None)
        self.assertEqual(len(boots), 4)                 # the last L1 retries in place


if __name__ == "__main__":
    unittest.main(buffer=True)
