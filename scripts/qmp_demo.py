#!/usr/bin/env python3
"""Start nemu with machine "none" and a QMP monitor, and print a QMP exchange.

usage: qmp_demo.py BINARY

The monitor is a listening UNIX socket created here and inherited by nemu
(-chardev socket,fd=N,server=on,wait=off), the way libvirt does it: the client connects
before nemu runs, so nothing polls or sleeps. Exits non-zero if any step fails.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

TIMEOUT = 10.0
COMMANDS = [
    {"execute": "qmp_capabilities"},
    {"execute": "query-version"},
    {"execute": "query-status"},
    {"execute": "qom-list", "arguments": {"path": "/"}},
    {"execute": "qom-list", "arguments": {"path": "/machine"}},
    {"execute": "quit"},
]


def show(direction, obj):
    print("%s %s" % (direction, json.dumps(obj)))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: qmp_demo.py BINARY")
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="nemu-demo-") as tmp:
        path = os.path.join(tmp, "qmp.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        fd = listener.fileno()
        argv = [binary, "-M", "none", "-accel", "qtest", "-display", "none", "-nodefaults",
                "-chardev", "socket,id=mon0,fd=%d,server=on,wait=off" % fd,
                "-mon", "chardev=mon0,mode=control"]
        print("$ " + " ".join(argv))
        proc = subprocess.Popen(argv, pass_fds=[fd], stdin=subprocess.DEVNULL)
        try:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(TIMEOUT)
            client.connect(path)
            listener.close()
            stream = client.makefile("rwb")

            def receive():
                line = stream.readline()
                if not line:
                    raise RuntimeError("nemu closed the monitor")
                return json.loads(line)

            show("<-", receive())
            for cmd in COMMANDS:
                show("->", cmd)
                stream.write(json.dumps(cmd).encode() + b"\n")
                stream.flush()
                reply = receive()
                while "event" in reply:        # events may come before the reply
                    show("<-", reply)
                    reply = receive()
                show("<-", reply)
                if "return" not in reply:
                    raise RuntimeError("%s failed" % cmd["execute"])
            for line in stream:                # the SHUTDOWN event, then end of stream
                show("<-", json.loads(line))
            status = proc.wait(TIMEOUT)
        except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as e:
            proc.kill()
            proc.wait()
            sys.exit("demo failed: %s" % e)
    print("nemu exited with status %d" % status)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
