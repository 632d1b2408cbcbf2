# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drop_aggregation: pair collapse, workload naming, bounded state, events + flows, fixture numbers."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import (
    Aggregator,
    aggregate,
    endpoint_key,
    workload_from_pod,
)
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage, Drop, Endpoint, EventRef, EvidenceRef, Workload
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import parse_events

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))
FLOWS = os.path.join(FIXTURES, 'flows.jsonl')


def fixture_flow_drops():
    reader = CaptureReader()
    return list(reader.drops(FLOWS)), reader.coverage


def fixture_event_drops(name='events.json'):
    coverage = Coverage()
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return list(parse_events(json.load(handle), coverage)), coverage


@pytest.mark.parametrize('pod, expected', [
    ('nginx-7c5ddbdf54-8xkqz', ('nginx', 'Deployment')),
    ('payments-api-5f6b9c7d8-r4k2j', ('payments-api', 'Deployment')),
    ('coredns-76f75df574-7wq9z', ('coredns', 'Deployment')),
    ('cilium-x7k2p', ('cilium', None)),
    ('backup-28912345-z2b5q', ('backup', 'CronJob')),
    ('web-0', ('web-0', 'Pod')),
    ('netshot', ('netshot', 'Pod')),
    ('my-nginx', ('my-nginx', 'Pod')),
    ('dns-probe', ('dns-probe', 'Pod')),
    ('curl-client', ('curl-client', 'Pod')),
])
def test_workload_from_pod_name(pod, expected):
    assert workload_from_pod(pod) == expected


def test_endpoint_key_order_owner_workloads_labels_reserved_ip():
    owners = {('shop', 'cart-abc'): ('StatefulSet', 'cart')}
    assert endpoint_key(Endpoint(namespace='shop', pod='cart-abc'), owners)[0] == 'shop/cart'
    key, view = endpoint_key(Endpoint(namespace='shop', pod='x-7c5ddbdf54-8xkqz', workload=Workload('DaemonSet', 'agent')))
    assert (key, view.kind, view.kind_authoritative) == ('shop/agent', 'DaemonSet', True)
    key, view = endpoint_key(Endpoint(labels=('k8s:io.kubernetes.pod.namespace=shop', 'k8s:app=cart'), identity=4242))
    assert (key, view.namespace, view.workload) == ('shop/cart', 'shop', 'cart')
    assert endpoint_key(Endpoint(identity=1, reserved='host', ip='10.0.0.1'))[0] == 'reserved:host'
    key, view = endpoint_key(Endpoint(identity=2, reserved='world', ip='1.1.1.1'))
    assert (key, view.reserved, view.ip) == ('ip:1.1.1.1', 'world', '1.1.1.1')
    assert endpoint_key(Endpoint(ip='8.8.8.8'))[0] == 'ip:8.8.8.8'
    assert endpoint_key(Endpoint(reserved='world'))[0] == 'reserved:world'
    assert endpoint_key(Endpoint())[0] == 'unknown'


def test_fixture_flows_collapse_verdict_drop_pairs():
    drops, coverage = fixture_flow_drops()
    result = aggregate(drops, coverage)
    expected = {'drops_in': 7, 'pairs_collapsed': 3, 'event_duplicates': 0, 'overflow_drops': 0, 'events_approximate': 0}
    assert result.stats.to_dict() == expected
    first = result.violations[0].to_dict()
    assert first == {
        'key': 'egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED',
        'direction': 'egress',
        'source': {'namespace': 'cni-test', 'workload': 'netshot', 'kind': 'Pod', 'pods': ['netshot'], 'reserved': None, 'ip': None},
        'destination': {'namespace': 'cni-test', 'workload': 'nginx', 'kind': 'Deployment', 'pods': ['nginx-7c5ddbdf54-8xkqz'],
                        'reserved': None, 'ip': None},
        'protocol': 'TCP', 'port': 80, 'reason': 'POLICY_DENIED',
        'count': 2, 'count_by_kind': {'event': 0, 'flow': 2, 'policy_verdict': 1},
        'first_seen': '2025-05-31T05:24:48.077000548Z', 'last_seen': '2025-05-31T05:24:49.108000822Z',
        'nodes': ['kind-control-plane'],
        'samples': [{'kind': 'flow', 'ref': '68bb93a3-14cb-5813-91e5-a8db0639a327'},
                    {'kind': 'flow', 'ref': 'c6b12718-6033-5626-b693-a0702ff8fd5e'},
                    {'kind': 'flow', 'ref': '1820e089-df4d-5d69-8d31-0dfe22f01ea6'}],
        'policies': [], 'evidence_kinds': ['flow'],
    }
    icmp = result.violations[1].to_dict()
    assert (icmp['key'], icmp['count'], icmp['destination']) == (
        'egress|cni-test/netshot|ip:1.1.1.1|ICMPv4|-|POLICY_DENY', 1,
        {'namespace': None, 'workload': None, 'kind': None, 'pods': [], 'reserved': 'world', 'ip': '1.1.1.1'})
    assert icmp['policies'] == [{'relation': 'denied_by', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test',
                                 'name': 'deny-egress-icmp', 'clusterwide': False, 'revision': 9}]
    assert result.to_dict()['coverage']['drops'] == 7


def test_without_collapse_every_flow_counts():
    drops, _coverage = fixture_flow_drops()
    assert [v.count for v in aggregate(drops, collapse_pairs=False).violations] == [3, 2, 2]


def flow_drop(stamp_ns, event_type, sport=40000, node='n1', uuid=None):
    seconds, nanos = divmod(stamp_ns, 1_000_000_000)
    return Drop(time=f'2025-05-31T05:00:{seconds:02d}.{nanos:09d}Z', time_ns=1_748_667_600_000_000_000 + stamp_ns, node=node,
                direction='egress', verdict='DROPPED', reason='POLICY_DENIED', reason_code=133, event_type=event_type, protocol='TCP',
                port=80, source_port=sport, source=Endpoint(namespace='a', pod='client', ip='10.0.0.1'),
                destination=Endpoint(namespace='b', pod='server', ip='10.0.0.2'), evidence=EvidenceRef(kind='flow', flow_uuid=uuid))


def test_drop_flows_count_and_policy_verdicts_only_corroborate():
    cases = [
        ([flow_drop(0, 'policy-verdict'), flow_drop(200_000, 'drop')], 1),       # the pair
        ([flow_drop(0, 'drop'), flow_drop(200_000, 'policy-verdict')], 1),       # order does not matter
        ([flow_drop(0, 'policy-verdict'), flow_drop(20_000_000, 'drop')], 1),    # nor the time between them
        ([flow_drop(0, 'drop'), flow_drop(1_000, 'drop')], 2),                   # two drops are two packets
        ([flow_drop(0, 'policy-verdict'), flow_drop(1_000, 'drop', sport=40001)], 1),
        ([flow_drop(0, 'policy-verdict'), flow_drop(1_000, 'drop'), flow_drop(2_000, 'drop')], 2),
        ([flow_drop(0, 'policy-verdict'), flow_drop(1_000, 'policy-verdict', sport=40001)], 2),  # verdicts alone: the only evidence
    ]
    for drops, expected in cases:
        assert aggregate(drops).violations[0].count == expected


def test_verdict_only_violations_count_their_verdicts():
    aggregator = Aggregator()
    for index in range(1000):
        aggregator.add(flow_drop(index * 1000, 'policy-verdict', sport=index))
    assert aggregator.violations()[0].count == 1000
    assert aggregator.stats.pairs_collapsed == 0


def test_samples_pods_and_violations_are_bounded():
    aggregator = Aggregator(max_samples=5, max_violations=3)
    for index in range(50):
        drop = flow_drop(index * 100_000_000, 'drop', uuid=f'u{index}')
        aggregator.add(Drop(**{**{name: getattr(drop, name) for name in drop.__slots__},
                               'source': Endpoint(namespace='a', pod=f'client-7c5ddbdf54-{"bcdfg"[index % 5]}xkqz', ip='10.0.0.1')}))
    violation = aggregator.violations()[0]
    assert violation.count == 50
    assert [s[1] for s in violation.samples] == ['u0', 'u1', 'u2', 'u3', 'u4']
    assert len(violation.source.pods) == 5 and violation.source.workload == 'client'
    for port in range(10):
        aggregator.add(Drop(direction='ingress', port=port, source=Endpoint(ip='1.1.1.1'), destination=Endpoint(ip='2.2.2.2')))
    assert len(aggregator) == 3 and aggregator.stats.overflow_drops == 8


def test_fixture_events_aggregate_with_guessed_workloads():
    drops, coverage = fixture_event_drops()
    result = aggregate(drops, coverage)
    assert [(v.key, v.count) for v in result.violations] == [
        ('egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED', 7),
        ('egress|cni-test/dns-probe|kube-system/coredns|UDP|53|POLICY_DENIED', 4),
        ('ingress|ip:172.18.0.1|cni-test/nginx|TCP|80|POLICY_DENIED', 2),
        ('egress|cni-test/pinger|ip:8.8.8.8|ICMPv4|-|POLICY_DENIED', 1),
        ('ingress|cni-test/curl-client|cni-test/nginx|TCP|80|POLICY_DENIED', 1),
        ('ingress|cni-test/curl-client|payments/payments-api|TCP|8080|AUTH_REQUIRED', 1),
    ]
    top = result.violations[0].to_dict()
    assert top['destination'] == {'namespace': 'cni-test', 'workload': 'nginx', 'kind': 'Deployment',
                                  'pods': ['nginx-7c5ddbdf54-8xkqz'], 'reserved': None, 'ip': None}
    assert (top['first_seen'], top['last_seen'], top['samples']) == (
        '2025-05-31T05:24:48Z', '2025-05-31T05:25:23Z', [{'kind': 'event', 'ref': 'cni-test/netshot.1844854550892d40'}])
    assert result.to_dict()['coverage']['events_total'] == 8


def test_events_and_flows_meet_in_one_violation():
    flow_drops, _unused = fixture_flow_drops()
    event_drops, _unused = fixture_event_drops()
    aggregator = Aggregator().add_all(event_drops).add_all(flow_drops)
    by_key = {v.key: v.to_dict() for v in aggregator.violations()}
    top = by_key['egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED']
    # count = the larger lower bound: the Event says 7 occurrences, the drop flows saw 2 packets (verdict flows never add)
    assert (top['count'], top['count_by_kind'], top['evidence_kinds']) == (7, {'event': 7, 'flow': 2, 'policy_verdict': 1}, ['event', 'flow'])
    assert top['destination']['kind'] == 'Deployment'
    assert (top['first_seen'], top['last_seen']) == ('2025-05-31T05:24:48Z', '2025-05-31T05:25:23Z')
    assert len(aggregator) == 7  # 6 event keys + the ICMP drop to 1.1.1.1 (the curl->nginx ingress key is shared)
    assert by_key['ingress|cni-test/curl-client|cni-test/nginx|TCP|80|POLICY_DENIED']['count_by_kind'] == {'event': 1, 'flow': 1, 'policy_verdict': 1}
    # sorted by count: the larger of packets in drop flows and Event occurrences (7 occurrences beat 2 packets)
    assert [v.count for v in aggregator.violations()] == [7, 4, 2, 1, 1, 1, 1]


def test_relisted_event_only_adds_its_count_increase():
    drops, _unused = fixture_event_drops()
    first = drops[0]
    later = Drop(**{**{name: getattr(first, name) for name in first.__slots__}, 'count': 9,
                    'evidence': EvidenceRef(kind='event', event=EventRef(namespace='cni-test', name=first.evidence.event.name,
                                                                         uid=first.evidence.event.uid, count=9))})
    aggregator = Aggregator().add_all([first, first, later])
    assert aggregator.violations()[0].count == 9
    assert aggregator.stats.event_duplicates == 2
