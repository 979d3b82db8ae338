"""QMP integration-test harness for nemu (python3, standard library only).

The binary under test is given by the environment (set by run.py):
  NEMU_BINARY       path of the emulator under test (nemu-system-x86_64 or, to check the
                    suite itself, Debian's qemu-system-x86_64)
  NEMU_ORACLE_MODE  "1" when NEMU_BINARY is QEMU itself: the harness then adds "-accel tcg"
  NEMU_ACCEL        accelerator option for nemu (default "qtest"; "" passes no -accel)
  QEMU_ORACLE       the oracle binary for live comparisons (default qemu-system-x86_64)

The QMP monitor is a listening UNIX socket created here and handed to the child as an
inherited fd (`-chardev socket,id=mon0,fd=N,server=on,wait=off -mon chardev=mon0,mode=control`,
the way libvirt does it), so the client can connect at once: no sleeps, no polling.
Every blocking read has a timeout that fails the test rather than hanging.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

TIMEOUT = float(os.environ.get("NEMU_TEST_TIMEOUT", "20"))

DEFAULT_ORACLE = "qemu-system-x86_64"


class QMPError(Exception):
    pass


class QMPTimeout(QMPError):
    pass


class QMPClosed(QMPError):
    pass


# ----------------------------------------------------------------------------------------
# configuration


def binary_under_test():
    binary = os.environ.get("NEMU_BINARY")
    if not binary:
        raise unittest.SkipTest("NEMU_BINARY is not set")
    return binary


def is_oracle_mode():
    """True when the binary under test is QEMU itself (the suite checking itself)."""
    return os.environ.get("NEMU_ORACLE_MODE") == "1"


def oracle_binary():
    return os.environ.get("QEMU_ORACLE", DEFAULT_ORACLE)


def oracle_available():
    return shutil.which(oracle_binary()) is not None


def accel_args(oracle):
    """QEMU has no KVM here that boots anything, so the oracle always runs TCG; nemu has no
    TCG and runs -M none under qtest (or with no -accel at all)."""
    if oracle:
        return ["-accel", "tcg"]
    accel = os.environ.get("NEMU_ACCEL", "qtest")
    return ["-accel", accel] if accel else []


def base_args(oracle):
    return ["-M", "none", "-display", "none", "-nodefaults"] + accel_args(oracle)


def program_name(binary):
    return os.path.basename(binary)


# ----------------------------------------------------------------------------------------
# JSON shapes


OPTIONAL = "?optional"


def shape(value):
    """The shape of a JSON value: object members and JSON types, recursively. A list is
    described by the merged shape of its elements (members absent from some elements are
    listed under OPTIONAL; differing element types become "a|b"); an empty list by []."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        if not value:
            return []
        merged = shape(value[0])
        for v in value[1:]:
            merged = merge_shapes(merged, shape(v))
        return [merged]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise TypeError("not a JSON value: %r" % (value,))


def merge_shapes(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        opt = set(a.get(OPTIONAL, [])) | set(b.get(OPTIONAL, []))
        keys = [k for k in a if k != OPTIONAL] + [k for k in b if k != OPTIONAL and k not in a]
        for k in keys:
            if k in a and k in b:
                out[k] = merge_shapes(a[k], b[k])
            else:
                out[k] = a[k] if k in a else b[k]
                opt.add(k)
        if opt:
            out[OPTIONAL] = sorted(opt)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            return a or b
        return [merge_shapes(a[0], b[0])]
    if a == b:
        return a
    return "|".join(sorted(set(_kind(a).split("|")) | set(_kind(b).split("|"))))


def shape_diff(actual, expected, path="$"):
    """Differences between two shapes as a list of strings (empty when equal). Members that
    are optional in expected may be absent from actual; an empty list matches any list (an
    empty reply says nothing about element shape)."""
    diffs = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        optional = set(expected.get(OPTIONAL, []))
        for k in expected:
            if k != OPTIONAL and k not in actual and k not in optional:
                diffs.append("%s.%s: missing" % (path, k))
        for k in actual:
            if k != OPTIONAL and k not in expected:
                diffs.append("%s.%s: unexpected" % (path, k))
        for k in expected:
            if k != OPTIONAL and k in actual:
                diffs.extend(shape_diff(actual[k], expected[k], "%s.%s" % (path, k)))
    elif isinstance(expected, list) and isinstance(actual, list):
        if expected and actual:
            diffs.extend(shape_diff(actual[0], expected[0], path + "[0]"))
    elif isinstance(expected, str) and "|" in expected:
        if not set(_kind(actual).split("|")) <= set(expected.split("|")):
            diffs.append("%s: %s, expected %s" % (path, _kind(actual), expected))
    elif expected != actual:
        diffs.append("%s: %s, expected %s" % (path, _kind(actual), _kind(expected)))
    return diffs


def _kind(s):
    if isinstance(s, dict):
        return "object"
    if isinstance(s, list):
        return "array"
    return s


def error_class(reply):
    return reply.get("error", {}).get("class")


# ----------------------------------------------------------------------------------------
# QMP client


class QMPClient:
    """One QMP connection. Replies are returned by cmd()/read_reply(); events are collected
    in self.events (and can be waited for with wait_event())."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.events = []
        self.greeting = None
        self.eof = False

    # -- low level
    def send_bytes(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, obj):
        self.send_bytes(json.dumps(obj) + "\n")

    def _read_line(self, deadline):
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout("no complete QMP message within %.0f s" % TIMEOUT)
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                raise QMPTimeout("no complete QMP message within %.0f s" % TIMEOUT)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                raise QMPClosed("connection closed (pending: %r)" % self.buf[:200])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def read_message(self, timeout=None):
        """Next JSON message (reply, event or greeting), parsed with member order kept."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        while True:
            line = self._read_line(deadline).strip()
            if line:
                return json.loads(line.decode("utf-8", "replace"))

    def read_reply(self, timeout=None):
        """Next reply (return or error); events met on the way go to self.events."""
        while True:
            msg = self.read_message(timeout)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def read_greeting(self):
        self.greeting = self.read_message()
        return self.greeting

    def wait_event(self, name, timeout=None):
        """Return (and remove) the first event called name, reading until it arrives."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name:
                    return self.events.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout("event %s did not arrive" % name)
            msg = self.read_message(remaining)
            if "event" in msg:
                self.events.append(msg)
            else:
                raise QMPError("unexpected reply while waiting for %s: %r" % (name, msg))

    # -- commands
    def cmd(self, name, **args):
        """Execute a command and return the parsed reply (return or error)."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.send(msg)
        return self.read_reply()

    def cmd_obj(self, obj):
        """Send an arbitrary request object and return the reply."""
        self.send(obj)
        return self.read_reply()

    def cmd_ok(self, name, **args):
        reply = self.cmd(name, **args)
        if "return" not in reply:
            raise QMPError("%s failed: %r" % (name, reply))
        return reply["return"]

    def sync(self, tag):
        """Send a query-status with id=tag and return (replies before it, its reply): a
        barrier after raw input that may produce any number of error replies."""
        self.send({"execute": "query-status", "id": tag})
        before = []
        while True:
            reply = self.read_reply()
            if reply.get("id") == tag:
                return before, reply
            before.append(reply)

    def negotiate(self):
        self.read_greeting()
        reply = self.cmd("qmp_capabilities")
        # QEMU with --preconfig sometimes repeats its greeting before the reply (seen with
        # Debian's 7.2); a repeated greeting is not an answer.
        while "QMP" in reply:
            reply = self.read_reply()
        if reply != {"return": {}}:
            raise QMPError("qmp_capabilities failed: %r" % (reply,))

    def read_until_eof(self, timeout=None):
        """Read messages until the peer closes; return them (events included)."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        msgs = []
        while True:
            try:
                msgs.append(self.read_message(max(0.001, deadline - time.monotonic())))
            except QMPClosed:
                return msgs

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# the machine under test


def thread_states(pid):
    """One "name:state:wchan:syscall" entry per thread of a live process, from /proc."""
    out = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid), key=int)
    except OSError:
        return "process gone"
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        fields = []
        for name in ("comm", "stat", "wchan", "syscall"):
            try:
                with open(base + name) as f:
                    text = f.read().strip()
            except OSError:
                text = "?"
            if name == "stat":
                text = text.rpartition(")")[2].split()[0] if ")" in text else "?"
            elif name == "syscall":
                text = text.split()[0] if text else "?"
            fields.append(text)
        out.append(":".join(fields))
    return ", ".join(out)


class Machine:
    """An emulator process with one or more QMP monitors on inherited listening sockets.

    Machine(binary, args=[...], oracle=False, monitors=1)
      .start(negotiate=True)  -> connects every monitor, reads greetings (and negotiates)
      .qmp                    -> the first QMPClient; .monitors is the list
      .quit()                 -> "quit", EOF, returns the exit status
    """

    def __init__(self, binary=None, args=(), oracle=None, monitors=1, base=True):
        if binary is None:
            binary = oracle_binary() if oracle else binary_under_test()
            if oracle is None:
                oracle = is_oracle_mode()
        elif oracle is None:
            oracle = False
        self.binary = binary
        self.oracle = bool(oracle)
        self.extra = list(args)
        self.nmon = monitors
        self.base = base
        self.proc = None
        self.monitors = []
        self.stderr = b""
        self.stdout = b""
        self._tmp = None

    @property
    def qmp(self):
        return self.monitors[0]

    def argv(self, fds):
        argv = [self.binary]
        if self.base:
            argv += base_args(self.oracle)
        for i, fd in enumerate(fds):
            argv += ["-chardev", "socket,id=mon%d,fd=%d,server=on,wait=off" % (i, fd),
                     "-mon", "chardev=mon%d,mode=control" % i]
        return argv + self.extra

    def start(self, negotiate=True):
        self._tmp = tempfile.TemporaryDirectory(prefix="nemu-qmp-")
        listeners, paths = [], []
        for i in range(self.nmon):
            path = os.path.join(self._tmp.name, "mon%d.sock" % i)
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(path)
            ls.listen(4)
            listeners.append(ls)
            paths.append(path)
        fds = [ls.fileno() for ls in listeners]
        self.proc = subprocess.Popen(self.argv(fds), pass_fds=fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for path in paths:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(TIMEOUT)
                s.connect(path)   # the socket already listens: connect cannot race
                self.monitors.append(QMPClient(s))
        finally:
            # The child holds the listeners now; dropping ours means a child that dies
            # before accepting closes them, and our reads see EOF instead of hanging.
            for ls in listeners:
                ls.close()
        for mon in self.monitors:
            try:
                if negotiate:
                    mon.negotiate()
                else:
                    mon.read_greeting()
            except QMPError as e:
                # Which process and what its threads were doing: a CI log may keep only the
                # first lines of this message.
                threads = thread_states(self.proc.pid)
                self.kill()
                raise type(e)("%s %s at start-up: %s; threads: %s; argv: %s; stderr: %s" % (
                    "oracle" if self.oracle else "nemu", os.path.basename(self.binary), e,
                    threads, " ".join(self.argv(fds)), self.stderr.decode(errors="replace")))
        return self

    def wait(self, timeout=None):
        """Wait for exit, collect stdout/stderr, return the exit status."""
        try:
            out, err = self.proc.communicate(timeout=timeout or TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise QMPTimeout("%s did not exit" % self.binary)
        self.stdout += out or b""
        self.stderr += err or b""
        return self.proc.returncode

    def quit(self):
        """quit via the first monitor; returns (reply, exit status)."""
        reply = self.qmp.cmd("quit")
        self.qmp.read_until_eof()
        return reply, self.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            try:
                out, err = self.proc.communicate(timeout=TIMEOUT)
                self.stdout += out or b""
                self.stderr += err or b""
            except (subprocess.TimeoutExpired, ValueError):
                pass

    def close(self):
        for mon in self.monitors:
            mon.close()
        self.kill()
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self if self.proc else self.start()

    def __exit__(self, *exc):
        self.close()
        return False


def run_on_oracle(requests, args=(), negotiate=True):
    """Run requests (command names, (name, args) pairs or full request dicts) on the oracle
    (qemu-system-x86_64 -M none -accel tcg ...) and return the replies."""
    with Machine(oracle_binary(), args=args, oracle=True).start(negotiate) as m:
        return [_do(m.qmp, r) for r in requests]


def _do(qmp, r):
    if isinstance(r, str):
        return qmp.cmd(r)
    if isinstance(r, tuple):
        return qmp.cmd(r[0], **r[1])
    return qmp.cmd_obj(r)


# ----------------------------------------------------------------------------------------
# QAPI introspection (query-qmp-schema) comparison


class Schema:
    """query-qmp-schema data indexed by name. Type names other than builtins are masked
    (numbers) and differ between binaries, so types are compared structurally."""

    def __init__(self, entries):
        self.by_name = {e["name"]: e for e in entries}
        self.commands = {e["name"]: e for e in entries if e["meta-type"] == "command"}
        self.events = {e["name"]: e for e in entries if e["meta-type"] == "event"}


def schema_type_diff(a, an, b, bn, path, assumed=None, subset_enums=True):
    """Compare type `an` of schema a (nemu) with type `bn` of schema b (QEMU). Enum values and
    union variants of a may be a subset of b's (nemu has fewer object types, devices...);
    object members must be the same, with the same optionality. Returns a list of diffs."""
    if assumed is None:
        assumed = set()
    if (an, bn) in assumed:
        return []
    assumed.add((an, bn))
    ta, tb = a.by_name.get(an), b.by_name.get(bn)
    if ta is None or tb is None:
        return ["%s: type %s/%s not found" % (path, an, bn)]
    ma, mb = ta["meta-type"], tb["meta-type"]
    if ma != mb:
        return ["%s: meta-type %s, expected %s" % (path, ma, mb)]
    diffs = []
    if ma == "builtin":
        if ta["json-type"] != tb["json-type"] or an != bn:
            diffs.append("%s: builtin %s, expected %s" % (path, an, bn))
    elif ma == "enum":
        va, vb = set(ta["values"]), set(tb["values"])
        extra = va - vb
        if extra or (not subset_enums and va != vb):
            diffs.append("%s: enum values %s, expected within %s" % (path, sorted(va),
                                                                     sorted(vb)))
    elif ma == "array":
        diffs += schema_type_diff(a, ta["element-type"], b, tb["element-type"], path + "[]",
                                  assumed, subset_enums)
    elif ma == "object":
        mema = {m["name"]: m for m in ta.get("members", [])}
        memb = {m["name"]: m for m in tb.get("members", [])}
        if set(mema) != set(memb):
            diffs.append("%s: members %s, expected %s" % (path, sorted(mema), sorted(memb)))
        for name in set(mema) & set(memb):
            if ("default" in mema[name]) != ("default" in memb[name]):
                diffs.append("%s.%s: optionality differs" % (path, name))
            diffs += schema_type_diff(a, mema[name]["type"], b, memb[name]["type"],
                                      "%s.%s" % (path, name), assumed, subset_enums)
        if ta.get("tag") != tb.get("tag"):
            diffs.append("%s: tag %s, expected %s" % (path, ta.get("tag"), tb.get("tag")))
        vara = {v["case"]: v["type"] for v in ta.get("variants", [])}
        varb = {v["case"]: v["type"] for v in tb.get("variants", [])}
        for case in vara:
            if case not in varb:
                diffs.append("%s: variant %s not in QEMU" % (path, case))
            else:
                diffs += schema_type_diff(a, vara[case], b, varb[case],
                                          "%s<%s>" % (path, case), assumed, subset_enums)
    elif ma == "alternate":
        # alternates are told apart by JSON type: compare the member types by meta-type
        kinds_a = sorted(_alt_key(a, m["type"]) for m in ta["members"])
        kinds_b = sorted(_alt_key(b, m["type"]) for m in tb["members"])
        if kinds_a != kinds_b:
            diffs.append("%s: alternate of %s, expected %s" % (path, kinds_a, kinds_b))
    return diffs


def _alt_key(schema, name):
    t = schema.by_name[name]
    return t["json-type"] if t["meta-type"] == "builtin" else t["meta-type"]


def command_schema_diff(a, b, name):
    ca, cb = a.commands[name], b.commands[name]
    diffs = schema_type_diff(a, ca["arg-type"], b, cb["arg-type"], name + "(args)")
    diffs += schema_type_diff(a, ca["ret-type"], b, cb["ret-type"], name + "(ret)")
    if bool(ca.get("allow-oob")) != bool(cb.get("allow-oob")):
        diffs.append("%s: allow-oob differs" % name)
    return diffs


def event_schema_diff(a, b, name):
    return schema_type_diff(a, a.events[name]["arg-type"], b, b.events[name]["arg-type"],
                            name + "(data)")


# ----------------------------------------------------------------------------------------
# unittest base


class QMPTestCase(unittest.TestCase):
    """Base class: self.binary, self.oracle_mode, start() helper that registers cleanup."""

    maxDiff = None

    def setUp(self):
        self.binary = binary_under_test()
        self.oracle_mode = is_oracle_mode()

    def start(self, args=(), monitors=1, negotiate=True):
        m = Machine(args=args, monitors=monitors)
        self.addCleanup(m.close)
        m.start(negotiate)
        return m

    def start_oracle(self, args=(), monitors=1, negotiate=True):
        if not oracle_available():
            self.skipTest("oracle %s not installed" % oracle_binary())
        m = Machine(oracle_binary(), args=args, oracle=True, monitors=monitors)
        self.addCleanup(m.close)
        try:
            m.start(negotiate)
        except QMPTimeout:
            # The oracle is the reference, not the subject: one CI run saw QEMU 7.2 leave a
            # qmp_capabilities unanswered at start-up (its monitor I/O thread races the
            # accept of an already-connected client; see negotiate()). Start it once more;
            # nemu's own start-up never gets a second chance.
            m = Machine(oracle_binary(), args=args, oracle=True, monitors=monitors)
            self.addCleanup(m.close)
            m.start(negotiate)
        return m

    def assertShape(self, actual, expected, msg=""):
        diffs = shape_diff(shape(actual), shape(expected))
        if diffs:
            self.fail("%sshape differs from QEMU's:\n  %s\nactual: %s\nQEMU: %s" % (
                msg + ": " if msg else "", "\n  ".join(diffs), _short(actual),
                _short(expected)))

    def assertOk(self, reply, msg=""):
        if "return" not in reply:
            self.fail("%sexpected success, got %s" % (msg + ": " if msg else "", reply))
        return reply["return"]

    def assertError(self, reply, cls, desc=None, msg=""):
        pre = msg + ": " if msg else ""
        if "error" not in reply:
            self.fail("%sexpected error %s, got %s" % (pre, cls, _short(reply)))
        self.assertEqual(reply["error"]["class"], cls, pre + str(reply))
        if desc is not None:
            self.assertEqual(reply["error"]["desc"], desc, pre + str(reply))
        self.assertEqual(list(reply["error"].keys()), ["class", "desc"], pre + str(reply))


def _short(v, n=600):
    s = json.dumps(v)
    return s if len(s) <= n else s[:n] + "..."
