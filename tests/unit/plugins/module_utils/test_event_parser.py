# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""event_parser: every fixture PacketDrop Event to the expected record, both Event APIs, grammar variants."""

from __future__ import annotations

import copy
import datetime
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsError, iter_src_items
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import (
    GRAMMAR_LEGACY,
    GRAMMAR_V119,
    parse_event,
    parse_events,
    parse_message,
)

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return json.load(handle)


def endpoint(namespace=None, pod=None, identity=None, reserved=None, ip=None):
    return {'namespace': namespace, 'pod': pod, 'workload': None, 'labels': [], 'identity': identity, 'reserved': reserved, 'ip': ip}


def event_evidence(namespace, name, uid, count, first, last):
    return {'kind': 'event', 'event': {'namespace': namespace, 'name': name, 'uid': uid, 'count': count, 'first_seen': first,
                                       'last_seen': last}, 'flow_uuid': None, 'file': None, 'line': None}


def drop(time, direction, reason, code, protocol, port, source, destination, evidence, count, policies=()):
    return {'time': time, 'node': None, 'direction': direction, 'verdict': 'DROPPED', 'reason': reason, 'reason_code': code,
            'event_type': 'event', 'protocol': protocol, 'port': port, 'tcp_flags': [], 'source': source, 'destination': destination,
            'policies': list(policies), 'evidence': evidence, 'count': count, 'unparsed': None}


EXPECTED_V118 = [
    drop('2025-05-31T05:25:23Z', 'egress', 'POLICY_DENIED', 133, 'TCP', 80,
         endpoint('cni-test', 'netshot'), endpoint('cni-test', 'nginx-7c5ddbdf54-8xkqz', ip='10.0.0.226'),
         event_evidence('cni-test', 'netshot.1844854550892d40', 'c4dbb1bb-94b4-5019-89e5-4b62df888f6d', 7,
                        '2025-05-31T05:24:48Z', '2025-05-31T05:25:23Z'), 7),
    drop('2025-05-31T05:25:00Z', 'ingress', 'POLICY_DENIED', 133, 'TCP', 80,
         endpoint('cni-test', 'curl-client', ip='10.0.0.87'), endpoint('cni-test', 'nginx-7c5ddbdf54-8xkqz'),
         event_evidence('cni-test', 'nginx-7c5ddbdf54-8xkqz.184485481bcaa540', '6886cacf-1385-5475-b6c1-28d77bef4640', 1,
                        '2025-05-31T05:25:00Z', '2025-05-31T05:25:00Z'), 1),
    drop('2025-05-31T05:25:38Z', 'egress', 'POLICY_DENIED', 133, 'UDP', 53,
         endpoint('cni-test', 'dns-probe'), endpoint('kube-system', 'coredns-76f75df574-7wq9z', ip='10.0.0.31'),
         event_evidence('cni-test', 'dns-probe.18448549f8a0f540', '313d3a11-18b1-51e2-8a49-4de772fe1880', 4,
                        '2025-05-31T05:25:08Z', '2025-05-31T05:25:38Z'), 4),
    drop('2025-05-31T05:25:13Z', 'egress', 'POLICY_DENIED', 133, 'ICMPv4', None,
         endpoint('cni-test', 'pinger'), endpoint(identity=2, reserved='world', ip='8.8.8.8'),
         event_evidence('cni-test', 'pinger.1844854b22a6e740', '7fd634a3-ac5d-5733-8940-ad9447664b23', 1,
                        '2025-05-31T05:25:13Z', '2025-05-31T05:25:13Z'), 1),
    drop('2025-05-31T05:25:18Z', 'ingress', 'AUTH_REQUIRED', 189, 'TCP', 8080,
         endpoint('cni-test', 'curl-client', ip='10.0.0.87'), endpoint('payments', 'payments-api-5f6b9c7d8-r4k2j'),
         event_evidence('payments', 'payments-api-5f6b9c7d8-r4k2j.1844854c4cacd940', '4e6eb607-9145-5631-9676-32b047619234', 1,
                        '2025-05-31T05:25:18Z', '2025-05-31T05:25:18Z'), 1),
    drop('2025-05-31T05:25:28Z', 'ingress', 'POLICY_DENIED', 133, 'TCP', 80,
         endpoint(identity=2, reserved='world', ip='172.18.0.1'), endpoint('cni-test', 'nginx-7c5ddbdf54-tq2mv'),
         event_evidence('cni-test', 'nginx-7c5ddbdf54-tq2mv.1844854ea0b8bd40', '19161279-2471-5256-8799-d176866d25ba', 2,
                        '2025-05-31T05:25:28Z', '2025-05-31T05:25:28Z'), 2),
]

EXPECTED_V119 = [
    drop('2025-05-31T05:24:48Z', 'egress', 'POLICY_DENIED', 133, 'TCP', 80,
         endpoint('cni-test', 'netshot'), endpoint('cni-test', 'nginx-7c5ddbdf54-8xkqz', ip='10.0.0.226'),
         event_evidence('cni-test', 'netshot.1844854550892d40', 'c4dbb1bb-94b4-5019-89e5-4b62df888f6d', 1,
                        '2025-05-31T05:24:48Z', '2025-05-31T05:24:48Z'), 1),
    drop('2025-05-31T05:24:53Z', 'egress', 'POLICY_DENIED', 133, 'TCP', 80,
         endpoint('cni-test', 'curl-client'), endpoint('cni-test', 'nginx-7c5ddbdf54-8xkqz', ip='10.0.0.226'),
         event_evidence('cni-test', 'curl-client.184485467a8f1f40', '3cd3e087-77ab-5d38-aad3-1e6f4107d9a0', 1,
                        '2025-05-31T05:24:53Z', '2025-05-31T05:24:53Z'), 1,
         [{'relation': 'applied', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'curl-client-egress',
           'clusterwide': False, 'revision': None},
          {'relation': 'applied', 'kind': 'NetworkPolicy', 'namespace': 'cni-test', 'name': 'default-deny-egress',
           'clusterwide': False, 'revision': None}]),
    drop('2025-05-31T05:24:57Z', 'egress', 'POLICY_DENY', 181, 'ICMPv4', None,
         endpoint('cni-test', 'pinger'), endpoint(identity=2, reserved='world', ip='1.1.1.1'),
         event_evidence('cni-test', 'pinger.1844854768fa4740', '4f043ff2-edfb-59f4-8fd9-6d22d42b73a8', 1,
                        '2025-05-31T05:24:57Z', '2025-05-31T05:24:57Z'), 1,
         [{'relation': 'denied_by', 'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'deny-egress-icmp',
           'clusterwide': False, 'revision': None},
          {'relation': 'denied_by', 'kind': 'CiliumClusterwideNetworkPolicy', 'namespace': None, 'name': 'global-deny-icmp',
           'clusterwide': True, 'revision': None}]),
]


@pytest.mark.parametrize('name, expected', [('events.json', EXPECTED_V118), ('events_v119.json', EXPECTED_V119)])
def test_every_fixture_event_parses_to_the_expected_record(name, expected):
    coverage = Coverage()
    drops = list(parse_events(load(name), coverage))
    assert len(drops) == len(expected)
    for got, want in zip(drops, expected):
        got_dict = got.to_dict()
        for key, value in want.items():
            assert got_dict[key] == value, (want['evidence']['event']['name'], key)
        assert set(got_dict) == set(want)


def test_fixture_event_coverage_counts_skipped_events_and_time_span():
    coverage = Coverage()
    assert len(list(parse_events(load('events.json'), coverage))) == 6
    assert (coverage.events_total, coverage.events_skipped, coverage.event_drops, coverage.unparsed_events, coverage.events_malformed) == (
        8, 2, 6, 0, 0)
    assert coverage.to_dict()['time'] == {'first': '2025-05-31T05:24:48Z', 'last': '2025-05-31T05:25:38Z'}


def to_events_v1(event):
    """The same Event as read through events.k8s.io/v1."""
    return {
        'apiVersion': 'events.k8s.io/v1', 'kind': 'Event', 'metadata': event['metadata'], 'regarding': event['involvedObject'],
        'note': event['message'], 'reason': event['reason'], 'type': event['type'], 'eventTime': None,
        'deprecatedSource': event['source'], 'deprecatedCount': event['count'],
        'deprecatedFirstTimestamp': event['firstTimestamp'], 'deprecatedLastTimestamp': event['lastTimestamp'],
        'reportingController': '', 'reportingInstance': '',
    }


def test_events_k8s_io_v1_objects_give_the_same_records():
    items = [item for item in load('events.json')['items'] if item['reason'] == 'PacketDrop']
    assert [parse_event(to_events_v1(item)).to_dict() for item in items] == EXPECTED_V118


def test_python_client_snake_case_dict_with_datetimes():
    item = copy.deepcopy(load('events.json')['items'][0])
    utc = datetime.timezone.utc
    snake = {
        'metadata': {'name': item['metadata']['name'], 'namespace': 'cni-test', 'uid': item['metadata']['uid'],
                     'creation_timestamp': datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=utc)},
        'involved_object': item['involvedObject'], 'message': item['message'], 'reason': 'PacketDrop',
        'first_timestamp': datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=utc),
        'last_timestamp': datetime.datetime(2025, 5, 31, 5, 25, 23, tzinfo=utc), 'count': 7, 'source': {'component': 'cilium'},
    }
    assert parse_event(snake).to_dict() == EXPECTED_V118[0]


def test_series_count_watch_wrapper_and_node_from_source_host():
    event = copy.deepcopy(load('events.json')['items'][3])
    event.update(count=None, firstTimestamp=None, lastTimestamp=None, eventTime='2025-05-31T05:25:13.000001Z',
                 series={'count': 12, 'lastObservedTime': '2025-05-31T05:26:00.5Z'}, source={'component': 'cilium', 'host': 'kind-worker'})
    record = parse_event({'type': 'MODIFIED', 'object': event})
    assert (record.count, record.node, record.time) == (12, 'kind-worker', '2025-05-31T05:26:00.5Z')
    assert (record.evidence.event.first_seen, record.evidence.event.last_seen) == ('2025-05-31T05:25:13.000001Z', '2025-05-31T05:26:00.5Z')


def test_plain_list_and_single_event_documents():
    items = load('events_v119.json')['items']
    assert [d.to_dict() for d in parse_events(items)] == EXPECTED_V119
    assert [d.to_dict() for d in parse_events(items[2])] == EXPECTED_V119[2:]


@pytest.mark.parametrize('message, expected', [
    ('Incoming packet dropped (policy_denied) from unknown (1.2.3.4) TCP/443',
     ('ingress', 'POLICY_DENIED', {'reserved': 'unknown', 'identity': 0, 'ip': '1.2.3.4'}, 'TCP', 443, GRAMMAR_LEGACY, ())),
    ('Outgoing packet dropped (policy_denied) to remote-node (5.6.7.8) UDP/512',
     ('egress', 'POLICY_DENIED', {'reserved': 'remote-node', 'identity': 6, 'ip': '5.6.7.8'}, 'UDP', 512, GRAMMAR_LEGACY, ())),
    ('Outgoing packet dropped (policy_denied) to world-ipv4 (3.161.82.97) TCP/80',
     ('egress', 'POLICY_DENIED', {'reserved': 'world-ipv4', 'identity': 9, 'ip': '3.161.82.97'}, 'TCP', 80, GRAMMAR_LEGACY, ())),
    ('Outgoing packet dropped (policy_denied) to 8.8.8.8 ICMPv4.',
     ('egress', 'POLICY_DENIED', {'ip': '8.8.8.8'}, 'ICMPv4', None, GRAMMAR_V119, ())),
    ('Incoming packet dropped (policy_denied) from remote-node (1.2.3.4) TCP/8080.',
     ('ingress', 'POLICY_DENIED', {'reserved': 'remote-node', 'identity': 6, 'ip': '1.2.3.4'}, 'TCP', 8080, GRAMMAR_V119, ())),
    ('Outgoing packet dropped (auth_required) to shop/cart-0 (fd00::a:1) SCTP',
     ('egress', 'AUTH_REQUIRED', {'namespace': 'shop', 'pod': 'cart-0', 'ip': 'fd00::a:1'}, 'SCTP', None, GRAMMAR_LEGACY, ())),
    ('Outgoing packet dropped (policy_denied) to 2001:db8::1 ',
     ('egress', 'POLICY_DENIED', {'ip': '2001:db8::1'}, None, None, GRAMMAR_LEGACY, ())),
    ('Outgoing packet dropped (policy_denied) to 10.0.0.9 .',
     ('egress', 'POLICY_DENIED', {'ip': '10.0.0.9'}, None, None, GRAMMAR_V119, ())),
    ('Incoming packet dropped (unsupported_l3_protocol) from host (10.0.0.1) IGMP.',
     ('ingress', 'UNSUPPORTED_L3_PROTOCOL', {'reserved': 'host', 'identity': 1, 'ip': '10.0.0.1'}, 'IGMP', None, GRAMMAR_V119, ())),
    ('Outgoing packet dropped (drop_something_new) to world (1.1.1.1) VRRP. Applied policies: CiliumNetworkPolicy/a.b,NetworkPolicy/c.',
     ('egress', 'DROP_SOMETHING_NEW', {'reserved': 'world', 'identity': 2, 'ip': '1.1.1.1'}, 'VRRP', None, GRAMMAR_V119,
      (('applied', 'CiliumNetworkPolicy', 'a.b', False), ('applied', 'NetworkPolicy', 'c', False)))),
    ('Outgoing packet dropped (policy_deny) to 1.1.1.1 . Denied by clusterwide policies: CiliumClusterwideNetworkPolicy/x.',
     ('egress', 'POLICY_DENY', {'ip': '1.1.1.1'}, None, None, GRAMMAR_V119,
      (('denied_by', 'CiliumClusterwideNetworkPolicy', 'x', True),))),
])
def test_message_grammar(message, expected):
    parts = parse_message(message)
    direction, reason, peer, protocol, port, grammar, policies = expected
    assert (parts.direction, parts.reason, parts.protocol, parts.port, parts.grammar, parts.policies) == (
        direction, reason, protocol, port, grammar, policies)
    peer_dict = parts.peer.to_dict()
    for key in ('namespace', 'pod', 'reserved', 'identity', 'ip'):
        assert peer_dict[key] == peer.get(key), key


@pytest.mark.parametrize('message', [
    'Outgoing packet dropped (policy_denied) from cni-test/x (1.2.3.4) TCP/80',
    'Incoming packet dropped (policy_denied) to cni-test/x (1.2.3.4) TCP/80',
    'Outgoing packet dropped (policy denied) to cni-test/x (1.2.3.4) TCP/80',
    'Outgoing packet dropped (policy_denied) to cni-test/x (1.2.3.4) HTTP/80',
    'Outgoing packet dropped (policy_denied) to cni-test/x (1.2.3.4) TCP/80 extra',
    'Outgoing packet dropped (policy_denied) to cni-test/x (1.2.3.4) TCP/80 Applied policies: A/b.',
    'Outgoing packet dropped (policy_denied) to cni-test/x (1.2.3.4) TCP/80. Applied policies: A/.',
    'Packet dropped somewhere',
    '',
])
def test_messages_outside_the_grammar_are_not_parsed(message):
    assert parse_message(message) is None


def test_unmatched_packet_drop_is_kept_with_the_raw_text_and_counted():
    event = copy.deepcopy(load('events.json')['items'][0])
    event['message'] = 'Outgoing packet dropped (policy_denied) to a brand new peer format'
    coverage = Coverage()
    record = parse_event(event, coverage)
    assert record.unparsed == event['message']
    assert (record.direction, record.reason, record.reason_code, record.count) == ('egress', 'POLICY_DENIED', 133, 7)
    assert record.source.pod == 'netshot' and record.destination.pod is None
    event['message'] = 'Something else entirely'
    other = parse_event(event, coverage)
    assert (other.direction, other.reason, other.source.pod, other.unparsed) == ('unknown', None, 'netshot', 'Something else entirely')
    assert coverage.unparsed_events == 2
    assert coverage.to_dict()['unparsed_events']['samples'][0] == {
        'namespace': 'cni-test', 'name': 'netshot.1844854550892d40', 'message': 'Outgoing packet dropped (policy_denied) to a brand new peer format'}


@pytest.mark.parametrize('obj', [
    None, 'text', 42, [], {'reason': 'PacketDrop', 'metadata': []}, {'reason': 'PacketDrop', 'message': 7},
    {'reason': 'PacketDrop', 'involvedObject': 'pod/x'}, {'reason': 'PacketDrop', 'count': 'many'},
    {'reason': 'PacketDrop', 'count': -1}, {'reason': 'PacketDrop', 'lastTimestamp': 17}, {'reason': 5},
])
def test_malformed_event_objects_are_counted_not_raised(obj):
    coverage = Coverage()
    assert parse_event(obj, coverage) is None
    assert (coverage.events_total, coverage.events_malformed, coverage.event_drops) == (1, 1, 0)


def _src_drops(path):
    """The Drops of a src file as the shipped reader (drop_events_info src=) decodes it."""
    return [d.to_dict() for _path, _line, item in iter_src_items(str(path)) for d in parse_events(item)]


def test_src_files_in_json_json_lines_and_yaml_give_the_same_drops(tmp_path):
    # was a test of parser.load_event_documents, a decoder nothing but this test used (deleted as dead code);
    # the same three forms now go through the reader drop_events_info uses
    items = load('events_v119.json')['items']
    whole = tmp_path / 'list.json'
    whole.write_text(json.dumps({'kind': 'EventList', 'items': items}))
    assert _src_drops(whole) == EXPECTED_V119
    lines = tmp_path / 'watch.json'
    lines.write_text('\n'.join(json.dumps({'type': 'ADDED', 'object': item}) for item in items) + '\n')
    assert _src_drops(lines) == EXPECTED_V119
    yaml_file = tmp_path / 'list.yaml'
    yaml_file.write_text('apiVersion: v1\nkind: List\nitems:\n' + ''.join('- ' + json.dumps(item) + '\n' for item in items))
    assert _src_drops(yaml_file) == EXPECTED_V119
    broken = tmp_path / 'broken.yaml'
    broken.write_text('just: [unbalanced')
    with pytest.raises(DropEventsError, match='neither valid JSON nor YAML'):
        _src_drops(broken)
