# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""flow_parser: every fixture flow to the expected record, format variants, malformed input, JSON backends."""

from __future__ import annotations

import calendar
import importlib.util
import json
import os
import sys

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import parser as flow_parser
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Drop, LostEvents, NodeStatus
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.parser import (
    MalformedRecord,
    get_loads,
    parse_flow,
    parse_line,
    parse_record,
)

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))
FLOWS = os.path.join(FIXTURES, 'flows.jsonl')
BACKENDS = ['json'] + (['orjson'] if flow_parser.HAS_ORJSON else [])

NODE = 'kind-control-plane'
NS_LABEL = 'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name='
NETSHOT = {
    'namespace': 'cni-test', 'pod': 'netshot', 'workload': None,
    'labels': [NS_LABEL + 'cni-test', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=default',
               'k8s:io.kubernetes.pod.namespace=cni-test', 'k8s:run=netshot'],
    'identity': 59296, 'reserved': None, 'ip': '10.0.0.12',
}
COREDNS = {
    'namespace': 'kube-system', 'pod': 'coredns-76f75df574-7wq9z', 'workload': {'kind': 'Deployment', 'name': 'coredns'},
    'labels': [NS_LABEL + 'kube-system', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=coredns',
               'k8s:io.kubernetes.pod.namespace=kube-system', 'k8s:k8s-app=kube-dns'],
    'identity': 20934, 'reserved': None, 'ip': '10.0.0.31',
}
NGINX = {
    'namespace': 'cni-test', 'pod': 'nginx-7c5ddbdf54-8xkqz', 'workload': {'kind': 'Deployment', 'name': 'nginx'},
    'labels': ['k8s:app=nginx', NS_LABEL + 'cni-test', 'k8s:io.cilium.k8s.policy.cluster=default',
               'k8s:io.cilium.k8s.policy.serviceaccount=default', 'k8s:io.kubernetes.pod.namespace=cni-test'],
    'identity': 2290, 'reserved': None, 'ip': '10.0.0.226',
}
CURL = {
    'namespace': 'cni-test', 'pod': 'curl-client', 'workload': None,
    'labels': [NS_LABEL + 'cni-test', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=default',
               'k8s:io.kubernetes.pod.namespace=cni-test', 'k8s:run=curl-client'],
    'identity': 31877, 'reserved': None, 'ip': '10.0.0.87',
}
WORLD = {'namespace': None, 'pod': None, 'workload': None, 'labels': ['reserved:world'], 'identity': 2, 'reserved': 'world',
         'ip': '1.1.1.1'}


def evidence(uuid, line):
    return {'kind': 'flow', 'event': None, 'flow_uuid': uuid, 'file': FLOWS, 'line': line}


# line number -> (expected to_dict(), expected source port)
EXPECTED = {
    1: ({'time': '2025-05-31T05:24:47.177000001Z', 'node': NODE, 'direction': 'egress', 'verdict': 'FORWARDED', 'reason': None,
         'reason_code': None, 'event_type': 'policy-verdict', 'protocol': 'UDP', 'port': 53, 'tcp_flags': [],
         'source': NETSHOT, 'destination': COREDNS,
         'policies': [{'relation': 'allowed_by', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'netshot-egress',
                       'clusterwide': False, 'revision': 7}],
         'evidence': evidence('5d96a404-1916-5760-b24a-669059074b34', 1), 'count': 1, 'unparsed': None}, 48517),
    2: ({'time': '2025-05-31T05:24:47.178000137Z', 'node': NODE, 'direction': 'ingress', 'verdict': 'FORWARDED', 'reason': None,
         'reason_code': None, 'event_type': 'trace', 'protocol': 'UDP', 'port': 53, 'tcp_flags': [],
         'source': NETSHOT, 'destination': COREDNS, 'policies': [],
         'evidence': evidence('f42c94ee-cbec-506e-b8b8-071e3e31c128', 2), 'count': 1, 'unparsed': None}, 48517),
    3: ({'time': '2025-05-31T05:24:47.179000274Z', 'node': NODE, 'direction': 'egress', 'verdict': 'FORWARDED', 'reason': None,
         'reason_code': None, 'event_type': 'trace', 'protocol': 'UDP', 'port': 48517, 'tcp_flags': [],
         'source': COREDNS | {'ip': '10.0.0.31'}, 'destination': NETSHOT | {'ip': '10.0.0.12'}, 'policies': [],
         'evidence': evidence('e2f5be28-2a45-5e2b-ac1f-91b2c25255da', 3), 'count': 1, 'unparsed': None}, 53),
    4: ({'time': '2025-05-31T05:24:47.180000411Z', 'node': NODE, 'direction': 'egress', 'verdict': 'FORWARDED', 'reason': None,
         'reason_code': None, 'event_type': 'l7', 'protocol': 'UDP', 'port': 53, 'tcp_flags': [],
         'source': NETSHOT, 'destination': COREDNS, 'policies': [],
         'evidence': evidence('501de8ff-eb82-56d9-a932-1375c60d33de', 4), 'count': 1, 'unparsed': None}, 48517),
    5: ({'time': '2025-05-31T05:24:48.077000548Z', 'node': NODE, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
         'reason_code': 133, 'event_type': 'policy-verdict', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
         'source': NETSHOT, 'destination': NGINX, 'policies': [],
         'evidence': evidence('68bb93a3-14cb-5813-91e5-a8db0639a327', 5), 'count': 1, 'unparsed': None}, 47302),
    6: ({'time': '2025-05-31T05:24:48.077200685Z', 'node': NODE, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
         'reason_code': 133, 'event_type': 'drop', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
         'source': NETSHOT, 'destination': NGINX, 'policies': [],
         'evidence': evidence('c6b12718-6033-5626-b693-a0702ff8fd5e', 6), 'count': 1, 'unparsed': None}, 47302),
    7: ({'time': '2025-05-31T05:24:49.108000822Z', 'node': NODE, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
         'reason_code': 133, 'event_type': 'drop', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
         'source': NETSHOT, 'destination': NGINX, 'policies': [],
         'evidence': evidence('1820e089-df4d-5d69-8d31-0dfe22f01ea6', 7), 'count': 1, 'unparsed': None}, 47302),
    8: ({'time': '2025-05-31T05:25:00.027000959Z', 'node': NODE, 'direction': 'egress', 'verdict': 'FORWARDED', 'reason': None,
         'reason_code': None, 'event_type': 'policy-verdict', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
         'source': CURL, 'destination': NGINX,
         'policies': [{'relation': 'allowed_by', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'curl-client-egress',
                       'clusterwide': False, 'revision': 7}],
         'evidence': evidence('82ad1f78-a4bf-55ed-83b1-ed77de5bfc64', 8), 'count': 1, 'unparsed': None}, 38644),
    9: ({'time': '2025-05-31T05:25:00.028000096Z', 'node': NODE, 'direction': 'ingress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
         'reason_code': 133, 'event_type': 'policy-verdict', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
         'source': CURL, 'destination': NGINX, 'policies': [],
         'evidence': evidence('ebd3d621-0ae1-5641-b845-636d48418f81', 9), 'count': 1, 'unparsed': None}, 38644),
    10: ({'time': '2025-05-31T05:25:00.028300233Z', 'node': NODE, 'direction': 'ingress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
          'reason_code': 133, 'event_type': 'drop', 'protocol': 'TCP', 'port': 80, 'tcp_flags': ['SYN'],
          'source': CURL, 'destination': NGINX, 'policies': [],
          'evidence': evidence('53516788-0a87-55fa-b11b-8f0032f4eb55', 10), 'count': 1, 'unparsed': None}, 38644),
    11: ({'time': '2025-05-31T05:25:13.077000370Z', 'node': NODE, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENY',
          'reason_code': 181, 'event_type': 'policy-verdict', 'protocol': 'ICMPv4', 'port': None, 'tcp_flags': [],
          'source': NETSHOT, 'destination': WORLD,
          'policies': [{'relation': 'denied_by', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'deny-egress-icmp',
                        'clusterwide': False, 'revision': 9}],
          'evidence': evidence('8ae25b1c-717e-5d31-8fdc-12712bcd651b', 11), 'count': 1, 'unparsed': None}, None),
    12: ({'time': '2025-05-31T05:25:13.077400507Z', 'node': NODE, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENY',
          'reason_code': 181, 'event_type': 'drop', 'protocol': 'ICMPv4', 'port': None, 'tcp_flags': [],
          'source': NETSHOT, 'destination': WORLD, 'policies': [],
          'evidence': evidence('aa0abbaf-60f0-5f37-a519-1601fc443a24', 12), 'count': 1, 'unparsed': None}, None),
}


def fixture_lines():
    with open(FLOWS, 'rb') as handle:
        return handle.read().splitlines()


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('number', sorted(EXPECTED))
def test_every_fixture_flow_parses_to_the_expected_record(number, backend):
    line = fixture_lines()[number - 1]
    record = parse_line(line, get_loads(backend)[1], file=FLOWS, line=number)
    expected, source_port = EXPECTED[number]
    assert isinstance(record, Drop)
    got = record.to_dict()
    for key, value in expected.items():
        assert got[key] == value, key
    assert set(got) == set(expected)
    assert record.source_port == source_port
    stamp = expected['time']
    seconds = calendar.timegm((2025, 5, 31, int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])))
    assert record.time_ns == seconds * 1_000_000_000 + int(stamp[20:29])


def test_fixture_lost_events_line():
    record = parse_line(fixture_lines()[12])
    assert record == LostEvents(source='HUBBLE_RING_BUFFER', num_lost=3, node=NODE, cpu=1, first=None, last=None,
                                time='2025-05-31T05:25:14.077000001Z')
    assert record.to_dict() == {'source': 'HUBBLE_RING_BUFFER', 'num_lost': 3, 'node': NODE, 'cpu': 1, 'first': None, 'last': None,
                                'time': '2025-05-31T05:25:14.077000001Z'}


def test_legacy_bare_flow_and_camel_case_variant_give_the_same_record():
    wrapped = json.loads(fixture_lines()[10])
    bare = dict(wrapped['flow'])
    camel = {
        'time': bare['time'], 'uuid': bare['uuid'], 'verdict': 2, 'dropReason': '181',
        'IP': {'source': '10.0.0.12', 'destination': '1.1.1.1', 'ipVersion': 1},
        'l4': {'ICMPv4': {'type': 8}},
        'source': {'ID': 1412, 'identity': '59296', 'clusterName': 'default', 'namespace': 'cni-test',
                   'labels': NETSHOT['labels'], 'podName': 'netshot'},
        'destination': {'identity': 2, 'labels': ['reserved:world']},
        'Type': 'L3_L4', 'nodeName': NODE, 'eventType': {'type': 5}, 'trafficDirection': 2, 'policyMatchType': 1,
        'dropReasonDesc': 'POLICY_DENY', 'Summary': 'ICMPv4 EchoRequest',
        'egressDeniedBy': [{'name': 'deny-egress-icmp', 'namespace': 'cni-test', 'revision': '9', 'kind': 'CiliumNetworkPolicy'}],
    }
    expected = EXPECTED[11][0] | {'evidence': {'kind': 'flow', 'event': None, 'flow_uuid': bare['uuid'], 'file': None, 'line': None}}
    assert parse_record(bare).to_dict() == expected
    assert parse_record({'flow': camel, 'nodeName': NODE, 'time': camel['time']}).to_dict() == expected


def test_enums_and_64_bit_values_as_numbers_or_strings():
    flow = {'verdict': 2, 'drop_reason_desc': 133, 'traffic_direction': 'INGRESS', 'event_type': {'type': '1', 'sub_type': '133'},
            'IP': {'source': 'fd00::1', 'destination': 'fd00::2'}, 'l4': {'SCTP': {'source_port': '9', 'destination_port': 3868}},
            'source': {}, 'destination': {'identity': 6}}
    drop = parse_flow(flow)
    assert (drop.verdict, drop.reason, drop.reason_code, drop.direction, drop.event_type) == ('DROPPED', 'POLICY_DENIED', 133, 'ingress', 'drop')
    assert (drop.protocol, drop.port, drop.source_port) == ('SCTP', 3868, 9)
    assert drop.source.to_dict() == {'namespace': None, 'pod': None, 'workload': None, 'labels': [], 'identity': None,
                                     'reserved': 'unknown', 'ip': 'fd00::1'}
    assert (drop.destination.reserved, drop.destination.identity) == ('remote-node', 6)
    # verdict names are case-sensitive and never numeric strings (protojson), as the capture pre-filter assumes
    assert [parse_flow({'verdict': value}).verdict for value in ('2', 'dropped', 'DROPPED')] == ['2', 'dropped', 'DROPPED']
    unknown = parse_flow({'verdict': 99, 'drop_reason_desc': 250, 'event_type': {'type': 42}})
    assert (unknown.verdict, unknown.reason, unknown.reason_code, unknown.event_type, unknown.direction) == (
        'UNKNOWN_99', 'UNKNOWN_250', 250, 'type-42', 'unknown')


def test_reason_falls_back_to_deprecated_drop_reason_and_drop_sub_type():
    assert parse_flow({'verdict': 'DROPPED', 'drop_reason': 181}).reason == 'POLICY_DENY'
    assert parse_flow({'verdict': 'DROPPED', 'event_type': {'type': 1, 'sub_type': 189}}).reason == 'AUTH_REQUIRED'
    assert parse_flow({'verdict': 'DROPPED', 'event_type': {'type': 5, 'sub_type': 189}}).reason is None


def test_tcp_flags_come_out_in_protocol_order_and_l7_and_vrrp_igmp():
    drop = parse_flow({'l4': {'TCP': {'destination_port': 443, 'flags': {'ACK': True, 'SYN': True, 'FIN': False, 'XMAS': True}}}})
    assert drop.tcp_flags == ('SYN', 'ACK', 'XMAS')
    assert parse_flow({'l4': {'VRRP': {}}}).protocol == 'VRRP'
    assert parse_flow({'l4': {'IGMP': {'type': 22}}}).protocol == 'IGMP'
    assert parse_flow({'l4': {}}).protocol is None


def test_policy_kind_and_namespace_from_labels_before_1_17_and_clusterwide():
    flow = {'verdict': 'DROPPED', 'ingress_denied_by': [
        {'name': 'deny-all', 'labels': ['k8s:io.cilium.k8s.policy.derived-from=CiliumClusterwideNetworkPolicy',
                                        'k8s:io.cilium.k8s.policy.name=deny-all']},
        {'labels': ['k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy', 'k8s:io.cilium.k8s.policy.name=np',
                    'k8s:io.cilium.k8s.policy.namespace=shop'], 'revision': 12},
    ]}
    assert [ref.to_dict() for ref in parse_flow(flow).policies] == [
        {'relation': 'denied_by', 'kind': 'CiliumClusterwideNetworkPolicy', 'namespace': None, 'name': 'deny-all', 'clusterwide': True,
         'revision': None},
        {'relation': 'denied_by', 'kind': 'NetworkPolicy', 'namespace': 'shop', 'name': 'np', 'clusterwide': False, 'revision': 12},
    ]


def test_node_status_and_other_records():
    record = parse_record({'node_status': {'state_change': 'NODE_UNAVAILABLE', 'node_names': ['kind-worker'], 'message': 'gone'},
                           'time': '2025-05-31T05:25:14Z'})
    assert record == NodeStatus(state='NODE_UNAVAILABLE', node_names=('kind-worker',), message='gone', node=None, time='2025-05-31T05:25:14Z')
    assert parse_record({'nodeStatus': {'stateChange': 4, 'nodeNames': ['a']}}).state == 'NODE_ERROR'
    assert parse_record({'lostEvents': {'source': 2, 'numEventsLost': '18446744073709551615', 'cpu': 0,
                                        'first': '2025-05-31T05:25:14Z', 'last': '2025-05-31T05:25:15Z'}}).to_dict() == {
        'source': 'OBSERVER_EVENTS_QUEUE', 'num_lost': 18446744073709551615, 'node': None, 'cpu': 0,
        'first': '2025-05-31T05:25:14Z', 'last': '2025-05-31T05:25:15Z', 'time': None}
    assert parse_record({'something': 'else'}) is None


@pytest.mark.parametrize('obj, what', [
    ([], 'not a JSON object'),
    ({'flow': 'x'}, 'flow is not an object'),
    ({'flow': {'verdict': ['DROPPED']}}, 'verdict'),
    ({'flow': {'verdict': True}}, 'verdict'),
    ({'flow': {'source': {'identity': -1}}}, 'identity'),
    ({'flow': {'source': {'identity': 1 << 32}}}, 'identity'),
    ({'flow': {'source': {'identity': 1.5}}}, 'identity'),
    ({'flow': {'source': {'labels': 'k8s:a=b'}}}, 'labels'),
    ({'flow': {'source': {'labels': [1]}}}, 'labels'),
    ({'flow': {'l4': {'TCP': []}}}, 'l4.TCP'),
    ({'flow': {'l4': {'TCP': {'destination_port': 'eighty'}}}}, 'destination_port'),
    ({'flow': {'l4': {'TCP': {'flags': {'SYN': 1}}}}}, 'flags'),
    ({'flow': {'time': 5}}, 'time'),
    ({'flow': {'egress_denied_by': {'name': 'x'}}}, 'egress_denied_by'),
    ({'flow': {'event_type': {'type': 1 << 40}}}, 'type'),
    ({'lost_events': {'num_events_lost': -3}}, 'num_events_lost'),
    ({'lost_events': []}, 'lost_events'),
    ({'node_status': {'node_names': 'a'}}, 'node_names'),
])
def test_wrong_types_raise_malformed_record(obj, what):
    with pytest.raises(MalformedRecord, match=what):
        parse_record(obj)


EDGE_LINES = [
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1e999}', b'{"a":18446744073709551616}', b'{"a":-9223372036854775809}',
    b'{"a":' + b'7' * 5000 + b'}', b'{"a":"\\ud800"}', b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\\\ud800"}', b'\xef\xbb\xbf{"a":1}',
    b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'[' * 1024 + b']' * 1024, b'[' * 1025 + b']' * 1025, b'{"a":' * 1000 + b'1' + b'}' * 1000,
    b'{"a":1,"a":2}', b'{"a":"x\x01"}', b' \t{"a":1}\r', b'', b'{', b'{"flow":{"verdict":"DROPPED"', b'null', b'"text"', b'17',
]


def _same(left, right) -> bool:
    """Deep equality without recursion (decoded values may nest 1024 levels)."""
    stack = [(left, right)]
    while stack:
        one, two = stack.pop()
        if type(one) is not type(two):
            return False
        if isinstance(one, dict):
            if list(one) != list(two):
                return False
            stack.extend((one[key], two[key]) for key in one)
        elif isinstance(one, list):
            if len(one) != len(two):
                return False
            stack.extend(zip(one, two))
        elif one != two:
            return False
    return True


@pytest.mark.parametrize('data', EDGE_LINES, ids=range(len(EDGE_LINES)))
def test_json_backends_agree_on_edge_cases(data):
    outcomes = []
    for backend in ('json', 'orjson'):
        if backend == 'orjson' and not flow_parser.HAS_ORJSON:
            pytest.skip('orjson is not installed')
        try:
            outcomes.append(('ok', get_loads(backend)[1](data)))
        except MalformedRecord:
            outcomes.append(('malformed', None))
    assert outcomes[0][0] == outcomes[1][0]
    assert _same(outcomes[0][1], outcomes[1][1])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown JSON backend'):
        get_loads('simdjson')


def _load_fresh(name, monkeypatch):
    """Import a fresh copy of a module_utils module while ``orjson`` cannot be imported."""
    full = f'ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.{name}'
    spec = importlib.util.spec_from_file_location(full, os.path.join(os.path.dirname(flow_parser.__file__), f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, full, module)
    spec.loader.exec_module(module)
    return module


def test_without_orjson_the_stdlib_backend_gives_identical_results(monkeypatch):
    expected_drops, expected_coverage = None, None
    if flow_parser.HAS_ORJSON:
        from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import read_drops  # pylint: disable=import-outside-toplevel
        drops, coverage = read_drops(FLOWS, json_backend='orjson')
        expected_drops, expected_coverage = [d.to_dict() for d in drops], coverage.to_dict()
    monkeypatch.setitem(sys.modules, 'orjson', None)
    fresh_parser = _load_fresh('parser', monkeypatch)
    fresh_reader = _load_fresh('capture', monkeypatch)
    assert fresh_parser.HAS_ORJSON is False
    assert fresh_parser.get_loads()[0] == 'json'
    with pytest.raises(ValueError, match='orjson package is not installed'):
        fresh_parser.get_loads('orjson')
    drops, coverage = fresh_reader.read_drops(FLOWS)
    assert [d.to_dict() for d in drops] == [EXPECTED[n][0] for n in (5, 6, 7, 9, 10, 11, 12)]
    if expected_drops is not None:
        assert [d.to_dict() for d in drops] == expected_drops
        assert coverage.to_dict() == expected_coverage


@pytest.mark.shared_reference
@pytest.mark.parametrize('name', ['flows.jsonl', 'events.json', 'events_v119.json'])
def test_fixture_copies_match_the_shared_reference(name):
    shared = os.path.join('/work/shared/fixtures/cilium', name)
    if not os.path.exists(shared):
        pytest.skip('the shared reference fixtures (/work/shared/fixtures/cilium) are not available on this machine')
    with open(shared, 'rb') as reference, open(os.path.join(FIXTURES, name), 'rb') as copy:
        assert copy.read() == reference.read()
