# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes ``PacketDrop`` Events (emitted by the Cilium agent's Hubble drop-event emitter) to ``Drop`` records.

Accepts core/v1 ``Event`` and events.k8s.io/v1 ``Event`` objects as dicts (API JSON, ``kubectl get events -o json|yaml``,
the Python client's snake_case ``to_dict()``), ``EventList``/``List`` documents, plain lists and watch wrappers
(``{"type": "ADDED", "object": {...}}``). Message grammar (Cilium 1.16-1.18 and >= 1.19, with and without
``--hubble-drop-events-extended``)::

    (Incoming|Outgoing) packet dropped (<reason>) (from|to) <peer> <l4>[.][ <Denied by|Applied> [clusterwide ]policies: K/N,K/N.]...

A PacketDrop Event whose message does not match is kept as a ``Drop`` with ``unparsed`` set; nothing raises.
Parsing is linear in the message length. Messages longer than ``MAX_MESSAGE_CHARS`` are still parsed and counted,
and counted again in ``Coverage.events_oversized``; a Drop keeps at most ``MAX_POLICIES_PER_MESSAGE`` policies and
``MAX_UNPARSED_KEPT`` characters of an unparsed message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import (
    Coverage,
    Drop,
    Endpoint,
    EventRef,
    EvidenceRef,
    PolicyRef,
    parse_time_ns,
    time_text,
)
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import (
    CLUSTERWIDE_POLICY_KIND,
    EVENT_TYPE_K8S_EVENT,
    RESERVED_IDENTITY_NUMBERS,
    reason_code,
    reason_name,
)

PACKET_DROP_REASON = 'PacketDrop'

_PREFIX = re.compile(r'(Incoming|Outgoing) packet dropped \(([A-Za-z0-9_]+)\) (from|to) ')
_IPV4 = r'\d{1,3}(?:\.\d{1,3}){3}'
_IPV6 = r'[0-9A-Fa-f]*:[0-9A-Fa-f:]*(?:' + _IPV4 + r')?(?:%[0-9A-Za-z_.-]+)?'
_HEAD = re.compile(
    r'(?:(?P<ns>[^\s/()]+)/(?P<pod>[^\s/()]+) \((?P<ip1>[^\s()]*)\)'
    r'|(?P<res>[a-z][a-z0-9-]*) \((?P<ip2>[^\s()]*)\)'
    r'|(?P<ip3>' + _IPV4 + '|' + _IPV6 + r'|))'
    r'(?: (?P<l4>TCP/(?P<tport>\d{1,10})|UDP/(?P<uport>\d{1,10})|ICMPv4|ICMPv6|SCTP|IGMP|VRRP)?)?'
    r'(?P<dot>\.)?'
)
_SECTION_HEAD = r'(?:Denied by|Applied) (?:clusterwide )?policies: '
_EXT_START = re.compile(r'\. (?=' + _SECTION_HEAD + ')')
_SECTION_START = re.compile(r'(Denied by|Applied) (clusterwide )?policies: ')
# A section ends at the first '.' followed by the next section's head or the end of the text. The boundaries are found
# in one left-to-right pass (the lookahead has a bounded length), so parsing stays linear in the message length; a lazy
# ``(.*?)\.(?=...|$)`` per section start was quadratic on hostile messages (issue 10, item 4).
_SECTION_END = re.compile(r'\.(?= ' + _SECTION_HEAD + ')')

# Bounds for absurdly long messages: parsing is linear, but what a Drop keeps is capped (counted in
# ``Coverage.events_oversized``). Real messages are a few hundred characters plus one entry per policy.
MAX_MESSAGE_CHARS = 65_536
MAX_POLICIES_PER_MESSAGE = 256
MAX_UNPARSED_KEPT = 4096
# namespace (63) + pod (253) + IP with zone + L4: a longer text before the policy sections is not a peer.
_MAX_HEAD_CHARS = 1024

GRAMMAR_LEGACY = '<=1.18'
GRAMMAR_V119 = '>=1.19'


@dataclass(frozen=True, slots=True)
class MessageParts:
    """The structure of one PacketDrop message."""

    direction: str
    reason: str
    peer: Endpoint
    protocol: str | None
    port: int | None
    grammar: str
    policies: tuple[tuple[str, str | None, str, bool], ...] = ()


def _parse_policies(text: str):
    """Extended suffix to ``(relation, kind, name, clusterwide)`` tuples, None if it does not follow the grammar.

    Linear in ``len(text)``: section ends are the '.'s followed by a section head (one scan), plus a final '.'.
    """
    ends = [match.start() for match in _SECTION_END.finditer(text)]
    if text.endswith('.'):
        ends.append(len(text) - 1)
    policies = []
    position, next_end = 0, 0
    size = len(text)
    while position < size:
        head = _SECTION_START.match(text, position)
        if head is None:
            return None
        while next_end < len(ends) and ends[next_end] < head.end():
            next_end += 1
        if next_end == len(ends):
            return None
        end = ends[next_end]
        relation = 'denied_by' if head.group(1) == 'Denied by' else 'applied'
        section_clusterwide = bool(head.group(2))
        for element in text[head.end():end].split(','):
            if not element:
                continue
            kind, sep, name = element.partition('/')
            if not sep:
                kind, name = None, element
            if not name:
                return None
            policies.append((relation, kind, name, section_clusterwide or kind == CLUSTERWIDE_POLICY_KIND))
        position = end + 2
    return tuple(policies)


def parse_message(message) -> MessageParts | None:
    """Parse a PacketDrop message, None when it does not follow the known grammar."""
    if not isinstance(message, str):
        return None
    text = message.rstrip('\r\n')
    prefix = _PREFIX.match(text)
    if prefix is None:
        return None
    word, token, preposition = prefix.group(1, 2, 3)
    if (word == 'Incoming') != (preposition == 'from'):
        return None
    rest = text[prefix.end():]
    policies: tuple = ()
    extended = _EXT_START.search(rest)
    if extended is not None:
        parsed = _parse_policies(rest[extended.end():])
        if parsed is None:
            return None
        policies = parsed
        rest = rest[:extended.start() + 1]
    if len(rest) > _MAX_HEAD_CHARS:
        return None
    head = _HEAD.fullmatch(rest)
    if head is None:
        return None
    if extended is not None and not head.group('dot'):
        return None
    if head.group('pod') is not None:
        peer = Endpoint(namespace=head.group('ns'), pod=head.group('pod'), ip=head.group('ip1') or None)
    elif head.group('res') is not None:
        name = head.group('res')
        peer = Endpoint(identity=RESERVED_IDENTITY_NUMBERS.get(name), reserved=name, ip=head.group('ip2') or None)
    else:
        peer = Endpoint(ip=head.group('ip3') or None)
    l4 = head.group('l4')
    port_text = head.group('tport') or head.group('uport')
    protocol = l4.partition('/')[0] if l4 else None
    return MessageParts(
        direction='ingress' if word == 'Incoming' else 'egress',
        reason=reason_name(token),
        peer=peer,
        protocol=protocol,
        port=int(port_text) if port_text else None,
        grammar=GRAMMAR_V119 if head.group('dot') else GRAMMAR_LEGACY,
        policies=policies,
    )


def _bounded(message: str) -> str:
    """The text kept of an unparsed message: at most ``MAX_UNPARSED_KEPT`` characters, with the original length."""
    if len(message) <= MAX_UNPARSED_KEPT:
        return message
    return '%s... [truncated, %d characters in total]' % (message[:MAX_UNPARSED_KEPT], len(message))


def _oversized(event: dict) -> bool:
    """True when the Event's message is longer than ``MAX_MESSAGE_CHARS`` (what is kept of it is bounded)."""
    message = _field(event, 'message', 'note')
    return isinstance(message, str) and len(message) > MAX_MESSAGE_CHARS


class MalformedEvent(NetobsError, ValueError):
    """An Event object whose structure is not an Event (wrong types)."""


def _field(obj: dict, *names):
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _mapping(obj: dict, *names) -> dict:
    value = _field(obj, *names)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedEvent(f'{names[0]} is not an object')
    return value


def _text(obj: dict, *names) -> str | None:
    value = _field(obj, *names)
    if value is None or isinstance(value, str):
        return value or None
    raise MalformedEvent(f'{names[0]} is not a string')


def _stamp(obj: dict, *names) -> str | None:
    value = _field(obj, *names)
    if value is None:
        return None
    text = time_text(value)
    if text is None:
        raise MalformedEvent(f'{names[0]} is not a timestamp')
    return text


def _count(obj: dict, *names) -> int | None:
    value = _field(obj, *names)
    if value is None:
        return None
    if isinstance(value, bool):
        raise MalformedEvent(f'{names[0]} is not an integer')
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if not isinstance(value, int) or value < 0 or value >= 1 << 63:
        raise MalformedEvent(f'{names[0]} is not a count')
    return value


def _latest(*stamps):
    best, best_ns = None, None
    for stamp in stamps:
        if stamp is None:
            continue
        value = parse_time_ns(stamp)
        if best is None or (value is not None and (best_ns is None or value > best_ns)):
            best, best_ns = stamp, value
    return best


def unwrap_event(obj):
    """``{"type": "ADDED", "object": {...}}`` watch wrapper to the Event inside; anything else unchanged."""
    if isinstance(obj, dict) and 'object' in obj and isinstance(obj.get('object'), dict) and 'involvedObject' not in obj:
        return obj['object']
    return obj


def _event_drop(event: dict, file: str | None) -> tuple[Drop, bool]:  # pylint: disable=too-many-locals
    """Build the Drop for a PacketDrop Event dict; second value is True when the message was understood."""
    metadata = _mapping(event, 'metadata')
    involved = _mapping(event, 'involvedObject', 'regarding', 'involved_object')
    source = _mapping(event, 'source', 'deprecatedSource', 'deprecated_source')
    message = _field(event, 'message', 'note')
    if message is not None and not isinstance(message, str):
        raise MalformedEvent('message is not a string')
    series = _mapping(event, 'series')

    namespace = _text(metadata, 'namespace') or _text(involved, 'namespace')
    name = _text(metadata, 'name')
    uid = _text(metadata, 'uid')
    first = _stamp(event, 'firstTimestamp', 'deprecatedFirstTimestamp', 'first_timestamp', 'deprecated_first_timestamp')
    last = _stamp(event, 'lastTimestamp', 'deprecatedLastTimestamp', 'last_timestamp', 'deprecated_last_timestamp')
    event_time = _stamp(event, 'eventTime', 'event_time')
    observed = _stamp(series, 'lastObservedTime', 'last_observed_time')
    created = _stamp(metadata, 'creationTimestamp', 'creation_timestamp')
    counts = [value for value in (_count(event, 'count', 'deprecatedCount', 'deprecated_count'), _count(series, 'count'))
              if value is not None]
    count = max(counts) if counts and max(counts) > 0 else 1
    first_seen = first or event_time or created
    last_seen = _latest(last, observed) or event_time or first_seen
    local = Endpoint(namespace=_text(involved, 'namespace') or namespace, pod=_text(involved, 'name'))

    evidence = EvidenceRef(
        kind='event',
        event=EventRef(namespace=namespace, name=name, uid=uid, count=count, first_seen=first_seen, last_seen=last_seen),
        file=file,
    )
    common = {
        'time': last_seen,
        'time_ns': parse_time_ns(last_seen),
        'node': _text(source, 'host'),
        'verdict': 'DROPPED',
        'event_type': EVENT_TYPE_K8S_EVENT,
        'evidence': evidence,
        'count': count,
    }
    parts = parse_message(message)
    if parts is None:
        # Keep what the prefix still tells (direction, reason); the local pod is the source unless it is Incoming.
        prefix = _PREFIX.match(message) if isinstance(message, str) else None
        direction, reason = 'unknown', None
        if prefix is not None and (prefix.group(1) == 'Incoming') == (prefix.group(3) == 'from'):
            direction = 'ingress' if prefix.group(1) == 'Incoming' else 'egress'
            reason = reason_name(prefix.group(2))
        unparsed = _bounded(message) if isinstance(message, str) else ''
        placed = {'destination': local} if direction == 'ingress' else {'source': local}
        return Drop(direction=direction, reason=reason, reason_code=reason_code(reason), unparsed=unparsed, **placed, **common), False
    policies = tuple(
        PolicyRef(relation=relation, kind=kind, namespace=None if clusterwide else local.namespace, name=policy_name,
                  clusterwide=clusterwide)
        for relation, kind, policy_name, clusterwide in parts.policies[:MAX_POLICIES_PER_MESSAGE]
    )
    if parts.direction == 'ingress':
        src, dst = parts.peer, local
    else:
        src, dst = local, parts.peer
    drop = Drop(
        direction=parts.direction,
        reason=parts.reason,
        reason_code=reason_code(parts.reason),
        protocol=parts.protocol,
        port=parts.port,
        source=src,
        destination=dst,
        policies=policies,
        **common,
    )
    return drop, True


_MALFORMED_ERRORS = (MalformedEvent, TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError)


def event_malformed_reason(obj) -> str | None:
    """Why ``parse_event`` finds this PacketDrop Event malformed (a short text naming the field), None if it does not."""
    event = unwrap_event(obj)
    if not isinstance(event, dict):
        return 'not an Event object'
    try:
        _event_drop(event, None)
    except MalformedEvent as exc:
        return str(exc)
    except _MALFORMED_ERRORS as exc:
        return f'wrong field types ({type(exc).__name__})'
    return None


def parse_event(obj, coverage: Coverage | None = None, file: str | None = None) -> Drop | None:
    """One Event object to a Drop; None for non-PacketDrop or malformed objects (counted in ``coverage``).

    Never raises. An unmatched PacketDrop message gives a Drop with ``unparsed`` = the message text; direction
    and reason are kept when the message prefix is still recognisable, else direction is ``unknown`` and the
    involved pod is placed as ``source``.
    """
    cov = coverage if coverage is not None else Coverage()
    cov.events_total += 1
    event = unwrap_event(obj)
    if not isinstance(event, dict):
        cov.events_malformed += 1
        return None
    reason = event.get('reason')
    if reason != PACKET_DROP_REASON:
        if reason is not None and not isinstance(reason, str):
            cov.events_malformed += 1
        else:
            cov.events_skipped += 1
        return None
    try:
        drop, understood = _event_drop(event, file)
    except _MALFORMED_ERRORS:
        cov.events_malformed += 1
        return None
    cov.event_drops += 1
    if _oversized(event):
        cov.events_oversized += 1
    if not understood:
        cov.add_unparsed(drop.evidence.event.namespace, drop.evidence.event.name, drop.unparsed)
    for stamp in (drop.evidence.event.first_seen, drop.evidence.event.last_seen):
        if stamp:
            cov.add_time(stamp)
    if drop.node:
        cov.add_node(drop.node)
    return drop


def iter_event_objects(document):
    """Yield the Event objects of a document: EventList/List (``items``), a list, a watch wrapper or one Event."""
    if isinstance(document, dict):
        items = document.get('items')
        if isinstance(items, list) and 'involvedObject' not in document and 'regarding' not in document:
            yield from items
            return
        yield document
        return
    if isinstance(document, (list, tuple)):
        yield from document
        return
    yield document


def parse_events(document, coverage: Coverage | None = None, file: str | None = None):
    """Yield the Drops of every PacketDrop Event in ``document`` (see ``iter_event_objects``); never raises."""
    for obj in iter_event_objects(document):
        drop = parse_event(obj, coverage, file)
        if drop is not None:
            yield drop
