# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/kind/tests/test_e2e.py (the `molecule verify -s kind` step) against the loopback API server.

The verify tests are run the way Molecule runs them (pytest in a child process with
MOLECULE_EPHEMERAL_DIRECTORY set), with real kubectl: `kubectl get`, and testinfra's kubectl://
backend doing `kubectl exec ... -- /bin/sh -c 'hubble observe ...'` into the cilium-agent
containers, answered by exec handlers. A good cluster passes; a cluster without the drop, or a
result whose control failed, fails with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from servers.kube_apiserver import KubeAPIServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl is not installed')]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERIFY = os.path.join(REPO, 'molecule', 'kind', 'tests', 'test_e2e.py')
RUN_ID = 'r1a2b3c4'
NGINX = f'nginx-{RUN_ID}-5c754d96b-6r7x2'
CLIENT = f'netshot-{RUN_ID}'


def result(control_rc=0):
    facts = {'denied_probe_failed': True, 'event_seen': True, 'flow_seen': True, 'control_succeeded': control_rc == 0}
    return {'run_id': RUN_ID, 'mode': 'egress', 'namespace': 'cni-test', 'passed': control_rc == 0, 'facts': facts,
            'missing': [] if control_rc == 0 else ['control_succeeded: ...'],
            'evidence': {'denied_probe': {'pod': CLIENT, 'rc': 28}, 'control_probe': {'pod': 'netshot-control-' + RUN_ID, 'rc': control_rc}}}


def flow_line(dst_port=80):
    flow = {'verdict': 'DROPPED', 'drop_reason_desc': 'POLICY_DENIED', 'traffic_direction': 'EGRESS',
            'l4': {'TCP': {'source_port': 47302, 'destination_port': dst_port}},
            'source': {'namespace': 'cni-test', 'pod_name': CLIENT, 'labels': ['k8s:run=netshot']},
            'destination': {'namespace': 'cni-test', 'pod_name': NGINX, 'labels': ['k8s:app=nginx']}}
    return json.dumps({'flow': flow, 'node_name': 'netobs-e2e-worker'})


def objects(with_drop=True):
    objs = [{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}} for name in ('kube-system', 'cni-test')]
    for node in ('netobs-e2e-control-plane', 'netobs-e2e-worker'):
        meta = {'name': 'cilium-' + node.rsplit('-', 1)[1], 'namespace': 'kube-system', 'labels': {'k8s-app': 'cilium'}}
        objs.append({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': meta,
                     'spec': {'nodeName': node, 'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v1.19.6'}]},
                     'status': {'phase': 'Running'}})
    message = f'Outgoing packet dropped (policy_denied) to cni-test/{NGINX} (10.244.1.7) TCP/80.'
    objs.append({'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': CLIENT + '.1844', 'namespace': 'cni-test'},
                 'involvedObject': {'kind': 'Pod', 'apiVersion': 'v1', 'namespace': 'cni-test', 'name': CLIENT},
                 'reason': 'PacketDrop', 'type': 'Warning', 'source': {'component': 'cilium'},
                 'message': message if with_drop else message.replace('TCP/80', 'TCP/443'), 'count': 1})
    return objs


def run_verify(tmp_path, with_drop=True, control_rc=0):
    calls = []

    def hubble(node_has_drop):
        def handler(argv):
            calls.append(argv)
            ok = argv[:2] == ['/bin/sh', '-c'] and shlex.split(argv[2])[:2] == ['hubble', 'observe']
            if not ok:
                return b'', b'unexpected command', 127
            lines = [flow_line(80 if with_drop else 443)] if node_has_drop else []
            return ('\n'.join(lines) + '\n' if lines else '').encode(), b'', 0
        return handler

    with KubeAPIServer() as kube:
        kube.apply(objects(with_drop))
        kube.set_exec_handler('kube-system', 'cilium-plane', 'cilium-agent', hubble(False))
        kube.set_exec_handler('kube-system', 'cilium-worker', 'cilium-agent', hubble(True))
        kube.write_kubeconfig(str(tmp_path / 'kubeconfig'), context='kind-netobs-e2e')
        (tmp_path / 'cni_test_result.json').write_text(json.dumps(result(control_rc)), encoding='utf-8')
        env = dict(os.environ, MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path), KUBECACHEDIR=str(tmp_path / 'cache'))
        env.pop('NETOBS_KIND_CLUSTER', None)
        proc = subprocess.run([sys.executable, '-m', 'pytest', VERIFY, '-q', '-p', 'no:cacheprovider', '--rootdir', REPO,
                               '-c', os.path.join(REPO, 'pytest.ini')],
                              cwd=os.path.dirname(VERIFY), env=env, capture_output=True, text=True, timeout=180, check=False)
    return proc, calls


def test_verify_passes_on_a_cluster_that_shows_the_drop(tmp_path):
    proc, calls = run_verify(tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert '4 passed' in proc.stdout
    commands = [shlex.split(argv[2]) for argv in calls]
    assert len(commands) == 2  # every cilium agent was asked
    assert all(c[:6] == ['hubble', 'observe', '--verdict', 'DROPPED', '--from-label', 'run=netshot'] and c[6:8] == ['-o', 'jsonpb']
               for c in commands)


def test_verify_fails_without_the_drop_and_without_a_working_control(tmp_path):
    proc, _calls = run_verify(tmp_path, with_drop=False, control_rc=28)
    assert proc.returncode == 1, proc.stdout[-4000:]
    out = proc.stdout
    assert 'no DROPPED flow netshot-r1a2b3c4 -> nginx-r1a2b3c4-* TCP/80 on any cilium agent' in out
    for name in ('test_the_run_passed_all_four_facts', 'test_the_control_succeeded', 'test_hubble_shows_the_dropped_flow',
                 'test_the_packetdrop_event_is_on_the_expected_pod'):
        assert f'FAILED test_e2e.py::{name}' in out, name
    assert '4 failed' in out
