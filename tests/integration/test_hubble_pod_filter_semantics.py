# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11 B: the loopback Relay reads pod filters like upstream Hubble, and the module agrees on every transport.

Upstream (Cilium 1.19.6, ``pkg/hubble/k8s/utils.go`` ``ParseNamespaceName`` + ``pkg/hubble/filters/k8s.go``):
``prefix`` = ``default/prefix``, ``/prefix`` = any namespace, ``ns/`` = the namespace, an empty name is an invalid
filter. The data is the real 1.19.6 capture plus one copy of the denied SYN re-homed into namespace ``default``.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
from google.protobuf import json_format

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import observer_pb2 as pb
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hr
from servers.hubble_relay import HubbleRelayServer
from playbook_tasks import run_tasks

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(REPO, 'tests', 'fixtures', 'real', '1.19.6', 'hubble-observe-last200.jsonl')
DEFAULT_UUID = 'default-ns-copy-of-the-denied-syn'


def capture_with_a_default_namespace_client(tmp_path):
    """The real capture plus the first denied SYN drop flow, sent from ``default/netshot`` instead of cni-test/netshot."""
    with open(REAL, encoding='utf-8') as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    drop = next(r for r in records if r['flow'].get('event_type') == {'type': 1, 'sub_type': 133})
    extra = copy.deepcopy(drop)
    extra['flow']['uuid'] = DEFAULT_UUID
    extra['flow']['source']['namespace'] = 'default'
    path = tmp_path / 'capture.jsonl'
    path.write_text(''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in records + [extra]), encoding='utf-8')
    return path


def raw_request(source_pods):
    request = pb.GetFlowsRequest(number=hr.ALL_FLOWS)
    json_format.ParseDict({'verdict': ['DROPPED'], 'source_pod': source_pods}, request.whitelist.add())
    return request


def relay_flows(address, request):
    client = hr.RelayClient(address, timeout=10.0)
    return [hr.response_to_dict(r)['flow'] for r in client.get_flows(request) if r.HasField('flow')]


def test_loopback_relay_reads_a_bare_name_as_the_default_namespace(tmp_path):
    with HubbleRelayServer() as srv:
        srv.load_jsonl(str(capture_with_a_default_namespace_client(tmp_path)))
        bare = relay_flows(srv.address, raw_request(['netshot']))      # raw filter, not normalised by our client
        assert [f['uuid'] for f in bare] == [DEFAULT_UUID]
        anywhere = relay_flows(srv.address, raw_request(['/netshot']))
        assert len(anywhere) == 11 and {f['source']['namespace'] for f in anywhere} == {'cni-test', 'default'}
        assert len(relay_flows(srv.address, raw_request(['cni-test/']))) == 10
        with pytest.raises(hr.HubbleError, match='name must not be empty'):
            relay_flows(srv.address, raw_request(['']))


def test_module_selects_the_same_flows_through_relay_and_file(tmp_path):
    capture = capture_with_a_default_namespace_client(tmp_path)
    module = 'netobs.cilium.hubble_flows_info'
    with HubbleRelayServer() as srv:
        srv.load_jsonl(str(capture))
        tasks = []
        for pods in (['netshot'], ['/netshot']):
            tasks.append({'name': 'relay %s' % pods, module: {'relay_address': srv.address, 'from_pods': pods, 'max_drops': 0}})
            tasks.append({'name': 'file %s' % pods, module: {'src': str(capture), 'from_pods': pods, 'max_drops': 0}})
        relay_bare, file_bare, relay_any, file_any = run_tasks(tmp_path, tasks)
        sent = [json_format.MessageToDict(r, preserving_proto_field_name=True)['whitelist'] for r in srv.requests]
    for result in (relay_bare, file_bare):
        assert result['query']['from_pods'] == ['default/netshot']
        assert [d['evidence']['flow_uuid'] for d in result['drops']] == [DEFAULT_UUID]
        assert result['violations'][0]['source']['namespace'] == 'default'
    assert sent[0] == [{'verdict': ['DROPPED'], 'source_pod': ['default/netshot']}]
    for result in (relay_any, file_any):
        assert result['flows_total'] == 11
        assert sorted(v['count'] for v in result['violations']) == [1, 5]   # default copy; cni-test's 5 denied SYNs
