# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cni_test role, run by ansible-playbook against the loopback Kubernetes API server.

The test plays the parts a real cluster would: the Deployment/Job controllers and the scheduler
(nginx and probe pods, node assignment), the kubelet (pod status), curl in the client pods (exec
handlers), Cilium's event emitter (a PacketDrop Event written only after the denied probe ran) and
the Hubble CLI in the agents (exec transport). Everything the role does with the cluster is real
API traffic: the apply, the waits, the exec probes, drop_events_info's wait_for,
hubble_flows_info and the cleanup.

One ansible-playbook run, two hosts in parallel (one namespace each, same run id):
``pass``  egress mode, exec probes, everything as in the reference experiment -> passes;
``fail``  ingress mode, Job probes, the control times out and Hubble has no flow -> fails naming
          exactly flow_seen and control_succeeded, and still cleans up.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from servers.kube_apiserver import KubeAPIServer

from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
RUN_ID = 'itest1'
NGINX_POD = f'nginx-{RUN_ID}-5c754d96b-6r7x2'
NGINX_IP = '10.0.0.226'
CLIENT_IP = '10.0.0.12'
EXPECTED_ARGV = ['curl', '--silent', '--show-error', '--fail', '--output', '/dev/null', '--write-out', '%{http_code}',
                 '--connect-timeout', '3', '--max-time', '5', '--retry', '1', f'http://{NGINX_IP}:80/']
RUN_KINDS = [('batch/v1', 'Job'), ('apps/v1', 'Deployment'), ('v1', 'Pod'), ('v1', 'Service'), ('networking.k8s.io/v1', 'NetworkPolicy')]
SCENARIOS = {
    'pass': {'namespace': 'cni-pass', 'mode': 'egress', 'method': 'exec', 'control_rc': 0, 'with_flow': True},
    'fail': {'namespace': 'cni-fail', 'mode': 'ingress', 'method': 'job', 'control_rc': 28, 'with_flow': False},
}


def pod(namespace, name, labels, ip, status=None, node='kind-worker', containers=None):
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': namespace, 'labels': labels},
            'spec': {'nodeName': node, 'containers': containers or [{'name': 'main', 'image': 'x:1'}]},
            'status': status or {'phase': 'Running', 'podIP': ip, 'conditions': [{'type': 'Ready', 'status': 'True'}]}}


def drop_flow(namespace, client_pod, nginx_pod, direction):
    def endpoint(name, labels):
        return {'identity': 1234, 'namespace': namespace, 'labels': labels, 'pod_name': name}
    flow = {'time': '2025-05-31T05:24:48.077200685Z', 'verdict': 'DROPPED', 'drop_reason': 133,
            'IP': {'source': CLIENT_IP, 'destination': NGINX_IP, 'ipVersion': 'IPv4'},
            'l4': {'TCP': {'source_port': 47302, 'destination_port': 80, 'flags': {'SYN': True}}},
            'source': endpoint(client_pod, ['k8s:run=netshot']), 'destination': endpoint(nginx_pod, ['k8s:app=nginx']),
            'Type': 'L3_L4', 'node_name': 'kind-worker', 'event_type': {'type': 1, 'sub_type': 133},
            'traffic_direction': direction, 'drop_reason_desc': 'POLICY_DENIED', 'Summary': 'TCP Flags: SYN'}
    return json.dumps({'flow': flow, 'node_name': 'kind-worker', 'time': flow['time']}) + '\n'


class FakeNamespace:  # pylint: disable=too-many-instance-attributes
    """Controllers, scheduler, kubelet, curl and the drop-event emitter for one role run in one namespace."""

    def __init__(self, kube, namespace, mode, method, control_rc, with_flow):
        self.kube, self.ns, self.mode, self.method = kube, namespace, mode, method
        self.control_rc, self.with_flow = control_rc, with_flow
        self.client_pod = f'netshot-{RUN_ID}' + ('-x7k2p' if method == 'job' else '')
        self.denied_probed = threading.Event()
        self.probes = []
        self.event_after_probe = False
        self.nginx_done = self.jobs_done = self.event_done = False

    def curl(self, name):
        def handler(argv, *_stdin):
            self.probes.append((name, list(argv)))
            if argv != EXPECTED_ARGV:
                return b'', b'unexpected argv', 2
            if name == 'denied':
                self.denied_probed.set()
                return b'000', b'curl: (28) Connection timed out after 3002 milliseconds\n', 28
            if self.control_rc == 0:
                return b'200', b'', 0
            return b'000', b'curl: (28) Connection timed out\n', self.control_rc
        return handler

    def flows(self):
        direction = 'EGRESS' if self.mode == 'egress' else 'INGRESS'
        # the drop of this run, and one of another run (must not count)
        return drop_flow(self.ns, self.client_pod, NGINX_POD, direction) + drop_flow(self.ns, 'netshot-other9', 'nginx-other9-5c-x', direction)

    def setup(self):
        self.kube.set_exec_handler(self.ns, f'netshot-{RUN_ID}', 'netshoot', self.curl('denied'))
        self.kube.set_exec_handler(self.ns, f'netshot-control-{RUN_ID}', 'netshoot', self.curl('control'))

    def step(self):
        for obj in self.kube.list('v1', 'Pod', self.ns):  # the scheduler: exec needs a node
            if not obj['spec'].get('nodeName'):
                obj['spec']['nodeName'] = 'kind-worker'
                self.kube.apply(obj)
        if not self.nginx_done and self.kube.get('apps/v1', 'Deployment', self.ns, f'nginx-{RUN_ID}'):
            labels = {'app': 'nginx', 'netobs.cilium/run-id': RUN_ID, 'pod-template-hash': '5c754d96b'}
            self.kube.apply(pod(self.ns, NGINX_POD, labels, NGINX_IP, containers=[{'name': 'nginx', 'image': 'nginx:1.27.3-alpine'}]))
            self.nginx_done = True
        if self.method == 'job' and not self.jobs_done and len(self.kube.list('batch/v1', 'Job', self.ns)) == 2:
            for job, run, name, code in ((f'netshot-{RUN_ID}', 'netshot', self.client_pod, 28),
                                         (f'netshot-control-{RUN_ID}', 'netshot-control', f'netshot-control-{RUN_ID}-q9w8e', self.control_rc)):
                terminated = {'exitCode': code, 'reason': 'Error' if code else 'Completed'}
                if code:
                    terminated['message'] = 'curl: (28) Connection timed out after 3002 milliseconds'
                status = {'phase': 'Failed' if code else 'Succeeded', 'podIP': CLIENT_IP,
                          'containerStatuses': [{'name': 'probe', 'ready': False, 'restartCount': 0, 'image': 'x', 'imageID': '',
                                                 'state': {'terminated': terminated}}]}
                self.kube.apply(pod(self.ns, name, {'run': run, 'job-name': job, 'netobs.cilium/run-id': RUN_ID}, CLIENT_IP, status=status))
            self.jobs_done = True
            self.denied_probed.set()
        if not self.event_done and self.denied_probed.is_set():
            time.sleep(0.3)  # the emitter writes the Event after the drop: the role has to wait for it
            self.event_after_probe = True
            self.kube.apply(self.event())
            self.event_done = True

    def event(self):
        if self.mode == 'egress':
            involved = self.client_pod
            message = f'Outgoing packet dropped (policy_denied) to {self.ns}/{NGINX_POD} ({NGINX_IP}) TCP/80.'
        else:
            involved = NGINX_POD
            message = f'Incoming packet dropped (policy_denied) from {self.ns}/{self.client_pod} ({CLIENT_IP}) TCP/80.'
        now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        return {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': f'{involved}.18448545', 'namespace': self.ns},
                'involvedObject': {'kind': 'Pod', 'apiVersion': 'v1', 'namespace': self.ns, 'name': involved},
                'reason': 'PacketDrop', 'type': 'Warning', 'source': {'component': 'cilium'}, 'message': message,
                'count': 1, 'firstTimestamp': now, 'lastTimestamp': now, 'reportingComponent': '', 'reportingInstance': ''}


def job_status(obj):
    """The Job controller: the control's Job succeeds only when its curl would."""
    control = obj['metadata']['name'].startswith('netshot-control-')
    ok = control and SCENARIOS['pass' if obj['metadata']['namespace'] == SCENARIOS['pass']['namespace'] else 'fail']['control_rc'] == 0
    return {'succeeded': 1} if ok else {'failed': 1}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cni_test_role')
    inventory = {'clusters': {'hosts': {}}}
    for host, scenario in SCENARIOS.items():
        inventory['clusters']['hosts'][host] = {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'cni_test_namespace': scenario['namespace'], 'cni_test_mode': scenario['mode'], 'cni_test_probe_method': scenario['method'],
            'cni_test_run_id': RUN_ID, 'cni_test_hubble_transport': 'exec', 'cni_test_event_timeout': 20,
            'cni_test_flow_retries': 2, 'cni_test_flow_delay': 0, 'cni_test_ready_timeout': 30,
            'cni_test_result_file': str(tmp / f'{host}.json')}
    (tmp / 'inventory.yml').write_text(yaml.safe_dump(inventory), encoding='utf-8')
    play = [{'name': 'cni_test against the loopback API server', 'hosts': 'clusters', 'gather_facts': False, 'strategy': 'free',
             'roles': ['netobs.cilium.cni_test']}]
    (tmp / 'play.yml').write_text(yaml.safe_dump(play), encoding='utf-8')
    with KubeAPIServer() as kube:
        fakes = {host: FakeNamespace(kube, **scenario) for host, scenario in SCENARIOS.items()}
        kube.apply([{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'kube-system'}}])
        kube.apply([pod('kube-system', f'cilium-{node}', {'k8s-app': 'cilium'}, f'172.18.0.{i}', node=node,
                        containers=[{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v1.19.6'}])
                    for i, node in enumerate(('kind-control-plane', 'kind-worker'), start=2)])
        # Each agent reports the flows of its own node: the drops happened on kind-worker.
        hubble_output = ''.join(f.flows() for f in fakes.values() if f.with_flow).encode()
        kube.set_exec_handler('kube-system', 'cilium-kind-worker', 'cilium-agent', lambda argv: (hubble_output, b'', 0))
        kube.set_exec_handler('kube-system', 'cilium-kind-control-plane', 'cilium-agent', lambda argv: (b'', b'', 0))
        for fake in fakes.values():
            fake.setup()
        kube.set_auto_status('apps/v1', 'Deployment')
        kube.set_auto_status('v1', 'Pod')
        kube.set_auto_status('batch/v1', 'Job', job_status)
        done = threading.Event()

        def controllers():
            while not done.wait(0.05):
                for fake in fakes.values():
                    fake.step()

        thread = threading.Thread(target=controllers, daemon=True)
        thread.start()
        try:
            kubeconfig = kube.write_kubeconfig(str(tmp / 'kubeconfig'))
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
                       K8S_AUTH_KUBECONFIG=str(kubeconfig), ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_FORKS='2',
                       ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_DEPRECATION_WARNINGS='false')
            proc = subprocess.run([PLAYBOOK_BIN, '-i', str(tmp / 'inventory.yml'), str(tmp / 'play.yml')], capture_output=True,
                                  text=True, env=env, timeout=400, check=False)
        finally:
            done.set()
            thread.join(timeout=10)
        out = {'proc': proc}
        for host, scenario in SCENARIOS.items():
            ns = scenario['namespace']
            leftovers = {kind: [o['metadata']['name'] for o in kube.list(api, kind, ns)
                                if (o['metadata'].get('labels') or {}).get('netobs.cilium/run-id') == RUN_ID]
                         for api, kind in RUN_KINDS}
            result_file = tmp / f'{host}.json'
            out[host] = {'fake': fakes[host], 'leftovers': leftovers, 'namespace_kept': kube.get('v1', 'Namespace', None, ns) is not None,
                         'result': json.loads(result_file.read_text(encoding='utf-8')) if result_file.exists() else None}
    return out


def test_the_playbook_fails_only_for_the_failing_cluster(runs):
    stdout = runs['proc'].stdout
    assert runs['proc'].returncode != 0
    assert re.search(r'^pass\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0', stdout, re.M), stdout[-3000:]
    assert re.search(r'^fail\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1', stdout, re.M), stdout[-3000:]


def test_a_passing_run_proves_all_four_facts_and_leaves_nothing_behind(runs):
    run, stdout = runs['pass'], runs['proc'].stdout
    result, fake = run['result'], run['fake']
    assert f'cni-test run {RUN_ID} (mode egress) passed' in stdout
    assert result['passed'] is True and result['missing'] == [] and result['error'] == ''
    assert result['facts'] == {'denied_probe_failed': True, 'event_seen': True, 'flow_seen': True, 'control_succeeded': True}
    assert result['evidence']['denied_probe']['rc'] == 28
    assert result['evidence']['control_probe']['rc'] == 0
    assert result['evidence']['control_probe']['http_code'] == '200'
    assert result['evidence']['target'] == {'pod': NGINX_POD, 'ip': NGINX_IP}
    assert [d['source']['pod'] for d in result['evidence']['flow']['drops_of_run']] == [fake.client_pod]  # not the other run's
    assert result['evidence']['event']['satisfied'] is True
    assert result['evidence']['event']['drops_of_run'][0]['direction'] == 'egress'
    assert set(result['timings']) >= {'deploy_seconds', 'probe_seconds', 'event_seconds', 'flow_seconds', 'cleanup_seconds', 'total_seconds'}
    assert fake.event_after_probe
    assert [probe[0] for probe in fake.probes] == ['denied', 'control']
    assert all(probe[1] == EXPECTED_ARGV for probe in fake.probes)
    assert run['leftovers'] == {kind: [] for _api, kind in RUN_KINDS}
    assert run['namespace_kept']
    # The probes as netobs.cilium.violation_report reads them (probes: [cni_test_result]).
    namespace = SCENARIOS['pass']['namespace']
    assert result['probes'] == [
        {'name': 'denied-client-to-nginx', 'from': f'{namespace}/{fake.client_pod}', 'to': NGINX_IP, 'port': 80,
         'protocol': 'TCP', 'outcome': 'denied', 'detail': result['probes'][0]['detail']},
        {'name': 'control-to-nginx', 'from': f'{namespace}/netshot-control-{RUN_ID}', 'to': NGINX_IP, 'port': 80,
         'protocol': 'TCP', 'outcome': 'allowed', 'detail': result['probes'][1]['detail']},
    ]
    notes = []
    observations = report_model.probe_observations([result], None, notes)
    assert [(o.kind, o.src.pod, o.port) for o in observations] == [('drop', fake.client_pod, 80), ('allowed', f'netshot-control-{RUN_ID}', 80)]
    assert notes == []


def test_a_failing_run_names_exactly_the_missing_facts_and_still_cleans_up(runs):
    run, stdout = runs['fail'], runs['proc'].stdout
    result = run['result']
    assert f'cni-test run {RUN_ID} (mode ingress) FAILED - missing facts:' in stdout
    assert 'flow_seen: no DROPPED POLICY_DENIED flow from cni-fail/netshot-itest1' in stdout
    assert 'control_succeeded: curl from netshot-control-itest1-q9w8e failed (rc 28' in stdout
    assert 'without a working control the denial proves nothing' in stdout
    assert result['passed'] is False
    assert result['facts'] == {'denied_probe_failed': True, 'event_seen': True, 'flow_seen': False, 'control_succeeded': False}
    assert [m.split(':')[0] for m in result['missing']] == ['flow_seen', 'control_succeeded']
    assert result['evidence']['denied_probe']['job_status'] == 'failed'
    assert 'Connection timed out' in result['evidence']['denied_probe']['stderr']
    assert result['evidence']['event']['drops_of_run'][0]['direction'] == 'ingress'
    assert [(p['name'], p['outcome']) for p in result['probes']] == [('denied-client-to-nginx', 'denied'), ('control-to-nginx', 'denied')]
    assert run['leftovers'] == {kind: [] for _api, kind in RUN_KINDS}


def test_check_mode_validates_and_creates_nothing(tmp_path):
    play = [{'name': 'cni_test in check mode', 'hosts': 'localhost', 'gather_facts': False,
             'roles': [{'role': 'netobs.cilium.cni_test', 'vars': {'cni_test_namespace': 'cni-check'}}],
             'post_tasks': [{'name': 'Show the result', 'ansible.builtin.debug': {'msg': 'RESULT={{ cni_test_result | to_json }}'}}]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play), encoding='utf-8')
    with KubeAPIServer() as kube:
        kubeconfig = kube.write_kubeconfig(str(tmp_path / 'kubeconfig'))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
                   K8S_AUTH_KUBECONFIG=str(kubeconfig), ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
        proc = subprocess.run([PLAYBOOK_BIN, '--check', str(tmp_path / 'play.yml')], capture_output=True, text=True, env=env,
                              timeout=120, check=False)
        requests = list(kube.requests)
    assert proc.returncode == 0, proc.stdout[-3000:]
    shown = json.loads(re.search(r'RESULT=(\{.*\})"', proc.stdout).group(1).replace('\\"', '"'))
    assert shown['skipped'] is True and shown['mode'] == 'egress' and shown['facts'] == {}
    assert requests == []  # not even a read: nothing to validate against the cluster
