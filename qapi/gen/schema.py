"""QAPI schema reader for nemu: parses QEMU's QAPI JSON dialect (docs/devel/qapi-code-gen.rst
in QEMU 7.2), follows includes, evaluates 'if' conditions against the enabled switches and
builds a small model the C++ emitters walk. Standard library only."""

import os
import re

BUILTINS = {
    # name: (C++ type, json-type reported by introspection)
    'str': ('std::string', 'string'),
    'int': ('int64_t', 'int'), 'int8': ('int8_t', 'int'), 'int16': ('int16_t', 'int'),
    'int32': ('int32_t', 'int'), 'int64': ('int64_t', 'int'),
    'uint8': ('uint8_t', 'int'), 'uint16': ('uint16_t', 'int'), 'uint32': ('uint32_t', 'int'),
    'uint64': ('uint64_t', 'int'), 'size': ('uint64_t', 'int'),
    'number': ('double', 'number'), 'bool': ('bool', 'boolean'),
    'null': ('std::nullptr_t', 'null'), 'any': ('nemu::Json', 'value'),
}

CPP_KEYWORDS = set('''alignas alignof and and_eq asm auto bitand bitor bool break case catch char
char8_t char16_t char32_t class compl concept const consteval constexpr constinit const_cast
continue co_await co_return co_yield decltype default delete do double dynamic_cast else enum
explicit export extern false float for friend goto if inline int long mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct
switch template this thread_local throw true try typedef typeid typename union unsigned using
virtual void volatile wchar_t while xor xor_eq errno unix linux'''.split())


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Lexing/parsing: the dialect is JSON with single-quoted strings, '#' comments and
# true/false; no numbers or null are used by schemas.

_TOKEN = re.compile(r"\s+|#[^\n]*|'(?:[^'\\]|\\.)*'|[{}\[\]:,]|true|false")


def parse_exprs(text, fname):
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SchemaError('%s: stray character %r at offset %d' % (fname, text[pos], pos))
        tok = m.group(0)
        pos = m.end()
        if tok[0].isspace() or tok[0] == '#':
            continue
        toks.append(tok)
    idx = [0]

    def value():
        tok = toks[idx[0]]
        idx[0] += 1
        if tok == '{':
            obj = {}
            if toks[idx[0]] == '}':
                idx[0] += 1
                return obj
            while True:
                key = value()
                if toks[idx[0]] != ':':
                    raise SchemaError('%s: expected ":"' % fname)
                idx[0] += 1
                obj[key] = value()
                sep = toks[idx[0]]
                idx[0] += 1
                if sep == '}':
                    return obj
                if sep != ',':
                    raise SchemaError('%s: expected "," or "}"' % fname)
        if tok == '[':
            arr = []
            if toks[idx[0]] == ']':
                idx[0] += 1
                return arr
            while True:
                arr.append(value())
                sep = toks[idx[0]]
                idx[0] += 1
                if sep == ']':
                    return arr
                if sep != ',':
                    raise SchemaError('%s: expected "," or "]"' % fname)
        if tok == 'true':
            return True
        if tok == 'false':
            return False
        if tok[0] == "'":
            return tok[1:-1]
        raise SchemaError('%s: unexpected token %r' % (fname, tok))

    exprs = []
    while idx[0] < len(toks):
        exprs.append(value())
    return exprs


def load_exprs(path, seen=None):
    """All top-level expressions in include order; a file is included once (as QEMU)."""
    seen = set() if seen is None else seen
    path = os.path.normpath(path)
    if path in seen:
        return []
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        exprs = parse_exprs(f.read(), path)
    out = []
    for e in exprs:
        if 'include' in e:
            out += load_exprs(os.path.join(os.path.dirname(path), e['include']), seen)
        elif 'pragma' in e:
            continue
        else:
            out.append(e)
    return out


# ---------------------------------------------------------------------------------------------
# Conditions: 'CONFIG_X', {'all': [...]}, {'any': [...]}, {'not': ...}.

def cond_true(cond, enabled):
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in enabled
    if 'all' in cond:
        return all(cond_true(c, enabled) for c in cond['all'])
    if 'any' in cond:
        return any(cond_true(c, enabled) for c in cond['any'])
    if 'not' in cond:
        return not cond_true(cond['not'], enabled)
    raise SchemaError('bad condition %r' % (cond,))


def target_configs(target):
    """QEMU's per-target condition macros that hold for a nemu target."""
    return {'x86_64': {'TARGET_I386', 'TARGET_X86_64'},
            'aarch64': {'TARGET_ARM', 'TARGET_AARCH64'}}[target]


# ---------------------------------------------------------------------------------------------
# Model

def c_name(name):
    n = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if n[0].isdigit():
        n = '_' + n
    if n in CPP_KEYWORDS:
        n += '_'
    return n


def camel(name):
    """'qom-get' -> 'QomGet', 'qmp_capabilities' -> 'QmpCapabilities'."""
    return ''.join(p[:1].upper() + p[1:] for p in re.split(r'[-_.]', name) if p)


def enumerator(value):
    """Enum value -> C++ enumerator: 'host-error' -> HostError, 'x86_64' -> X86_64."""
    n = ''.join(p[:1].upper() + p[1:] for p in value.split('-') if p)
    n = re.sub(r'[^A-Za-z0-9_]', '_', n)
    if n[0].isdigit():
        n = 'V' + n
    return n


class Member:
    def __init__(self, name, typ, optional, features):
        self.name, self.type, self.optional, self.features = name, typ, optional, features
        self.cname = c_name(name)


class Type:
    def __init__(self, kind, name, **kw):
        self.kind = kind          # builtin enum struct union alternate array
        self.name = name
        self.features = []
        self.members = []         # struct/union: own members (Member); enum: [(value, features)]
        self.base = None
        self.tag = None
        self.variants = []        # union: [(case, Type)]; alternate: [Type]
        self.element = None
        self.implicit = False
        self.__dict__.update(kw)

    def all_members(self):
        base = self.base.all_members() if self.base else []
        return base + self.members

    @property
    def cpp(self):
        if self.kind == 'builtin':
            return BUILTINS[self.name][0]
        if self.kind == 'array':
            return 'std::vector<%s>' % self.element.cpp
        return self.cname

    @property
    def json_type(self):
        if self.kind == 'builtin':
            return BUILTINS[self.name][1]
        return {'enum': 'string', 'array': 'array', 'alternate': 'value'}.get(self.kind, 'object')


class Command:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class Schema:
    def __init__(self, path, enabled):
        self.enabled = set(enabled)
        self.types = {}
        self.entities = []       # commands and events in definition order
        for b in BUILTINS:
            self.types[b] = Type('builtin', b, cname=b)
        self.empty = Type('struct', 'q_empty', cname='Empty', implicit=True)
        self.types['q_empty'] = self.empty
        self._raw = {}
        exprs = [e for e in load_exprs(path) if cond_true(e.get('if'), self.enabled)]
        for e in exprs:
            meta = next(k for k in ('enum', 'struct', 'union', 'alternate', 'command', 'event')
                        if k in e)
            if meta in ('enum', 'struct', 'union', 'alternate'):
                self._raw[e[meta]] = (meta, e)
                t = Type(meta, e[meta], cname=c_name(e[meta]))
                self.types[e[meta]] = t
        for name, (meta, e) in self._raw.items():
            self._fill(self.types[name], meta, e)
        for e in exprs:
            if 'command' in e:
                self.entities.append(self._command(e))
            elif 'event' in e:
                self.entities.append(self._event(e))

    def feats(self, lst):
        out = []
        for f in lst or []:
            if isinstance(f, str):
                out.append(f)
            elif cond_true(f.get('if'), self.enabled):
                out.append(f['name'])
        return out

    def lookup(self, spec):
        if isinstance(spec, list):
            el = self.lookup(spec[0])
            name = '[%s]' % el.name
            if name not in self.types:
                self.types[name] = Type('array', name, element=el, cname=el.cname + 'List')
            return self.types[name]
        if spec not in self.types:
            raise SchemaError('unknown type %r' % spec)
        return self.types[spec]

    def members(self, data):
        out = []
        for key, spec in data.items():
            feats = []
            if isinstance(spec, dict):
                if not cond_true(spec.get('if'), self.enabled):
                    continue
                feats = self.feats(spec.get('features'))
                spec = spec['type']
            opt = key.startswith('*')
            out.append(Member(key[1:] if opt else key, self.lookup(spec), opt, feats))
        return out

    def implicit_struct(self, name, cname, data):
        if data is None:
            return None
        if isinstance(data, str):
            return self.lookup(data)
        t = Type('struct', name, cname=cname, implicit=True)
        t.members = self.members(data)
        self.types[name] = t
        return t

    def _fill(self, t, meta, e):
        t.features = self.feats(e.get('features'))
        if meta == 'enum':
            for v in e['data']:
                if isinstance(v, str):
                    t.members.append((v, []))
                elif cond_true(v.get('if'), self.enabled):
                    t.members.append((v['name'], self.feats(v.get('features'))))
        elif meta == 'struct':
            t.base = self.lookup(e['base']) if 'base' in e else None
            t.members = self.members(e.get('data', {}))
        elif meta == 'union':
            base = e['base']
            if isinstance(base, dict):
                base = self.implicit_struct('q_obj_%s-base' % t.name, t.cname + 'Base', base)
            else:
                base = self.lookup(base)
            t.base = base
            t.tag = e['discriminator']
            for case, spec in e['data'].items():
                if isinstance(spec, dict):
                    if not cond_true(spec.get('if'), self.enabled):
                        continue
                    spec = spec['type']
                t.variants.append((case, self.lookup(spec)))
        elif meta == 'alternate':
            for case, spec in e['data'].items():
                if isinstance(spec, dict):
                    if not cond_true(spec.get('if'), self.enabled):
                        continue
                    spec = spec['type']
                t.variants.append((case, self.lookup(spec)))

    def tag_member(self, t):
        return next(m for m in t.all_members() if m.name == t.tag)

    def _command(self, e):
        name = e['command']
        boxed = e.get('boxed', False)
        data = e.get('data')
        arg = self.implicit_struct('q_obj_%s-arg' % name, camel(name) + 'Arg', data)
        ret = self.lookup(e['returns']) if 'returns' in e else None
        return Command(meta='command', name=name, cname=c_name(name), arg=arg, ret=ret,
                       boxed=boxed, gen=e.get('gen', True),
                       success_response=e.get('success-response', True),
                       allow_oob=e.get('allow-oob', False),
                       allow_preconfig=e.get('allow-preconfig', False),
                       features=self.feats(e.get('features')))

    def _event(self, e):
        name = e['event']
        arg = self.implicit_struct('q_obj_%s-arg' % name, camel(name.lower()) + 'EventData',
                                   e.get('data'))
        return Command(meta='event', name=name, cname=c_name(name.lower()), arg=arg,
                       boxed=e.get('boxed', False), features=self.feats(e.get('features')))

    def user_types(self):
        """Named and implicit non-builtin, non-array types in dependency order."""
        order, seen = [], set()

        def visit(t):
            if t.kind == 'array':
                return visit(t.element)
            if t.kind == 'builtin' or t.name in seen:
                return
            seen.add(t.name)
            deps = []
            if t.base:
                deps.append(t.base)
            deps += [m.type for m in t.members if isinstance(m, Member)]
            # An alternate holds its object branches by pointer (gen_types.py alt_cpp): they
            # may come after it, which a recursive BlockdevRef/BlockdevOptions pair needs.
            later = [v for _, v in t.variants if t.kind == 'alternate' and v.kind in ('struct', 'union')]
            deps += [v for _, v in t.variants if v not in later]
            for d in deps:
                visit(d)
            order.append(t)
            for d in later:
                visit(d)

        for t in list(self.types.values()):
            visit(t)
        return order
