#!/usr/bin/env python3
"""Compare nemu's query-qmp-schema with QEMU 7.2's (the live oracle).

usage: compare_introspection.py QAPI_INTROSPECT_DUMP

For every command and event both have, resolves the masked type names on each side and
compares the shapes: argument/return/event members with names, types, optionality and
features, enum values, union tags and variants, alternates, and allow-oob. Exits 77 (skip)
when qemu-system-x86_64 is not installed, 1 on any difference.

Deliberate subsets (documented in qapi/schema/qom.json): for the unions listed in
PARTIAL_UNIONS, nemu may leave out branches (a variant only QEMU has, or one with the empty
object type in nemu) and the tag enum may list a subset of QEMU's values. Anything nemu has
that QEMU lacks is still a difference."""

import json
import shutil
import subprocess
import sys

PARTIAL_UNIONS = {'object-add',   # ObjectOptions: only the object types nemu implements
                  # ImageInfoSpecific, BlockStatsSpecific, BlockdevDriver: nemu's drivers only
                  'query-block', 'query-named-block-nodes', 'query-blockstats',
                  'blockdev-add',   # BlockdevOptions: file, host_device, raw, qcow2, vpc
                  'netdev_add'}     # Netdev: tap only


def qemu_schema():
    req = b'{"execute":"qmp_capabilities"}\n{"execute":"query-qmp-schema"}\n{"execute":"quit"}\n'
    out = subprocess.run(['qemu-system-x86_64', '-M', 'none', '-display', 'none', '-nodefaults',
                          '-qmp', 'stdio'], input=req, capture_output=True, timeout=30).stdout
    for line in out.decode().splitlines():
        msg = json.loads(line)
        if isinstance(msg.get('return'), list):
            return msg['return']
    raise SystemExit('no query-qmp-schema reply from qemu-system-x86_64')


class Resolver:
    def __init__(self, entries):
        self.by = {e['name']: e for e in entries}

    def shape(self, name, partial, depth=0, path=()):
        """A comparable structure for a type name, masked names resolved. A type met again
        inside itself (BlockdevOptions -> BlockdevRef -> BlockdevOptions) is marked rather
        than expanded: expanding it would grow exponentially until the depth limit."""
        if name.startswith('['):
            return ['array', self.shape(name[1:-1], partial, depth, path)]
        e = self.by[name]
        mt = e['meta-type']
        if mt == 'builtin':
            return name
        if name in path:
            return ['recursive', mt]
        path = path + (name,)
        if depth > 12:
            return mt
        if mt == 'enum':
            return ['enum', [(m['name'], m.get('features', [])) for m in e['members']]]
        if mt == 'alternate':
            return ['alternate', [self.shape(m['type'], partial, depth + 1, path) for m in e['members']]]
        members = [(m['name'], self.shape(m['type'], partial, depth + 1, path), 'default' in m,
                    m.get('features', [])) for m in e['members']]
        out = ['object', members]
        if 'tag' in e:
            out.append(e['tag'])
            out.append({v['case']: self.shape(v['type'], partial, depth + 1, path)
                        for v in e['variants']})
        return out


EMPTY = ['object', []]


def diff(path, a, b, partial, errs):
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(b, tuple):
        b = list(b)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if partial and k not in a:
                continue
            if k not in a or k not in b:
                errs.append('%s: variant %r only in %s' % (path, k, 'nemu' if k in a else 'qemu'))
            elif partial and a[k] == EMPTY and b[k] != EMPTY:
                continue
            else:
                diff('%s/%s' % (path, k), a[k], b[k], partial, errs)
    elif (partial and isinstance(a, list) and isinstance(b, list) and a[:1] == ['enum'] == b[:1]
          and all(v in b[1] for v in a[1])):
        return
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff('%s[%d]' % (path, i), x, y, partial, errs)
    elif a != b:
        errs.append('%s: nemu %s != qemu %s' % (path, json.dumps(a), json.dumps(b)))


def main():
    if not shutil.which('qemu-system-x86_64'):
        print('qemu-system-x86_64 not installed: skipping')
        return 77
    ours = json.loads(subprocess.run([sys.argv[1]], capture_output=True, check=True).stdout)
    theirs = qemu_schema()
    ro, rt = Resolver(ours), Resolver(theirs)
    errs = []
    compared = 0
    for e in ours:
        if e['meta-type'] not in ('command', 'event') or e['name'] not in rt.by:
            continue
        q = rt.by[e['name']]
        partial = e['name'] in PARTIAL_UNIONS
        compared += 1
        for key in ('arg-type', 'ret-type'):
            if key in e or key in q:
                diff('%s.%s' % (e['name'], key), ro.shape(e[key], partial),
                     rt.shape(q[key], partial), partial, errs)
        for key in ('allow-oob', 'features'):
            if e.get(key) != q.get(key):
                errs.append('%s.%s: nemu %r != qemu %r' % (e['name'], key, e.get(key), q.get(key)))
    # nemu's own commands carry QAPI's downstream-extension prefix (qapi/schema/nemu.json);
    # every other command and event must exist in QEMU 7.2.
    missing = [e['name'] for e in ours if e['meta-type'] in ('command', 'event')
               and e['name'] not in rt.by and not e['name'].startswith('__org.nemu_')]
    for name in missing:
        errs.append('%s: not in QEMU 7.2' % name)
    for line in errs:
        print(line)
    if errs:
        print('%d differences in %d entities' % (len(errs), compared))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
