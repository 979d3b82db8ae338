"""A small virtio-pci driver that speaks through a qtest connection (issue 5, Tests).

Python stdlib only. The driver plays the guest: it finds a device over ECAM, sizes and places
its BARs, walks its capabilities, programs MSI-X so that every interrupt is a memory write into
guest RAM, runs the device status life cycle and drives split and packed virtqueues laid out
in guest memory. It is VMM-neutral: everything board-specific is in a platform dict
(PLATFORMS), and the only thing it needs from the emulator is an object with
`cmd(line) -> reply` speaking the qtest text protocol (tests/qtest/test_qtest.py's
Emulator, test_virt_machine.py's Machine).

qtest commands used: readb/readw/readl/readq, writeb/writew/writel/writeq, b64read, b64write,
memset. nemu's accel/qtest/qtest_session.cpp and QEMU 7.2's softmmu/qtest.c both accept them;
replies are "OK 0x%016x" for typed reads, "OK <base64>" for b64read, "OK" for writes.

Platform facts (checked live with `info mtree -f` through QMP human-monitor-command on
`qemu-system-x86_64 -M microvm,pcie=on,acpi=on` 7.2; nemu's `-M virt` uses the same map,
docs/x86-virt-machine.md):
  * ECAM ("pcie-mmcfg-mmio") at 0xE000_0000, 256 MiB (buses 0-255, bus 0 populated);
  * MMIO32 window ("gpex_mmio_window") 0xC000_0000-0xDFFF_FFFF;
  * MMIO64 window on microvm 0xC0_0000_0000-0xFF_FFFF_FFFF (256 GiB at 768 GiB); nemu's is
    above RAM, so the nemu profile places 64-bit BARs in the MMIO32 window (a 64-bit BAR may
    hold any address; libqos does the same) and the driver moves nothing it finds assigned;
  * the host bridge at 00.0 is 1b36:0008 (subsystem 1af4:1100);
  * QEMU leaves BARs unassigned (0) without firmware; nemu lays them out at boot for a directly
    booted Linux. The driver assigns a BAR only when it reads 0.
  * QEMU's virtio-*-pci are transitional by default even on microvm pcie=on (virtio-rng-pci is
    1af4:1005 with an I/O BAR0 and subsystem 1af4:0004); `disable-legacy=on` makes them
    modern-only (1af4:1044, revision 1, subsystem 1af4:1100, class 0x00ff00), which is what
    nemu's are. The QEMU profile therefore adds disable-legacy=on to every virtio device.
  * an MSI is a 32-bit write of the message data to the message address in the memory address
    space (QEMU: msi_send_message through the device's bus-master address space, so bus master
    must be on; nemu's qtest PciPlatform does the same). Pointing the MSI-X table entries at
    guest RAM makes each interrupt observable as a memory write. The APIC range 0xFEE0_0000
    must be avoided, which any RAM address does.

Spec references: virtio 1.2 (§2.1 status, §2.2 features, §2.7 split virtqueues, §3.1.1 driver
initialisation, §4.1.4 virtio PCI capabilities), PCI Local Bus 3.0 (§6.2.5 BARs, §6.7
capability list, §6.8.2 MSI-X), PCIe base spec §7.2.2 (ECAM).
"""

import base64
import struct
import time

# --- platforms -------------------------------------------------------------------------

PLATFORMS = {
    "nemu": {
        "machine": ["-M", "virt", "-accel", "qtest"],
        "ecam": 0xE000_0000, "ecam_size": 256 << 20,
        "mmio32": (0xC000_0000, 0xE000_0000),
        "mmio64": None,                      # use the MMIO32 window for 64-bit BARs too
        "device_props": {},                  # nemu's virtio-*-pci are modern-only
    },
    "qemu": {
        # Debian's QEMU has no qtest accelerator: TCG with the vCPU parked (see the suite).
        "machine": ["-M", "microvm,pcie=on,acpi=on", "-accel", "tcg"],
        "ecam": 0xE000_0000, "ecam_size": 256 << 20,
        "mmio32": (0xC000_0000, 0xE000_0000),
        "mmio64": (0xC0_0000_0000, 0x100_0000_0000),
        "device_props": {"virtio-": "disable-legacy=on"},
    },
}

# Guest RAM the driver owns: above the first MiB (microvm maps its BIOS at 0xF0000) and inside
# the smallest RAM the suites use (64 MiB).
RAM_BASE = 0x0100_0000
RAM_SIZE = 0x0100_0000

VIRTIO_VENDOR = 0x1AF4
PCI_CAP_ID_VENDOR = 0x09
PCI_CAP_ID_MSIX = 0x11
PCI_COMMAND_MEMORY = 0x0002
PCI_COMMAND_MASTER = 0x0004
PCI_STATUS_CAP_LIST = 0x0010

# virtio_pci_cap.cfg_type (§4.1.4)
CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE, CFG_PCI, CFG_SHM = 1, 2, 3, 4, 5, 8

# device status bits (§2.1)
ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
DEVICE_NEEDS_RESET, FAILED = 0x40, 0x80

# feature bits (§6)
F_INDIRECT_DESC, F_EVENT_IDX, F_VERSION_1 = 28, 29, 32
F_ACCESS_PLATFORM, F_RING_PACKED, F_IN_ORDER = 33, 34, 35

NO_VECTOR = 0xFFFF

# virtio_pci_common_cfg (§4.1.4.3): name -> (offset, size)
COMMON = {
    "device_feature_select": (0x00, 4), "device_feature": (0x04, 4),
    "driver_feature_select": (0x08, 4), "driver_feature": (0x0C, 4),
    "config_msix_vector": (0x10, 2), "num_queues": (0x12, 2),
    "device_status": (0x14, 1), "config_generation": (0x15, 1),
    "queue_select": (0x16, 2), "queue_size": (0x18, 2), "queue_msix_vector": (0x1A, 2),
    "queue_enable": (0x1C, 2), "queue_notify_off": (0x1E, 2),
    "queue_desc": (0x20, 8), "queue_driver": (0x28, 8), "queue_device": (0x30, 8),
}

VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT = 1, 2, 4

DEFAULT_TIMEOUT = 10.0


class DriverError(AssertionError):
    """A protocol or device failure seen by the driver (an AssertionError, so unittest
    reports it as a test failure with the message)."""


def modern_device_id(virtio_id):
    return 0x1040 + virtio_id


def device_args(platform, device):
    """`-device` text for `device` (e.g. "virtio-rng-pci,addr=2") with the platform's props."""
    extra = [v for prefix, v in PLATFORMS[platform]["device_props"].items()
             if device.startswith(prefix)]
    return ",".join([device] + extra)


# --- qtest I/O -------------------------------------------------------------------------

class QtestIO:
    """Typed guest-physical accesses over any object with cmd(line) -> reply."""

    def __init__(self, conn):
        self.conn = conn
        self.allocator = None        # guest RAM, set up by VirtioPciDevice.probe
        self.pci_windows = None      # BAR placement, likewise

    def _ok(self, line):
        reply = self.conn.cmd(line)
        if not reply.startswith("OK"):
            raise DriverError("qtest: %s -> %s" % (line, reply))
        return reply

    def _read(self, op, addr):
        reply = self._ok("%s 0x%x" % (op, addr))
        return int(reply.split()[1], 16)

    def readb(self, addr): return self._read("readb", addr)
    def readw(self, addr): return self._read("readw", addr)
    def readl(self, addr): return self._read("readl", addr)
    def readq(self, addr): return self._read("readq", addr)

    def read(self, addr, size):
        return {1: self.readb, 2: self.readw, 4: self.readl, 8: self.readq}[size](addr)

    def write(self, addr, size, value):
        op = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}[size]
        self._ok("%s 0x%x 0x%x" % (op, addr, value & ((1 << (8 * size)) - 1)))

    def writeb(self, addr, v): self.write(addr, 1, v)
    def writew(self, addr, v): self.write(addr, 2, v)
    def writel(self, addr, v): self.write(addr, 4, v)
    def writeq(self, addr, v): self.write(addr, 8, v)

    def memread(self, addr, size):
        if size == 0:
            return b""
        reply = self._ok("b64read 0x%x 0x%x" % (addr, size))
        data = base64.b64decode(reply.split()[1])
        if len(data) != size:
            raise DriverError("b64read 0x%x %d returned %d bytes" % (addr, size, len(data)))
        return data

    def memwrite(self, addr, data):
        if data:
            self._ok("b64write 0x%x 0x%x %s" % (addr, len(data),
                                                 base64.b64encode(bytes(data)).decode()))

    def memset(self, addr, size, value=0):
        if size:
            self._ok("memset 0x%x 0x%x 0x%x" % (addr, size, value & 0xFF))


class BumpAllocator:
    """Guest-memory allocator: hands out naturally aligned chunks, never frees (a test's
    needs are small; reset() starts over)."""

    def __init__(self, base=RAM_BASE, size=RAM_SIZE):
        self.base, self.end, self.next = base, base + size, base

    def alloc(self, size, align=16):
        addr = (self.next + align - 1) & ~(align - 1)
        if addr + size > self.end:
            raise DriverError("guest allocator exhausted (%d bytes wanted)" % size)
        self.next = addr + size
        return addr

    def reset(self):
        self.next = self.base


def wait_until(predicate, what, timeout=DEFAULT_TIMEOUT):
    """Poll `predicate` (each call is a qtest round trip, so the emulator's main loop turns
    between calls) until it returns a true value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DriverError("timed out after %ss waiting for %s" % (timeout, what))


# --- PCI -------------------------------------------------------------------------------

class Bar:
    def __init__(self, index, address, size, is_io, is_64, prefetch):
        self.index, self.address, self.size = index, address, size
        self.is_io, self.is_64, self.prefetch = is_io, is_64, prefetch

    def __repr__(self):
        return "Bar(%d, 0x%x, size 0x%x%s%s)" % (self.index, self.address, self.size,
                                                  ", 64-bit" if self.is_64 else "",
                                                  ", io" if self.is_io else "")


class PciFunction:
    """One function's ECAM window (PCIe base spec §7.2.2: bus << 20 | devfn << 12 | reg)."""

    def __init__(self, io, platform, bus, slot, fn):
        p = PLATFORMS[platform] if isinstance(platform, str) else platform
        self.io, self.platform = io, p
        self.bus, self.slot, self.fn = bus, slot, fn
        self.base = p["ecam"] + (bus << 20) + (slot << 15) + (fn << 12)

    def __repr__(self):
        return "%02x:%02x.%x" % (self.bus, self.slot, self.fn)

    def cfg_read(self, off, size=4):
        return self.io.read(self.base + off, size)

    def cfg_write(self, off, value, size=4):
        self.io.write(self.base + off, size, value)

    @property
    def vendor_id(self): return self.cfg_read(0x00, 2)
    @property
    def device_id(self): return self.cfg_read(0x02, 2)
    @property
    def revision(self): return self.cfg_read(0x08, 1)
    @property
    def class_code(self): return self.cfg_read(0x08) >> 8
    @property
    def header_type(self): return self.cfg_read(0x0E, 1)
    @property
    def subsystem_vendor_id(self): return self.cfg_read(0x2C, 2)
    @property
    def subsystem_id(self): return self.cfg_read(0x2E, 2)
    @property
    def interrupt_pin(self): return self.cfg_read(0x3D, 1)

    def ids(self):
        return {"vendor": self.vendor_id, "device": self.device_id, "revision": self.revision,
                "class": self.class_code, "subsystem_vendor": self.subsystem_vendor_id,
                "subsystem": self.subsystem_id, "header_type": self.header_type}

    def capabilities(self):
        """[(offset, id)] along the standard list (PCI 3.0 §6.7), loop-safe."""
        caps = []
        if not self.cfg_read(0x06, 2) & PCI_STATUS_CAP_LIST:
            return caps
        off, seen = self.cfg_read(0x34, 1) & 0xFC, set()
        while off and off not in seen and len(caps) < 48:
            seen.add(off)
            caps.append((off, self.cfg_read(off, 1)))
            off = self.cfg_read(off + 1, 1) & 0xFC
        return caps

    def size_bars(self):
        """Sizes every BAR by the all-ones protocol (PCI 3.0 §6.2.5.1) with decoding off,
        restoring the values; returns {index: Bar} for the implemented ones."""
        cmd = self.cfg_read(0x04, 2)
        self.cfg_write(0x04, cmd & ~(PCI_COMMAND_MEMORY | 1), 2)
        bars, i = {}, 0
        while i < 6:
            off = 0x10 + 4 * i
            orig = self.cfg_read(off)
            self.cfg_write(off, 0xFFFFFFFF)
            mask = self.cfg_read(off)
            self.cfg_write(off, orig)
            is_io = bool(orig & 1) if orig else bool(mask & 1)
            is_64 = not is_io and ((mask >> 1) & 3) == 2
            if is_64:
                orig_hi = self.cfg_read(off + 4)
                self.cfg_write(off + 4, 0xFFFFFFFF)
                mask_hi = self.cfg_read(off + 4)
                self.cfg_write(off + 4, orig_hi)
                full = (mask_hi << 32) | (mask & ~0xF)
                size = ((~full) & 0xFFFFFFFFFFFFFFFF) + 1 if full else 0
                addr = (orig_hi << 32) | (orig & ~0xF)
            elif is_io:
                m = mask & ~0x3 & 0xFFFF
                size = ((~m) & 0xFFFF) + 1 if m else 0
                addr = orig & ~0x3
            else:
                m = mask & ~0xF
                size = ((~m) & 0xFFFFFFFF) + 1 if m else 0
                addr = orig & ~0xF
            if size:
                bars[i] = Bar(i, addr, size, is_io, is_64, bool(mask & 8) and not is_io)
            i += 2 if is_64 else 1
        self.cfg_write(0x04, cmd, 2)
        return bars

    def assign_bars(self, allocator):
        """Places every unassigned memory BAR (address 0) with `allocator` (a PciWindows)."""
        bars = self.size_bars()
        for bar in bars.values():
            if bar.is_io or bar.address:
                continue
            bar.address = allocator.place(bar.size, bar.is_64)
            off = 0x10 + 4 * bar.index
            self.cfg_write(off, bar.address & 0xFFFFFFFF)
            if bar.is_64:
                self.cfg_write(off + 4, bar.address >> 32)
        return bars

    def enable(self, memory=True, master=True):
        cmd = self.cfg_read(0x04, 2)
        cmd |= (PCI_COMMAND_MEMORY if memory else 0) | (PCI_COMMAND_MASTER if master else 0)
        self.cfg_write(0x04, cmd, 2)


class PciWindows:
    """Bump placement of BARs in the platform's MMIO windows, naturally aligned."""

    def __init__(self, platform):
        p = PLATFORMS[platform] if isinstance(platform, str) else platform
        self.next32, self.end32 = p["mmio32"]
        self.next64, self.end64 = p["mmio64"] or (None, None)

    def place(self, size, is_64):
        use64 = is_64 and self.next64 is not None
        nxt, end = (self.next64, self.end64) if use64 else (self.next32, self.end32)
        addr = (nxt + size - 1) & ~(size - 1)
        if addr + size > end:
            raise DriverError("no room for a 0x%x BAR in the MMIO window" % size)
        if use64:
            self.next64 = addr + size
        else:
            self.next32 = addr + size
        return addr


def enumerate_bus(io, platform, bus=0):
    """Every present function on `bus` (vendor != 0xffff), functions 1-7 only behind a
    multi-function header."""
    found = []
    for slot in range(32):
        f0 = PciFunction(io, platform, bus, slot, 0)
        if f0.vendor_id == 0xFFFF:
            continue
        found.append(f0)
        if f0.header_type & 0x80:
            for fn in range(1, 8):
                f = PciFunction(io, platform, bus, slot, fn)
                if f.vendor_id != 0xFFFF:
                    found.append(f)
    return found


def find_virtio(io, platform, virtio_id, slot=None):
    """The first virtio function of type `virtio_id` (modern id 0x1040+N, or transitional
    0x1000-0x103f whose subsystem id is N), optionally at `slot`; None if absent."""
    for f in enumerate_bus(io, platform):
        if f.vendor_id != VIRTIO_VENDOR or (slot is not None and f.slot != slot):
            continue
        dev = f.device_id
        if dev == modern_device_id(virtio_id):
            return f
        if 0x1000 <= dev <= 0x103F and f.subsystem_id == virtio_id:
            return f
    return None


# --- MSI-X -----------------------------------------------------------------------------

class Msix:
    """The MSI-X capability (PCI 3.0 §6.8.2) with each vector aimed at a 4-byte slot in guest
    RAM: an interrupt is a write of the vector's data there."""

    DATA_BASE = 0x5E1F0000

    def __init__(self, fn, cap, bars):
        self.fn, self.cap, self.io = fn, cap, fn.io
        ctrl = fn.cfg_read(cap + 2, 2)
        self.table_size = (ctrl & 0x7FF) + 1
        table, pba = fn.cfg_read(cap + 4), fn.cfg_read(cap + 8)
        self.table_bar, self.pba_bar = table & 7, pba & 7
        self.table = bars[table & 7].address + (table & ~7)
        self.pba = bars[pba & 7].address + (pba & ~7)
        self.slots = {}

    def setup(self, allocator, vectors=None):
        """Aims each vector at its own RAM slot (cleared), unmasks it, enables MSI-X."""
        n = self.table_size if vectors is None else min(vectors, self.table_size)
        for v in range(n):
            slot = allocator.alloc(4, 4)
            self.io.writel(slot, 0)
            self.slots[v] = slot
            entry = self.table + 16 * v
            self.io.writel(entry + 0, slot & 0xFFFFFFFF)
            self.io.writel(entry + 4, slot >> 32)
            self.io.writel(entry + 8, self.data(v))
            self.io.writel(entry + 12, 0)                 # vector control: unmasked
        self.set_control(enable=True, function_mask=False)

    def data(self, vector):
        return self.DATA_BASE | vector

    def set_control(self, enable, function_mask):
        ctrl = self.fn.cfg_read(self.cap + 2, 2)
        ctrl = (ctrl & ~0xC000) | (0x8000 if enable else 0) | (0x4000 if function_mask else 0)
        self.fn.cfg_write(self.cap + 2, ctrl, 2)

    def enabled(self):
        return bool(self.fn.cfg_read(self.cap + 2, 2) & 0x8000)

    def fired(self, vector):
        """True (and the slot cleared) if the vector's message was written."""
        slot = self.slots[vector]
        value = self.io.readl(slot)
        if value == 0:
            return False
        if value != self.data(vector):
            raise DriverError("MSI slot of vector %d holds 0x%x, expected 0x%x"
                              % (vector, value, self.data(vector)))
        self.io.writel(slot, 0)
        return True

    def wait(self, vector, timeout=DEFAULT_TIMEOUT):
        wait_until(lambda: self.fired(vector), "the MSI-X write of vector %d" % vector, timeout)

    def pending(self, vector):
        return bool(self.io.readq(self.pba + 8 * (vector // 64)) >> (vector % 64) & 1)


# --- virtio-pci ------------------------------------------------------------------------

class VirtioCap:
    def __init__(self, offset, cfg_type, bar, cap_id, region_offset, length, address,
                 multiplier=None):
        self.offset, self.cfg_type, self.bar, self.id = offset, cfg_type, bar, cap_id
        self.region_offset, self.length, self.address = region_offset, length, address
        self.multiplier = multiplier

    def __repr__(self):
        return "VirtioCap(type %d, bar %d, +0x%x, len 0x%x)" % (
            self.cfg_type, self.bar, self.region_offset, self.length)


class VirtioPciDevice:
    """A modern virtio-pci function: capabilities, common config, status life cycle,
    features, queues. Create with VirtioPciDevice.probe(...)."""

    def __init__(self, fn, allocator, windows):
        self.fn, self.io, self.mem = fn, fn.io, allocator
        self.bars = fn.assign_bars(windows)
        fn.enable(memory=True, master=True)
        self.caps = fn.capabilities()
        self.virtio_caps = []
        self.msix = None
        for off, cap_id in self.caps:
            if cap_id == PCI_CAP_ID_MSIX:
                self.msix = Msix(fn, off, self.bars)
            elif cap_id == PCI_CAP_ID_VENDOR:
                self.virtio_caps.append(self._parse_virtio_cap(off))
        self.common = self.cap(CFG_COMMON)
        self.notify = self.cap(CFG_NOTIFY)
        self.isr = self.cap(CFG_ISR)
        self.device_cfg = self.cap(CFG_DEVICE)
        if self.common is None or self.notify is None or self.isr is None:
            raise DriverError("%s lacks a common/notify/ISR capability: %r"
                              % (fn, self.virtio_caps))
        self.queues = {}
        self.features = 0

    @classmethod
    def probe(cls, io, platform, virtio_id, slot=None):
        """Finds, places and enables the device. Guest RAM and the MMIO windows are shared
        by every device probed through the same QtestIO (io.allocator, io.pci_windows), so
        several devices of one machine never overlap."""
        fn = find_virtio(io, platform, virtio_id, slot)
        if fn is None:
            raise DriverError("no virtio device of type %d%s on bus 0" % (
                virtio_id, "" if slot is None else " at slot %d" % slot))
        if getattr(io, "allocator", None) is None:
            io.allocator = BumpAllocator()
        if getattr(io, "pci_windows", None) is None:
            io.pci_windows = PciWindows(platform)
        return cls(fn, io.allocator, io.pci_windows)

    def _parse_virtio_cap(self, off):
        # struct virtio_pci_cap (§4.1.4): vndr, next, len, cfg_type, bar, id, pad[2],
        # offset, length; the notify cap adds notify_off_multiplier
        cfg_type = self.fn.cfg_read(off + 3, 1)
        bar = self.fn.cfg_read(off + 4, 1)
        cap_id = self.fn.cfg_read(off + 5, 1)
        region_offset = self.fn.cfg_read(off + 8)
        length = self.fn.cfg_read(off + 12)
        mult = self.fn.cfg_read(off + 16) if cfg_type == CFG_NOTIFY else None
        address = None
        if bar in self.bars and not self.bars[bar].is_io:
            address = self.bars[bar].address + region_offset
        return VirtioCap(off, cfg_type, bar, cap_id, region_offset, length, address, mult)

    def cap(self, cfg_type):
        """The first capability of a type (§4.1.4: drivers use the first they can)."""
        for c in self.virtio_caps:
            if c.cfg_type == cfg_type and c.address is not None:
                return c
        return None

    # common configuration
    # 64-bit fields go as two 32-bit halves, low first, as Linux does (vp_iowrite64_twopart;
    # §4.1.3.1 allows the halves to be accessed independently)
    def read_common(self, name):
        off, size = COMMON[name]
        addr = self.common.address + off
        if size == 8:
            return self.io.readl(addr) | (self.io.readl(addr + 4) << 32)
        return self.io.read(addr, size)

    def write_common(self, name, value):
        off, size = COMMON[name]
        addr = self.common.address + off
        if size == 8:
            self.io.writel(addr, value & 0xFFFFFFFF)
            self.io.writel(addr + 4, value >> 32)
        else:
            self.io.write(addr, size, value)

    def common_snapshot(self, queues=(0,)):
        """Every common-config field, and the per-queue ones for each queue in `queues`."""
        snap = {k: self.read_common(k) for k in
                ("device_status", "config_msix_vector", "num_queues", "config_generation")}
        snap["device_feature"] = self.device_features()
        for q in queues:
            self.write_common("queue_select", q)
            for k in ("queue_size", "queue_msix_vector", "queue_enable", "queue_desc",
                      "queue_driver", "queue_device"):
                snap["q%d.%s" % (q, k)] = self.read_common(k)
        return snap

    @property
    def status(self):
        return self.read_common("device_status")

    def set_status(self, value):
        self.write_common("device_status", value)

    def add_status(self, bits):
        self.set_status(self.status | bits)

    def read_isr(self):
        """The ISR byte (§4.1.4.5: the read clears it)."""
        return self.io.readb(self.isr.address)

    def device_features(self):
        lo_hi = []
        for sel in (0, 1):
            self.write_common("device_feature_select", sel)
            lo_hi.append(self.read_common("device_feature"))
        return lo_hi[0] | (lo_hi[1] << 32)

    def write_driver_features(self, features):
        for sel in (0, 1):
            self.write_common("driver_feature_select", sel)
            self.write_common("driver_feature", (features >> (32 * sel)) & 0xFFFFFFFF)

    def read_driver_features(self):
        lo_hi = []
        for sel in (0, 1):
            self.write_common("driver_feature_select", sel)
            lo_hi.append(self.read_common("driver_feature"))
        return lo_hi[0] | (lo_hi[1] << 32)

    def reset(self, timeout=DEFAULT_TIMEOUT):
        """Writes 0 and waits for the status to read 0 (§4.1.4.3.2)."""
        self.set_status(0)
        wait_until(lambda: self.status == 0, "the device status to read 0 after reset",
                   timeout)
        self.queues = {}

    def negotiate(self, wanted=1 << F_VERSION_1):
        """§3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features (offered & wanted),
        FEATURES_OK and its re-read. Returns True if the device accepted them."""
        self.reset()
        self.add_status(ACKNOWLEDGE)
        self.add_status(DRIVER)
        self.features = self.device_features() & wanted
        self.write_driver_features(self.features)
        self.add_status(FEATURES_OK)
        return bool(self.status & FEATURES_OK)

    def setup_msix(self, vectors=None):
        if self.msix is None:
            raise DriverError("%s has no MSI-X capability" % self.fn)
        self.msix.setup(self.mem, vectors)

    def set_config_vector(self, vector):
        self.write_common("config_msix_vector", vector)
        return self.read_common("config_msix_vector")

    def setup_queue(self, index, size=None, vector=None, packed=False):
        """Lays out queue `index` in guest memory and enables it (§4.1.5.1.3)."""
        self.write_common("queue_select", index)
        max_size = self.read_common("queue_size")
        if max_size == 0:
            raise DriverError("queue %d is not available (size 0)" % index)
        size = size or max_size
        self.write_common("queue_size", size)
        if vector is not None:
            self.write_common("queue_msix_vector", vector)
            got = self.read_common("queue_msix_vector")
            if got != vector:
                raise DriverError("queue %d refused MSI-X vector %d (reads 0x%x)"
                                  % (index, vector, got))
        q = (PackedQueue if packed else SplitQueue)(self, index, size, vector)
        self.write_common("queue_desc", q.desc)
        self.write_common("queue_driver", q.avail)
        self.write_common("queue_device", q.used)
        notify_off = self.read_common("queue_notify_off")
        q.notify_addr = self.notify.address + notify_off * self.notify.multiplier
        self.write_common("queue_enable", 1)
        self.queues[index] = q
        return q

    def driver_ok(self):
        self.add_status(DRIVER_OK)

    def init(self, wanted=1 << F_VERSION_1, queues=1, vectors=True):
        """The whole §3.1.1 sequence: negotiate, MSI-X (vector 0 for config changes, vector
        1+i for queue i), queues (packed ones if VIRTIO_F_RING_PACKED was negotiated),
        DRIVER_OK. Returns the queues."""
        if not self.negotiate(wanted):
            raise DriverError("the device refused features 0x%x" % self.features)
        if vectors and self.msix is not None:
            if not self.msix.enabled():
                self.setup_msix()
            if self.set_config_vector(0) != 0:
                raise DriverError("the device refused config MSI-X vector 0")
        packed = bool(self.features >> F_RING_PACKED & 1)
        qs = [self.setup_queue(i, vector=(1 + i) if vectors and self.msix else None,
                               packed=packed)
              for i in range(queues)]
        self.driver_ok()
        return qs


class Virtqueue:
    """What a split and a packed virtqueue share, driven from the driver side: the device
    and queue, the doorbell, and waiting for used buffers. A ring adds add_chain(buffers)
    -> token, poll() -> [(token, length)] for the buffers used since the last poll, and
    _where(): its position, for a timeout's message."""
    ring = "queue"
    token = "head"

    def __init__(self, dev, index, size, vector):
        self.dev, self.io, self.index, self.size, self.vector = dev, dev.io, index, size, vector
        self.notify_addr = None

    def kick(self):
        """Notifies the device (§4.1.5.2: the queue index, 16 bits, at the queue's notify
        address; no VIRTIO_F_NOTIFICATION_DATA)."""
        self.io.writew(self.notify_addr, self.index)

    def wait_used(self, count=1, timeout=DEFAULT_TIMEOUT):
        """Polls the ring until `count` buffers came back; returns them."""
        got = []

        def more():
            got.extend(self.poll())
            return len(got) >= count
        try:
            wait_until(more, "%d used buffer(s) on %s %d (%s)"
                       % (count, self.ring, self.index, self._where()), timeout)
        except DriverError as e:
            raise DriverError("%s; device status 0x%x" % (e, self.dev.status)) from None
        return got

    def submit(self, buffers, timeout=DEFAULT_TIMEOUT):
        """add_chain + kick + wait for that chain; returns the used length."""
        token = self.add_chain(buffers)
        self.kick()
        done = self.wait_used(1, timeout)
        if done[0][0] != token:
            raise DriverError("the device returned %s %d, expected %d"
                              % (self.token, done[0][0], token))
        return done[0][1]


class SplitQueue(Virtqueue):
    """A split virtqueue (§2.7) in guest memory."""

    def __init__(self, dev, index, size, vector):
        super().__init__(dev, index, size, vector)
        mem = dev.mem
        self.desc = mem.alloc(16 * size, 4096)
        self.avail = mem.alloc(6 + 2 * size, 4096)
        self.used = mem.alloc(6 + 8 * size, 4096)
        self.io.memset(self.desc, 16 * size)
        self.io.memset(self.avail, 6 + 2 * size)
        self.io.memset(self.used, 6 + 8 * size)
        self.free = list(range(size))
        self.avail_idx = 0
        self.last_used = 0
        self.chains = {}

    # raw ring access, also for hostile tests
    def write_desc(self, i, addr, length, flags, nxt):
        self.io.memwrite(self.desc + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def set_avail_idx(self, idx):
        self.io.writew(self.avail + 2, idx & 0xFFFF)

    def used_idx(self):
        return self.io.readw(self.used + 2)

    def used_elem(self, i):
        return struct.unpack("<II", self.io.memread(self.used + 4 + 8 * (i % self.size), 8))

    def add_chain(self, buffers):
        """buffers: [(addr, length, device_writable)]. Returns the head descriptor index."""
        if not buffers or len(buffers) > len(self.free):
            raise DriverError("cannot add a chain of %d buffers (%d descriptors free)"
                              % (len(buffers), len(self.free)))
        ids = [self.free.pop(0) for _ in buffers]
        for n, (i, (addr, length, writable)) in enumerate(zip(ids, buffers)):
            last = n == len(ids) - 1
            flags = (0 if last else VIRTQ_DESC_F_NEXT) | (VIRTQ_DESC_F_WRITE if writable else 0)
            self.write_desc(i, addr, length, flags, 0 if last else ids[n + 1])
        self.io.writew(self.avail + 4 + 2 * (self.avail_idx % self.size), ids[0])
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.set_avail_idx(self.avail_idx)        # after the ring entry (§2.7.13)
        self.chains[ids[0]] = ids
        return ids[0]

    def poll(self):
        """[(head, length)] for every used element not seen yet."""
        out = []
        idx = self.used_idx()
        while self.last_used != idx:
            head, length = self.used_elem(self.last_used)
            out.append((head, length))
            self.free += self.chains.pop(head, [])
            self.last_used = (self.last_used + 1) & 0xFFFF
        return out

    def _where(self):
        return "used idx %d, avail idx %d" % (self.last_used, self.avail_idx)


VIRTQ_DESC_F_AVAIL, VIRTQ_DESC_F_USED = 1 << 7, 1 << 15


class PackedQueue(Virtqueue):
    """A packed virtqueue (§2.8) in guest memory. Event suppression areas are left zero:
    notifications enabled both ways (RING_EVENT_FLAGS_ENABLE)."""
    ring = "packed queue"
    token = "buffer"

    def __init__(self, dev, index, size, vector):
        super().__init__(dev, index, size, vector)
        mem = dev.mem
        self.desc = mem.alloc(16 * size, 4096)
        self.avail = mem.alloc(4, 4096)          # driver event suppression (queue_driver)
        self.used = mem.alloc(4, 4096)           # device event suppression (queue_device)
        self.io.memset(self.desc, 16 * size)
        self.io.memset(self.avail, 4)
        self.io.memset(self.used, 4)
        self.next_avail, self.avail_wrap = 0, 1
        self.last_used, self.used_wrap = 0, 1
        self.free_ids = list(range(size))
        self.in_flight = 0                       # descriptors the device holds
        self.chains = {}                         # buffer id -> chain length

    def write_desc(self, i, addr, length, buffer_id, flags):
        self.io.memwrite(self.desc + 16 * i, struct.pack("<QIHH", addr, length, buffer_id, flags))

    def read_desc(self, i):
        return struct.unpack("<QIHH", self.io.memread(self.desc + 16 * i, 16))

    def _avail_flags(self, wrap):
        # §2.8.1: available when AVAIL equals the driver's wrap counter and USED differs
        return VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED

    def add_chain(self, buffers):
        """buffers: [(addr, length, device_writable)]. Returns the buffer id."""
        if not buffers or len(buffers) > self.size - self.in_flight or not self.free_ids:
            raise DriverError("cannot add a chain of %d buffers (%d descriptors free)"
                              % (len(buffers), self.size - self.in_flight))
        buffer_id = self.free_ids.pop(0)
        head, head_flags = self.next_avail, None
        pos, wrap = self.next_avail, self.avail_wrap
        for n, (addr, length, writable) in enumerate(buffers):
            flags = self._avail_flags(wrap) | (VIRTQ_DESC_F_WRITE if writable else 0)
            if n != len(buffers) - 1:
                flags |= VIRTQ_DESC_F_NEXT
            if n == 0:
                head_flags = (addr, length, flags)
            else:
                self.write_desc(pos, addr, length, buffer_id, flags)
            pos += 1
            if pos == self.size:
                pos, wrap = 0, wrap ^ 1
        # the head last, so the device never sees a half-written chain (§2.8.21)
        self.write_desc(head, head_flags[0], head_flags[1], buffer_id, head_flags[2])
        self.next_avail, self.avail_wrap = pos, wrap
        self.in_flight += len(buffers)
        self.chains[buffer_id] = len(buffers)
        return buffer_id

    def poll(self):
        """[(buffer id, length)] for every used descriptor not seen yet (§2.8.2: used when
        AVAIL and USED both equal the driver's used wrap counter)."""
        out = []
        while self.in_flight:
            _, length, buffer_id, flags = self.read_desc(self.last_used)
            avail = bool(flags & VIRTQ_DESC_F_AVAIL)
            used = bool(flags & VIRTQ_DESC_F_USED)
            if not (avail == used == bool(self.used_wrap)):
                break
            if buffer_id not in self.chains:
                raise DriverError("the device used unknown buffer id %d" % buffer_id)
            count = self.chains.pop(buffer_id)
            out.append((buffer_id, length))
            self.free_ids.append(buffer_id)
            self.in_flight -= count
            self.last_used += count
            if self.last_used >= self.size:
                self.last_used -= self.size
                self.used_wrap ^= 1
        return out

    def _where(self):
        return "next used %d, wrap %d" % (self.last_used, self.used_wrap)


# --- device configuration and virtio-blk (§4.1.4.6, §5.2) ------------------------------

def read_device_config(dev, offset, size):
    """One device-config field, read with a single access of its natural width (§4.1.3.1);
    a 64-bit field as two 32-bit halves, low first, as Linux does."""
    if dev.device_cfg is None:
        raise DriverError("%s has no device-specific configuration capability" % dev.fn)
    addr = dev.device_cfg.address + offset
    if size == 8:
        return dev.io.readl(addr) | (dev.io.readl(addr + 4) << 32)
    return dev.io.read(addr, size)


VIRTIO_ID_BLOCK = 2

# virtio-blk feature bits (§5.2.3)
BLK_F_SIZE_MAX, BLK_F_SEG_MAX, BLK_F_GEOMETRY, BLK_F_RO, BLK_F_BLK_SIZE = 1, 2, 4, 5, 6
BLK_F_FLUSH, BLK_F_TOPOLOGY, BLK_F_CONFIG_WCE, BLK_F_MQ = 9, 10, 11, 12
BLK_F_DISCARD, BLK_F_WRITE_ZEROES, BLK_F_LIFETIME, BLK_F_SECURE_ERASE = 13, 14, 15, 16

# request types and status values (§5.2.6)
BLK_T_IN, BLK_T_OUT, BLK_T_FLUSH, BLK_T_GET_ID = 0, 1, 4, 8
BLK_T_DISCARD, BLK_T_WRITE_ZEROES = 11, 13
BLK_S_OK, BLK_S_IOERR, BLK_S_UNSUPP = 0, 1, 2
BLK_WRITE_ZEROES_FLAG_UNMAP = 1
BLK_SECTOR = 512
BLK_ID_BYTES = 20

# struct virtio_blk_config (§5.2.4): name -> (offset, size)
BLK_CONFIG = {
    "capacity": (0, 8), "size_max": (8, 4), "seg_max": (12, 4),
    "cylinders": (16, 2), "heads": (18, 1), "sectors": (19, 1),
    "blk_size": (20, 4), "physical_block_exp": (24, 1), "alignment_offset": (25, 1),
    "min_io_size": (26, 2), "opt_io_size": (28, 4), "writeback": (32, 1),
    "num_queues": (34, 2),
    "max_discard_sectors": (36, 4), "max_discard_seg": (40, 4),
    "discard_sector_alignment": (44, 4),
    "max_write_zeroes_sectors": (48, 4), "max_write_zeroes_seg": (52, 4),
    "write_zeroes_may_unmap": (56, 1),
}


def blk_config(dev, names=None):
    """{field: value} of struct virtio_blk_config for `names` (default: every field)."""
    return {n: read_device_config(dev, *BLK_CONFIG[n]) for n in (names or BLK_CONFIG)}


def blk_header(req_type, sector=0):
    """struct virtio_blk_req's device-readable header: le32 type, le32 reserved, le64 sector."""
    return struct.pack("<IIQ", req_type, 0, sector)


def blk_dwz_segment(sector, num_sectors, flags=0):
    """struct virtio_blk_discard_write_zeroes (§5.2.6): le64 sector, le32 num_sectors,
    le32 flags."""
    return struct.pack("<QII", sector, num_sectors, flags)


class BlkRequest:
    """One virtio-blk request laid out in guest memory as Linux does: the header, the data
    buffers (device-readable for OUT-like requests, device-writable for IN/GET_ID), then a
    one-byte device-writable status (§5.2.6). The status byte is pre-set to 0xFF so that an
    untouched one is told apart from VIRTIO_BLK_S_OK."""

    UNTOUCHED = 0xFF

    def __init__(self, dev, req_type, sector=0, out=b"", in_len=0, in_fill=0xA5):
        io, mem = dev.io, dev.mem
        self.io, self.in_len = io, in_len
        self.hdr = mem.alloc(16)
        io.memwrite(self.hdr, blk_header(req_type, sector))
        self.buffers = [(self.hdr, 16, False)]
        if out:
            self.out = mem.alloc(len(out))
            io.memwrite(self.out, out)
            self.buffers.append((self.out, len(out), False))
        if in_len:
            self.inp = mem.alloc(in_len)
            io.memset(self.inp, in_len, in_fill)
            self.buffers.append((self.inp, in_len, True))
        self.status_addr = mem.alloc(1)
        io.writeb(self.status_addr, self.UNTOUCHED)
        self.buffers.append((self.status_addr, 1, True))

    def status(self):
        return self.io.readb(self.status_addr)

    def data(self):
        return self.io.memread(self.inp, self.in_len) if self.in_len else b""


# --- virtio-console / virtio-serial (§5.3) ---------------------------------------------

VIRTIO_ID_CONSOLE = 3

# feature bits (§5.3.3)
CONSOLE_F_SIZE, CONSOLE_F_MULTIPORT, CONSOLE_F_EMERG_WRITE = 0, 1, 2

# struct virtio_console_config (§5.3.4): name -> (offset, size)
CONSOLE_CONFIG = {"cols": (0, 2), "rows": (2, 2), "max_nr_ports": (4, 4), "emerg_wr": (8, 4)}

# control events (§5.3.6.2)
CONSOLE_DEVICE_READY, CONSOLE_DEVICE_ADD, CONSOLE_DEVICE_REMOVE = 0, 1, 2
CONSOLE_PORT_READY, CONSOLE_CONSOLE_PORT, CONSOLE_RESIZE = 3, 4, 5
CONSOLE_PORT_OPEN, CONSOLE_PORT_NAME = 6, 7
CONSOLE_CONTROL_BYTES = 8


def console_config(dev, names=None):
    """{field: value} of struct virtio_console_config for `names` (default: the first three,
    which exist without EMERG_WRITE)."""
    return {n: read_device_config(dev, *CONSOLE_CONFIG[n])
            for n in (names or ("cols", "rows", "max_nr_ports"))}


def console_queues(port):
    """(receiveq, transmitq) of a port (§5.3.2: port 0 is 0/1, port N > 0 is 2N+2/2N+3)."""
    return (0, 1) if port == 0 else (2 * port + 2, 2 * port + 3)


CONSOLE_CONTROL_RX, CONSOLE_CONTROL_TX = 2, 3


def console_control(port_id, event, value, extra=b""):
    """struct virtio_console_control: le32 id, le16 event, le16 value (+ a name for
    PORT_NAME)."""
    return struct.pack("<IHH", port_id, event, value) + bytes(extra)


def parse_console_control(data):
    """(id, event, value, extra bytes) of a control message."""
    if len(data) < CONSOLE_CONTROL_BYTES:
        raise DriverError("control message of %d bytes: %r" % (len(data), data))
    port_id, event, value = struct.unpack("<IHH", data[:CONSOLE_CONTROL_BYTES])
    return port_id, event, value, bytes(data[CONSOLE_CONTROL_BYTES:])


# --- virtio-net (§5.1) -----------------------------------------------------------------

VIRTIO_ID_NET = 1

# feature bits (§5.1.3)
NET_F_CSUM, NET_F_GUEST_CSUM, NET_F_CTRL_GUEST_OFFLOADS, NET_F_MTU, NET_F_MAC = 0, 1, 2, 3, 5
NET_F_GUEST_TSO4, NET_F_GUEST_TSO6, NET_F_GUEST_ECN, NET_F_GUEST_UFO = 7, 8, 9, 10
NET_F_HOST_TSO4, NET_F_HOST_TSO6, NET_F_HOST_ECN, NET_F_HOST_UFO = 11, 12, 13, 14
NET_F_MRG_RXBUF, NET_F_STATUS, NET_F_CTRL_VQ, NET_F_CTRL_RX, NET_F_CTRL_VLAN = 15, 16, 17, 18, 19
NET_F_CTRL_RX_EXTRA, NET_F_GUEST_ANNOUNCE, NET_F_MQ, NET_F_CTRL_MAC_ADDR = 20, 21, 22, 23
NET_F_SPEED_DUPLEX = 63
NET_S_LINK_UP, NET_S_ANNOUNCE = 1, 2

# struct virtio_net_config (§5.1.4): name -> (offset, size); mac is read bytewise
NET_CONFIG = {"status": (6, 2), "max_virtqueue_pairs": (8, 2), "mtu": (10, 2),
              "speed": (12, 4), "duplex": (16, 1)}
# struct virtio_net_hdr_v1 (§5.1.6): flags, gso_type, hdr_len, gso_size, csum_start,
# csum_offset, num_buffers — 12 bytes with VERSION_1 (or MRG_RXBUF)
NET_HDR_BYTES = 12


def net_config(dev, names=None):
    """{field: value} of struct virtio_net_config; "mac" as 6 bytes read one at a time."""
    names = names or ("mac", "status", "max_virtqueue_pairs")
    out = {}
    for n in names:
        if n == "mac":
            out[n] = bytes(read_device_config(dev, i, 1) for i in range(6))
        else:
            out[n] = read_device_config(dev, *NET_CONFIG[n])
    return out


def net_hdr(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0,
            num_buffers=0):
    return struct.pack("<BBHHHHH", flags, gso_type, hdr_len, gso_size, csum_start,
                       csum_offset, num_buffers)


def parse_net_hdr(data):
    """{field: value} of a 12-byte struct virtio_net_hdr_v1."""
    keys = ("flags", "gso_type", "hdr_len", "gso_size", "csum_start", "csum_offset",
            "num_buffers")
    return dict(zip(keys, struct.unpack("<BBHHHHH", bytes(data[:NET_HDR_BYTES]))))


# control queue classes, commands and acks (§5.1.6.5)
NET_CTRL_RX, NET_CTRL_MAC, NET_CTRL_VLAN = 0, 1, 2
NET_CTRL_RX_PROMISC, NET_CTRL_RX_ALLMULTI = 0, 1
NET_CTRL_MAC_TABLE_SET, NET_CTRL_MAC_ADDR_SET = 0, 1
NET_CTRL_VLAN_ADD, NET_CTRL_VLAN_DEL = 0, 1
NET_OK, NET_ERR = 0, 1


def net_ctrl(dev, q, cls, cmd, data=b""):
    """One command on the control queue `q`: class, command and data device-readable, the
    one-byte ack device-writable (§5.1.6.5). Returns the ack."""
    out = bytes([cls, cmd]) + bytes(data)
    addr = dev.mem.alloc(len(out) + 1)
    dev.io.memwrite(addr, out + b"\xee")
    q.submit([(addr, len(out), False), (addr + len(out), 1, True)])
    return dev.io.readb(addr + len(out))
