# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests for the drop evidence parsers (hypothesis; ``HYPOTHESIS_PROFILE=ci`` runs 10 000 examples each).

1. structured drops rendered into every PacketDrop message grammar (<=1.18, >=1.19, >=1.19 extended) parse back;
2. arbitrary/truncated/mutated/non-UTF-8 flow lines never raise, are all accounted for, give the same result with
   both JSON backends, and the fast pre-filter finds exactly the drops strict mode finds; the common-shape flow
   parser either declines or agrees with the validating parser on edited flows;
3. arbitrary Event-like objects never raise and are all accounted for;
4. every input form (file via mmap, small-block stream, bytes, list of lines) gives identical results;
5. the cached RFC 3339 fast path agrees with the full parser.
"""

from __future__ import annotations

import atexit
import io
import ipaddress
import json
import os
import random
import shutil
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import parser as flow_parser
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import read_drops
from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import _parse_time_slow
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage, Drop, parse_time_ns
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import DROP_REASONS, RESERVED_IDENTITIES, reason_name
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import parse_event

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))
with open(os.path.join(FIXTURES, 'flows.jsonl'), 'rb') as _handle:
    FIXTURE_LINES = _handle.read().splitlines()
FIXTURE_OBJECTS = [json.loads(line) for line in FIXTURE_LINES]
BACKENDS = ['json'] + (['orjson'] if flow_parser.HAS_ORJSON else [])

# ------------------------------------------------------------------------------------------------ 1. message grammar

# Values are drawn from pools built once (cheap to draw, so 10 000 examples stay fast); the pools mix edge
# cases (shortest/longest, dots, dashes, digits, IPv4-mapped IPv6) with random names.
_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
_POOL_RANDOM = random.Random(20250531)


def _pool(middle_alphabet, max_middle, fixed, size=300):
    names = set(fixed)
    while len(names) < size:
        middle = ''.join(_POOL_RANDOM.choice(middle_alphabet) for _unused in range(_POOL_RANDOM.randrange(max_middle + 1)))
        names.add(_POOL_RANDOM.choice(_ALNUM) + middle + _POOL_RANDOM.choice(['', *_ALNUM]))
    return sorted(names)


DNS_LABELS = _pool(_ALNUM + '-', 14, ['a', '0', 'cni-test', 'kube-system', 'a--b', 'x' * 63])
SUBDOMAINS = _pool(_ALNUM + '-.', 24, ['a', 'web-0', 'nginx-7c5ddbdf54-8xkqz', 'a.b', 'a..b', 'allow.dns-1', 'y' * 253])
ADDRESSES = sorted({'0.0.0.0', '255.255.255.255', '10.0.0.226', '::', '::1', '::ffff:1.2.3.4', 'fe80::1', '2001:db8::a:1', ''}
                   | {str(ipaddress.IPv4Address(_POOL_RANDOM.getrandbits(32))) for _unused in range(100)}
                   | {str(ipaddress.IPv6Address(_POOL_RANDOM.getrandbits(128))) for _unused in range(100)})
TOKENS = sorted({name.lower() for name in DROP_REASONS.values()} | {'x', 'drop_something_new', 'a' * 60, 'r2_d2'})
_RESERVED_NAMES = sorted(RESERVED_IDENTITIES.values())
PEERS = (
    [('pod', _POOL_RANDOM.choice(DNS_LABELS), _POOL_RANDOM.choice(SUBDOMAINS), _POOL_RANDOM.choice(ADDRESSES)) for _unused in range(400)]
    + [('reserved', name, address) for name in _RESERVED_NAMES for address in _POOL_RANDOM.sample(ADDRESSES, 15)]
    + [('bare', address) for address in ADDRESSES]
)
_PORTS = [0, 1, 53, 80, 443, 8080, 65535] + [_POOL_RANDOM.randrange(65536) for _unused in range(40)]
L4S = ([(protocol, port) for protocol in ('TCP', 'UDP') for port in _PORTS]
       + [(protocol, None) for protocol in ('ICMPv4', 'ICMPv6', 'SCTP', 'IGMP', 'VRRP')] + [(None, None)] * 5)
POLICY_SETS = [()] + [
    tuple({(_POOL_RANDOM.choice(['CiliumNetworkPolicy', 'NetworkPolicy']), _POOL_RANDOM.choice(SUBDOMAINS)): None
           for _unused in range(_POOL_RANDOM.randrange(1, 5))}) for _unused in range(300)]
CLUSTERWIDE_SETS = [()] + [
    tuple({('CiliumClusterwideNetworkPolicy', _POOL_RANDOM.choice(SUBDOMAINS)): None for _unused in range(_POOL_RANDOM.randrange(1, 4))})
    for _unused in range(150)]


def render_peer(peer):
    if peer[0] == 'pod':
        return f'{peer[1]}/{peer[2]} ({peer[3]})'
    if peer[0] == 'reserved':
        return f'{peer[1]} ({peer[2]})'
    return peer[1]


@given(
    direction=st.sampled_from(['ingress', 'egress']), token=st.sampled_from(TOKENS), peer=st.sampled_from(PEERS),
    l4=st.sampled_from(L4S), grammar=st.sampled_from(['legacy', 'v119', 'v119-extended']), denied=st.booleans(),
    policies=st.sampled_from(POLICY_SETS), clusterwide=st.sampled_from(CLUSTERWIDE_SETS),
    api=st.sampled_from(['core/v1', 'events.k8s.io/v1']), count=st.integers(1, 1 << 40),
)
def test_rendered_messages_parse_back(direction, token, peer, l4, grammar, denied, policies, clusterwide, api, count):
    protocol, port = l4
    l4_text = '' if protocol is None else (f'{protocol}/{port}' if port is not None else protocol)
    word, preposition = ('Incoming', 'from') if direction == 'ingress' else ('Outgoing', 'to')
    message = f'{word} packet dropped ({token}) {preposition} {render_peer(peer)} {l4_text}'
    expected_policies = []
    if grammar != 'legacy':
        message += '.'
    if grammar == 'v119-extended':
        prefix, relation = ('Denied by', 'denied_by') if denied else ('Applied', 'applied')
        sections = []
        if policies:
            sections.append(f'{prefix} policies: ' + ','.join(f'{kind}/{name}' for kind, name in policies) + '.')
            expected_policies += [(relation, kind, name, False) for kind, name in policies]
        if clusterwide:
            sections.append(f'{prefix} clusterwide policies: ' + ','.join(f'{kind}/{name}' for kind, name in clusterwide) + '.')
            expected_policies += [(relation, kind, name, True) for kind, name in clusterwide]
        if sections:
            message += ' ' + ' '.join(sections)
    meta = {'name': 'local.1844854550892d40', 'namespace': 'team-a', 'uid': 'u-1'}
    local = {'kind': 'Pod', 'namespace': 'team-a', 'name': 'local-7c5ddbdf54-8xkqz'}
    if api == 'core/v1':
        event = {'metadata': meta, 'involvedObject': local, 'reason': 'PacketDrop', 'message': message, 'count': count,
                 'firstTimestamp': '2025-05-31T05:24:48Z', 'lastTimestamp': '2025-05-31T05:25:23Z', 'source': {'component': 'cilium'}}
    else:
        event = {'metadata': meta, 'regarding': local, 'reason': 'PacketDrop', 'note': message, 'deprecatedCount': count,
                 'deprecatedFirstTimestamp': '2025-05-31T05:24:48Z', 'deprecatedLastTimestamp': '2025-05-31T05:25:23Z'}
    coverage = Coverage()
    drop = parse_event(event, coverage)
    assert drop.unparsed is None, message
    assert coverage.unparsed_events == 0
    assert (drop.direction, drop.reason, drop.protocol, drop.port, drop.count) == (direction, reason_name(token), protocol, port, count)
    remote = drop.source if direction == 'ingress' else drop.destination
    here = drop.destination if direction == 'ingress' else drop.source
    assert (here.namespace, here.pod) == ('team-a', 'local-7c5ddbdf54-8xkqz')
    if peer[0] == 'pod':
        assert (remote.namespace, remote.pod, remote.reserved, remote.ip) == (peer[1], peer[2], None, peer[3] or None)
    elif peer[0] == 'reserved':
        assert (remote.namespace, remote.pod, remote.reserved, remote.ip) == (None, None, peer[1], peer[2] or None)
        assert RESERVED_IDENTITIES[remote.identity] == peer[1]
    else:
        assert (remote.namespace, remote.pod, remote.reserved, remote.ip) == (None, None, None, peer[1] or None)
    assert [(p.relation, p.kind, p.name, p.clusterwide) for p in drop.policies] == expected_policies
    assert all(p.namespace == (None if p.clusterwide else 'team-a') for p in drop.policies)
    assert Drop.from_dict(json.loads(json.dumps(drop.to_dict()))) == drop


# ------------------------------------------------------------------------------------------------ 2. flow lines

SCALARS = [None, True, False, 0, -1, 7, 1 << 31, 1 << 32, 1 << 63, 1 << 64, -(1 << 63) - 1, 10 ** 30, 1.5, -0.0, float('nan'),
           float('inf'), 1e308, '', 'DROPPED', 'FORWARDED', 'EGRESS', 'TCP', '2', 'dropped', '2025-05-31T05:24:48Z', '\ud800', 'x' * 40]
VALUES = SCALARS + [[], {}, [1, 'a'], ['k8s:a=b', 3], {'name': None}, {'a': [{}]}, {'TCP': {'destination_port': 'x'}},
                    {'labels': ['reserved:world']}, [[[[]]]], {'verdict': 'DROPPED'}]
json_scalar = st.one_of(st.sampled_from(SCALARS), st.integers(), st.text(max_size=8))
json_value = st.one_of(st.sampled_from(VALUES), st.integers(), st.text(max_size=8))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


FIXTURE_PATHS = [[path for path in _paths(obj) if path] for obj in FIXTURE_OBJECTS]


@st.composite
def mutated_line(draw):
    """A fixture line with up to two values replaced by arbitrary JSON (wrong types, huge numbers, NaN, ...)."""
    index = draw(st.integers(0, len(FIXTURE_OBJECTS) - 1))
    obj = FIXTURE_OBJECTS[index]
    for _unused in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(FIXTURE_PATHS[index]))
        obj = _replaced(obj, path, draw(json_value))
    text = json.dumps(obj, separators=draw(st.sampled_from([(',', ':'), (', ', ': ')])))
    return text.encode()


def _replaced(obj, path, value):
    """Copy of ``obj`` with the value at ``path`` replaced (only the containers on the path are copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict) and head in obj:
        return {**obj, head: _replaced(obj[head], rest, value)}
    if isinstance(obj, list) and isinstance(head, int) and head < len(obj):
        return obj[:head] + [_replaced(obj[head], rest, value)] + obj[head + 1:]
    return obj


_SPECIAL_LINES = [b'{"verdict":"DROPPED"', b'"verdict":"DROPPED"', b'{"lost_events":{"num_events_lost":"x"}}', b'[]', b'NaN',
                  b'{"a":1e999}', b'{"flow":{"verdict":"DROPPED","uuid":"\\ud800"}}', b'\xef\xbb\xbf{}', b'   ', b'',
                  b'{"flow":{"verdict":2,"uuid":"n"}}', b'{"flow":{"verdict": "DROPPED"}}',
                  b'{"node_status":{"state_change":"NODE_GONE","node_names":["n9"]}}', b'{"nodeStatus":{"nodeNames":"n9"}}']
_LINE_RANDOM = random.Random(7)
LINE_POOL = (
    FIXTURE_LINES + _SPECIAL_LINES
    + [line[:_LINE_RANDOM.randrange(len(line) + 1)] for line in FIXTURE_LINES for _unused in range(25)]
    + [bytes(_LINE_RANDOM.getrandbits(8) for _unused in range(_LINE_RANDOM.randrange(60))).replace(b'\n', b' ') for _unused in range(150)]
    + ['"verdict":"DROPPED" \udcff\ud800 text'.encode('utf-8', 'surrogatepass')]
)
line_strategy = st.one_of(st.sampled_from(LINE_POOL), mutated_line(), st.binary(max_size=32).map(lambda data: data.replace(b'\n', b' ')),
                          st.text(max_size=16).map(lambda text: text.replace('\n', ' ')))


def _fast_and_checked_flow_parsers_agree(line):
    """The common-shape fast parser either declines or gives exactly what the validating parser gives."""
    try:
        obj = flow_parser.get_loads('json')[1](line)
    except flow_parser.MalformedRecord:
        return
    flow = obj.get('flow') if isinstance(obj, dict) else None
    if not isinstance(flow, dict):
        return
    try:
        fast = flow_parser._parse_flow_fast(flow, 'node', '2025-05-31T05:24:48Z', 'f', 1)  # pylint: disable=protected-access
    except flow_parser._Unusual:  # pylint: disable=protected-access
        return
    checked = flow_parser._parse_flow_checked(flow, 'node', '2025-05-31T05:24:48Z', 'f', 1)  # pylint: disable=protected-access
    assert fast == checked
    assert (fast.time_ns, fast.source_port) == (checked.time_ns, checked.source_port)


def _normalised(drops, coverage):
    """Drops and coverage as dicts, with file names replaced so different input forms compare equal."""
    summary = coverage.to_dict()
    summary.pop('files')
    for sample in summary['malformed']['samples']:
        sample['file'] = 'prop'
    records = []
    for drop in drops:
        record = drop.to_dict()
        record['evidence']['file'] = 'prop'
        records.append(record)
    return records, summary


def _outcome(source, **options):
    drops, coverage = read_drops(source, label='prop', **options)
    return _normalised(drops, coverage) + (coverage,)


@given(lines=st.lists(line_strategy, max_size=6))
def test_any_line_is_accounted_for_and_backends_and_modes_agree(lines):
    for line in lines:
        try:
            flow_parser.parse_line(line)
        except flow_parser.MalformedRecord:
            pass  # the only exception the parser may raise
        _fast_and_checked_flow_parsers_agree(line)
    results = {}
    for backend in BACKENDS:
        for strict in (False, True):
            drops, summary, coverage = _outcome(lines, json_backend=backend, strict=strict)
            assert coverage.lines_read == len(lines)
            assert coverage.decoded == (coverage.flows + coverage.other_records + coverage.lost_records + coverage.status_records
                                        + coverage.malformed)
            assert coverage.drops == len(drops) <= coverage.flows
            results[backend, strict] = (drops, summary)
    for strict in (False, True):
        assert results['json', strict] == results[BACKENDS[-1], strict]
    # the pre-filter never loses a drop that strict decoding finds
    assert results['json', False][0] == results['json', True][0]


_FLOW_KEYS = ['time', 'uuid', 'verdict', 'IP', 'l4', 'source', 'destination', 'event_type', 'eventType', 'drop_reason_desc',
              'dropReasonDesc', 'drop_reason', 'dropReason', 'traffic_direction', 'trafficDirection', 'node_name', 'nodeName',
              'pod_name', 'podName', 'namespace', 'identity', 'labels', 'workloads', 'name', 'kind', 'TCP', 'UDP', 'ICMPv4', 'SCTP',
              'flags', 'SYN', 'ACK', 'destination_port', 'destinationPort', 'source_port', 'sourcePort', 'type', 'sub_type',
              'subType', 'egress_denied_by', 'egressDeniedBy', 'ingress_allowed_by', 'revision']


def _dict_paths(obj, prefix=()):
    if isinstance(obj, dict):
        yield prefix
        for key, item in obj.items():
            yield from _dict_paths(item, prefix + (key,))
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from _dict_paths(item, prefix + (index,))


FLOWS_ONLY = [obj['flow'] for obj in FIXTURE_OBJECTS if 'flow' in obj]
FLOW_VALUE_PATHS = [[path for path in _paths(flow) if path] for flow in FLOWS_ONLY]
FLOW_DICT_PATHS = [list(_dict_paths(flow)) for flow in FLOWS_ONLY]
EDIT_STRINGS = ['59296', '80', 'EGRESS', 'INGRESS', 'POLICY_DENIED', 'TCP', 'x']
edit_value = st.one_of(st.sampled_from(VALUES), st.integers(-5, 1 << 33), st.sampled_from(EDIT_STRINGS))


@st.composite
def edited_flow(draw):
    index = draw(st.integers(0, len(FLOWS_ONLY) - 1))
    flow = FLOWS_ONLY[index]
    for _unused in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            flow = _replaced(flow, draw(st.sampled_from(FLOW_VALUE_PATHS[index])), draw(edit_value))
        else:
            path = draw(st.sampled_from(FLOW_DICT_PATHS[index]))
            key = draw(st.sampled_from(_FLOW_KEYS))
            flow = _inserted(flow, path, key, draw(edit_value))
    return flow


def _inserted(obj, path, key, value):
    """Copy of ``obj`` with ``key: value`` added to the dict at ``path`` (unchanged when that is not a dict)."""
    if not path:
        return {**obj, key: value} if isinstance(obj, dict) else obj
    head, rest = path[0], path[1:]
    if isinstance(obj, dict) and head in obj:
        return {**obj, head: _inserted(obj[head], rest, key, value)}
    if isinstance(obj, list) and isinstance(head, int) and head < len(obj):
        return obj[:head] + [_inserted(obj[head], rest, key, value)] + obj[head + 1:]
    return obj


@given(flow=edited_flow())
def test_fast_flow_parser_declines_or_matches_the_checked_parser(flow):
    try:
        checked = flow_parser._parse_flow_checked(flow, 'node', '2025-05-31T05:24:48Z', 'f', 1)  # pylint: disable=protected-access
    except flow_parser.MalformedRecord:
        checked = None
    try:
        fast = flow_parser._parse_flow_fast(flow, 'node', '2025-05-31T05:24:48Z', 'f', 1)  # pylint: disable=protected-access
    except flow_parser._Unusual:  # pylint: disable=protected-access
        return
    assert checked is not None, 'the fast parser accepted a flow the checked parser rejects'
    assert fast == checked
    assert (fast.time_ns, fast.source_port) == (checked.time_ns, checked.source_port)


# ------------------------------------------------------------------------------------------------ 3. Event objects

with open(os.path.join(FIXTURES, 'events.json'), encoding='utf-8') as _handle:
    FIXTURE_EVENTS = json.load(_handle)['items']
EVENT_PATHS = [[path for path in _paths(obj) if path] for obj in FIXTURE_EVENTS]
event_field = st.one_of(json_value, st.just('PacketDrop'), st.dictionaries(st.sampled_from(['name', 'namespace', 'uid']), json_scalar))


@st.composite
def mutated_event(draw):
    index = draw(st.integers(0, len(FIXTURE_EVENTS) - 1))
    event = FIXTURE_EVENTS[index]
    for _unused in range(draw(st.integers(1, 2))):
        event = _replaced(event, draw(st.sampled_from(EVENT_PATHS[index])), draw(event_field))
    return event


@given(event=st.one_of(mutated_event(), st.dictionaries(
    st.sampled_from(['reason', 'message', 'note', 'metadata', 'involvedObject', 'regarding', 'count', 'series', 'deprecatedCount',
                     'firstTimestamp', 'lastTimestamp', 'eventTime', 'source', 'object', 'type']),
    event_field, max_size=5)), packet_drop=st.booleans(), message=st.one_of(st.text(max_size=40), st.sampled_from([
        'Outgoing packet dropped (policy_denied) to world (1.1.1.1) TCP/80', 'Incoming packet dropped (x) from 1.2.3.4 .',
        'Outgoing packet dropped (policy_deny) to 1.1.1.1 ICMPv4. Denied by policies: CiliumNetworkPolicy/a.'])))
def test_any_event_object_is_accounted_for(event, packet_drop, message):
    if packet_drop:
        event = dict(event, reason='PacketDrop', message=message)
    coverage = Coverage()
    drop = parse_event(event, coverage)
    assert coverage.events_total == 1
    assert coverage.events_skipped + coverage.events_malformed + coverage.event_drops == 1
    assert (drop is not None) == (coverage.event_drops == 1)
    if drop is not None:
        assert coverage.unparsed_events == (1 if drop.unparsed is not None else 0)
        json.dumps(drop.to_dict())


# ------------------------------------------------------------------------------------------------ 4. input forms

MUTATED_POOL = []
for _number in range(600):
    _index = _LINE_RANDOM.randrange(len(FIXTURE_OBJECTS))
    _obj = FIXTURE_OBJECTS[_index]
    for _step in range(_LINE_RANDOM.randrange(1, 3)):
        _obj = _replaced(_obj, _LINE_RANDOM.choice(FIXTURE_PATHS[_index]), _LINE_RANDOM.choice(VALUES))
    MUTATED_POOL.append(json.dumps(_obj, separators=_LINE_RANDOM.choice([(',', ':'), (', ', ': ')])).encode())
byte_line_strategy = st.one_of(st.sampled_from(LINE_POOL), st.sampled_from(MUTATED_POOL), st.binary(max_size=32))


@given(lines=st.lists(byte_line_strategy, max_size=6), newline_at_end=st.booleans(), chunk=st.integers(1, 4096),
       window=st.integers(1, 6000), max_line=st.sampled_from([600, 3000, 1 << 20]), sample=st.sampled_from([1, 200, 1 << 20]),
       strict=st.booleans())
def test_every_input_form_gives_identical_results(lines, newline_at_end, chunk, window, max_line, sample, strict):
    blob = b'\n'.join(lines) + (b'\n' if newline_at_end and lines else b'')
    if blob.startswith(b'\x1f\x8b'):
        blob = b' ' + blob  # gzip magic is only sniffed for files; keep every form plain
    options = {'max_line': max_line, 'sample_bytes': sample, 'strict': strict}
    path = os.path.join(_scratch_dir(), 'capture.jsonl')
    with open(path, 'wb') as handle:
        handle.write(blob)
    reference = _outcome_file(path, map_window=window, **options)  # memory-mapped windows
    assert _outcome(io.BytesIO(blob), chunk_size=chunk, **options)[:2] == reference  # buffered blocks
    split = blob.split(b'\n')
    if split and split[-1] == b'':
        split.pop()
    assert _outcome(split, **options)[:2] == reference  # line by line


_SCRATCH = []


def _scratch_dir():
    """One private temporary directory per test process, removed at exit."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.mkdtemp(prefix='netobs-prop-'))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def _outcome_file(path, **options):
    return _normalised(*read_drops(path, **options))


# ------------------------------------------------------------------------------------------------ 5. timestamps

_TIME_RANDOM = random.Random(11)
TIME_POOL = sorted({
    '{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}'.format(
        _TIME_RANDOM.choice([1, 1970, 2025, 2400, 9999]), _TIME_RANDOM.randrange(14), _TIME_RANDOM.randrange(33), _TIME_RANDOM.choice('Tt '),
        _TIME_RANDOM.randrange(26), _TIME_RANDOM.randrange(62), _TIME_RANDOM.randrange(62),
        _TIME_RANDOM.choice(['', '.'] + ['.' + ''.join(_TIME_RANDOM.choice('0123456789') for _unused in range(n)) for n in (1, 3, 6, 9, 12)]),
        _TIME_RANDOM.choice(['Z', 'z', '+01:30', '-23:59', '+24:00', '', ' ']))
    for _unused in range(5000)})


@given(stamp=st.one_of(st.sampled_from(TIME_POOL), st.text(max_size=32)))
def test_cached_time_fast_path_matches_the_full_parser(stamp):
    assert parse_time_ns(stamp) == _parse_time_slow(stamp)
