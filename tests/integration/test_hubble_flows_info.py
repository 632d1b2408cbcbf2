# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netobs.cilium.hubble_flows_info through ansible-playbook against loopback servers.

One playbook run covers: Relay at an address (plaintext and mTLS), Relay ``auto`` through a port-forward of the
Kubernetes API test server to the Hubble Relay test server, exec in 3 agent pods (one failing, one not running),
a saved capture, the missing hubble-relay Service, check mode, and option errors. The assertions then read
the registered results and what the servers received.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from manifests import load_objects
from servers.hubble_relay import FakeHubbleCLI, HubbleRelayServer
from servers.kube_apiserver import KubeAPIServer

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = os.path.join(REPO, 'tests', 'fixtures', 'cilium', 'flows.jsonl')
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
NODES = ('kind-control-plane', 'kind-worker', 'kind-worker2')
AGENTS = {'cilium-a1b2c': 'kind-control-plane', 'cilium-d3e4f': 'kind-worker', 'cilium-g5h6j': 'kind-worker2'}
ALL = 'kind-worker'     # pod of this node answers
BROKEN = 'kind-worker2'  # hubble observe fails in this node's agent


def fixture_records():
    with open(FLOWS, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def rehome(records, node):
    out = []
    for record in copy.deepcopy(records):
        record['node_name'] = node
        if 'flow' in record:
            record['flow']['node_name'] = node
            record['flow']['uuid'] = node + '-' + record['flow'].get('uuid', '')
        out.append(record)
    return out


def relay_objects(namespace):
    service = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'hubble-relay', 'namespace': namespace},
               'spec': {'selector': {'k8s-app': 'hubble-relay'},
                        'ports': [{'name': 'grpc', 'port': 80, 'protocol': 'TCP', 'targetPort': 'grpc'}]}}
    pod = {'apiVersion': 'v1', 'kind': 'Pod',
           'metadata': {'name': 'hubble-relay-7d9f8c6b5-x2x4z', 'namespace': namespace, 'labels': {'k8s-app': 'hubble-relay'}},
           'spec': {'nodeName': 'kind-control-plane',
                    'containers': [{'name': 'hubble-relay', 'image': 'quay.io/cilium/hubble-relay:v1.18.12',
                                    'ports': [{'name': 'grpc', 'containerPort': 4245, 'protocol': 'TCP'}]}]},
           'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    return [service, pod]


def agent_pods(namespace):
    pods = []
    for name, node in AGENTS.items():
        pods.append({'apiVersion': 'v1', 'kind': 'Pod',
                     'metadata': {'name': name, 'namespace': namespace, 'labels': {'k8s-app': 'cilium'}},
                     'spec': {'nodeName': node, 'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v1.18.12'}]},
                     'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}})
    pods.append({'apiVersion': 'v1', 'kind': 'Pod',
                 'metadata': {'name': 'cilium-pending', 'namespace': namespace, 'labels': {'k8s-app': 'cilium'}},
                 'spec': {'nodeName': 'kind-worker3', 'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v1.18.12'}]},
                 'status': {'phase': 'Pending'}})
    return pods


def playbook(kubeconfig, relay, tls_relay, capture, out):
    material = tls_relay.tls_material
    flows = 'netobs.cilium.hubble_flows_info'
    tasks = [
        {'name': 'Relay at an address, filters sent to Relay', flows: {
            'relay_address': relay.address, 'namespaces': ['cni-test'], 'from_labels': ['run=netshot'],
            'drop_reasons': ['policy_denied'], 'since': '2025-05-31T05:00:00Z', 'until': '2025-05-31T06:00:00Z'},
         'register': 'relay_direct'},
        {'name': 'Relay at an address, everything dropped, 1 drop kept', flows: {'relay_address': relay.address, 'max_drops': 1},
         'register': 'relay_all'},
        {'name': 'Relay auto through the Kubernetes API port-forward, in check mode', flows: {
            'kubeconfig': kubeconfig, 'cilium_namespace': 'relay-ns', 'last': 1}, 'check_mode': True, 'register': 'relay_auto'},
        {'name': 'Relay auto without a hubble-relay Service', flows: {'kubeconfig': kubeconfig, 'cilium_namespace': 'no-relay'},
         'register': 'relay_missing', 'ignore_errors': True},
        {'name': 'Relay with mutual TLS', flows: {
            'relay_address': tls_relay.address, 'relay_tls': True, 'relay_ca_cert': material.ca_cert,
            'relay_client_cert': material.client_cert, 'relay_client_key': material.client_key,
            'relay_server_name': material.server_name, 'verdicts': ['dropped', 'AUDIT']},
         'register': 'relay_mtls'},
        {'name': 'Relay with TLS but the wrong CA', flows: {
            'relay_address': tls_relay.address, 'relay_tls': True, 'relay_ca_cert': material.wrong_ca_cert,
            'relay_client_cert': material.client_cert, 'relay_client_key': material.client_key,
            'server_name': material.server_name},
         'register': 'relay_wrong_ca', 'ignore_errors': True},
        {'name': 'Relay with TLS without verification', flows: {
            'relay_address': tls_relay.address, 'relay_tls': True, 'relay_validate_certs': False,
            'relay_client_cert': material.client_cert, 'relay_client_key': material.client_key},
         'register': 'relay_insecure'},
        {'name': 'exec in every agent pod', flows: {
            'kubeconfig': kubeconfig, 'transport': 'exec', 'cilium_namespace': 'agents', 'to_pods': ['cni-test/nginx-'], 'last': 50},
         'register': 'exec_result'},
        {'name': 'A saved capture', flows: {'transport': 'file', 'src': capture, 'from_pods': ['cni-test/netshot'], 'max_drops': 0},
         'register': 'file_result'},
        {'name': 'A saved capture, every verdict of kube-system', flows: {
            'transport': 'file', 'src': capture, 'verdicts': [], 'namespaces': ['kube-system'], 'max_drops': 0},
         'register': 'file_kube_system'},
        {'name': 'An option error', flows: {'transport': 'file', 'src': capture, 'verdicts': ['DENIED']},
         'register': 'bad_verdict', 'ignore_errors': True},
        {'name': 'Save the results', 'ansible.builtin.copy': {'dest': out, 'mode': '0600', 'content': '{{ {' + ', '.join(
            '"%s": %s' % (name, name) for name in (
                'relay_direct', 'relay_all', 'relay_auto', 'relay_missing', 'relay_mtls', 'relay_wrong_ca',
                'relay_insecure', 'exec_result', 'file_result', 'file_kube_system', 'bad_verdict')) + '} | to_json }}'}},
    ]
    return [{'name': 'hubble_flows_info scenarios', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('hubble_flows_info')
    records = fixture_records()
    capture = tmp / 'capture.jsonl'
    capture.write_text(''.join(json.dumps(r) + '\n' for r in records) + '{"flow": truncated\n', encoding='utf-8')
    clis = {}
    with KubeAPIServer() as kube, HubbleRelayServer() as relay, HubbleRelayServer(mtls=True) as tls_relay:
        for node in NODES:
            relay.load_jsonl(FLOWS, node_name=node)
            tls_relay.load_jsonl(FLOWS, node_name=node)
        relay.set_nodes(connected=NODES[:2], unavailable=[NODES[2]])
        kube.apply([{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': ns}} for ns in ('relay-ns', 'no-relay', 'agents')])
        kube.apply(relay_objects('relay-ns'))
        kube.set_port_forward('relay-ns', 'hubble-relay-7d9f8c6b5-x2x4z', 4245, '127.0.0.1', relay.port)
        kube.apply(agent_pods('agents'))
        for name, node in AGENTS.items():
            fail = (b'Error: failed to connect to unix:///var/run/cilium/hubble.sock: connection refused\n', 1) if node == BROKEN else None
            clis[node] = FakeHubbleCLI(rehome(records, node), node, fail=fail)
            kube.set_exec_handler('agents', name, 'cilium-agent', clis[node])
        kubeconfig = kube.write_kubeconfig(str(tmp / 'kubeconfig'))
        out = str(tmp / 'results.json')
        (tmp / 'play.yml').write_text(yaml.safe_dump(playbook(kubeconfig, relay, tls_relay, str(capture), out)), encoding='utf-8')
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
        proc = subprocess.run([PLAYBOOK_BIN, str(tmp / 'play.yml')], capture_output=True, text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        with open(out, encoding='utf-8') as handle:
            data = json.load(handle)
        data['_relay_requests'] = list(relay.request_dicts)
        data['_tls_requests'] = len(tls_relay.requests)
        data['_cli_calls'] = {node: list(cli.calls) for node, cli in clis.items()}
        data['_kube_requests'] = list(kube.requests)
        data['_stdout'] = proc.stdout
    return data


def flow_drops(result):
    return result['drops']


def test_relay_address_sends_the_filters_to_relay_and_returns_only_matching_drops(run):
    result = run['relay_direct']
    sent = run['_relay_requests'][0]
    assert sent['whitelist'] == [
        {'verdict': ['DROPPED'], 'drop_reason_desc': ['POLICY_DENIED'], 'source_label': ['run=netshot'], 'source_pod': ['cni-test/']},
        {'verdict': ['DROPPED'], 'drop_reason_desc': ['POLICY_DENIED'], 'source_label': ['run=netshot'], 'destination_pod': ['cni-test/']}]
    assert sent['since'] == '2025-05-31T05:00:00Z' and sent['until'] == '2025-05-31T06:00:00Z' and 'number' not in sent
    drops = flow_drops(result)
    assert drops and result['flows_total'] == len(drops)
    assert {(d['source']['pod'], d['reason'], d['verdict']) for d in drops} == {('netshot', 'POLICY_DENIED', 'DROPPED')}
    assert {d['node'] for d in drops} == {'kind-control-plane', 'kind-worker'}
    assert result['changed'] is False and result['transport'] == 'relay'


def test_relay_reports_unavailable_nodes_and_lost_events(run):
    result = run['relay_all']
    assert result['nodes']['expected'] == list(NODES)
    assert result['nodes']['seen'] == list(NODES[:2])
    assert [u['name'] for u in result['nodes']['unavailable']] == ['kind-worker2']
    assert result['nodes']['unavailable'][0]['reason'].startswith('NODE_UNAVAILABLE')
    assert result['partial'] is True and 'kind-worker2' in result['partial_reasons'][0]
    assert result['lost_events'] == {'total': 6, 'by_source': {'HUBBLE_RING_BUFFER': 6},
                                     'by_node': {'kind-control-plane': 3, 'kind-worker': 3}}
    assert result['flows_total'] == 14 and len(result['drops']) == 1 and result['drops_truncated'] is True
    violation = max(result['violations'], key=lambda v: v['count'])
    assert violation['source']['workload'] == 'netshot' and violation['port'] == 80 and violation['direction'] == 'egress'
    assert violation['count'] == 4  # policy-verdict + drop of one packet count once, per node: 2 packets x 2 nodes
    assert run['_relay_requests'][1]['number'] == str(2 ** 64 - 1)


def test_relay_auto_port_forwards_to_the_relay_pod_also_in_check_mode(run):
    result = run['relay_auto']
    assert 'port-forward to relay-ns/hubble-relay:80, pod hubble-relay-7d9f8c6b5-x2x4z port 4245' in result['relay_address']
    assert result['changed'] is False and not result.get('skipped')
    assert result['flows_total'] == 2 and result['api_requests'] >= 3  # last 1 per connected node
    assert run['_relay_requests'][2]['number'] == '1'
    paths = [r[1] for r in run['_kube_requests']]
    assert '/api/v1/namespaces/relay-ns/services/hubble-relay' in paths
    assert any(p.endswith('/pods/hubble-relay-7d9f8c6b5-x2x4z/portforward') for p in paths)


def test_missing_relay_service_says_how_to_enable_it(run):
    result = run['relay_missing']
    assert result['failed'] is True
    assert result['msg'] == ('Hubble Relay is not enabled: Service no-relay/hubble-relay does not exist. Set hubble.relay.enabled=true '
                             '(netobs.cilium.install does by default) or use transport: exec')


def test_mtls_and_wrong_ca(run):
    assert run['relay_mtls']['flows_total'] == 21 and not run['relay_mtls'].get('failed')
    assert run['relay_mtls']['query']['verdicts'] == ['DROPPED', 'AUDIT']
    wrong = run['relay_wrong_ca']
    assert wrong['failed'] is True and 'server certificate could not be verified' in wrong['msg'] and 'relay_ca_cert' in wrong['msg']
    insecure = run['relay_insecure']
    assert insecure['flows_total'] == 21
    assert any('NOT verified' in w for w in insecure.get('warnings', []))
    assert run['_tls_requests'] == 2  # the wrong-CA attempt never reached the server


def test_exec_runs_hubble_in_every_agent_and_reports_the_failing_ones(run):
    result = run['exec_result']
    assert result['partial'] is True
    unavailable = {u['name']: u for u in result['nodes']['unavailable']}
    assert set(unavailable) == {'kind-worker2', 'kind-worker3'}
    assert 'connection refused' in unavailable['kind-worker2']['reason'] and unavailable['kind-worker2']['pod'] == 'cilium-g5h6j'
    assert 'Pending' in unavailable['kind-worker3']['reason']
    assert result['nodes']['seen'] == ['kind-control-plane', 'kind-worker']
    assert result['nodes']['expected'] == ['kind-control-plane', 'kind-worker', 'kind-worker2', 'kind-worker3']
    drops = result['drops']
    assert drops and {d['destination']['pod'][:6] for d in drops} == {'nginx-'}
    assert [d['time'] for d in drops] == sorted(d['time'] for d in drops)  # merged by time across nodes
    assert {d['node'] for d in drops} == {'kind-control-plane', 'kind-worker'}
    argv = result['argv']
    assert argv[:4] == ['hubble', 'observe', '--output', 'jsonpb'] and argv[4:6] == ['--last', '50']
    assert json.loads(argv[argv.index('--allowlist') + 1]) == {'destination_pod': ['cni-test/nginx-'], 'verdict': ['DROPPED']}
    for node in ('kind-control-plane', 'kind-worker', 'kind-worker2'):
        assert run['_cli_calls'][node] == [argv]
    assert result['lost_events']['by_node'] == {'kind-control-plane': 3, 'kind-worker': 3}


def test_file_transport_applies_the_filters_locally_and_counts_malformed_lines(run):
    result = run['file_result']
    assert result['drops'] and {d['source']['pod'] for d in result['drops']} == {'netshot'}
    # the truncated last line is counted malformed although it names no DROPPED verdict (issue 10 item 2)
    assert result['malformed']['count'] == 1 and result['malformed']['lines'] == [14]
    assert result['coverage']['lines_read'] == 14 and result['nodes']['expected'] == []
    every = run['file_kube_system']
    assert every['flows_total'] > 0
    assert all('kube-system' in (d['source']['namespace'], d['destination']['namespace']) for d in every['drops'])
    assert every['malformed']['count'] == 1 and every['malformed']['lines'] == [14]


def test_option_errors_are_clear(run):
    assert run['bad_verdict']['failed'] is True
    assert "unknown verdict 'DENIED'" in run['bad_verdict']['msg']


def role_rules(path):
    docs = load_objects(os.path.join(REPO, path))
    return next(d for d in docs if d['kind'] == 'Role')['rules']


def allowed(rules, verb, resource, name):
    return any(resource in rule['resources'] and verb in rule['verbs'] and (not rule.get('resourceNames') or name in rule['resourceNames'])
               for rule in rules)


@pytest.mark.parametrize('namespace, rbac_file', [('relay-ns', 'docs/rbac/hubble-relay-portforward.yml'),
                                                  ('agents', 'docs/rbac/hubble-exec.yml')])
def test_the_documented_least_privilege_roles_cover_every_request(run, namespace, rbac_file):
    from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import parse_api_path
    rules = role_rules(rbac_file)
    seen = set()
    for method, path, query, _status in run['_kube_requests']:
        info = parse_api_path(path, method, query)
        if info['namespace'] != namespace:
            continue
        resource = info['resource'] + ('/' + info['subresource'] if info['subresource'] else '')
        verbs = ['create', 'get'] if info['subresource'] in ('exec', 'portforward') else [info['verb']]
        for verb in verbs:
            seen.add((verb, resource))
            assert allowed(rules, verb, resource, info['name']), (method, path, verb, resource)
    assert seen  # the scenario really talked to the API in that namespace


def test_relay_auto_with_tls_checks_the_chart_server_name_through_the_port_forward(tmp_path):
    from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hubble_relay
    from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
    from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI
    with KubeAPIServer() as kube, HubbleRelayServer(tls=True) as relay:
        relay.load_jsonl(FLOWS)
        objects = relay_objects('kube-system')
        objects[0]['spec']['ports'][0]['port'] = 443
        kube.apply(objects)
        kube.set_port_forward('kube-system', 'hubble-relay-7d9f8c6b5-x2x4z', 4245, '127.0.0.1', relay.port)
        api = KubeAPI.from_kubeconfig(kube.write_kubeconfig(str(tmp_path / 'kubeconfig')))
        tls = hubble_relay.TLSOptions(enabled=True, ca_cert=relay.tls_material.ca_cert)
        result, _collection = pipeline.hubble_flows(api=api, tls=tls, timeout=10)
        assert tls.server_name == 'ui.hubble-relay.cilium.io' and result['flows_total'] == 7
        with pytest.raises(hubble_relay.HubbleError, match='does not speak TLS|closed the connection') as err:
            pipeline.hubble_flows(api=api, timeout=10)  # plaintext against the TLS Relay
        assert 'relay_tls' in str(err.value)
        _result, collection = pipeline.hubble_flows(api=api, tls=hubble_relay.TLSOptions(enabled=True, validate_certs=False), timeout=10)
        assert collection.flows_total == 7
