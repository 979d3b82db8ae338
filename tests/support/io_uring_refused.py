"""Run a VMM (nemu or QEMU) with io_uring_setup refused, as a sandbox or an old kernel would:
strace's fault injection makes every io_uring_setup fail with EPERM. Used by the tests of
the explicit aio=io_uring errors (tests/qmp/test_block.py, tests/block/test_blockdev_aio.py).
"""

import json
import subprocess

# QEMU 7.2's error for an explicit aio=io_uring (file-posix.c raw_open_common + luring_init)
REFUSED = "Unable to use io_uring: failed to init linux io_uring ring"


def run(binary, args, cwd, qmp=()):
    """binary -M none -display none -S -qmp stdio ARGS with the QMP commands qmp between
    qmp_capabilities and quit; returns (the start-up error after "binary: ", or None; the QMP
    replies, return or error, in order)."""
    lines = [{"execute": "qmp_capabilities"}] + list(qmp) + [{"execute": "quit"}]
    p = subprocess.run(["strace", "-f", "-o", "/dev/null", "-e", "trace=io_uring_setup",
                        "-e", "inject=io_uring_setup:error=EPERM",
                        binary, "-M", "none", "-display", "none", "-S", "-qmp", "stdio"] + list(args),
                       input="".join(json.dumps(m) + "\n" for m in lines).encode(),
                       capture_output=True, cwd=cwd, timeout=60)
    err = None
    for line in p.stderr.decode(errors="replace").splitlines():
        prog, _, rest = line.partition(": ")
        if "qemu-system" in prog or "nemu-system" in prog:
            err = rest
            break
    replies = []
    for line in p.stdout.decode(errors="replace").splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if "return" in m or "error" in m:
            replies.append(m)
    return err, replies
