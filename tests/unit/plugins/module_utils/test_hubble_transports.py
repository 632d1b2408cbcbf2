# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hubble_transports without servers: exec argv, per-node merging and failures, local filtering of captures."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hr
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import transports as ht
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.parser import parse_record
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import ExecResult, KubeAPIError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FLOWS = os.path.join(ROOT, 'tests', 'fixtures', 'cilium', 'flows.jsonl')


def records():
    with open(FLOWS, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def jsonl_for(node):
    out = []
    for record in copy.deepcopy(records()):
        record['node_name'] = node
        if 'flow' in record:
            record['flow']['node_name'] = node
        out.append(json.dumps(record))
    return ('\n'.join(out) + '\n').encode()


class FakeAPI:
    """Just enough of KubeAPI for the exec transport."""

    def __init__(self, pods, outcomes):
        self.pods = pods
        self.outcomes = outcomes
        self.calls = []
        self.request_count = 0

    def list_pages(self, path, params=None):
        self.request_count += 1
        self.calls.append(('list', path, params))
        yield {'items': self.pods}

    def exec_argv(self, namespace, pod, container, argv, timeout=60.0):
        self.request_count += 1
        self.calls.append(('exec', namespace, pod, container, tuple(argv), timeout))
        outcome = self.outcomes[pod]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def pod(name, node, phase='Running'):
    return {'metadata': {'name': name}, 'spec': {'nodeName': node}, 'status': {'phase': phase}}


def test_hubble_observe_argv_uses_allowlist_filters_and_selectors():
    query = hr.FlowQuery(namespaces=['cni-test'], drop_reasons=['policy_deny'])
    argv = ht.hubble_observe_argv(query)
    assert argv[:5] == ['hubble', 'observe', '--output', 'jsonpb', '--all']
    allow = [json.loads(argv[i + 1]) for i, arg in enumerate(argv) if arg == '--allowlist']
    assert allow == hr.build_flow_filters(query)
    since = ht.hubble_observe_argv(hr.FlowQuery(since='2025-05-31T05:00:00Z', until='2025-05-31T06:00:00Z'))
    assert since[4:8] == ['--since', '2025-05-31T05:00:00Z', '--until', '2025-05-31T06:00:00Z'] and '--all' not in since
    assert ht.hubble_observe_argv(hr.FlowQuery(last=7))[4:6] == ['--last', '7']
    assert all(isinstance(arg, str) for arg in argv)


def test_exec_merges_nodes_by_time_and_reports_each_failure():
    pods = [pod('cilium-a', 'n1'), pod('cilium-b', 'n2'), pod('cilium-c', 'n3'), pod('cilium-d', 'n4'), pod('cilium-e', 'n5', 'Pending')]
    outcomes = {
        'cilium-a': ExecResult(0, jsonl_for('n1'), b''),
        'cilium-b': ExecResult(0, jsonl_for('n2'), b''),
        'cilium-c': ExecResult(127, b'', b'exec: "hubble": executable file not found in $PATH'),
        'cilium-d': KubeAPIError('boom', status=500),
    }
    api = FakeAPI(pods, outcomes)
    result, _collection = pipeline.hubble_flows(transport='exec', api=api, cilium_namespace='kube-system', timeout=9)
    assert api.calls[0] == ('list', '/api/v1/namespaces/kube-system/pods', {'labelSelector': 'k8s-app=cilium'})
    assert {c[2] for c in api.calls if c[0] == 'exec'} == {'cilium-a', 'cilium-b', 'cilium-c', 'cilium-d'}
    assert all(c[3] == 'cilium-agent' and c[5] == 9 for c in api.calls if c[0] == 'exec')
    reasons = {u['name']: u['reason'] for u in result['nodes']['unavailable']}
    assert set(reasons) == {'n3', 'n4', 'n5'}
    assert 'hubble CLI not found' in reasons['n3'] and 'exec failed: boom' in reasons['n4'] and 'Pending' in reasons['n5']
    assert result['partial'] and result['nodes']['seen'] == ['n1', 'n2']
    times = [d['time'] for d in result['drops']]
    assert times == sorted(times) and {d['node'] for d in result['drops']} == {'n1', 'n2'}
    assert result['flows_total'] == 14 and result['lost_events']['by_node'] == {'n1': 3, 'n2': 3}
    assert result['drops'][0]['evidence']['file'] in ('exec:kube-system/cilium-a', 'exec:kube-system/cilium-b')


def test_exec_forbidden_everywhere_raises_the_rbac_error():
    denied = KubeAPIError('Forbidden (HTTP 403): the credentials in use may not create "pods/exec"', status=403)
    api = FakeAPI([pod('cilium-a', 'n1'), pod('cilium-b', 'n2')], {'cilium-a': denied, 'cilium-b': denied})
    with pytest.raises(KubeAPIError, match='pods/exec'):
        pipeline.hubble_flows(transport='exec', api=api)


def test_exec_without_agent_pods_names_the_namespace():
    with pytest.raises(hr.HubbleError, match='No Cilium agent pod .* in namespace cilium'):
        pipeline.hubble_flows(transport='exec', api=FakeAPI([], {}), cilium_namespace='cilium')


def test_exec_follow_for_waits_then_reads_the_window_since_the_start():
    api = FakeAPI([pod('cilium-a', 'n1')], {'cilium-a': ExecResult(0, b'', b'')})
    slept = []
    collection = ht.FlowCollection(hr.FlowQuery(follow_for=2.5), transport='exec')
    ht.collect_exec(collection, api, sleep=slept.append)
    argv = api.calls[-1][4]
    assert slept == [2.5] and '--since' in argv and '--all' not in argv and '--follow' not in argv


def test_exec_timeout_keeps_the_output_and_marks_the_node():
    api = FakeAPI([pod('cilium-a', 'n1')], {'cilium-a': ExecResult(None, jsonl_for('n1'), b'', True)})
    result, _collection = pipeline.hubble_flows(transport='exec', api=api)
    assert result['flows_total'] == 7 and result['partial']
    assert 'did not finish in time' in result['nodes']['unavailable'][0]['reason']


@pytest.mark.parametrize('options', [
    {}, {'verdicts': []}, {'namespaces': ['kube-system'], 'verdicts': []}, {'from_labels': ['run=netshot']},
    {'to_pods': ['cni-test/nginx-']}, {'drop_reasons': ['POLICY_DENY']}, {'from_pods': ['/curl'], 'namespaces': ['cni-test']},
    {'to_labels': ['k8s:app notin (nginx)'], 'verdicts': []},
])
def test_capture_filtering_on_drops_agrees_with_hubble_filter_semantics_on_json(options):
    query = hr.FlowQuery(**options)
    filters = hr.build_flow_filters(query)
    flows = [r for r in records() if 'flow' in r]
    expected = [r['flow'].get('uuid') for r in flows if hr.flow_matches(filters, r['flow'])]
    got = [parse_record(r).evidence.flow_uuid for r in flows if ht.drop_matches(filters, parse_record(r))]
    assert got == expected


def test_file_transport_last_n_per_node_and_time_window(tmp_path):
    capture = tmp_path / 'flows.jsonl'
    capture.write_bytes(jsonl_for('n1') + jsonl_for('n2'))
    result, _collection = pipeline.hubble_flows(transport='file', src=str(capture), last=2, verdicts=[])
    assert result['flows_total'] == 4 and sorted(d['node'] for d in result['drops']) == ['n1', 'n1', 'n2', 'n2']
    window, _collection = pipeline.hubble_flows(transport='file', src=str(capture), since='2025-05-31T05:24:48Z',
                                                until='2025-05-31T05:24:49Z', verdicts=[])
    assert window['flows_total'] > 0 and all('05:24:48' in d['time'] for d in window['drops'])


def test_file_transport_needs_src_and_rejects_follow():
    with pytest.raises(hr.HubbleError, match='needs src'):
        pipeline.hubble_flows(transport='file')
    with pytest.raises(hr.HubbleError, match='follow_for cannot be used'):
        pipeline.hubble_flows(transport='file', src=FLOWS, follow_for=3)


def test_relay_node_status_bookkeeping():
    collection = ht.FlowCollection(hr.FlowQuery())
    collection.add_record({'node_status': {'state_change': 'NODE_CONNECTED', 'node_names': ['a', 'b']}})
    collection.add_record({'node_status': {'state_change': 'NODE_ERROR', 'node_names': ['b'], 'message': 'tls'}})
    collection.add_record({'lost_events': {'source': 'OBSERVER_EVENTS_QUEUE', 'num_events_lost': '5'}, 'node_name': 'a'})
    collection.add_record({'flow': 'not an object'}, line=4)
    result = collection.result()
    assert result['nodes'] == {'seen': ['a'], 'expected': ['a', 'b'],
                               'unavailable': [{'name': 'b', 'pod': None, 'reason': 'NODE_ERROR: tls'}]}
    assert result['lost_events']['by_source'] == {'OBSERVER_EVENTS_QUEUE': 5}
    assert result['malformed']['count'] == 1 and result['malformed']['lines'] == [4]
    assert result['partial'] and result['partial_reasons'] == ['1 of 2 nodes did not answer: b (NODE_ERROR: tls)']


def test_option_errors():
    with pytest.raises(hr.HubbleError, match='transport must be one of'):
        pipeline.hubble_flows(transport='grpc')
    with pytest.raises(hr.HubbleError, match='max_drops must be 0'):
        pipeline.hubble_flows(transport='file', src=FLOWS, max_drops=-1)
