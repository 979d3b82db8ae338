"""Guest artefacts of the lab, built on first use from Debian packages only and cached.

Cache layout ($NEMU_LAB_CACHE, default /var/cache/nemu-lab):
  current                    name of the kernel directory in use (e.g. linux-image-6.1.0-56-amd64)
  <pkg>/vmlinuz              the Debian bzImage (L1 kernel and the L2 test guest's kernel)
  <pkg>/vmlinux              the decompressed ELF from the bzImage payload (PVH boot)
  <pkg>/version, config      package name + version, the kernel config
  <pkg>/modules/*.ko, order  the modules L1 needs (kvm, kvm_amd, virtio, 9p, overlay) and the L2
                             guest needs (button, evdev, the virtio-pci drivers), with their
                             dependencies, in load order (order-l1, order-l2)
  <pkg>/modules/wanted       the module lists they were extracted for: the cache key (a kernel
                             directory whose lists differ from L1_MODULES/L2_MODULES is refetched)
  <pkg>/initrd-l1.gz         L1's busybox initramfs (tests/vm/l1-init as /init + modules)
  <pkg>/initrd-l2.gz         the L2 test guest's initramfs (tests/vm/l2-init as /init)
  <pkg>/*.stamp              hash of the inputs an image was built from (rebuilt when they change)
Sources: apt-get download linux-image-6.1.0-NN-amd64 (resolved from linux-image-amd64) unpacked
with dpkg -x; busybox from busybox-static; cpio; the XZ payload is decompressed with python's lzma.
"""

import fcntl
import glob
import gzip
import hashlib
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/vm
KERNEL_META = os.environ.get("NEMU_LAB_KERNEL_PKG", "linux-image-amd64")
HOST_PACKAGES = ["qemu-system-x86", "busybox-static", "cpio", "xz-utils", "binutils"]
BUSYBOX = "/bin/busybox"
# L1 needs these (dependencies are added); L2 needs the ACPI button and evdev for acpid, and
# the virtio-pci drivers for the virtio lab tests (Debian 12's kernel builds them all as modules:
# CONFIG_VIRTIO_PCI, HW_RANDOM_VIRTIO, VIRTIO_BLK, VIRTIO_NET, VIRTIO_CONSOLE=m). Dependencies
# (virtio, virtio_ring, virtio_pci_{modern,legacy}_dev, failover, net_failover) come from .modinfo.
L1_MODULES = ["virtio_pci", "virtio_mmio", "virtio_console", "virtio-rng", "9pnet_virtio", "9p",
              "overlay", "kvm-amd", "tun", "vhost_net"]
L2_MODULES = ["button", "evdev", "virtio_pci", "virtio-rng", "virtio_blk", "virtio_net",
              "virtio_console"]


def cache_root():
    return os.environ.get("NEMU_LAB_CACHE", "/var/cache/nemu-lab")


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


class LabError(Exception):
    pass


class Artefacts:
    """Paths of the built artefacts."""

    def __init__(self, kdir):
        self.kdir = kdir
        self.vmlinuz = os.path.join(kdir, "vmlinuz")
        self.vmlinux = os.path.join(kdir, "vmlinux")
        self.initrd_l1 = os.path.join(kdir, "initrd-l1.gz")
        self.initrd_l2 = os.path.join(kdir, "initrd-l2.gz")
        with open(os.path.join(kdir, "version")) as f:
            self.version = f.read().strip()


# --------------------------------------------------------------------------------------------
# host packages and the kernel package


def _run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def ensure_host_packages():
    missing = [p for p in HOST_PACKAGES if _run(["dpkg", "-s", p]).returncode != 0]
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError("missing packages %s (apt-get install them, or run as root)" % " ".join(missing))
    log("apt-get install " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if _run(["apt-cache", "show", missing[0]]).returncode != 0:
        _run(["apt-get", "update", "-q"], env=env)
    r = _run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing, env=env)
    if r.returncode != 0:
        raise LabError("apt-get install failed:\n" + r.stderr[-2000:])


def _resolve_kernel_pkg():
    if KERNEL_META.startswith("linux-image-") and KERNEL_META[12:13].isdigit():
        return KERNEL_META
    for attempt in range(2):
        r = _run(["apt-cache", "depends", KERNEL_META])
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("Depends: linux-image-") and line[21:22].isdigit():
                return line.split()[1]
        if attempt == 0:
            _run(["apt-get", "update", "-q"])
    return None


# --------------------------------------------------------------------------------------------
# modules: dependencies from the .modinfo "depends=" string


def _read_module(path):
    """A module's ELF bytes; Debian 12 ships plain .ko, later kernels .ko.xz/.ko.zst/.ko.gz
    (busybox insmod takes only the plain ELF, so they are decompressed here)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return _run_bytes(["zstd", "-dc"], data)
    return data


_KO_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")


def _modinfo_depends(path):
    data = _read_module(path)
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    end = data.index(b"\0", i + 1)
    deps = data[i + 9:end].decode()
    return [d for d in deps.split(",") if d]


def _module_order(tree, wanted):
    files = {}
    for p in glob.glob(os.path.join(tree, "**", "*.ko*"), recursive=True):
        base = os.path.basename(p)
        for suffix in _KO_SUFFIXES:
            if base.endswith(suffix):
                files[base[:-len(suffix)]] = p
    order, seen = [], set()

    def find(name):
        for n in (name, name.replace("_", "-"), name.replace("-", "_")):
            if n in files:
                return n
        return None

    def visit(name):
        n = find(name)
        if n is None:
            log("module %s not found (built in?)" % name)
            return
        if n in seen:
            return
        seen.add(n)
        for d in _modinfo_depends(files[n]):
            visit(d)
        order.append(n)

    for w in wanted:
        visit(w)
    return [(n, files[n]) for n in order]


def _wanted_key():
    return "l1 %s\nl2 %s\n" % (" ".join(L1_MODULES), " ".join(L2_MODULES))


def _modules_current(kdir):
    try:
        with open(os.path.join(kdir, "modules", "wanted")) as f:
            return f.read() == _wanted_key()
    except OSError:
        return False


def _fetch_kernel(pkg, kdir):
    root = cache_root()
    tmp = tempfile.mkdtemp(prefix="x.", dir=root)
    try:
        log("fetching %s (apt-get download)" % pkg)
        r = _run(["apt-get", "download", "-q", pkg], cwd=tmp)
        debs = glob.glob(os.path.join(tmp, pkg + "_*.deb"))
        if r.returncode != 0 or not debs:
            raise LabError("apt-get download %s failed:\n%s" % (pkg, r.stderr[-2000:]))
        x = os.path.join(tmp, "x")
        if _run(["dpkg", "-x", debs[0], x]).returncode != 0:
            raise LabError("dpkg -x %s failed" % debs[0])
        ver = _run(["dpkg-deb", "-f", debs[0], "Version"]).stdout.strip()
        new = kdir + ".new"
        shutil.rmtree(new, ignore_errors=True)
        os.makedirs(os.path.join(new, "modules"))
        shutil.copy(glob.glob(os.path.join(x, "boot", "vmlinuz-*"))[0], os.path.join(new, "vmlinuz"))
        shutil.copy(glob.glob(os.path.join(x, "boot", "config-*"))[0], os.path.join(new, "config"))
        for group, wanted in (("l1", L1_MODULES), ("l2", L2_MODULES)):
            mods = _module_order(os.path.join(x, "lib", "modules"), wanted)
            for n, p in mods:
                with open(os.path.join(new, "modules", n + ".ko"), "wb") as f:
                    f.write(_read_module(p))
            with open(os.path.join(new, "modules", "order-" + group), "w") as f:
                f.write("".join(n + "\n" for n, _ in mods))
        with open(os.path.join(new, "modules", "wanted"), "w") as f:
            f.write(_wanted_key())
        with open(os.path.join(new, "version"), "w") as f:
            f.write("%s %s\n" % (pkg, ver))
        shutil.rmtree(kdir, ignore_errors=True)
        os.rename(new, kdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# PVH ELF: the decompressed vmlinux from the bzImage payload


_MAGICS = ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip"))


def extract_vmlinux(bzimage, out):
    with open(bzimage, "rb") as f:
        data = f.read()
    for magic, kind in _MAGICS:
        pos = data.find(magic)
        while pos >= 0:
            try:
                if kind == "xz":
                    elf = lzma.LZMADecompressor().decompress(data[pos:])
                elif kind == "gzip":
                    elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[pos:])
                else:
                    elf = _run_bytes(["zstd", "-dc"], data[pos:])
            except (lzma.LZMAError, zlib.error, OSError, LabError):
                elf = b""
            if elf[:4] == b"\x7fELF":
                with open(out + ".tmp", "wb") as f:
                    f.write(elf)
                os.rename(out + ".tmp", out)
                return kind
            pos = data.find(magic, pos + 1)
    raise LabError("no compressed ELF payload found in " + bzimage)


def _run_bytes(args, data):
    r = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise LabError("%s failed" % args[0])
    return r.stdout


def pvh_entry(elf_path):
    """The PVH entry point from the ELF note "Xen" type 18 (XEN_ELFNOTE_PHYS32_ENTRY), or None."""
    with open(elf_path, "rb") as f:
        data = f.read()
    if data[:5] != b"\x7fELF\x02":
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        ptype, _flags, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype != 4:  # PT_NOTE
            continue
        p, end = off, off + filesz
        while p + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, p)
            name = data[p + 12:p + 12 + namesz].rstrip(b"\0")
            desc_off = p + 12 + ((namesz + 3) & ~3)
            if name == b"Xen" and ntype == 18:
                size = 8 if descsz >= 8 else 4
                return struct.unpack_from("<Q" if size == 8 else "<I", data, desc_off)[0]
            p = desc_off + ((descsz + 3) & ~3)
    return None


# --------------------------------------------------------------------------------------------
# initramfs images


def _inputs_hash(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(p.encode() + b"\0" + f.read())
    return h.hexdigest()


def _cpio_gz(tree, out):
    files = _run(["find", "."], cwd=tree).stdout
    r = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=tree,
                       input=files.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise LabError("cpio failed: " + r.stderr.decode()[-500:])
    with gzip.open(out + ".tmp", "wb", compresslevel=1) as f:
        f.write(r.stdout)
    os.rename(out + ".tmp", out)


def _build_initrd(kdir, name, init, group, extra):
    """extra: list of (source path, path in the image, mode)"""
    out = os.path.join(kdir, name)
    stamp = out + ".stamp"
    mod_dir = os.path.join(kdir, "modules")
    with open(os.path.join(mod_dir, "order-" + group)) as f:
        mods = f.read().split()
    inputs = [init, BUSYBOX] + [os.path.join(mod_dir, m + ".ko") for m in mods] + [e[0] for e in extra]
    digest = _inputs_hash(inputs)
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read() == digest:
        return
    tree = tempfile.mkdtemp(prefix="r.", dir=cache_root())
    try:
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "lib/modules"):
            os.makedirs(os.path.join(tree, d))
        shutil.copy(BUSYBOX, os.path.join(tree, "bin", "busybox"))
        shutil.copy(init, os.path.join(tree, "init"))
        os.chmod(os.path.join(tree, "init"), 0o755)
        for m in mods:
            shutil.copy(os.path.join(mod_dir, m + ".ko"), os.path.join(tree, "lib", "modules"))
        with open(os.path.join(tree, "lib", "modules", "order"), "w") as f:
            f.write("".join(m + "\n" for m in mods))
        for src, dst, mode in extra:
            p = os.path.join(tree, dst)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            shutil.copy(src, p)
            os.chmod(p, mode)
        _cpio_gz(tree, out)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    with open(stamp, "w") as f:
        f.write(digest)


# --------------------------------------------------------------------------------------------


def ensure(quiet=False):
    """Build whatever is missing and return the Artefacts (takes the cache lock)."""
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_locked(root, quiet)


def _ensure_locked(root, quiet):
    cur_file = os.path.join(root, "current")
    kdir = None
    if os.path.exists(cur_file):
        kdir = os.path.join(root, open(cur_file).read().strip())
        if not os.path.exists(os.path.join(kdir, "version")):
            kdir = None
    if kdir is not None and not _modules_current(kdir):
        # the module lists changed (or the cache predates modules/wanted): extract them again
        ensure_host_packages()
        log("module lists changed: refetching %s" % os.path.basename(kdir))
        _fetch_kernel(os.path.basename(kdir), kdir)
    if kdir is None or os.environ.get("NEMU_LAB_REFRESH") == "1":
        ensure_host_packages()
        pkg = _resolve_kernel_pkg()
        if pkg is None:
            raise LabError("cannot resolve %s to a kernel image package (apt)" % KERNEL_META)
        kdir = os.path.join(root, pkg)
        if not os.path.exists(os.path.join(kdir, "version")) or not _modules_current(kdir):
            _fetch_kernel(pkg, kdir)
        with open(cur_file, "w") as f:
            f.write(pkg + "\n")
    if not os.path.exists(BUSYBOX):
        ensure_host_packages()
    _build_initrd(kdir, "initrd-l1.gz", os.path.join(HERE, "l1-init"), "l1", [])
    _build_initrd(kdir, "initrd-l2.gz", os.path.join(HERE, "l2-init"), "l2",
                  [(os.path.join(HERE, "l2-power-button"), "etc/acpi/PWRF/00000080", 0o755)])
    vmlinux = os.path.join(kdir, "vmlinux")
    if not os.path.exists(vmlinux):
        kind = extract_vmlinux(os.path.join(kdir, "vmlinuz"), vmlinux)
        entry = pvh_entry(vmlinux)
        if entry is None:
            log("WARNING: %s has no PVH note (Xen, type 18): PVH boot cannot be tested" % vmlinux)
        elif not quiet:
            log("vmlinux extracted (%s payload), PVH entry 0x%x" % (kind, entry))
    return Artefacts(kdir)
