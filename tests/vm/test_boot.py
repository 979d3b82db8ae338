#!/usr/bin/env python3
"""Lab tests: boot the L2 test guest (Debian kernel + busybox initramfs) under real KVM with the
VMM under test and check each feature from inside the guest. Run where /dev/kvm works:
    tests/vm/lab run -- tests/vm/test_boot.py --vmm nemu build/nemu-system-x86_64
    tests/vm/lab run -- tests/vm/test_boot.py --vmm qemu      # validates the harness itself
--vmm nemu PATH: PATH -M virt -accel kvm -cpu host ...; --vmm qemu [PATH]: qemu-system-x86_64
-M microvm,rtc=off -accel kvm -cpu host ... (checks marked nemu-only are skipped for it).
Options: -k PATTERN (unittest -k), -v. Prints only the summary when green; a retry (reboot
emulation failure under nested SVM) is always reported.
"""

import os
import re
import signal
import statistics
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from nemulab import artefacts, cli, vmm  # noqa: E402

VMM = None          # vmm.Vmm, set by main()
ART = None          # artefacts.Artefacts
BOOT_TIMES = []     # VMM start -> init marker, seconds, every boot
RETRIES = []

# dmesg lines that mean a legacy device was looked for or found. The i8042 line
# "i8042: PNP: No PS/2 controller found." is allowed: it says ACPI/PNP lists no PS/2
# controller, and the driver then gives up without touching ports 0x60/0x64.
LEGACY_PATTERNS = {
    "i8042": r"i8042(?!: PNP: No PS/2 controller found)|serio: i8042",
    "rtc_cmos": r"rtc_cmos",
    "PIT": r"\bPIT\b|i8253|i8254|\.\.TIMER:|timer through",
    "8259": r"(?<!\d)8259(?!\d)|XT-PIC|legacy PIC",
}
# printk's "[    0.882592] " prefix: CI once saw "8259" inside a timestamp
PRINTK_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# QEMU microvm's FADT does not declare "no CMOS RTC", so Linux registers rtc_cmos there (the
# harness blacklists cmos_init for QEMU to save the ~10 s probe): rtc_cmos is nemu-only.
LEGACY_FOR = {"nemu": ["i8042", "rtc_cmos", "PIT", "8259"], "qemu": ["i8042", "PIT", "8259"]}


def nemu_only(why):
    """Marks a check that only holds for nemu's -M virt (documented in the x86virt map)."""
    def deco(fn):
        def wrapper(self, *a, **kw):
            if VMM.kind != "nemu":
                self.skipTest("nemu-only: " + why)
            return fn(self, *a, **kw)
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


def note(msg):
    sys.__stderr__.write("test_boot: %s\n" % msg)
    sys.__stderr__.flush()


class LabCase(unittest.TestCase):
    def boot(self, **kw):
        g = vmm.Guest(VMM, ART, **kw)
        self.addCleanup(g.kill)
        g.start()
        if "-S" not in g.extra:
            g.wait_init()
            BOOT_TIMES.append(g.boot_seconds)
        return g

    def sh_ok(self, g, cmd):
        status, out = g.sh(cmd)
        self.assertEqual(status, 0, "guest command failed: %s\n%s" % (cmd, out))
        return out

    def expect_shutdown(self, g, reason, guest, start=0):
        e = g.wait_event("SHUTDOWN", 60, start)
        self.assertEqual(e["data"], {"guest": guest, "reason": reason})
        return e


# The topology boot: one socket with two cores (CPUID leaves 1, 0xB and 0x8000_0008 tell the
# guest "2 cores per package"). 2 vCPUs, not 4: with 4 vCPUs on the 2-vCPU L1 the nested SVM
# emulation now and then resets a vCPU by a triple fault; QEMU microvm hits it too in the same
# L1 (1 RESET and 1 console stop in 12 boots; nemu 2 RESETs in 12), see the issue 4 notes.
# Even at 2 vCPUs a session stops or resets now and then (three CI runs in a row saw it), so
# the -smp 2 session is one command long and the static checks run at -smp 1.
TOPOLOGY_SMP = "2,sockets=1,cores=2"
TOPOLOGY_CMD = ("grep -c ^processor /proc/cpuinfo; grep '^cpu cores' /proc/cpuinfo | sort -u; "
                "cd /sys/devices/system/cpu && for c in cpu[0-9]*; do "
                "echo $c $(cat $c/topology/physical_package_id) $(cat $c/topology/core_id); done")


def boot_and_collect(label, smp, mem, commands):
    """Boot the bzImage guest and run `commands`; returns (guest, {command: (status, output)}).

    The nested-SVM faults (a vCPU reset by a triple fault, or a guest that stops making
    progress — QEMU microvm shows both in the same L1) get two visible retries with a fresh
    guest; a third failure is a failure. Everything the checks read is collected here, inside
    the retried part, and the checks assert on it afterwards."""
    def retry(attempt, why):
        RETRIES.append(label)
        note("RETRY the -smp %s boot (attempt %d of 3 failed): %s" % (smp, attempt, why))

    g, outs = vmm.boot_with_retries(lambda: vmm.Guest(VMM, ART, smp=smp, mem=mem),
                                    lambda g: {cmd: g.sh(cmd) for cmd in commands}, retry)
    BOOT_TIMES.append(g.boot_seconds)
    return g, outs


class CpuTopology(LabCase):
    """-smp 2,sockets=1,cores=2: the guest sees 2 CPUs in one package, cores 0 and 1."""

    def test_cpu_topology(self):
        g, outs = boot_and_collect("topology-boot", TOPOLOGY_SMP, "512M", [TOPOLOGY_CMD])
        g.kill()
        status, out = outs[TOPOLOGY_CMD]
        self.assertEqual(status, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].strip(), "2", out)                      # processors
        self.assertRegex(lines[1], r"^cpu cores\s*:\s*2$")                # one line: all say 2
        pairs = sorted(tuple(l.split()[1:]) for l in lines[2:])
        self.assertEqual(pairs, [("0", "0"), ("0", "1")], out)   # one package, cores 0 and 1


class BootBzImage(LabCase):
    """One boot (bzImage, -smp 1, -m 512M) carries the static checks."""

    @classmethod
    def setUpClass(cls):
        cls.g, cls.outs = boot_and_collect("static-boot", "1", "512M", ["dmesg"] + cls.check_commands())
        cls.dmesg = cls.outs["dmesg"][1]

    @classmethod
    def tearDownClass(cls):
        cls.g.kill()

    @staticmethod
    def fadt_read(off, size):
        # busybox hexdump reads units of 1, 2 or 4 bytes
        return "hexdump -v -s %d -n %d -e '1/%d \"%%u\\n\"' /sys/firmware/acpi/tables/FACP" % (off, size, size)

    @classmethod
    def check_commands(cls):
        regs = [cls.fadt_read(o, 4) for o in (248, 252, 260, 264, 120, 124)] + [cls.fadt_read(128, 1)]
        return ["echo serial-$((6*7))", "cat /proc/meminfo",
                "ls /sys/firmware/acpi/tables", cls.fadt_read(112, 4), "cat /proc/interrupts"] + regs

    def sh_ok(self, g, cmd):
        """The output setUpClass collected (inside its retries); a command not collected there
        runs now."""
        status, out = self.outs[cmd] if g is self.g and cmd in self.outs else g.sh(cmd)
        self.assertEqual(status, 0, "guest command failed: %s\n%s" % (cmd, out))
        return out

    def test_01_init_marker(self):
        self.assertIn(vmm.INIT_MARKER, self.g.out)

    def test_02_serial_both_ways(self):
        out = self.sh_ok(self.g, "echo serial-$((6*7))")
        self.assertEqual(out.strip(), "serial-42")  # output: the guest computed it
        # input: the guest's tty echoed the command line we typed
        self.assertRegex(self.g.out, r"echo BEGIN-\d+; echo serial-\$\(\(6\*7\)\); echo END-")

    def test_04_memory_512m(self):
        kb = int(re.search(r"MemTotal:\s*(\d+)", self.sh_ok(self.g, "cat /proc/meminfo")).group(1))
        self.assertTrue(440 * 1024 <= kb <= 512 * 1024, "MemTotal %d kB for -m 512M" % kb)

    def test_05_acpi_tables(self):
        out = self.sh_ok(self.g, "ls /sys/firmware/acpi/tables")
        for t in ("DSDT", "FACP", "APIC"):
            self.assertIn(t, out.split())

    def test_06_fadt_hw_reduced(self):
        # FADT (ACPI 6.x, 5.2.9): Flags at offset 112, bit 20 = HW_REDUCED_ACPI
        out = self.sh_ok(self.g, self.fadt_read(112, 4))
        self.assertTrue(int(out.strip()) & (1 << 20), "FADT flags 0x%x" % int(out.strip()))

    @nemu_only("sleep control/status and reset registers at 0xFEA01000/1/2 (x86virt map)")
    def test_07_fadt_sleep_and_reset_registers(self):
        # SLEEP_CONTROL_REG at 244 and SLEEP_STATUS_REG at 256 (GAS, address at +4),
        # RESET_REG at 116, RESET_VALUE at 128
        def u(off, size):
            return int(self.sh_ok(self.g, self.fadt_read(off, size)).strip())
        gas = lambda off: u(off + 4, 4) | (u(off + 8, 4) << 32)  # 64-bit address at GAS+4
        self.assertEqual(gas(244), 0xFEA01000)
        self.assertEqual(gas(256), 0xFEA01001)
        self.assertEqual(gas(116), 0xFEA01002)
        self.assertEqual(u(128, 1), 0x42)

    @nemu_only("UART on GSI 4 and GED (ACPI0013) on GSI 16 (x86virt map)")
    def test_08_irq_map(self):
        out = self.sh_ok(self.g, "cat /proc/interrupts")
        self.assertRegex(out, r"IO-APIC\s+4-edge\s+ttyS0")
        self.assertRegex(out, r"IO-APIC\s+16-edge\s+ACPI:Ged")

    def test_09_no_legacy_devices(self):
        for name in LEGACY_FOR[VMM.kind]:
            with self.subTest(device=name):
                bad = [l for l in self.dmesg.splitlines()
                       if re.search(LEGACY_PATTERNS[name], PRINTK_TIME.sub("", l))]
                self.assertEqual(bad, [], "%s probed" % name)

    def test_10_poweroff(self):
        g = self.g
        g.write("poweroff -f\n")
        self.expect_shutdown(g, "guest-shutdown", True)
        self.assertEqual(g.wait_exit(30), 0)


class MemoryBackends(LabCase):
    """The guest's RAM from -machine memory-backend=: memfd (shared) and a file in /dev/shm
    with prealloc; the guest sees the backend's size and the VM boots and answers."""

    @nemu_only("memory-backend= on -M virt (QEMU microvm names its RAM differently)")
    def test_memfd_and_file_backends(self):
        shm = "/dev/shm/nemu-lab-ram-%d" % os.getpid()
        self.addCleanup(lambda: os.path.exists(shm) and os.unlink(shm))
        for backend in ("memory-backend-memfd,id=mem,size=384M,share=on",
                        "memory-backend-file,id=mem,size=384M,mem-path=%s,share=on,prealloc=on" % shm):
            g = self.boot(mem="384M", smp="1", extra=["-object", backend, "-machine", "memory-backend=mem"])
            kb = int(re.search(r"MemTotal:\s*(\d+)", self.sh_ok(g, "cat /proc/meminfo")).group(1))
            self.assertTrue(320 * 1024 <= kb <= 384 * 1024, "MemTotal %d kB with %s" % (kb, backend))
            memdev = g.qmp("query-memdev")["return"]
            self.assertEqual([(m["id"], m["size"]) for m in memdev], [("mem", 384 << 20)])
            g.kill()
        self.assertEqual(os.path.getsize(shm), 384 << 20)


class Lifecycle(LabCase):
    def test_reboot_memory_1g_power_button(self):
        """-m 1G -smp 1; reboot -f -> RESET, a second boot; system_powerdown -> acpid -> SHUTDOWN."""
        for attempt in (1, 2):
            # -smp 1: under nested SVM, QEMU's reset ends in "KVM internal error ... emulation
            # failure" in 4 of 6 reboots with -smp 2, 1 of 6 with -smp 1 (measured in the lab)
            g = self.boot(mem="1G", smp="1")
            kb = int(re.search(r"MemTotal:\s*(\d+)", self.sh_ok(g, "cat /proc/meminfo")).group(1))
            self.assertTrue(900 * 1024 <= kb <= 1024 * 1024, "MemTotal %d kB for -m 1G" % kb)
            g.allow_reset = True
            g.write("reboot -f\n")
            try:
                e = g.wait_event("RESET", 60)
                g.wait_init()
            except vmm.GuestError as err:
                if attempt == 1 and re.search(r"KVM internal error|emulation failure", str(err)):
                    RETRIES.append("reboot")
                    note("RETRY reboot scenario once: KVM emulation failure after the guest reset "
                         "(known nested-SVM fault)")
                    g.kill()
                    continue
                raise
            break
        BOOT_TIMES.append(g.boot_seconds)
        self.assertEqual(e["data"], {"guest": True, "reason": "guest-reset"})
        self.assertEqual(g.out.count(vmm.INIT_MARKER), 2)
        n = len(g.events)
        self.assertIn("return", g.qmp("system_powerdown"))
        self.expect_shutdown(g, "guest-shutdown", True, n)
        self.assertIn("NEMU-LAB: power button", g.out)
        self.assertEqual(g.wait_exit(30), 0)

    def test_pvh_paused_cont_no_shutdown_sigterm(self):
        """PVH vmlinux; -S then cont; -no-shutdown: STOP after SHUTDOWN; SIGTERM -> host-signal."""
        g = self.boot(kernel="pvh", extra=["-S", "-no-shutdown"])
        st = g.qmp("query-status")["return"]
        self.assertEqual((st["status"], st["running"]), ("prelaunch", False))
        self.assertNotIn(vmm.INIT_MARKER, g.out)
        self.assertIn("return", g.qmp("cont"))
        g.wait_init()
        BOOT_TIMES.append(g.boot_seconds)
        self.assertEqual(g.qmp("query-status")["return"]["status"], "running")
        n = len(g.events)
        g.write("poweroff -f\n")
        self.expect_shutdown(g, "guest-shutdown", True, n)
        g.wait_event("STOP", 30, n)
        self.assertIsNone(g.proc.poll(), "the VMM exited despite -no-shutdown")
        self.assertEqual(g.qmp("query-status")["return"]["status"], "shutdown")
        n = len(g.events)
        g.signal(signal.SIGTERM)
        self.expect_shutdown(g, "host-signal", False, n)
        self.assertEqual(g.wait_exit(30), 0)


def main(argv):
    global VMM, ART
    options = cli.parse(argv, "test_boot.py")
    VMM = vmm.Vmm(options.kind, options.path)
    ART = artefacts.ensure(quiet=True)
    t0 = time.monotonic()
    result = cli.run_tests(__name__, options)
    if BOOT_TIMES:
        note("%s: %d guest boots, VMM start to init marker median %.1f s (min %.1f, max %.1f), "
             "total %.0f s%s" % (VMM.kind, len(BOOT_TIMES), statistics.median(BOOT_TIMES),
                                 min(BOOT_TIMES), max(BOOT_TIMES), time.monotonic() - t0,
                                 "; retried: " + ", ".join(RETRIES) if RETRIES else ""))
    return 0 if cli.succeeded(result) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
