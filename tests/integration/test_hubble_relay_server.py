# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loopback Hubble Relay (tests/servers/hubble_relay.py) driven by the collection's gRPC client.

Checks Relay semantics (whitelist/blacklist, number per node, first, since/until, follow, node_status,
lost_events) and the TLS / mTLS modes, including the failures a user hits (wrong CA, missing
server_name, plaintext vs TLS, missing client certificate, wrong service, deadline).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf import json_format

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import observer_pb2 as pb
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hr
from servers.hubble_relay import HubbleRelayServer

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = os.path.join(ROOT, 'tests', 'fixtures', 'cilium', 'flows.jsonl')


def collect(address, request, tls=None, timeout=5.0, follow_for=None):
    client = hr.RelayClient(address, tls=tls, timeout=timeout)
    return [hr.response_to_dict(r) for r in client.get_flows(request, follow_for=follow_for)]


def kinds(responses):
    return [next(k for k in ('flow', 'node_status', 'lost_events') if k in r) for r in responses]


def flows_of(responses):
    return [r['flow'] for r in responses if 'flow' in r]


@pytest.fixture(name='relay')
def relay_fixture():
    with HubbleRelayServer() as srv:
        srv.load_jsonl(FLOWS)
        srv.load_jsonl(FLOWS, node_name='kind-worker')
        yield srv


def request_for(**kwargs):
    return hr.build_request(hr.FlowQuery(**kwargs))


def test_node_status_then_flows_in_time_order_with_lost_events(relay):
    relay.set_nodes(connected=['kind-control-plane'], unavailable=['kind-worker'])
    responses = collect(relay.address, request_for(verdicts=[]))
    assert kinds(responses)[:2] == ['node_status', 'node_status']
    assert responses[0]['node_status'] == {'state_change': 'NODE_CONNECTED', 'node_names': ['kind-control-plane']}
    assert responses[1]['node_status']['state_change'] == 'NODE_UNAVAILABLE'
    assert responses[1]['node_status']['node_names'] == ['kind-worker']
    flows = flows_of(responses)
    assert len(flows) == 12 and {f['node_name'] for f in flows} == {'kind-control-plane'}
    times = [r['time'] for r in responses[2:]]
    assert times == sorted(times)
    assert kinds(responses).count('lost_events') == 1


def test_whitelist_is_or_and_blacklist_is_subtracted(relay):
    request = pb.GetFlowsRequest(number=hr.ALL_FLOWS)
    json_format.ParseDict({'source_pod': ['cni-test/netshot']}, request.whitelist.add())
    json_format.ParseDict({'destination_label': ['k8s-app=kube-dns']}, request.whitelist.add())
    json_format.ParseDict({'verdict': ['FORWARDED']}, request.blacklist.add())
    flows = flows_of(collect(relay.address, request))
    assert flows and all(f['verdict'] != 'FORWARDED' for f in flows)
    assert all(f['source'].get('pod_name') == 'netshot' or 'k8s:k8s-app=kube-dns' in f['destination'].get('labels', [])
               for f in flows)
    everything = flows_of(collect(relay.address, pb.GetFlowsRequest(number=hr.ALL_FLOWS)))
    assert len(flows) < len(everything) == 24


def test_fields_inside_one_filter_are_anded(relay):
    flows = flows_of(collect(relay.address, request_for(from_pods=['cni-test/netshot'], drop_reasons=['POLICY_DENIED'])))
    assert flows and all(f['source']['pod_name'] == 'netshot' and f['drop_reason_desc'] == 'POLICY_DENIED' for f in flows)
    assert not flows_of(collect(relay.address, request_for(from_pods=['cni-test/netshot'], to_pods=['kube-system/'])))


def test_namespace_filters_match_either_side(relay):
    flows = flows_of(collect(relay.address, request_for(verdicts=[], namespaces=['kube-system'])))
    assert flows and all('kube-system' in (f['source'].get('namespace'), f['destination'].get('namespace')) for f in flows)
    assert len(flows) < 24


def test_number_is_per_node_first_and_last(relay):
    last = flows_of(collect(relay.address, request_for(verdicts=[], last=2)))
    assert len(last) == 4 and sorted(f['node_name'] for f in last) == ['kind-control-plane'] * 2 + ['kind-worker'] * 2
    request = pb.GetFlowsRequest(number=1, first=True)
    first = flows_of(collect(relay.address, request))
    assert len(first) == 2 and first[0]['time'] < last[0]['time']


def test_since_until_bound_the_time_and_number_with_since_is_rejected(relay):
    query = hr.FlowQuery(verdicts=[], since='2025-05-31T05:24:48Z', until='2025-05-31T05:24:49Z')
    flows = flows_of(collect(relay.address, hr.build_request(query)))
    assert flows and all('2025-05-31T05:24:48' <= f['time'] < '2025-05-31T05:24:49' for f in flows)
    bad = hr.build_request(query)
    bad.number = 3
    with pytest.raises(hr.HubbleError, match='INVALID_ARGUMENT: number is incompatible with since/until'):
        collect(relay.address, bad)


def test_unemulated_filter_fields_are_rejected_so_tests_notice(relay):
    request = pb.GetFlowsRequest()
    request.whitelist.add().http_method.append('GET')
    with pytest.raises(hr.HubbleError, match='does not emulate FlowFilter fields: http_method'):
        collect(relay.address, request)


def test_requests_are_recorded_decoded(relay):
    collect(relay.address, request_for(namespaces=['cni-test'], from_labels=['run=netshot']))
    expected = {'source_pod': ['cni-test/'], 'verdict': ['DROPPED'], 'source_label': ['run=netshot']}
    assert relay.request_dicts[-1]['whitelist'][0] == expected
    assert relay.requests[-1].number == hr.ALL_FLOWS


def test_follow_streams_pushed_flows_until_follow_for_ends(relay):
    record = {'flow': {'time': '2030-01-01T00:00:00Z', 'verdict': 'DROPPED', 'drop_reason_desc': 'POLICY_DENIED',
                       'source': {'namespace': 'cni-test', 'pod_name': 'late'}, 'node_name': 'kind-worker'},
              'node_name': 'kind-worker', 'time': '2030-01-01T00:00:00Z'}
    forwarded = {'flow': dict(record['flow'], verdict='FORWARDED'), 'node_name': 'kind-worker', 'time': record['time']}
    timer = threading.Timer(0.2, lambda: (relay.push(forwarded), relay.push(record)))
    timer.start()
    started = time.monotonic()
    responses = collect(relay.address, request_for(follow_for=0.7), follow_for=0.7)
    elapsed = time.monotonic() - started
    timer.join()
    assert [f['source']['pod_name'] for f in flows_of(responses)] == ['late']  # no history, filtered follow
    assert 0.6 < elapsed < 3.0


# ------------------------------------------------------------------------------------------- TLS


def test_tls_with_the_relay_ca_and_server_name():
    with HubbleRelayServer(tls=True) as srv:
        srv.load_jsonl(FLOWS)
        material = srv.tls_material
        good = hr.TLSOptions(enabled=True, ca_cert=material.ca_cert, server_name=material.server_name)
        assert len(flows_of(collect(srv.address, request_for(), tls=good))) == 7
        wrong_ca = hr.TLSOptions(enabled=True, ca_cert=material.wrong_ca_cert, server_name=material.server_name)
        with pytest.raises(hr.HubbleError, match='server certificate could not be verified.*Set relay_ca_cert'):
            collect(srv.address, request_for(), tls=wrong_ca)
        with pytest.raises(hr.HubbleError, match='does not match the expected name.*Set relay_server_name'):
            collect(srv.address, request_for(), tls=hr.TLSOptions(enabled=True, ca_cert=material.ca_cert))
        with pytest.raises(hr.HubbleError, match='set relay_tls: true'):
            collect(srv.address, request_for())
        insecure = hr.TLSOptions(enabled=True, validate_certs=False)
        assert len(flows_of(collect(srv.address, request_for(), tls=insecure))) == 7


def test_mtls_requires_the_client_certificate():
    with HubbleRelayServer(mtls=True) as srv:
        srv.load_jsonl(FLOWS)
        material = srv.tls_material
        mtls = hr.TLSOptions(enabled=True, ca_cert=material.ca_cert, server_name=material.server_name,
                             client_cert=material.client_cert, client_key=material.client_key)
        assert len(flows_of(collect(srv.address, request_for(), tls=mtls))) == 7
        no_client_cert = hr.TLSOptions(enabled=True, ca_cert=material.ca_cert, server_name=material.server_name)
        with pytest.raises(hr.HubbleError, match='requires a client certificate'):
            collect(srv.address, request_for(), tls=no_client_cert)
        unverified = hr.TLSOptions(enabled=True, validate_certs=False, client_cert=material.client_cert,
                                   client_key=material.client_key)
        assert len(flows_of(collect(srv.address, request_for(), tls=unverified))) == 7


def test_tls_client_against_a_plaintext_relay(relay):
    material = HubbleRelayServer(tls=True).tls_material
    tls = hr.TLSOptions(enabled=True, ca_cert=material.ca_cert, server_name=material.server_name)
    with pytest.raises(hr.HubbleError, match='does not speak TLS.*relay_tls: false'):
        collect(relay.address, request_for(), tls=tls)


# ------------------------------------------------------------------------------------------- other failures


def test_deadline_unavailable_and_unimplemented_errors(relay):
    relay.delay = 0.8
    with pytest.raises(hr.HubbleError, match='did not finish answering within timeout') as err:
        collect(relay.address, request_for(), timeout=0.2)
    assert err.value.code == 'DEADLINE_EXCEEDED'
    relay.delay = 0
    with pytest.raises(hr.HubbleError, match='is unreachable.*transport: exec'):
        collect('127.0.0.1:1', request_for(), timeout=2)
    other = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = other.add_insecure_port('127.0.0.1:0')
    other.start()
    try:
        with pytest.raises(hr.HubbleError, match='does not implement observer.Observer/GetFlows'):
            collect('127.0.0.1:%d' % port, request_for())
    finally:
        other.stop(0)


def test_server_abort_is_reported_with_its_code(relay):
    relay.abort_with = (grpc.StatusCode.UNAVAILABLE, 'no connection to any peer')
    with pytest.raises(hr.HubbleError, match='no connection to any peer') as err:
        collect(relay.address, request_for())
    assert err.value.code == 'UNAVAILABLE'
