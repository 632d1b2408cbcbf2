# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drop_model and drop_reasons: JSON shapes, round trips, time handling, coverage, enum tables."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.evidence import reasons as drop_reasons
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import (
    Coverage,
    Drop,
    Endpoint,
    EventRef,
    EvidenceRef,
    LostEvents,
    NodeStatus,
    PolicyRef,
    Workload,
    format_time_ns,
    parse_time_ns,
    time_text,
)

ENDPOINT_KEYS = {'namespace', 'pod', 'workload', 'labels', 'identity', 'reserved', 'ip'}
DROP_KEYS = {'time', 'node', 'direction', 'verdict', 'reason', 'reason_code', 'event_type', 'protocol', 'port', 'tcp_flags', 'source',
             'destination', 'policies', 'evidence', 'count', 'unparsed'}


def sample_drop():
    return Drop(
        time='2025-05-31T05:24:48.077000548Z', time_ns=parse_time_ns('2025-05-31T05:24:48.077000548Z'), node='kind-control-plane',
        direction='egress', verdict='DROPPED', reason='POLICY_DENY', reason_code=181, event_type='policy-verdict', protocol='TCP',
        port=80, source_port=47302, tcp_flags=('SYN',),
        source=Endpoint(namespace='cni-test', pod='netshot', labels=('k8s:run=netshot',), identity=59296, ip='10.0.0.12'),
        destination=Endpoint(namespace='cni-test', pod='nginx-7c5ddbdf54-8xkqz', workload=Workload('Deployment', 'nginx'),
                             identity=2290, ip='10.0.0.226'),
        policies=(PolicyRef('denied_by', 'CiliumNetworkPolicy', 'cni-test', 'deny', False, 4),),
        evidence=EvidenceRef(kind='event', event=EventRef('cni-test', 'netshot.1', 'uid-1', 3, '2025-05-31T05:24:48Z', '2025-05-31T05:25:00Z'),
                             file='events.json'),
        count=3,
    )


def test_drop_to_dict_has_exactly_the_contract_keys():
    got = sample_drop().to_dict()
    assert set(got) == DROP_KEYS
    assert set(got['source']) == ENDPOINT_KEYS and set(got['destination']) == ENDPOINT_KEYS
    assert got['destination']['workload'] == {'kind': 'Deployment', 'name': 'nginx'}
    assert set(got['policies'][0]) == {'relation', 'kind', 'namespace', 'name', 'clusterwide', 'revision'}
    assert set(got['evidence']) == {'kind', 'event', 'flow_uuid', 'file', 'line'}
    assert set(got['evidence']['event']) == {'namespace', 'name', 'uid', 'count', 'first_seen', 'last_seen'}
    json.dumps(got)


def test_from_dict_round_trips_and_recomputes_the_sortable_time():
    drop = sample_drop()
    again = Drop.from_dict(json.loads(json.dumps(drop.to_dict())))
    assert again == drop
    assert again.time_ns == drop.time_ns
    assert again.source_port is None  # transient pairing data is not serialised
    assert Drop.from_dict({}) == Drop()
    assert Drop.from_dict({'direction': 'sideways', 'labels': 5, 'source': [], 'policies': 'x', 'count': 'many'}).direction == 'unknown'
    with pytest.raises(ValueError):
        Drop.from_dict([])


def test_lost_events_and_node_status_round_trip():
    lost = LostEvents(source='HUBBLE_RING_BUFFER', num_lost=3, node='n1', cpu=1, first='a', last='b', time='c')
    status = NodeStatus(state='NODE_ERROR', node_names=('n1', 'n2'), message='m', node='relay', time='t')
    assert LostEvents.from_dict(json.loads(json.dumps(lost.to_dict()))) == lost
    assert NodeStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    assert LostEvents.from_dict(None).num_lost == 0 and NodeStatus.from_dict([]).state == 'UNKNOWN_NODE_STATE'


def test_records_are_frozen_slotted_dataclasses():
    drop = sample_drop()
    with pytest.raises(dataclasses.FrozenInstanceError):
        drop.reason = 'OTHER'
    for cls in (Drop, Endpoint, Workload, PolicyRef, EventRef, EvidenceRef, LostEvents, NodeStatus):
        assert '__slots__' in cls.__dict__
    assert hash(drop.source) == hash(Endpoint.from_dict(drop.source.to_dict()))


@pytest.mark.parametrize('text, expected', [
    ('2025-05-31T05:24:48.077123456Z', 1748669088077123456),
    ('2025-05-31T05:24:48Z', 1748669088000000000),
    ('2025-05-31T05:24:48.5Z', 1748669088500000000),
    ('2025-05-31T07:24:48.000001+02:00', 1748669088000001000),
    ('2025-05-31t05:24:48.0771234569z', 1748669088077123456),
    ('2025-05-31T05:24:48', None),
    ('2025-02-30T05:24:48Z', None),
    ('2025-05-31T24:00:00Z', None),
    ('2025-05-31T05:24:48.Z', None),
    ('yesterday', None),
    (None, None),
    (1748669088, None),
])
def test_parse_time_ns(text, expected):
    assert parse_time_ns(text) == expected


def test_time_helpers():
    assert format_time_ns(1748669088077000548) == '2025-05-31T05:24:48.077000548Z'
    stamp = datetime.datetime(2025, 5, 31, 7, 24, 48, 77000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert time_text(stamp) == '2025-05-31T05:24:48.077000Z'
    assert time_text(datetime.datetime(2025, 5, 31, 5, 24, 48)) == '2025-05-31T05:24:48Z'
    assert time_text('') is None and time_text(5) is None


def test_coverage_accounting_merge_and_shape():
    one = Coverage(lines_read=10, decoded=3)
    one.add_malformed(4, 'a.jsonl', 'invalid JSON')
    one.add_lost(LostEvents(source='HUBBLE_RING_BUFFER', num_lost=5, node='n1', time='2025-05-31T05:00:00Z'))
    one.add_node_status(NodeStatus(state='NODE_ERROR', node_names=('n2',), time='2025-05-31T06:00:00Z'))
    two = Coverage(lines_read=5)
    for line in range(12):
        two.add_malformed(line, 'b.jsonl')
    two.add_unparsed('ns', 'ev', 'x' * 1000)
    two.add_lost(LostEvents(source='OBSERVER_EVENTS_QUEUE', num_lost=2, node='n1'))
    one.merge(two)
    got = one.to_dict()
    assert (got['lines_read'], got['decoded'], got['not_decoded']) == (15, 3, 12)
    assert got['malformed']['count'] == 13 and got['malformed']['lines'] == [4, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert got['unparsed_events'] == {'count': 1, 'samples': [{'namespace': 'ns', 'name': 'ev', 'message': 'x' * 500}]}
    assert got['lost_events']['by_source'] == {'HUBBLE_RING_BUFFER': 5, 'OBSERVER_EVENTS_QUEUE': 2}
    assert got['lost_events']['by_node'] == {'n1': 7} and got['lost_events']['total'] == 7
    assert got['nodes'] == ['n1', 'n2'] and got['node_status'] == {'n2': 'NODE_ERROR'}
    assert got['time'] == {'first': '2025-05-31T05:00:00Z', 'last': '2025-05-31T06:00:00Z'}
    assert {'lines_read', 'flows', 'drops', 'malformed', 'unparsed_events', 'lost_events', 'nodes', 'time', 'events_total',
            'events_skipped'} <= set(got)


def test_drop_reason_table_matches_the_flow_proto():
    assert len(drop_reasons.DROP_REASONS) == 76
    assert 159 not in drop_reasons.DROP_REASONS
    assert (drop_reasons.DROP_REASONS[133], drop_reasons.DROP_REASONS[181], drop_reasons.DROP_REASONS[189]) == (
        'POLICY_DENIED', 'POLICY_DENY', 'AUTH_REQUIRED')
    assert (drop_reasons.DROP_REASONS[130], drop_reasons.DROP_REASONS[205]) == ('INVALID_SOURCE_MAC', 'DROP_PUNT_PROXY')
    assert drop_reasons.RESERVED_IDENTITIES == {0: 'unknown', 1: 'host', 2: 'world', 3: 'unmanaged', 4: 'health', 5: 'init',
                                                6: 'remote-node', 7: 'kube-apiserver', 8: 'ingress', 9: 'world-ipv4', 10: 'world-ipv6'}


@pytest.mark.parametrize('value, name', [
    ('policy_denied', 'POLICY_DENIED'), ('POLICY_DENY', 'POLICY_DENY'), (189, 'AUTH_REQUIRED'), ('133', 'POLICY_DENIED'),
    (999, 'UNKNOWN_999'), ('some_future_reason', 'SOME_FUTURE_REASON'), (None, None), (True, None),
])
def test_reason_normalisation(value, name):
    assert drop_reasons.reason_name(value) == name


def test_enum_helpers():
    assert drop_reasons.reason_code('UNKNOWN_999') == 999 and drop_reasons.reason_code('NOPE') is None
    assert [drop_reasons.direction_name(v) for v in ('INGRESS', 2, 'egress', None, 7)] == ['ingress', 'egress', 'egress', 'unknown', 'unknown']
    assert [drop_reasons.verdict_name(v) for v in ('dropped', 4, 11)] == ['DROPPED', 'AUDIT', 'UNKNOWN_11']
    assert [drop_reasons.event_type_name(v) for v in (1, 5, '4', 129, 200, 'x')] == ['drop', 'policy-verdict', 'trace', 'l7', 'type-200', None]
    assert drop_reasons.reserved_identity_name(9) == 'world-ipv4' and drop_reasons.reserved_identity_name(300) is None
