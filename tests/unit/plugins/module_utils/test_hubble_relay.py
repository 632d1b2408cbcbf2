# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hubble Relay client: filters, GetFlowsRequest building, jsonpb conversion, error messages, generated stubs."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import sys

import pytest
from google.protobuf import json_format
from script_files import load_file

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import observer_pb2 as pb
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FLOWS = os.path.join(ROOT, 'tests', 'fixtures', 'cilium', 'flows.jsonl')
NOW = datetime.datetime(2025, 5, 31, 6, 0, 0, tzinfo=datetime.timezone.utc)


def fixture_records():
    with open(FLOWS, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def flows():
    return [r['flow'] for r in fixture_records() if 'flow' in r]


# ------------------------------------------------------------------------------------------- request building


def test_default_query_sends_only_dropped_verdict_and_asks_for_the_whole_buffer():
    request = hr.build_request(hr.FlowQuery(now=NOW), now=NOW)
    assert [list(f.verdict) for f in request.whitelist] == [[pb.DROPPED]]
    assert request.number == hr.ALL_FLOWS
    assert not request.follow and not request.HasField('since') and not request.blacklist


def test_namespaces_become_two_ored_filters_on_source_and_destination_pod():
    query = hr.FlowQuery(verdicts=['dropped', 'AUDIT'], namespaces=['cni-test', 'prod'], drop_reasons=['policy_denied'], now=NOW)
    assert hr.build_flow_filters(query) == [
        {'verdict': ['DROPPED', 'AUDIT'], 'drop_reason_desc': ['POLICY_DENIED'], 'source_pod': ['cni-test/', 'prod/']},
        {'verdict': ['DROPPED', 'AUDIT'], 'drop_reason_desc': ['POLICY_DENIED'], 'destination_pod': ['cni-test/', 'prod/']},
    ]
    request = hr.build_request(query)
    assert [list(f.source_pod) for f in request.whitelist] == [['cni-test/', 'prod/'], []]
    assert list(request.whitelist[1].drop_reason_desc) == [pb.POLICY_DENIED]


def test_pods_and_labels_map_to_source_and_destination_fields():
    query = hr.FlowQuery(from_pods=['cni-test/netshot'], to_pods=['cni-test/nginx-'], from_labels=['run=netshot'],
                         to_labels=['k8s:app in (nginx,web)'], now=NOW)
    assert hr.build_flow_filters(query) == [{
        'verdict': ['DROPPED'], 'source_label': ['run=netshot'], 'destination_label': ['k8s:app in (nginx,web)'],
        'source_pod': ['cni-test/netshot'], 'destination_pod': ['cni-test/nginx-']}]


def test_pods_are_restricted_to_the_namespaces_and_impossible_combinations_fail():
    query = hr.FlowQuery(namespaces=['cni-test'], from_pods=['other/x', '/netshot'], now=NOW)
    filters = hr.build_flow_filters(query)
    assert filters[0]['source_pod'] == ['cni-test/netshot']
    assert filters[1] == {'verdict': ['DROPPED'], 'source_pod': ['other/x', '/netshot'], 'destination_pod': ['cni-test/']}
    with pytest.raises(hr.HubbleError, match='select no pod in namespaces cni-test'):
        hr.build_flow_filters(hr.FlowQuery(namespaces=['cni-test'], from_pods=['a/x'], to_pods=['b/y'], now=NOW))


def test_time_window_last_and_follow():
    request = hr.build_request(hr.FlowQuery(since='15m', until='2025-05-31T05:59:00Z', now=NOW))
    assert request.since.ToDatetime(tzinfo=datetime.timezone.utc) == NOW - datetime.timedelta(minutes=15)
    assert request.until.ToJsonString() == '2025-05-31T05:59:00Z'
    assert request.number == 0
    assert hr.build_request(hr.FlowQuery(last=50, now=NOW)).number == 50
    follow = hr.build_request(hr.FlowQuery(follow_for=5, now=NOW), now=NOW)
    assert follow.follow and follow.number == 0
    assert follow.since.ToDatetime(tzinfo=datetime.timezone.utc) == NOW - datetime.timedelta(seconds=1)


@pytest.mark.parametrize('kwargs, message', [
    ({'verdicts': ['DENIED']}, "unknown verdict 'DENIED'"),
    ({'drop_reasons': ['policy_denid']}, "unknown drop reason 'POLICY_DENID'"),
    ({'last': 5, 'since': '5m'}, 'last cannot be combined with since/until'),
    ({'follow_for': 3, 'until': '1m'}, 'until cannot be combined with follow_for'),
    ({'since': 'yesterday'}, "invalid since 'yesterday'"),
    ({'since': '1m', 'until': '10m'}, 'is after until'),
    ({'namespaces': ['cni-test/nginx']}, 'is not a namespace name'),
    ({'from_pods': ['']}, 'empty pod filter'),
    ({'to_labels': ['app in (a']}, 'cannot parse label selector'),
    ({'last': 0}, 'last must be a positive number'),
])
def test_invalid_options_fail_with_a_message_naming_the_option(kwargs, message):
    with pytest.raises(hr.HubbleError, match=message.replace('(', r'\(')):
        hr.FlowQuery(now=NOW, **kwargs)


# ------------------------------------------------------------------------------------------- conversion


def test_responses_convert_to_exactly_what_hubble_observe_jsonpb_prints():
    for record in fixture_records():
        wire = json_format.ParseDict(record, pb.GetFlowsResponse()).SerializeToString()
        assert hr.response_to_dict(pb.GetFlowsResponse.FromString(wire)) == record


def test_fast_conversion_equals_protobuf_json_format():
    samples = [json_format.ParseDict(record, pb.GetFlowsResponse()) for record in fixture_records()]
    request = hr.build_request(hr.FlowQuery(verdicts=['DROPPED', 'AUDIT'], namespaces=['a'], drop_reasons=['POLICY_DENY'],
                                            since='2025-05-31T05:00:00.123456789Z', until='2025-05-31T06:00:00Z'))
    request.whitelist.add(source_identity=[7], event_type=[pb.EventTypeFilter(type=1, match_sub_type=True)])
    odd = pb.GetFlowsResponse(flow=pb.Flow(verdict=99, drop_reason_desc=250, socket_cookie=2 ** 63, is_reply={'value': False},
                                           source_names=['a.example.', 'b.example.']), node_name='n')
    lost = pb.GetFlowsResponse(lost_events=pb.LostEvent(source=pb.PERF_EVENT_RING_BUFFER, num_events_lost=9, cpu={'value': 0}))
    lost.lost_events.first.FromJsonString('2025-05-31T05:24:47.100Z')
    status = pb.GetFlowsResponse(node_status=pb.NodeStatusEvent(state_change=pb.NODE_GONE, node_names=['x']))
    for message in samples + [request, odd, lost, status, pb.GetFlowsResponse()]:
        assert hr.message_to_dict(message) == json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert hr.message_to_dict(odd)['flow']['verdict'] == 99  # unknown enum numbers stay numbers, like protojson


def test_conversion_keeps_hubble_key_spelling_and_encodings():
    record = next(r for r in fixture_records() if r.get('flow', {}).get('egress_denied_by'))
    out = hr.response_to_dict(json_format.ParseDict(record, pb.GetFlowsResponse()))
    flow = out['flow']
    assert {'IP', 'Type', 'Summary', 'l4', 'event_type', 'drop_reason_desc', 'traffic_direction'} <= set(flow)
    assert flow['IP']['ipVersion'] == 'IPv4'
    assert flow['verdict'] == 'DROPPED' and flow['drop_reason_desc'] == 'POLICY_DENY'
    assert isinstance(flow['egress_denied_by'][0]['revision'], str)  # uint64 as a string, like protojson
    assert 'is_reply' not in flow  # absent on drops (BoolValue unset)
    lost = next(r for r in fixture_records() if 'lost_events' in r)
    assert hr.response_to_dict(json_format.ParseDict(lost, pb.GetFlowsResponse()))['lost_events']['num_events_lost'] == '3'


def test_fields_we_do_not_model_are_skipped_on_decode():
    flow = pb.Flow(verdict=pb.DROPPED, node_name='n1')
    # emitter (41, message), ip_trace_id (40, uint64) and aggregate (21007, message) from newer Cilium versions
    unknown = b'\xca\x02\x08\n\x06Hubble' + b'\xc0\x02\x07' + b'\xfa\xe0\x0a\x02\x08\x01'
    decoded = pb.Flow.FromString(flow.SerializeToString() + unknown)
    assert (decoded.verdict, decoded.node_name) == (pb.DROPPED, 'n1')
    assert json_format.MessageToDict(decoded, preserving_proto_field_name=True) == {'verdict': 'DROPPED', 'node_name': 'n1'}


def test_drop_reason_enum_matches_the_evidence_model_table():
    from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import DROP_REASONS
    assert {value.number: value.name for value in pb.DropReason.DESCRIPTOR.values} == DROP_REASONS


def test_field_numbers_match_the_upstream_contract():
    fields = {f.name: f.number for f in pb.Flow.DESCRIPTOR.fields}
    assert fields['time'] == 1 and fields['uuid'] == 34 and fields['drop_reason_desc'] == 25 and fields['is_reply'] == 26
    assert fields['Summary'] == 100000 and fields['egress_denied_by'] == 21004 and fields['ingress_denied_by'] == 21005
    request = {f.name: f.number for f in pb.GetFlowsRequest.DESCRIPTOR.fields}
    assert request == {'number': 1, 'follow': 3, 'blacklist': 5, 'whitelist': 6, 'since': 7, 'until': 8, 'first': 9}
    response = {f.name: f.number for f in pb.GetFlowsResponse.DESCRIPTOR.fields}
    assert response == {'flow': 1, 'node_status': 2, 'lost_events': 3, 'node_name': 1000, 'time': 1001}
    flt = {f.name: f.number for f in pb.FlowFilter.DESCRIPTOR.fields}
    assert (flt['source_pod'], flt['destination_pod'], flt['verdict'], flt['source_label'], flt['drop_reason_desc']) == (2, 4, 5, 10, 33)


# ------------------------------------------------------------------------------------------- local matching


def test_local_matching_follows_hubble_filter_semantics_on_fixture_flows():
    def count(**kwargs):
        filters = hr.build_flow_filters(hr.FlowQuery(now=NOW, **kwargs))
        return sum(1 for f in flows() if hr.flow_matches(filters, f))

    dropped = sum(1 for f in flows() if f.get('verdict') == 'DROPPED')
    assert dropped and count() == dropped
    assert count(verdicts=[]) == len(flows())
    assert count(from_labels=['run=netshot']) == count(from_pods=['cni-test/netshot']) > 0
    assert count(from_labels=['k8s:run=netshot']) == count(from_labels=['run=netshot'])
    assert count(from_labels=['other:run=netshot']) == 0
    assert count(from_labels=['run=netshot,!missing']) == count(from_labels=['run=netshot'])
    assert count(from_labels=['run notin (netshot)']) + count(from_labels=['run=netshot']) <= dropped
    assert count(namespaces=['kube-system'], verdicts=[]) > 0
    assert count(namespaces=['nowhere']) == 0
    assert count(drop_reasons=['POLICY_DENY']) == 2
    assert count(to_pods=['/nginx']) == count(to_pods=['cni-test/nginx'])


# ------------------------------------------------------------------------------------------- errors and TLS options


def test_error_messages_say_what_to_do():
    tls = hr.TLSOptions(enabled=True, ca_cert='/x')
    assert 'relay_address does not point to Hubble Relay' in hr.explain_rpc_error('UNIMPLEMENTED', 'Method not found!', 'a:1', tls, 5)
    assert 'increase timeout' in hr.explain_rpc_error('DEADLINE_EXCEEDED', 'Deadline Exceeded', 'a:1', tls, 5)
    assert 'transport: exec' in hr.explain_rpc_error('UNAVAILABLE', 'Connection refused', 'a:1', hr.TLSOptions(), 5)
    assert 'Set relay_ca_cert' in hr.explain_rpc_error('UNAVAILABLE', 'CERTIFICATE_VERIFY_FAILED', 'a:1', tls, 5)
    assert 'set relay_tls: true' in hr.explain_rpc_error('UNAVAILABLE', 'Socket closed', 'a:1', hr.TLSOptions(), 5)
    assert 'set relay_client_cert and relay_client_key' in hr.explain_rpc_error('UNAVAILABLE', 'Socket closed', 'a:1', tls, 5)
    assert 'does not speak TLS' in hr.explain_rpc_error('UNAVAILABLE', 'WRONG_VERSION_NUMBER', 'a:1', tls, 5)


def test_tls_options_are_explicit_about_what_is_skipped():
    insecure = hr.TLSOptions(enabled=True, validate_certs=False, ca_cert='ca.crt')
    assert any('NOT verified' in w and 'relay_ca_cert and relay_server_name are ignored' in w for w in insecure.warnings)
    assert any('ignored because relay_tls is false' in w for w in hr.TLSOptions(enabled=False, ca_cert='ca.crt').warnings)
    with pytest.raises(hr.HubbleError, match='relay_client_cert and relay_client_key must be given together'):
        hr.TLSOptions(enabled=True, client_cert='c.crt')


@pytest.mark.parametrize('address, expected', [('127.0.0.1:4245', ('127.0.0.1', 4245)), ('[::1]:80', ('::1', 80)),
                                               ('hubble-relay.kube-system:80', ('hubble-relay.kube-system', 80))])
def test_split_address(address, expected):
    assert hr.split_address(address) == expected


def test_split_address_rejects_a_missing_port():
    with pytest.raises(hr.HubbleError, match='is not host:port'):
        hr.split_address('hubble-relay')


# ------------------------------------------------------------------------------------------- generated module


def _load_pb2_copy(name):
    path = os.path.join(ROOT, 'plugins', 'module_utils', 'sources', 'hubble', 'observer_pb2.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_module_imports_without_protobuf(monkeypatch):
    monkeypatch.setitem(sys.modules, 'google.protobuf', None)
    module = _load_pb2_copy('pb2_without_protobuf')
    assert module.HAS_PROTOBUF is False
    assert 'google.protobuf' in module.PROTOBUF_IMPORT_ERROR
    assert not hasattr(module, 'Flow')


def test_generated_module_reports_a_too_old_protobuf_runtime(monkeypatch):
    from google.protobuf import runtime_version
    monkeypatch.setattr(runtime_version, 'MINOR', 0)
    module = _load_pb2_copy('pb2_old_runtime')
    assert module.HAS_PROTOBUF is False
    assert 'Runtime version cannot be older than the linked gencode version' in module.PROTOBUF_IMPORT_ERROR
    assert module.PROTOBUF_REQUIREMENT.startswith('protobuf >= 7.')


def test_regenerating_the_stubs_is_byte_identical():
    pytest.importorskip('grpc_tools')
    gen = load_file('gen_hubble_proto', 'scripts', 'gen_hubble_proto.py')
    with open(gen.TARGET, encoding='utf-8') as handle:
        committed = handle.read()
    assert gen.generate() == committed, 'plugins/module_utils/sources/hubble/observer_pb2.py is stale: run scripts/gen_hubble_proto.py'
    assert max(len(line) for line in committed.splitlines()) <= 160
