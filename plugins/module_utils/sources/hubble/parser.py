# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hubble flow JSON to ``Drop`` records, plus ``lost_events`` and ``node_status`` records.

Input: one JSON object per line as printed by ``hubble observe -o json|jsonpb`` (``{"flow":{...},"node_name":...,"time":...}``),
the legacy bare-flow format (``HUBBLE_COMPAT=legacy-json-output``) and the protojson camelCase variant
(``dropReasonDesc``, ``trafficDirection``, ``podName``, ...). 64-bit integers may be strings, enums names or numbers,
absent fields are normal. A record with a recognised field of the wrong type raises ``MalformedRecord``.

JSON decoding goes through ``get_loads()``: ``orjson`` when installed, else the standard library configured to give
the same answers (NaN/Infinity and infinite numbers rejected, integers beyond 64 bits become floats, lone UTF-16
surrogates rejected, nesting deeper than ``MAX_DEPTH`` (1024, orjson's limit) rejected by both).
"""

from __future__ import annotations

import json
import math
import re
import sys

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import (
    Drop,
    EMPTY_ENDPOINT,
    Endpoint,
    EvidenceRef,
    LostEvents,
    NodeStatus,
    PolicyRef,
    Workload,
    new_endpoint,
    new_flow_drop,
    new_flow_evidence,
    parse_time_ns,
)
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import (
    CLUSTERWIDE_POLICY_KIND,
    DROP_REASON_CODES,
    EVENT_TYPE_DROP,
    LOST_EVENT_SOURCES,
    NODE_STATES,
    PORT_PROTOCOLS,
    PROTOCOLS,
    RESERVED_IDENTITIES,
    TCP_FLAGS,
    TRAFFIC_DIRECTIONS,
    VERDICTS,
    direction_name,
    enum_name,
    event_type_name,
    reason_code,
    reason_name,
)

try:
    import orjson
    HAS_ORJSON = True
except ImportError:
    orjson = None
    HAS_ORJSON = False

MAX_DEPTH = 1024
_UINT32 = (1 << 32) - 1
_UINT64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)


class MalformedRecord(NetobsError, ValueError):
    """A line or object that is not a usable Hubble record (bad JSON, wrong type, too deep)."""


# One message for every decoding failure, so results do not depend on the JSON backend's wording.
INVALID_JSON = 'invalid JSON (syntax, encoding, NaN/Infinity, out-of-range number, lone surrogate or nesting > 1024)'


# ---------------------------------------------------------------------------------------------------------------
# JSON backends

def _reject_constant(name):
    raise ValueError(f'invalid JSON constant {name}')


def _parse_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError('number is infinity when parsed as double')
    return value


def _parse_int(text):
    if len(text) <= 20:
        value = int(text)
        if _INT64_MIN <= value <= _UINT64:
            return value
    return _parse_float(text)


_STDLIB_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=_reject_constant)
_SURROGATE_ESCAPE = re.compile(rb'\\u[dD][89a-fA-F]')
_LONE_SURROGATE = re.compile('[\ud800-\udfff]')
_DEPTH_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(data) -> int:
    """Deepest array/object nesting of a JSON text (strings skipped)."""
    depth = deepest = 0
    for token in _DEPTH_TOKEN.finditer(data):
        char = token.group()[:1]
        if char in (b'[', b'{'):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b']', b'}'):
            depth -= 1
    return deepest


def _has_lone_surrogate(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _loads_stdlib(data):
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogatepass')
    data = bytes(data)
    try:
        text = data.decode('utf-8')
        try:
            value = _STDLIB_DECODER.decode(text)
        except RecursionError:
            # orjson accepts up to MAX_DEPTH levels; the stdlib decoder gives up earlier: retry with room to spare.
            if _depth(data) > MAX_DEPTH:
                raise MalformedRecord(INVALID_JSON) from None
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(limit + 4 * MAX_DEPTH)
            try:
                value = _STDLIB_DECODER.decode(text)
            finally:
                sys.setrecursionlimit(limit)
    except (ValueError, RecursionError):
        raise MalformedRecord(INVALID_JSON) from None
    if _SURROGATE_ESCAPE.search(data) and _has_lone_surrogate(value):
        raise MalformedRecord(INVALID_JSON)
    return value


def _loads_orjson(data):
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogatepass')
    try:
        return orjson.loads(data)
    except (ValueError, RecursionError):
        raise MalformedRecord(INVALID_JSON) from None


JSON_BACKENDS = ('auto', 'orjson', 'json')


def get_loads(backend: str = 'auto'):
    """Return ``(name, loads)`` for ``auto`` (orjson when installed), ``orjson`` or ``json``.

    ``loads`` takes bytes (or str) and raises ``MalformedRecord`` for anything that is not valid JSON.
    """
    if backend not in JSON_BACKENDS:
        raise ValueError(f'unknown JSON backend {backend!r}; use one of {", ".join(JSON_BACKENDS)}')
    if backend == 'orjson' or (backend == 'auto' and HAS_ORJSON):
        if not HAS_ORJSON:
            raise ValueError('JSON backend "orjson" requested but the orjson package is not installed')
        return 'orjson', _loads_orjson
    return 'json', _loads_stdlib


# ---------------------------------------------------------------------------------------------------------------
# typed field access (proto names first, then the protojson camelCase name)

def _camel(name: str) -> str:
    head, *rest = name.split('_')
    return head + ''.join(part[:1].upper() + part[1:] for part in rest)


# Proto field names read by this module that protojson's default (camelCase) JSON names differently.
_SNAKE_KEYS = (
    'drop_reason_desc', 'drop_reason', 'event_type', 'sub_type', 'traffic_direction', 'node_name', 'pod_name',
    'source_port', 'destination_port', 'egress_denied_by', 'ingress_denied_by', 'egress_allowed_by', 'ingress_allowed_by',
    'num_events_lost', 'state_change', 'node_names', 'lost_events', 'node_status', 'cluster_name',
)
_ALT: dict[str, str] = {key: _camel(key) for key in _SNAKE_KEYS}


def _get(obj: dict, key: str):
    value = obj.get(key)
    if value is None:
        alt = _ALT.get(key)
        if alt is not None:
            value = obj.get(alt)
    return value


def _obj(obj: dict, key: str) -> dict:
    value = obj.get(key)
    if value is None:
        alt = _ALT.get(key)
        if alt is None or (value := obj.get(alt)) is None:
            return {}
    if isinstance(value, dict):
        return value
    raise MalformedRecord(f'{key} is not an object')


def _str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        alt = _ALT.get(key)
        if alt is None or (value := obj.get(alt)) is None:
            return None
    if isinstance(value, str):
        return value or None
    raise MalformedRecord(f'{key} is not a string')


def _uint(obj: dict, key: str, limit: int = _UINT32) -> int | None:
    value = obj.get(key)
    if value is None:
        alt = _ALT.get(key)
        if alt is None or (value := obj.get(alt)) is None:
            return None
    if isinstance(value, str) and value.isdigit() and value.isascii() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > limit:
        raise MalformedRecord(f'{key} is not an unsigned integer')
    return value


def _int32(obj: dict, key: str) -> int | None:
    value = _get(obj, key)
    if value is None:
        return None
    if isinstance(value, str):
        text = value[1:] if value[:1] == '-' else value
        if text.isdigit() and text.isascii() and len(text) <= 10:
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 31) <= value < (1 << 31):
        raise MalformedRecord(f'{key} is not a 32-bit integer')
    return value


def _strings(obj: dict, key: str) -> tuple[str, ...]:
    value = _get(obj, key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedRecord(f'{key} is not a list of strings')
    for item in value:
        if not isinstance(item, str):
            raise MalformedRecord(f'{key} is not a list of strings')
    return tuple(value)


def _objects(obj: dict, key: str) -> list:
    value = _get(obj, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedRecord(f'{key} is not a list of objects')
    for item in value:
        if not isinstance(item, dict):
            raise MalformedRecord(f'{key} is not a list of objects')
    return value


def _enum(obj: dict, key: str, table: dict[int, str]) -> str | None:
    value = _get(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedRecord(f'{key} is not an enum name or number')
    if isinstance(value, int) and not 0 <= value <= _UINT32:
        raise MalformedRecord(f'{key} is out of range')
    return enum_name(value, table)


def _reason(flow: dict) -> str | None:
    value = _get(flow, 'drop_reason_desc')
    if value is None:
        return None
    if isinstance(value, str) and value in DROP_REASON_CODES:  # the usual case: an exact enum name
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedRecord('drop_reason_desc is not an enum name or number')
    if isinstance(value, int) and not 0 <= value <= _UINT32:
        raise MalformedRecord('drop_reason_desc is out of range')
    return reason_name(value)


_DIRECTIONS = {'INGRESS': 'ingress', 'EGRESS': 'egress'}


def _direction(flow: dict) -> str:
    value = _get(flow, 'traffic_direction')
    known = _DIRECTIONS.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
    return direction_name(_enum(flow, 'traffic_direction', TRAFFIC_DIRECTIONS))


def _verdict(flow: dict) -> str | None:
    """Verdict name exactly as written (protojson enum names are case-sensitive), or the name of its number."""
    value = flow.get('verdict')
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32:
        raise MalformedRecord('verdict is not an enum name or number')
    return VERDICTS.get(value, f'UNKNOWN_{value}')


def _time(obj: dict, key: str) -> tuple[str | None, int | None]:
    text = _str(obj, key)
    return text, parse_time_ns(text)


# ---------------------------------------------------------------------------------------------------------------
# flows

_POLICY_LISTS = (
    ('egress_denied_by', 'denied_by'),
    ('ingress_denied_by', 'denied_by'),
    ('egress_allowed_by', 'allowed_by'),
    ('ingress_allowed_by', 'allowed_by'),
)
_LABEL_DERIVED_FROM = 'k8s:io.cilium.k8s.policy.derived-from='
_LABEL_POLICY_NAME = 'k8s:io.cilium.k8s.policy.name='
_LABEL_POLICY_NAMESPACE = 'k8s:io.cilium.k8s.policy.namespace='


def _label_value(labels: tuple[str, ...], prefix: str) -> str | None:
    for label in labels:
        if label.startswith(prefix):
            return label[len(prefix):] or None
    return None


def _reserved_name(identity, labels):
    """The reserved entity of an endpoint that is not a pod: by its numeric identity, else its ``reserved:`` label."""
    reserved = RESERVED_IDENTITIES.get(identity or 0)
    return reserved if reserved is not None else _label_value(labels, 'reserved:')


def _policies(flow: dict) -> tuple[PolicyRef, ...]:
    refs = []
    for key, relation in _POLICY_LISTS:
        for item in _objects(flow, key):
            labels = _strings(item, 'labels')
            name = _str(item, 'name') or _label_value(labels, _LABEL_POLICY_NAME)
            if not name:
                continue
            kind = _str(item, 'kind') or _label_value(labels, _LABEL_DERIVED_FROM)
            namespace = _str(item, 'namespace') or _label_value(labels, _LABEL_POLICY_NAMESPACE)
            refs.append(PolicyRef(
                relation=relation,
                kind=kind,
                namespace=namespace,
                name=name,
                clusterwide=kind == CLUSTERWIDE_POLICY_KIND or namespace is None,
                revision=_uint(item, 'revision', _UINT64),
            ))
    return tuple(refs)


_UNKNOWN_PEER = RESERVED_IDENTITIES[0]
_FLAG_ORDER = {flag: index for index, flag in enumerate(TCP_FLAGS)}
_PROTOCOL_SET = frozenset(PROTOCOLS)


def _endpoint(data: dict, ip: str | None) -> Endpoint:
    if not data:
        # An empty endpoint has identity 0, which Cilium renders as "unknown (<ip>)".
        return EMPTY_ENDPOINT if ip is None else Endpoint(reserved=_UNKNOWN_PEER, ip=ip)
    identity = _uint(data, 'identity')
    labels = _strings(data, 'labels')
    pod = _str(data, 'pod_name')
    workload = None
    for item in _objects(data, 'workloads'):
        name = _str(item, 'name')
        if name:
            workload = Workload(kind=_str(item, 'kind'), name=name)
            break
    reserved = None if pod else _reserved_name(identity, labels)
    return Endpoint(
        namespace=_str(data, 'namespace'),
        pod=pod,
        workload=workload,
        labels=labels,
        identity=identity,
        reserved=reserved,
        ip=ip,
    )


def _l4(flow: dict):
    """(protocol, destination port, source port, tcp flags) from the Layer4 oneof."""
    l4 = _obj(flow, 'l4')
    for protocol, body in l4.items():
        if protocol not in _PROTOCOL_SET or body is None:
            continue
        if not isinstance(body, dict):
            raise MalformedRecord(f'l4.{protocol} is not an object')
        if protocol not in PORT_PROTOCOLS:
            return protocol, None, None, ()
        port = _uint(body, 'destination_port')
        sport = _uint(body, 'source_port')
        flags: tuple[str, ...] = ()
        if protocol == 'TCP':
            raw = _obj(body, 'flags')
            names = []
            for flag, flag_value in raw.items():
                if not isinstance(flag_value, bool):
                    raise MalformedRecord('l4.TCP.flags values are not booleans')
                if flag_value:
                    names.append(flag)
            if len(names) > 1:
                names.sort(key=lambda flag: (_FLAG_ORDER.get(flag, len(_FLAG_ORDER)), flag))
            flags = tuple(names)
        return protocol, port, sport, flags
    return None, None, None, ()


class _Unusual(Exception):
    """Internal: this flow is not in the common shape; let the fully checked parser decide."""


def _fast_text(value):
    """A JSON string field in the common shape ('' counts as absent)."""
    if value is None or value.__class__ is str:
        return value or None
    raise _Unusual


def _fast_uint(value):
    if value is None:
        return None
    if value.__class__ is int and 0 <= value <= _UINT32:
        return value
    raise _Unusual


def _fast_endpoint(data, ip):
    if data.__class__ is not dict:
        raise _Unusual
    if not data:
        return EMPTY_ENDPOINT if ip is None else Endpoint(reserved=_UNKNOWN_PEER, ip=ip)
    get = data.get
    identity = _fast_uint(get('identity'))
    labels = get('labels')
    if labels is None:
        labels = ()
    elif labels.__class__ is list:
        labels = tuple(labels)
        for item in labels:
            if item.__class__ is not str:
                raise _Unusual
    else:
        raise _Unusual
    pod = get('pod_name')
    if pod is None and 'podName' in data:
        raise _Unusual
    pod = _fast_text(pod)
    workload = None
    workloads = get('workloads')
    if workloads is not None:
        if workloads.__class__ is not list:
            raise _Unusual
        for item in workloads:
            if item.__class__ is not dict:
                raise _Unusual
        for item in workloads:
            name = _fast_text(item.get('name'))
            if name:
                workload = Workload(kind=_fast_text(item.get('kind')), name=name)
                break
    reserved = None if pod else _reserved_name(identity, labels)
    return new_endpoint(_fast_text(get('namespace')), pod, workload, labels, identity, reserved, ip)


def _fast_get(obj: dict, key: str):
    """``obj[key]`` when the proto name is used; a camelCase spelling sends the flow to the checked parser."""
    value = obj.get(key)
    if value is None and _ALT[key] in obj:
        raise _Unusual
    return value


def _parse_flow_fast(flow: dict, node, time, file, line) -> Drop:  # pylint: disable=too-many-locals,too-many-branches
    """The common shape (``hubble observe -o json``: proto names, native JSON types), with fewer checks per field.

    Gives exactly what ``_parse_flow_checked`` gives, or raises ``_Unusual`` to let it decide (never MalformedRecord).
    """
    get = flow.get
    stamp = _fast_text(get('time'))
    if stamp is None:
        stamp = time
    ip = get('IP')
    if ip is None:
        ip = {}
    elif ip.__class__ is not dict:
        raise _Unusual
    event_type = _fast_get(flow, 'event_type')
    if event_type is None:
        event_type = {}
    elif event_type.__class__ is not dict:
        raise _Unusual
    type_number = event_type.get('type')
    if type_number is not None and (type_number.__class__ is not int or not -(1 << 31) <= type_number < (1 << 31)):
        raise _Unusual
    sub_type = _fast_get(event_type, 'sub_type')
    if sub_type is not None and (sub_type.__class__ is not int or not -(1 << 31) <= sub_type < (1 << 31)):
        raise _Unusual
    reason = _fast_get(flow, 'drop_reason_desc')
    if reason is not None:
        if reason.__class__ is not str or reason not in DROP_REASON_CODES:
            raise _Unusual
    else:
        legacy = _fast_uint(_fast_get(flow, 'drop_reason'))
        if legacy:
            reason = reason_name(legacy)
        elif type_number == EVENT_TYPE_DROP and sub_type:
            reason = reason_name(sub_type)
    l4 = get('l4')
    protocol = port = sport = None
    flags: tuple[str, ...] = ()
    if l4 is not None:
        if l4.__class__ is not dict:
            raise _Unusual
        for name, body in l4.items():
            if name not in _PROTOCOL_SET or body is None:
                continue
            if body.__class__ is not dict:
                raise _Unusual
            protocol = name
            if name in PORT_PROTOCOLS:
                port = _fast_uint(_fast_get(body, 'destination_port'))
                sport = _fast_uint(_fast_get(body, 'source_port'))
                if name == 'TCP':
                    raw = body.get('flags')
                    if raw is not None:
                        if raw.__class__ is not dict:
                            raise _Unusual
                        names = []
                        for flag, flag_value in raw.items():
                            if flag_value.__class__ is not bool:
                                raise _Unusual
                            if flag_value:
                                names.append(flag)
                        if len(names) > 1:
                            names.sort(key=lambda flag: (_FLAG_ORDER.get(flag, len(_FLAG_ORDER)), flag))
                        flags = tuple(names)
            break
    flow_node = _fast_text(_fast_get(flow, 'node_name')) or node
    direction = _fast_get(flow, 'traffic_direction')
    if direction is None:
        direction = 'unknown'
    else:
        direction = _DIRECTIONS.get(direction) if direction.__class__ is str else None
        if direction is None:
            raise _Unusual
    verdict = get('verdict')
    if verdict is not None and verdict.__class__ is not str:
        raise _Unusual
    source = get('source')
    destination = get('destination')
    source = _fast_endpoint({} if source is None else source, _fast_text(ip.get('source')))
    destination = _fast_endpoint({} if destination is None else destination, _fast_text(ip.get('destination')))
    policies = ()
    for key, _relation in _POLICY_LISTS:
        if _fast_get(flow, key) is not None:
            try:
                policies = _policies(flow)
            except MalformedRecord:
                raise _Unusual from None
            break
    return new_flow_drop(stamp, flow_node, direction, verdict or None, reason, reason_code(reason), event_type_name(type_number),
                         protocol, port, flags, source, destination, policies,
                         new_flow_evidence(_fast_text(get('uuid')), file, line), parse_time_ns(stamp), sport)


def parse_flow(flow, node: str | None = None, time: str | None = None,
               file: str | None = None, line: int | None = None) -> Drop:
    """One ``flow.Flow`` JSON object to a Drop (any verdict). ``node``/``time`` come from the response wrapper.

    Raises ``MalformedRecord`` when a recognised field has the wrong type.
    """
    if isinstance(flow, dict):
        try:
            return _parse_flow_fast(flow, node, time, file, line)
        except _Unusual:
            pass
    return _parse_flow_checked(flow, node, time, file, line)


def _parse_flow_checked(flow, node: str | None, time: str | None,  # pylint: disable=too-many-locals
                        file: str | None, line: int | None) -> Drop:
    """The fully validating parser: every accessor checks types, accepts camelCase names and numeric strings."""
    if not isinstance(flow, dict):
        raise MalformedRecord('flow is not an object')
    flow_time, flow_ns = _time(flow, 'time')
    if flow_time is None and time is not None:
        flow_time, flow_ns = time, parse_time_ns(time)
    ip = _obj(flow, 'IP')
    event_type = _obj(flow, 'event_type')
    type_number = _int32(event_type, 'type')
    sub_type = _int32(event_type, 'sub_type')
    reason = _reason(flow)
    if reason is None:
        legacy = _uint(flow, 'drop_reason')
        if legacy:
            reason = reason_name(legacy)
        elif type_number == EVENT_TYPE_DROP and sub_type:
            reason = reason_name(sub_type)
    protocol, port, sport, flags = _l4(flow)
    return Drop(
        time=flow_time,
        time_ns=flow_ns,
        node=_str(flow, 'node_name') or node,
        direction=_direction(flow),
        verdict=_verdict(flow),
        reason=reason,
        reason_code=reason_code(reason),
        event_type=event_type_name(type_number),
        protocol=protocol,
        port=port,
        source_port=sport,
        tcp_flags=flags,
        source=_endpoint(_obj(flow, 'source'), _str(ip, 'source')),
        destination=_endpoint(_obj(flow, 'destination'), _str(ip, 'destination')),
        policies=_policies(flow),
        evidence=EvidenceRef(kind='flow', flow_uuid=_str(flow, 'uuid'), file=file, line=line),
    )


def parse_lost_events(body, node: str | None = None, time: str | None = None) -> LostEvents:
    """A ``flow.LostEvent`` object to a LostEvents record."""
    if not isinstance(body, dict):
        raise MalformedRecord('lost_events is not an object')
    return LostEvents(
        source=_enum(body, 'source', LOST_EVENT_SOURCES) or LOST_EVENT_SOURCES[0],
        num_lost=_uint(body, 'num_events_lost', _UINT64) or 0,
        node=node,
        cpu=_int32(body, 'cpu'),
        first=_str(body, 'first'),
        last=_str(body, 'last'),
        time=time,
    )


def parse_node_status(body, node: str | None = None, time: str | None = None) -> NodeStatus:
    """A ``relay.NodeStatusEvent`` object to a NodeStatus record."""
    if not isinstance(body, dict):
        raise MalformedRecord('node_status is not an object')
    return NodeStatus(
        state=_enum(body, 'state_change', NODE_STATES) or NODE_STATES[0],
        node_names=_strings(body, 'node_names'),
        message=_str(body, 'message'),
        node=node,
        time=time,
    )


_FLOW_HINTS = ('verdict', 'IP', 'l4', 'event_type', 'eventType', 'source', 'destination', 'uuid', 'Type')


def parse_record(obj, file: str | None = None, line: int | None = None):
    """A decoded JSON line to ``Drop`` | ``LostEvents`` | ``NodeStatus``, or None for other valid objects.

    Raises ``MalformedRecord`` when the object is not a JSON object or a recognised field has the wrong type.
    """
    if not isinstance(obj, dict):
        raise MalformedRecord('line is not a JSON object')
    node = _str(obj, 'node_name')
    time = _str(obj, 'time')
    flow = obj.get('flow')
    if flow is not None:
        return parse_flow(flow, node, time, file, line)
    body = _get(obj, 'lost_events')
    if body is not None:
        return parse_lost_events(body, node, time)
    body = _get(obj, 'node_status')
    if body is not None:
        return parse_node_status(body, node, time)
    if any(key in obj for key in _FLOW_HINTS):
        return parse_flow(obj, None, None, file, line)
    return None


def parse_line(data, loads=None, file: str | None = None, line: int | None = None):
    """Decode and parse one line (bytes or str); see ``parse_record``. Raises ``MalformedRecord``."""
    if loads is None:
        loads = get_loads()[1]
    return parse_record(loads(data), file, line)
