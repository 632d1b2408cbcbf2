# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode the ``application/vnd.kubernetes.protobuf`` request bodies kubectl's typed commands send.

``kubectl create namespace|configmap|secret|serviceaccount`` (client-go typed clients) POST protobuf: the magic
``k8s\\x00`` followed by a ``runtime.Unknown`` {typeMeta{apiVersion, kind}, raw} whose ``raw`` is the typed message.
Only the kinds those commands create are mapped (field numbers from k8s.io/api generated.proto); any other kind is
answered with 415 so a test knows to send JSON (``kubectl apply -f`` / ``create -f`` always do).
"""

from __future__ import annotations

import base64
import datetime

MAGIC = b'k8s\x00'


class ProtobufError(ValueError):
    """A body this decoder cannot turn into JSON."""


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError('truncated varint')
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """Yield (field number, wire type, value) of one message (value: int for varints, bytes otherwise)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError('unsupported wire type %d' % wire)
        yield number, wire, value


def _str(value):
    return value.decode('utf-8')


def _time(value):
    seconds = 0
    for number, _wire, v in fields(value):
        if number == 1:
            seconds = v
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _map(value, bytes_values=False):
    key = val = ''
    for number, _wire, v in fields(value):
        if number == 1:
            key = _str(v)
        elif number == 2:
            val = base64.b64encode(v).decode() if bytes_values else _str(v)
    return key, val


def _message(buf, schema):
    """Decode ``buf`` with ``schema``: {number: (json name, kind)}; kind: str|int|bool|time|bytes|map|bmap|[sub schema]|sub schema."""
    out = {}
    for number, _wire, value in fields(buf):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind = spec
        repeated = isinstance(kind, list)
        if repeated:
            kind = kind[0]
        if kind == 'str':
            item = _str(value)
        elif kind == 'int':
            item = value
        elif kind == 'bool':
            item = bool(value)
        elif kind == 'time':
            item = _time(value)
        elif kind == 'bytes':
            item = base64.b64encode(value).decode()
        elif kind in ('map', 'bmap'):
            key, val = _map(value, kind == 'bmap')
            out.setdefault(name, {})[key] = val
            continue
        else:
            item = _message(value, kind)
        if repeated:
            out.setdefault(name, []).append(item)
        elif item not in ('', 0, False):      # Go's omitempty: proto2 encodes empty optional scalars too
            out[name] = item
    return out


OWNER_REF = {1: ('kind', 'str'), 3: ('name', 'str'), 4: ('uid', 'str'), 5: ('apiVersion', 'str'), 6: ('controller', 'bool'),
             7: ('blockOwnerDeletion', 'bool')}
OBJECT_META = {1: ('name', 'str'), 2: ('generateName', 'str'), 3: ('namespace', 'str'), 5: ('uid', 'str'), 6: ('resourceVersion', 'str'),
               7: ('generation', 'int'), 8: ('creationTimestamp', 'time'), 11: ('labels', 'map'), 12: ('annotations', 'map'),
               13: ('ownerReferences', [OWNER_REF]), 14: ('finalizers', ['str'])}
OBJECT_REF = {1: ('kind', 'str'), 2: ('namespace', 'str'), 3: ('name', 'str'), 4: ('uid', 'str'), 5: ('apiVersion', 'str')}
KINDS = {
    ('v1', 'Namespace'): {1: ('metadata', OBJECT_META), 2: ('spec', {1: ('finalizers', ['str'])}), 3: ('status', {1: ('phase', 'str')})},
    ('v1', 'ConfigMap'): {1: ('metadata', OBJECT_META), 2: ('data', 'map'), 3: ('binaryData', 'bmap'), 4: ('immutable', 'bool')},
    ('v1', 'Secret'): {1: ('metadata', OBJECT_META), 2: ('data', 'bmap'), 3: ('type', 'str'), 4: ('stringData', 'map'),
                       5: ('immutable', 'bool')},
    ('v1', 'ServiceAccount'): {1: ('metadata', OBJECT_META), 2: ('secrets', [OBJECT_REF]), 3: ('imagePullSecrets', [{1: ('name', 'str')}]),
                               4: ('automountServiceAccountToken', 'bool')},
}


def decode(body):
    """Protobuf request body -> JSON-like dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError('missing the k8s protobuf magic prefix')
    type_meta, raw = {}, b''
    for number, _wire, value in fields(body[len(MAGIC):]):
        if number == 1:
            type_meta = _message(value, {1: ('apiVersion', 'str'), 2: ('kind', 'str')})
        elif number == 2:
            raw = value
    key = (type_meta.get('apiVersion', ''), type_meta.get('kind', ''))
    schema = KINDS.get(key)
    if schema is None:
        raise ProtobufError('the test apiserver decodes protobuf bodies only for %s, not %s %s; send JSON'
                            % (', '.join(kind for _version, kind in KINDS), key[0], key[1]))
    obj = {'apiVersion': key[0], 'kind': key[1]}
    obj.update(_message(raw, schema))
    return obj
