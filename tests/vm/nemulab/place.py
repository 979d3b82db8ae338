"""Where the lab runs KVM guests: on the host's /dev/kvm, or nested in an L1 VM.

The mere presence of /dev/kvm proves nothing here: some hosts have kvm_pvm, a paravirtual
/dev/kvm that runs tiny guests but hangs a stock Linux kernel. So the host is used only when a
probe boot of the L2 test guest with the VMM under test prints the init marker within ~15 s.
The verdict is cached per boot of the machine under /run/nemu-lab. NEMU_LAB=host|nested forces it.
"""

import hashlib
import json
import os

from . import artefacts
from . import vmm

PROBE_TIMEOUT = float(os.environ.get("NEMU_LAB_PROBE_TIMEOUT", "15"))
VERDICT_DIR = "/run/nemu-lab"


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def _kvm_module():
    for m in ("kvm_amd", "kvm_intel", "kvm_pvm"):
        if os.path.isdir("/sys/module/" + m):
            return m
    return "unknown module"


def decide(probe_vmm):
    """Returns (place, reason), place "host" or "nested". probe_vmm: a vmm.Vmm."""
    forced = os.environ.get("NEMU_LAB", "")
    if forced in ("host", "nested"):
        return forced, "forced by NEMU_LAB=" + forced
    if forced:
        raise artefacts.LabError("NEMU_LAB must be host or nested, not %r" % forced)
    if os.environ.get("NEMU_LAB_GUEST") == "1":
        return "host", "already inside a lab L1 (/dev/kvm is %s)" % _kvm_module()
    if not os.path.exists("/dev/kvm"):
        return "nested", "no /dev/kvm on this host"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        return "nested", "/dev/kvm cannot be opened (%s)" % e.strerror
    key = hashlib.sha256(("%s %s" % (probe_vmm.kind, probe_vmm.path)).encode()).hexdigest()[:12]
    path = os.path.join(VERDICT_DIR, "probe-%s-%s.json" % (_boot_id(), key))
    try:
        with open(path) as f:
            v = json.load(f)
        return v["place"], v["reason"] + " (cached for this boot in %s)" % path
    except (OSError, ValueError, KeyError):
        pass
    place, reason = _probe(probe_vmm)
    try:
        os.makedirs(VERDICT_DIR, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump({"place": place, "reason": reason}, f)
        os.rename(path + ".tmp", path)
    except OSError:
        pass
    return place, reason


def _probe(probe_vmm):
    art = artefacts.ensure(quiet=True)
    mod = _kvm_module()
    try:
        g = vmm.Guest(probe_vmm, art, smp="1", mem="256M")
        try:
            g.start()
            g.wait_init(timeout=PROBE_TIMEOUT)
        finally:
            g.kill()
    except vmm.GuestError as e:
        return "nested", ("host /dev/kvm (%s) failed the probe boot with %s: %s"
                          % (mod, probe_vmm.describe(), str(e).split(";")[0]))
    return "host", "host /dev/kvm (%s) booted the test guest with %s" % (mod, probe_vmm.describe())
