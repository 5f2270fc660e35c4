#!/usr/bin/env python3
"""Kraft protocol code generator.

Reads the compact schema files in src/Protocol/Schemas/*.schema (one per Kafka API; the format is
described in docs/protocol.md, "Schema files") and writes C# message classes with Read/Write methods
into src/Protocol/Generated/. The output is committed, so building Kraft never runs Python; rerun this
script after editing a schema:

    python3 src/Protocol/Generator/generate.py

The script is deliberately plain: one pass to parse, one to emit. It refuses constructs it does not
understand rather than guessing at their encoding.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCHEMAS = os.path.join(ROOT, 'Schemas')
OUT = os.path.join(ROOT, 'Generated')

PRIMS = {
    # schema type: (C# type, read call, write call, fixed size)
    'int8': ('sbyte', 'ReadInt8()', 'WriteInt8'),
    'int16': ('short', 'ReadInt16()', 'WriteInt16'),
    'int32': ('int', 'ReadInt32()', 'WriteInt32'),
    'int64': ('long', 'ReadInt64()', 'WriteInt64'),
    'uint16': ('ushort', 'ReadUInt16()', 'WriteUInt16'),
    'uint32': ('uint', 'ReadUInt32()', 'WriteUInt32'),
    'float64': ('double', 'ReadFloat64()', 'WriteFloat64'),
    'bool': ('bool', 'ReadBool()', 'WriteBool'),
    'uuid': ('Guid', 'ReadUuid()', 'WriteUuid'),
}
VARLEN = {'string', 'bytes', 'records'}


def parse_range(text):
    if text == 'none':
        return None
    if text.endswith('+'):
        return (int(text[:-1]), 10 ** 6)
    if '-' in text:
        a, b = text.split('-')
        return (int(a), int(b))
    return (int(text), int(text))


class Field:
    def __init__(self, name, type_, versions, attrs, line):
        self.name = name
        self.type = type_
        self.versions = versions
        self.nullable = parse_range(attrs['nullable']) if 'nullable' in attrs else None
        self.tagged = parse_range(attrs['tagged']) if 'tagged' in attrs else None
        self.tag = int(attrs['tag']) if 'tag' in attrs else None
        self.default = attrs.get('default')
        self.children = []
        self.line = line
        unknown = set(attrs) - {'nullable', 'tagged', 'tag', 'default'}
        if unknown:
            sys.exit(f'{line}: unsupported attributes {unknown}')
        if (self.tagged is None) != (self.tag is None):
            sys.exit(f'{line}: tagged and tag go together')

    @property
    def is_array(self):
        return self.type.startswith('[]')

    @property
    def base(self):
        return self.type[2:] if self.is_array else self.type

    @property
    def is_struct(self):
        return self.base not in PRIMS and self.base not in VARLEN


class Api:
    def __init__(self, name, key, lo, hi, flex):
        self.name, self.key, self.lo, self.hi, self.flex = name, key, lo, hi, flex
        self.messages = []  # (kind, class name, fields)


def parse(path):
    api = None
    current = None
    stack = []
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            where = f'{os.path.basename(path)}:{number}'
            line = raw.rstrip('\n')
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            indent = (len(line) - len(line.lstrip(' '))) // 2
            words = line.split()
            if indent == 0:
                if words[0] == 'api':
                    lo, hi = parse_range(words[3])
                    flex = parse_range(words[5])
                    api = Api(words[1], int(words[2]), lo, hi, flex[0] if flex else None)
                elif words[0] in ('request', 'response'):
                    current = []
                    api.messages.append((words[0], words[1], current))
                    stack = [(0, current)]
                else:
                    sys.exit(f'{where}: unknown directive {words[0]}')
                continue
            attrs = {}
            for w in words[3:]:
                k, _, v = w.partition('=')
                attrs[k] = v
            field = Field(words[0], words[1], parse_range(words[2]), attrs, where)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if not stack:
                sys.exit(f'{where}: bad indentation')
            stack[-1][1].append(field)
            stack.append((indent, field.children))
    return api


class Emitter:
    def __init__(self, api, cls):
        self.api = api
        self.cls = cls
        self.lines = []
        self.structs = {}  # name -> fields (first definition wins)
        self.counter = 0
        self.rename = {}

    def tn(self, base):
        return self.rename.get(base, base)

    def uid(self, stem):
        self.counter += 1
        return f'{stem}{self.counter}'

    def cond(self, r):
        """C# condition for 'version is in range r', simplified against the served range."""
        if r is None:
            return 'false'
        lo, hi = r
        parts = []
        if lo > self.api.lo:
            parts.append(f'version >= {lo}')
        if hi < self.api.hi:
            parts.append(f'version <= {hi}')
        if lo > self.api.hi or hi < self.api.lo:
            return 'false'
        return ' && '.join(parts) if parts else 'true'

    def nullable_anywhere(self, f):
        return f.nullable is not None and self.cond(f.nullable) != 'false'

    def cs_elem_type(self, base):
        if base in PRIMS:
            return PRIMS[base][0]
        if base == 'string':
            return 'string'
        if base in ('bytes', 'records'):
            return 'ReadOnlyMemory<byte>'
        return self.tn(base)

    def cs_type(self, f):
        n = self.nullable_anywhere(f)
        if f.is_array:
            return f'List<{self.cs_elem_type(f.base)}>' + ('?' if n or f.default == 'null' else '')
        if f.base in PRIMS:
            return PRIMS[f.base][0]
        if f.base == 'string':
            return 'string' + ('?' if n or f.default == 'null' else '')
        if f.base in ('bytes', 'records'):
            return 'ReadOnlyMemory<byte>' + ('?' if n or f.default == 'null' else '')
        if f.nullable is not None:
            sys.exit(f'{f.line}: nullable structs are not supported')
        return self.tn(f.base) + ('?' if f.tagged else '')

    def default_expr(self, f):
        d = f.default
        if f.is_array:
            return 'null' if d == 'null' else 'new()'
        if f.base == 'string':
            if d == 'null':
                return 'null'
            if d is None or d == '""':
                return '""'
            return '"' + d + '"'
        if f.base in ('bytes', 'records'):
            if d == 'null' or (f.base == 'records' and self.nullable_anywhere(f)):
                return 'null'
            return None
        if f.base in PRIMS:
            if d is None:
                return None
            if f.base == 'bool':
                return d
            if f.base == 'int64' and d.startswith('0x'):
                return d + 'L'
            if f.base == 'uuid':
                sys.exit(f'{f.line}: uuid defaults are not supported')
            return d
        if f.tagged:
            return None
        return 'new()'

    def is_default_check(self, f, x):
        """C# condition that is true when a tagged field differs from its default (so it is written)."""
        d = self.default_expr(f)
        if f.is_array:
            return f'{x} is not null' if d == 'null' else f'{x} is not {{ Count: 0 }}'
        if f.base == 'string':
            return f'{x} is not null' if d == 'null' else f'{x} != {d}'
        if f.base in ('bytes', 'records'):
            return f'{x} is not null' if d == 'null' else f'{x} is not {{ Length: 0 }}'
        if f.base in PRIMS:
            if f.base == 'uuid':
                return f'{x} != Guid.Empty'
            return f'{x} != {d if d is not None else ("false" if f.base == "bool" else "0")}'
        return f'{x} is not null'

    # ---- reading -------------------------------------------------------------------------------

    def read_scalar(self, base, nullcond, r):
        if base in PRIMS:
            return f'{r}.{PRIMS[base][1]}'
        kind = 'String' if base == 'string' else 'Bytes'
        if nullcond == 'false':
            return f'{r}.Read{kind}(flexible)'
        if nullcond == 'true':
            return f'{r}.ReadNullable{kind}(flexible)'
        return f'{r}.Read{kind}(flexible, {nullcond})'

    def emit_read(self, f, target, r, ind, out):
        p = '    ' * ind
        nullcond = self.cond(f.nullable)
        if f.is_array:
            n, lst, i = self.uid('count'), self.uid('list'), self.uid('i')
            out.append(f'{p}int {n} = {r}.ReadArrayLength(flexible, {nullcond});')
            out.append(f'{p}if ({n} < 0)')
            out.append(f'{p}{{')
            out.append(f'{p}    {target} = null!;')
            out.append(f'{p}}}')
            out.append(f'{p}else')
            out.append(f'{p}{{')
            et = self.cs_elem_type(f.base)
            out.append(f'{p}    var {lst} = new List<{et}>(Math.Min({n}, 1024));')
            out.append(f'{p}    for (int {i} = 0; {i} < {n}; {i}++)')
            out.append(f'{p}    {{')
            if f.is_struct:
                it = self.uid('item')
                out.append(f'{p}        var {it} = new {self.tn(f.base)}();')
                out.append(f'{p}        {it}.Read(ref {r}, version);')
                out.append(f'{p}        {lst}.Add({it});')
            else:
                out.append(f'{p}        {lst}.Add({self.read_scalar(f.base, "false", r)});')
            out.append(f'{p}    }}')
            out.append(f'{p}    {target} = {lst};')
            out.append(f'{p}}}')
        elif f.is_struct:
            it = self.uid('value')
            out.append(f'{p}var {it} = new {self.tn(f.base)}();')
            out.append(f'{p}{it}.Read(ref {r}, version);')
            out.append(f'{p}{target} = {it};')
        else:
            out.append(f'{p}{target} = {self.read_scalar(f.base, nullcond, r)};')

    # ---- writing -------------------------------------------------------------------------------

    def write_scalar(self, base, nullcond, x, w):
        if base in PRIMS:
            return f'{w}.{PRIMS[base][2]}({x});'
        kind = 'String' if base == 'string' else 'Bytes'
        if nullcond == 'false':
            return f'{w}.Write{kind}({x}, flexible);'
        return f'{w}.Write{kind}({x}, flexible, {nullcond});'

    def emit_write(self, f, x, w, ind, out):
        p = '    ' * ind
        nullcond = self.cond(f.nullable)
        if f.is_array:
            it = self.uid('item')
            out.append(f'{p}if ({x} is null)')
            out.append(f'{p}{{')
            out.append(f'{p}    {w}.WriteArrayLength(-1, flexible, {nullcond});')
            out.append(f'{p}}}')
            out.append(f'{p}else')
            out.append(f'{p}{{')
            out.append(f'{p}    {w}.WriteArrayLength({x}.Count, flexible);')
            out.append(f'{p}    foreach (var {it} in {x})')
            out.append(f'{p}    {{')
            if f.is_struct:
                out.append(f'{p}        {it}.Write({w}, version);')
            else:
                out.append(f'{p}        {self.write_scalar(f.base, "false", it, w)}')
            out.append(f'{p}    }}')
            out.append(f'{p}}}')
        elif f.is_struct:
            if f.tagged:
                out.append(f'{p}{x}!.Write({w}, version);')
            else:
                out.append(f'{p}({x} ?? new {self.tn(f.base)}()).Write({w}, version);')
        else:
            out.append(f'{p}{self.write_scalar(f.base, nullcond, x, w)}')

    # ---- classes -------------------------------------------------------------------------------

    def collect_structs(self, fields):
        for f in fields:
            if f.is_struct:
                if f.children:
                    if f.base not in self.structs:
                        self.structs[f.base] = f.children
                    self.collect_structs(f.children)
                elif f.base not in self.structs:
                    sys.exit(f'{f.line}: struct {f.base} is used before it is defined')

    def emit_class(self, name, fields, ind, top, kind=None):
        p = '    ' * ind
        out = self.lines
        for f in fields:
            if f.name == name:
                sys.exit(f'{f.line}: a field may not share its struct\'s name ({name})')
        if top:
            iface = 'IRequestMessage' if kind == 'request' else 'IResponseMessage'
            out.append(f'{p}/// <summary>Kafka {self.api.name} {kind} (api key {self.api.key}), versions {self.api.lo}-{self.api.hi}.</summary>')
            out.append(f'{p}public sealed partial class {name} : {iface}')
        else:
            out.append(f'{p}/// <summary>A {name} entry of <see cref="{self.cls}"/>.</summary>')
            out.append(f'{p}public sealed partial class {name} : IKafkaMessage')
        out.append(f'{p}{{')
        q = p + '    '
        if top:
            flex = self.api.flex if self.api.flex is not None else 32767
            out.append(f'{q}public const short LowestVersion = {self.api.lo};')
            out.append(f'{q}public const short HighestVersion = {self.api.hi};')
            out.append(f'{q}/// <summary>First flexible version (compact encodings, tagged fields); 32767 when none is.</summary>')
            out.append(f'{q}public const short FlexibleVersion = {flex};')
            out.append('')
            out.append(f'{q}public ApiKey ApiKey => ApiKey.{self.api.name};')
            out.append('')
        for f in fields:
            d = self.default_expr(f)
            init = f' = {d};' if d is not None else ''
            if f.base == 'string' and not f.is_array and d is None:
                init = ' = "";'
            cs = self.cs_type(f)
            if d == 'null' and not cs.endswith('?'):
                cs += '?'
            vers = f'{f.versions[0]}+' if f.versions[1] >= self.api.hi else f'{f.versions[0]}-{f.versions[1]}'
            notes = [f'versions {vers}']
            if f.nullable:
                notes.append('nullable ' + (f'{f.nullable[0]}+' if f.nullable[1] >= self.api.hi else f'{f.nullable[0]}-{f.nullable[1]}'))
            if f.tagged:
                notes.append(f'tag {f.tag}')
            out.append(f'{q}/// <summary>Kafka field {f.name} ({f.type}; {", ".join(notes)}).</summary>')
            out.append(f'{q}public {cs} {f.name} {{ get; set; }}{init}')
        out.append(f'{q}/// <summary>Tagged fields this version of Kraft does not know, kept to be written back.</summary>')
        out.append(f'{q}public List<TaggedField>? UnknownTaggedFields {{ get; set; }}')
        out.append('')

        plain = [f for f in fields if not f.tagged]
        tagged = sorted([f for f in fields if f.tagged], key=lambda f: f.tag)

        # Read
        out.append(f'{q}public void Read(ref KafkaReader reader, short version)')
        out.append(f'{q}{{')
        b = q + '    '
        out.append(f'{b}bool flexible = version >= FlexibleVersion;')
        for f in plain:
            c = self.cond(f.versions)
            if c == 'false':
                continue
            if c == 'true':
                self.emit_read(f, f.name, 'reader', ind + 2, out)
            else:
                out.append(f'{b}if ({c})')
                out.append(f'{b}{{')
                self.emit_read(f, f.name, 'reader', ind + 3, out)
                out.append(f'{b}}}')
        out.append(f'{b}if (flexible)')
        out.append(f'{b}{{')
        if not tagged:
            out.append(f'{b}    UnknownTaggedFields = reader.ReadUnknownTaggedFields();')
        else:
            out.append(f'{b}    int taggedCount = reader.ReadUnsignedVarInt();')
            out.append(f'{b}    if (taggedCount < 0 || taggedCount > reader.Remaining)')
            out.append(f'{b}    {{')
            out.append(f'{b}        throw new KafkaProtocolException($"{{taggedCount}} tagged fields cannot fit in {{reader.Remaining}} bytes");')
            out.append(f'{b}    }}')
            out.append('')
            out.append(f'{b}    for (int t = 0; t < taggedCount; t++)')
            out.append(f'{b}    {{')
            out.append(f'{b}        int tag = reader.ReadUnsignedVarInt();')
            out.append(f'{b}        int size = reader.ReadUnsignedVarInt();')
            out.append(f'{b}        var field = reader.ReadSubReader(size);')
            out.append(f'{b}        switch (tag)')
            out.append(f'{b}        {{')
            for f in tagged:
                c = self.cond(f.tagged)
                guard = '' if c == 'true' else f' when {c}'
                out.append(f'{b}            case {f.tag}{guard}:')
                out.append(f'{b}            {{')
                self.emit_read(f, f.name, 'field', ind + 6, out)
                out.append(f'{b}                break;')
                out.append(f'{b}            }}')
            out.append(f'{b}            default:')
            out.append(f'{b}                (UnknownTaggedFields ??= new()).Add(new TaggedField(tag, field.RemainingMemory));')
            out.append(f'{b}                break;')
            out.append(f'{b}        }}')
            out.append(f'{b}    }}')
        out.append(f'{b}}}')
        out.append(f'{q}}}')
        out.append('')

        # Write
        out.append(f'{q}public void Write(KafkaWriter writer, short version)')
        out.append(f'{q}{{')
        out.append(f'{b}bool flexible = version >= FlexibleVersion;')
        for f in plain:
            c = self.cond(f.versions)
            if c == 'false':
                continue
            if c == 'true':
                self.emit_write(f, f.name, 'writer', ind + 2, out)
            else:
                out.append(f'{b}if ({c})')
                out.append(f'{b}{{')
                self.emit_write(f, f.name, 'writer', ind + 3, out)
                out.append(f'{b}}}')
        out.append(f'{b}if (flexible)')
        out.append(f'{b}{{')
        if not tagged:
            out.append(f'{b}    writer.WriteTaggedFieldSection(UnknownTaggedFields);')
        else:
            out.append(f'{b}    int taggedCount = UnknownTaggedFields?.Count ?? 0;')
            for f in tagged:
                c = self.cond(f.tagged)
                chk = self.is_default_check(f, f.name)
                cc = chk if c == 'true' else f'{c} && {chk}'
                out.append(f'{b}    bool write{f.name} = {cc};')
                out.append(f'{b}    if (write{f.name})')
                out.append(f'{b}    {{')
                out.append(f'{b}        taggedCount++;')
                out.append(f'{b}    }}')
                out.append('')
            out.append(f'{b}    writer.WriteUnsignedVarInt(taggedCount);')
            out.append(f'{b}    int unknownIndex = 0;')
            for f in tagged:
                out.append(f'{b}    if (write{f.name})')
                out.append(f'{b}    {{')
                out.append(f'{b}        writer.WriteUnknownTaggedFields(UnknownTaggedFields, ref unknownIndex, {f.tag});')
                out.append(f'{b}        using var value = new KafkaWriter();')
                self.emit_write(f, f.name, 'value', ind + 4, out)
                out.append(f'{b}        writer.WriteTaggedField({f.tag}, value);')
                out.append(f'{b}    }}')
                out.append('')
            out.append(f'{b}    writer.WriteUnknownTaggedFields(UnknownTaggedFields, ref unknownIndex, int.MaxValue);')
        out.append(f'{b}}}')
        out.append(f'{q}}}')

        if top:
            for sname, sfields in self.structs.items():
                out.append('')
                self.emit_class(self.tn(sname), sfields, ind + 1, False)
        out.append(f'{p}}}')


HEADER = '''// <auto-generated>
// Generated by src/Protocol/Generator/generate.py from src/Protocol/Schemas/{schema}.
// Do not edit: change the schema and run the generator again.
// </auto-generated>
#nullable enable
#pragma warning disable CS8601, CS8625 // A null read for a non-nullable array or string can only come from a nullable version.
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Messages;
'''


def main():
    apis = []
    os.makedirs(OUT, exist_ok=True)
    for fn in sorted(os.listdir(SCHEMAS)):
        if not fn.endswith('.schema'):
            continue
        api = parse(os.path.join(SCHEMAS, fn))
        apis.append(api)
        emitters = []
        for kind, cls, fields in api.messages:
            e = Emitter(api, cls)
            e.collect_structs(fields)
            # C# forbids a nested type and a member of the same name in one class; Java does not, so
            # Kafka's struct names sometimes equal a top-level field's name. Those types get an "Item" suffix.
            for clash in {f.name for f in fields} & set(e.structs):
                e.rename[clash] = clash + 'Item'
            e.emit_class(cls, fields, 0, True, kind)
            emitters.append(e)
        text = HEADER.format(schema=fn) + '\n' + '\n\n'.join('\n'.join(e.lines) for e in emitters) + '\n'
        with open(os.path.join(OUT, api.name + 'Messages.g.cs'), 'w') as f:
            f.write(text)

    apis.sort(key=lambda a: a.key)
    lines = [HEADER.format(schema='*.schema').replace('#pragma warning disable CS8601, CS8625 // A null read for a non-nullable array or string can only come from a nullable version.\n', ''),
             '/// <summary>Creates empty request and response messages by api key, and lists the versions each codec supports.</summary>',
             'public static partial class MessageFactory',
             '{',
             '    /// <summary>(api key, lowest, highest, first flexible) for every API with a codec, in api key order.</summary>',
             '    public static IReadOnlyList<(ApiKey ApiKey, short LowestVersion, short HighestVersion, short FlexibleVersion)> Codecs { get; } =',
             '    [']
    for a in apis:
        flex = a.flex if a.flex is not None else 32767
        lines.append(f'        (ApiKey.{a.name}, {a.lo}, {a.hi}, {flex}),')
    lines.append('    ];')
    lines.append('')
    lines.append('    /// <summary>A new, empty request message for <paramref name="apiKey"/>, or null when Kraft has no codec for it.</summary>')
    lines.append('    public static IRequestMessage? CreateRequest(ApiKey apiKey) => apiKey switch')
    lines.append('    {')
    for a in apis:
        lines.append(f'        ApiKey.{a.name} => new {a.messages[0][1]}(),')
    lines.append('        _ => null,')
    lines.append('    };')
    lines.append('')
    lines.append('    /// <summary>A new, empty response message for <paramref name="apiKey"/>, or null when Kraft has no codec for it.</summary>')
    lines.append('    public static IResponseMessage? CreateResponse(ApiKey apiKey) => apiKey switch')
    lines.append('    {')
    for a in apis:
        lines.append(f'        ApiKey.{a.name} => new {a.messages[1][1]}(),')
    lines.append('        _ => null,')
    lines.append('    };')
    lines.append('}')
    with open(os.path.join(OUT, 'MessageFactory.g.cs'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
