# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regenerate ``plugins/module_utils/sources/hubble/observer_pb2.py`` from ``proto/hubble_observer.proto``.

Runs protoc from grpcio-tools (the version pinned in requirements-dev.txt) and
rewrites its output into a module that passes ansible-test sanity without an
ignore file:

* the collection's license header and a module docstring;
* ``google.protobuf`` imports guarded (``HAS_PROTOBUF`` / ``PROTOBUF_IMPORT_ERROR``)
  so the import sanity test passes with only ansible-core installed, and the
  gencode/runtime version check turned into ``PROTOBUF_IMPORT_ERROR`` instead of
  an exception at import time;
* the serialized descriptor wrapped into lines of at most 160 characters;
* explicit module-level names for every message and enum (pylint-friendly).

Only the ``_pb2`` message module is generated: the client calls
``/observer.Observer/GetFlows`` through ``grpc.Channel.unary_stream`` with the
message classes' own (de)serialisers, so no ``_pb2_grpc`` module is needed.

Usage::

    .venv/bin/python scripts/gen_hubble_proto.py           # rewrite the committed module
    .venv/bin/python scripts/gen_hubble_proto.py --check   # exit 1 if it differs from a fresh generation
    .venv/bin/python scripts/gen_hubble_proto.py --output /tmp/x_pb2.py
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(REPO_ROOT, 'proto')
PROTO_FILE = 'hubble_observer.proto'
TARGET = os.path.join(REPO_ROOT, 'plugins', 'module_utils', 'sources', 'hubble', 'observer_pb2.py')
MODULE_NAME = 'ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.observer_pb2'
MAX_LINE = 160
# The wrapped descriptor lines are indented by 4 spaces inside a parenthesised expression.
BYTES_WIDTH = MAX_LINE - 8


class GenerationError(Exception):
    """protoc failed or produced code this script does not understand."""


def run_protoc(proto_dir: str, proto_file: str) -> tuple[str, str]:
    """Run grpcio-tools' protoc; return (generated python source, grpcio-tools version)."""
    try:
        from grpc_tools import protoc
        from grpc_tools.grpc_version import VERSION as grpc_tools_version
    except ImportError as exc:
        raise GenerationError(f'grpcio-tools is not installed ({exc}); install requirements-dev.txt') from exc
    try:
        from importlib.resources import files
        include = str(files('grpc_tools') / '_proto')
    except (ImportError, TypeError):
        include = os.path.join(os.path.dirname(protoc.__file__), '_proto')
    with tempfile.TemporaryDirectory() as out_dir:
        args = ['grpc_tools.protoc', f'-I{proto_dir}', f'-I{include}', f'--python_out={out_dir}', os.path.join(proto_dir, proto_file)]
        rc = protoc.main(args)
        if rc != 0:
            raise GenerationError(f'protoc exited with {rc} for {proto_file}')
        generated = os.path.join(out_dir, proto_file[:-len('.proto')] + '_pb2.py')
        with open(generated, encoding='utf-8') as handle:
            return handle.read(), grpc_tools_version


def _call_name(node: ast.AST) -> str:
    """Dotted name of a call's function (``a.b.c``), or ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return '.'.join(reversed(parts))


def parse_generated(source: str) -> dict:
    """Extract what the rewritten module needs from protoc's output.

    Returns ``gencode`` (major, minor, patch, suffix), ``serialized`` (bytes),
    ``offsets`` [(name, start, end)], ``imports`` [module names under google.protobuf].
    """
    tree = ast.parse(source)
    found: dict = {'gencode': None, 'serialized': None, 'offsets': {}, 'imports': []}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == 'google.protobuf':
            for alias in node.names:
                if alias.name.endswith('_pb2'):
                    found['imports'].append(alias.name)
        elif isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name.endswith('ValidateProtobufRuntimeVersion'):
                values = [ast.literal_eval(arg) for arg in node.args[1:5]]
                found['gencode'] = tuple(values)
            elif name.endswith('AddSerializedFile'):
                found['serialized'] = ast.literal_eval(node.args[0])
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            # _globals['_FLOW']._serialized_start=123
            if (isinstance(target, ast.Attribute) and target.attr in ('_serialized_start', '_serialized_end')
                    and isinstance(target.value, ast.Subscript)):
                key = ast.literal_eval(target.value.slice)
                entry = found['offsets'].setdefault(key, [None, None])
                entry[0 if target.attr == '_serialized_start' else 1] = ast.literal_eval(node.value)
    if found['gencode'] is None or found['serialized'] is None:
        raise GenerationError('protoc output has no ValidateProtobufRuntimeVersion/AddSerializedFile call: unsupported grpcio-tools version')
    found['offsets'] = [(key, start, end) for key, (start, end) in found['offsets'].items()]
    return found


def wrap_bytes(data: bytes, indent: str, width: int) -> list[str]:
    """Render ``data`` as consecutive bytes literals, each line at most ``width`` characters after ``indent``."""
    lines = []
    chunk = bytearray()
    for value in data:
        candidate = bytes(chunk) + bytes((value,))
        if chunk and len(repr(candidate)) > width:
            lines.append(indent + repr(bytes(chunk)))
            chunk = bytearray((value,))
        else:
            chunk.append(value)
    if chunk:
        lines.append(indent + repr(bytes(chunk)))
    return lines


def top_level_names(serialized: bytes) -> tuple[list[str], list[str]]:
    """Message and enum names declared at the top level of the file descriptor (declaration order)."""
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    return [m.name for m in proto.message_type], [e.name for e in proto.enum_type]


def render(parsed: dict, grpc_tools_version: str, proto_file: str) -> str:
    """Render the sanity-clean module text."""
    major, minor, patch, suffix = parsed['gencode']
    gencode = f'{major}.{minor}.{patch}{suffix}'
    messages, enums = top_level_names(parsed['serialized'])
    dep_aliases = [f'_{name}' for name in parsed['imports']]
    out = [
        '# Copyright: netobs.cilium contributors',
        '# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)',
        '"""Protocol buffer classes for Hubble\'s ``GetFlows`` API (generated code: DO NOT EDIT).',
        '',
        f'Generated by ``scripts/gen_hubble_proto.py`` from ``proto/{proto_file}`` with',
        f'grpcio-tools {grpc_tools_version} (protobuf gencode {gencode}); see docs/hubble-proto.md.',
        f'Needs the protobuf runtime >= {gencode} and < {major + 1}. Without it ``HAS_PROTOBUF`` is False',
        'and ``PROTOBUF_IMPORT_ERROR`` says why; the message classes are then not defined.',
        '"""',
        '',
        'from __future__ import annotations',
        '',
        f'PROTOBUF_GENCODE_VERSION = ({major}, {minor}, {patch})',
        f'PROTOBUF_REQUIREMENT = {f"protobuf >= {gencode}, < {major + 1}"!r}',
        'PROTOBUF_IMPORT_ERROR = None',
        '',
        'try:',
        '    from google.protobuf import descriptor as _descriptor',
        '    from google.protobuf import descriptor_pool as _descriptor_pool',
        '    from google.protobuf import runtime_version as _runtime_version',
    ]
    for name, alias in zip(parsed['imports'], dep_aliases):
        out.append(f'    from google.protobuf import {name} as {alias}')
    out += [
        '    from google.protobuf.internal import builder as _builder',
        'except ImportError as _exc:',
        '    HAS_PROTOBUF = False',
        '    PROTOBUF_IMPORT_ERROR = str(_exc)',
        'else:',
        '    try:',
        '        _runtime_version.ValidateProtobufRuntimeVersion(',
        f'            _runtime_version.Domain.PUBLIC, {major}, {minor}, {patch}, {suffix!r}, {proto_file!r})',
        '    except _runtime_version.VersionError as _exc:',
        '        HAS_PROTOBUF = False',
        '        PROTOBUF_IMPORT_ERROR = str(_exc)',
        '    else:',
        '        HAS_PROTOBUF = True',
        '',
        '_SERIALIZED_FILE = (',
    ]
    out += wrap_bytes(parsed['serialized'], '    ', BYTES_WIDTH)
    out += [
        ')',
        '',
        '# (descriptor name, start, end) offsets, only used by the pure-Python protobuf implementation.',
        '_SERIALIZED_OFFSETS = (',
    ]
    for name, start, end in parsed['offsets']:
        out.append(f'    ({name!r}, {start}, {end}),')
    out += [
        ')',
        '',
        'if HAS_PROTOBUF:',
        f'    _DEPENDENCIES = ({", ".join(dep_aliases)}{"," if len(dep_aliases) == 1 else ""})  # imported to register their descriptors first',
        '    DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(_SERIALIZED_FILE)',
        '    _globals = globals()',
        '    _builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)',
        f'    _builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, {MODULE_NAME!r}, _globals)',
        '    if not _descriptor._USE_C_DESCRIPTORS:',
        '        DESCRIPTOR._loaded_options = None',
        '        for _name, _start, _end in _SERIALIZED_OFFSETS:',
        '            _globals[_name]._serialized_start = _start',
        '            _globals[_name]._serialized_end = _end',
        '',
        '    # Explicit names for readers and linters (the builder already set them).',
    ]
    for name in enums + messages:
        out.append(f'    {name} = _globals[{name!r}]')
    out.append('')
    text = '\n'.join(out)
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE:
            raise GenerationError(f'rendered line {number} is {len(line)} characters long')
    return text


def generate(proto_dir: str = PROTO_DIR, proto_file: str = PROTO_FILE) -> str:
    """Return the module text generated from ``proto_dir/proto_file``."""
    source, version = run_protoc(proto_dir, proto_file)
    return render(parse_generated(source), version, proto_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='compare with the committed module instead of writing it')
    parser.add_argument('--output', default=TARGET, help='where to write (default: %(default)s)')
    args = parser.parse_args(argv)
    try:
        text = generate()
    except GenerationError as exc:
        print(f'gen_hubble_proto: {exc}', file=sys.stderr)
        return 2
    if args.check:
        try:
            with open(args.output, encoding='utf-8') as handle:
                current = handle.read()
        except OSError as exc:
            print(f'gen_hubble_proto: cannot read {args.output}: {exc}', file=sys.stderr)
            return 1
        if current != text:
            print(f'gen_hubble_proto: {args.output} is stale: run scripts/gen_hubble_proto.py', file=sys.stderr)
            return 1
        print(f'gen_hubble_proto: {args.output} is up to date')
        return 0
    with open(args.output, 'w', encoding='utf-8', newline='\n') as handle:
        handle.write(text)
    print(f'gen_hubble_proto: wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
