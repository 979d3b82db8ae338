"""Emits qapi-introspect.cpp: the query-qmp-schema reply in QEMU 7.2's SchemaInfo layout.

Follows QEMU scripts/qapi/introspect.py (masked mode, the default build):
 - the first pass emits commands and events in definition order; types are emitted afterwards,
   in order of first use, each visit possibly queueing more;
 - every integer type is reported as 'int' ('[int]' for arrays of them);
 - non-builtin, non-array type names are masked as decimal strings in order of first use;
 - commands without arguments or return value, and events without data, use the empty
   object type (q_empty);
 - object members carry 'default': null when optional; objects list base members first.
Key order inside each object follows the iteration order of QEMU's QDict (qobject/qdict.c:
tdb_hash() modulo 512 buckets, newest first within a bucket), so the reply reads byte for byte
like QEMU's."""

import json

INT_TYPES = {'int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
             'size'}


def tdb_hash(name):
    value = (0x238F13AF * len(name)) & 0xffffffff
    for i, ch in enumerate(name.encode()):
        value = (value + (ch << (i * 5 % 24))) & 0xffffffff
    return (1103515243 * value + 12345) & 0xffffffff


def qdict_order(d):
    """Reorder a dict's keys the way QEMU's QDict iterates them."""
    buckets = {}
    for k in d:   # insertion order; each insertion goes to the head of its bucket
        buckets.setdefault(tdb_hash(k) % 512, []).insert(0, k)
    out = {}
    for b in sorted(buckets):
        for k in buckets[b]:
            out[k] = d[k]
    return out


class Introspector:
    def __init__(self, schema):
        self.schema = schema
        self.used = []
        self.names = {}
        self.trees = []

    def _name(self, name):
        if name not in self.names:
            self.names[name] = str(len(self.names))
        return self.names[name]

    def use(self, t):
        if t.kind == 'builtin' and t.name in INT_TYPES:
            t = self.schema.types['int']
        elif t.kind == 'array' and t.element.kind == 'builtin' and t.element.name in INT_TYPES:
            t = self.schema.lookup(['int'])
        if t not in self.used:
            self.used.append(t)
        if t.kind == 'builtin':
            return t.name
        if t.kind == 'array':
            return '[' + self.use(t.element) + ']'
        return self._name(t.name)

    def tree(self, name, mtype, obj, features=None):
        if mtype not in ('command', 'event', 'builtin', 'array'):
            name = self._name(name)
        obj['name'] = name
        obj['meta-type'] = mtype
        if features:
            obj['features'] = list(features)
        self.trees.append(qdict_order(obj))

    def member(self, m):
        obj = {'name': m.name, 'type': self.use(m.type)}
        if m.optional:
            obj['default'] = None
        if m.features:
            obj['features'] = list(m.features)
        return qdict_order(obj)

    def visit_type(self, t):
        if t.kind == 'builtin':
            from schema import BUILTINS
            self.tree(t.name, 'builtin', {'json-type': BUILTINS[t.name][1]})
        elif t.kind == 'enum':
            members = []
            for v, feats in t.members:
                o = {'name': v}
                if feats:
                    o['features'] = list(feats)
                members.append(qdict_order(o))
            self.tree(t.name, 'enum', {'members': members, 'values': [v for v, _ in t.members]},
                      t.features)
        elif t.kind == 'array':
            el = self.use(t.element)
            self.tree('[' + el + ']', 'array', {'element-type': el})
        elif t.kind in ('struct', 'union'):
            obj = {'members': [self.member(m) for m in t.all_members()]}
            if t.kind == 'union':
                obj['tag'] = t.tag
                # QEMU gives every tag value a variant; unlisted ones get the empty object.
                listed = dict(t.variants)
                tag_enum = self.schema.tag_member(t).type
                obj['variants'] = [
                    qdict_order({'case': v, 'type': self.use(listed.get(v, self.schema.empty))})
                    for v, _ in tag_enum.members]
            self.tree(t.name, 'object', obj, t.features)
        elif t.kind == 'alternate':
            self.tree(t.name, 'alternate',
                      {'members': [{'type': self.use(bt)} for _, bt in t.variants]}, t.features)

    def run(self):
        empty = self.schema.empty
        for e in self.schema.entities:
            if e.meta == 'command':
                obj = {'arg-type': self.use(e.arg or empty), 'ret-type': self.use(e.ret or empty)}
                if e.allow_oob:
                    obj['allow-oob'] = True
                self.tree(e.name, 'command', obj, e.features)
            else:
                self.tree(e.name, 'event', {'arg-type': self.use(e.arg or empty)}, e.features)
        i = 0
        while i < len(self.used):   # visiting may queue more types
            self.visit_type(self.used[i])
            i += 1
        return self.trees


def gen_source(schema):
    trees = Introspector(schema).run()
    text = json.dumps(trees, separators=(',', ':'))
    # Split the literal: compilers cap a single string literal's length (C++ [implimits]).
    chunks = [text[i:i + 4000] for i in range(0, len(text), 4000)]
    lit = '\n'.join('    R"qapi(%s)qapi"' % c for c in chunks)
    return '''// Generated by qapi/gen/qapi_gen.py from qapi/schema/*.json. Do not edit.
#include "qapi/qapi-introspect.h"

namespace nemu::qapi {

namespace {
constexpr char kSchemaText[] =
%s;
} // namespace

std::string_view qapi_introspection_text() { return {kSchemaText, sizeof(kSchemaText) - 1}; }

const Json& qapi_introspection() {
    // Parsed once, on first use; immutable afterwards (C++ guarantees thread-safe init).
    static const Json kSchema = Json::parse(qapi_introspection_text());
    return kSchema;
}

} // namespace nemu::qapi
''' % lit


HEADER = '''#pragma once
// Generated by qapi/gen/qapi_gen.py. The query-qmp-schema reply (QEMU 7.2 SchemaInfo list).

#include <string_view>

#include "util/json.h"

namespace nemu::qapi {

const Json& qapi_introspection();
// The same data as compact JSON text.
std::string_view qapi_introspection_text();

} // namespace nemu::qapi
'''
