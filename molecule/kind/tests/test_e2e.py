# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`molecule verify -s kind` and `-s local`: check the cni-test run from outside Ansible.

* Hubble (inside every cilium-agent container, through testinfra's kubectl://
  backend): ``hubble observe --verdict DROPPED --from-label run=netshot -o jsonpb``
  has the drop netshot-<run id> -> nginx-<run id>-* TCP/80.
* Events: ``kubectl get events --field-selector reason=PacketDrop -n cni-test -o json``
  has the expected message on the expected pod.
* The control succeeded (read from the result file converge.yml wrote into the
  ephemeral directory).

Outside Molecule (no MOLECULE_EPHEMERAL_DIRECTORY) the whole module is skipped;
the repository's `pytest tests/` never collects it (testpaths = tests).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

EPHEMERAL = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '')
if not EPHEMERAL:
    pytest.skip('end-to-end checks run only inside `molecule verify -s kind` (MOLECULE_EPHEMERAL_DIRECTORY is not set)',
                allow_module_level=True)

testinfra = pytest.importorskip('testinfra')

# molecule/local sets these three (its cluster is the one make cluster runs); kind keeps the defaults.
KUBECONFIG = os.environ.get('NETOBS_E2E_KUBECONFIG') or os.path.join(EPHEMERAL, 'kubeconfig')
CONTEXT = os.environ.get('NETOBS_E2E_CONTEXT') or 'kind-' + (os.environ.get('NETOBS_KIND_CLUSTER') or 'netobs-e2e')
NODES = int(os.environ.get('NETOBS_E2E_NODES') or 2)
RESULT_FILE = os.path.join(EPHEMERAL, 'cni_test_result.json')
CILIUM_NAMESPACE = 'kube-system'


def kubectl(*args: str) -> str:
    """Run kubectl (argv, no shell) against the scenario's cluster and return stdout."""
    binary = shutil.which('kubectl')
    assert binary, 'kubectl is not on PATH'
    result = subprocess.run([binary, '--kubeconfig', KUBECONFIG, '--context', CONTEXT, *args],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f'kubectl {" ".join(args)} failed: {result.stderr.strip()}'
    return result.stdout


@pytest.fixture(scope='module')
def result():
    assert os.path.exists(RESULT_FILE), f'{RESULT_FILE} is missing: did converge.yml run netobs.cilium.cni_test?'
    with open(RESULT_FILE, encoding='utf-8') as handle:
        return json.load(handle)


@pytest.fixture(scope='module')
def names(result):
    run_id = result['run_id']
    return {
        'namespace': result['namespace'],
        'client': 'netshot-' + run_id,
        'nginx_prefix': 'nginx-' + run_id + '-',
        'client_pod': result['evidence']['denied_probe']['pod'],
    }


@pytest.fixture(scope='module')
def cilium_agents():
    pods = json.loads(kubectl('get', 'pods', '-n', CILIUM_NAMESPACE, '-l', 'k8s-app=cilium', '-o', 'json'))['items']
    running = [pod['metadata']['name'] for pod in pods if pod.get('status', {}).get('phase') == 'Running']
    assert len(running) >= NODES, f'expected a cilium agent on each of the {NODES} nodes, found {running}'
    return [testinfra.get_host(f'kubectl://{name}?container=cilium-agent&namespace={CILIUM_NAMESPACE}'
                               f'&kubeconfig={KUBECONFIG}&context={CONTEXT}') for name in running]


def test_the_run_passed_all_four_facts(result):
    assert result['passed'] is True, result['missing']
    assert result['facts'] == {'denied_probe_failed': True, 'event_seen': True, 'flow_seen': True, 'control_succeeded': True}


def test_the_control_succeeded(result):
    control = result['evidence']['control_probe']
    assert control['rc'] == 0, control
    assert result['facts']['control_succeeded'] is True
    denied = result['evidence']['denied_probe']
    assert denied['rc'] == 28, denied  # curl timed out: the packets were dropped


def test_hubble_shows_the_dropped_flow(result, names, cilium_agents):
    matches = []
    for host in cilium_agents:
        cmd = host.run('hubble observe --verdict %s --from-label %s -o jsonpb --last %s', 'DROPPED', 'run=netshot', '2000')
        assert cmd.rc == 0, f'hubble observe failed in {host.backend.name}: {cmd.stderr}'
        for line in cmd.stdout.splitlines():
            flow = json.loads(line).get('flow') if line.strip() else None
            if not flow:
                continue
            source, destination = flow.get('source', {}), flow.get('destination', {})
            if (source.get('namespace') == names['namespace']
                    and source.get('pod_name', '').startswith(names['client'])
                    and destination.get('pod_name', '').startswith(names['nginx_prefix'])
                    and flow.get('l4', {}).get('TCP', {}).get('destination_port') == 80):
                matches.append(flow)
    assert matches, f'no DROPPED flow {names["client"]} -> {names["nginx_prefix"]}* TCP/80 on any cilium agent'
    expected_direction = 'EGRESS' if result['mode'] == 'egress' else 'INGRESS'
    assert any(flow.get('drop_reason_desc') == 'POLICY_DENIED' and flow.get('traffic_direction') == expected_direction
               for flow in matches), matches[:2]


def test_the_packetdrop_event_is_on_the_expected_pod(result, names):
    events = json.loads(kubectl('get', 'events', '--field-selector', 'reason=PacketDrop', '-n', names['namespace'], '-o', 'json'))
    nginx = re.escape(names['nginx_prefix']) + r'\S+'
    netshot = re.escape(names['client']) + r'\S*'
    ns = re.escape(names['namespace'])
    # 1.16-1.18: no trailing "."; >= 1.19: "." and optionally the extended policy suffix.
    if result['mode'] == 'egress':
        pod_pattern = netshot
        message = re.compile(r'^Outgoing packet dropped \(policy_denied\) to ' + ns + '/' + nginx + r' \([0-9a-f.:]+\) TCP/80(\..*)?$')
    else:
        pod_pattern = nginx
        message = re.compile(r'^Incoming packet dropped \(policy_denied\) from ' + ns + '/' + netshot + r' \([0-9a-f.:]+\) TCP/80(\..*)?$')
    seen = [(e['involvedObject'].get('name', ''), e.get('message', '')) for e in events['items']
            if e.get('source', {}).get('component') == 'cilium']
    assert any(re.fullmatch(pod_pattern, pod) and message.match(text) for pod, text in seen), seen[-5:]
