"""getfd/closefd: file descriptors passed over the QMP unix socket with SCM_RIGHTS (libvirt
and Kata hand tap and disk fds over this way). Replies are compared with the oracle's."""

import json
import os
import re
import socket
import unittest

from qmp_harness import QMPTestCase


def getfd(qmp, name, fd):
    msg = ('{"execute":"getfd","arguments":{"fdname":"%s"}}\n' % name).encode()
    if fd is None:
        qmp.sock.sendall(msg)
    else:
        socket.send_fds(qmp.sock, [msg], [fd])
    return qmp.read_reply()


def send_with_fd(qmp, obj, fd):
    msg = (json.dumps(obj) + "\n").encode()
    if fd is None:
        qmp.sock.sendall(msg)
    else:
        socket.send_fds(qmp.sock, [msg], [fd])
    return qmp.read_reply()


def without_fd_numbers(reply):
    """fd numbers are the VMM's own and differ between processes."""
    text = json.dumps(reply, sort_keys=True)
    return re.sub(r'"fd": \d+', '"fd": N', text)


class FdPassingTest(QMPTestCase):
    def fdset_sequence(self, proc):
        q = proc.qmp
        r, w = os.pipe()
        try:
            out = [send_with_fd(q, {"execute": "add-fd", "arguments": {"opaque": "hello"}}, r),
                   send_with_fd(q, {"execute": "add-fd", "arguments": {"fdset-id": 0}}, w),
                   send_with_fd(q, {"execute": "add-fd", "arguments": {"fdset-id": 5}}, w),
                   send_with_fd(q, {"execute": "add-fd"}, None),
                   q.cmd("query-fdsets"),
                   q.cmd("remove-fd", **{"fdset-id": 0}),
                   q.cmd("remove-fd", **{"fdset-id": 0}),
                   q.cmd("remove-fd", **{"fdset-id": 5, "fd": 99999}),
                   q.cmd("query-fdsets")]
        finally:
            os.close(r)
            os.close(w)
        return [without_fd_numbers(x) for x in out]

    def test_fdsets_match_oracle(self):
        self.assertEqual(self.fdset_sequence(self.start()), self.fdset_sequence(self.start_oracle()))

    def sequence(self, proc):
        r, w = os.pipe()
        try:
            out = [getfd(proc.qmp, "fd0", r),
                   proc.qmp.cmd("closefd", fdname="fd0"),
                   proc.qmp.cmd("closefd", fdname="fd0"),
                   getfd(proc.qmp, "fd1", None),
                   getfd(proc.qmp, "0bad", w)]
        finally:
            os.close(r)
            os.close(w)
        return out

    def test_getfd_closefd_match_oracle(self):
        mine = self.sequence(self.start())
        theirs = self.sequence(self.start_oracle())
        self.assertEqual(mine, theirs)
        self.assertEqual(mine[0], {"return": {}})
        self.assertEqual(mine[1], {"return": {}})
        self.assertIn("error", mine[2])

    def test_passed_fd_reaches_the_vmm(self):
        """The fd really arrives: the VMM holds the pipe's read end, so the write end does
        not see EPIPE until closefd drops it."""
        m = self.start()
        r, w = os.pipe()
        self.assertEqual(getfd(m.qmp, "p", r), {"return": {}})
        os.close(r)
        os.write(w, b"x")  # would raise BrokenPipeError if nobody held the read end
        self.assertEqual(m.qmp.cmd("closefd", fdname="p"), {"return": {}})
        with self.assertRaises(BrokenPipeError):
            os.write(w, b"y")
        os.close(w)


if __name__ == "__main__":
    unittest.main()
