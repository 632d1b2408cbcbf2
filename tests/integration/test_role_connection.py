# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles and playbooks act on the cluster the play points them at, never on ~/.kube/config by accident.

Issue 10, item 1: every role task passed ``kubeconfig: "{{ install_kubeconfig | default(omit, true) }}"``. In
ansible-core 2.19 an omitted task argument also removes the module_defaults value for that key, so a play that
set the connection with ``module_defaults`` (as playbooks/install.yml and verify.yml do) silently acted on
``~/.kube/config``.

Every scenario runs ansible-playbook with its own pair of loopback API servers: the *target* (named by the play:
module_defaults from inventory variables, K8S_AUTH_KUBECONFIG or role variables) and a *decoy* that a fake
``$HOME/.kube/config`` points at (and, in the precedence scenario, the play's module_defaults). The decoy must see
zero requests; the target must see the requests that prove each entry point really ran its Kubernetes tasks.
There is no helm binary: install ``main`` stops at the Helm step, after the CNI guard has talked to the cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from servers.kube_apiserver import KubeAPIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
FIXTURES = os.path.join(REPO, 'tests', 'fixtures', 'cilium-config')
NS = 'kube-system'
RUN_ID = 'conn1'
CNI_NS = 'cni-conn'

# What the play sets through module_defaults (the way playbooks/install.yml and verify.yml do it).
PLAY_DEFAULTS = {
    'group/netobs.cilium.cilium': {'kubeconfig': '{{ netobs_kubeconfig }}'},
    'group/kubernetes.core.k8s': {'kubeconfig': '{{ netobs_kubeconfig }}'},
    'group/kubernetes.core.helm': {'kubeconfig': '{{ netobs_kubeconfig }}'},
}
ROLE_VARS = {
    'install_wait_timeout': 2, 'install_wait_sleep': 1, 'install_helm_binary_path': '/nonexistent/helm',
    'cni_test_namespace': CNI_NS, 'cni_test_run_id': RUN_ID, 'cni_test_hubble_transport': 'exec', 'cni_test_event_timeout': 1,
    'cni_test_flow_retries': 1, 'cni_test_flow_delay': 0, 'cni_test_flow_timeout': 10, 'cni_test_ready_timeout': 10,
}
# Requests that prove an entry point ran its Kubernetes tasks (regexes on the request path).
PROOF = {
    'install-preflight': [r'/apis/apps/v1/daemonsets'],                                     # CNI guard
    'install-verify': [r'/namespaces/kube-system/daemonsets', r'/namespaces/kube-system/configmaps'],  # gates, config checks
    'install-main': [r'/apis/apps/v1/daemonsets'],                                          # CNI guard before Helm
    'cni_test': [r'/api/v1/namespaces/cni-conn$', r'/namespaces/cni-conn/pods/netshot-conn1/exec',  # deploy, probe,
                 r'/namespaces/cni-conn/events', r'/namespaces/kube-system/pods/cilium-agent-1/exec'],  # event, flows
}


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def pod(namespace, name, labels, ip, containers=('main',), image='x:1'):
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': namespace, 'labels': labels},
            'spec': {'nodeName': 'kind-worker', 'containers': [{'name': c, 'image': image} for c in containers]},
            'status': {'phase': 'Running', 'podIP': ip, 'conditions': [{'type': 'Ready', 'status': 'True'}]}}


def ready_deployment(name, labels):
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': NS},
            'spec': {'replicas': 1, 'selector': {'matchLabels': labels},
                     'template': {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': name, 'image': 'y'}]}}},
            'status': {'observedGeneration': 1, 'replicas': 1, 'readyReplicas': 1, 'availableReplicas': 1, 'updatedReplicas': 1}}


def cluster(srv):
    """A cluster with Cilium 1.19 installed and ready, and what the cni_test experiment needs to get to its evidence."""
    labels = {'k8s-app': 'cilium'}
    srv.apply([
        fixture('configmap-1.19.yaml'), fixture('clusterrole-cilium.yaml'),
        {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': 'cilium', 'namespace': NS, 'labels': labels},
         'spec': {'selector': {'matchLabels': labels},
                  'template': {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': 'cilium-agent', 'image': 'c'}]}}},
         'status': {'observedGeneration': 1, 'desiredNumberScheduled': 1, 'currentNumberScheduled': 1, 'numberReady': 1,
                    'updatedNumberScheduled': 1, 'numberAvailable': 1}},
        pod(NS, 'cilium-agent-1', labels, '172.18.0.2', containers=('cilium-agent',), image='quay.io/cilium/cilium:v1.19.6'),
        ready_deployment('cilium-operator', {'io.cilium/app': 'operator', 'name': 'cilium-operator'}),
        ready_deployment('hubble-relay', {'k8s-app': 'hubble-relay'}),
        # The nginx pod the Deployment of the cni_test run would get (the test API server runs no controllers).
        pod(CNI_NS, f'nginx-{RUN_ID}-5c754d96b-6r7x2', {'app': 'nginx', 'netobs.cilium/run-id': RUN_ID}, '10.0.0.226'),
    ])
    srv.set_auto_status('apps/v1', 'Deployment')
    srv.set_auto_status('v1', 'Pod')
    with open(os.path.join(REPO, 'tests', 'fixtures', 'reference-experiment-synthetic', 'flows.jsonl'), encoding='utf-8') as handle:
        flows = handle.read().encode()
    srv.set_exec_handler(NS, 'cilium-agent-*', 'cilium-agent', lambda argv: (flows, b'', 0))
    srv.set_exec_handler(CNI_NS, f'netshot-{RUN_ID}', None, lambda argv: (b'000', b'curl: (28) Connection timed out', 28))
    srv.set_exec_handler(CNI_NS, f'netshot-control-{RUN_ID}', None, lambda argv: (b'200', b'', 0))


def entry(role, tasks_from='main'):
    """Run one role entry point; a failure (Helm missing, a gate, a missing fact) is recorded, not fatal."""
    return {'name': f'{role} {tasks_from}', 'block': [
        {'name': 'Include the role', 'ansible.builtin.include_role': {'name': f'netobs.cilium.{role}', 'tasks_from': tasks_from}},
    ], 'rescue': [
        {'name': 'Record the failure', 'ansible.builtin.debug': {'msg': 'FAILED {{ ansible_failed_task.name }}: {{ ansible_failed_result.msg }}'}},
    ]}


def role_play(entries, module_defaults=None):
    play = {'name': 'Role entry points', 'hosts': 'clusters', 'gather_facts': False, 'tasks': [entry(*e) for e in entries]}
    if module_defaults:
        play['module_defaults'] = module_defaults
    return [play]


ENTRIES = {
    'install-preflight': [('install', 'preflight')],
    'install-verify': [('install', 'verify')],
    'install-main': [('install', 'main')],
    'cni_test': [('cni_test', 'main')],
}
ALL_ENTRIES = [e for entries in ENTRIES.values() for e in entries]

# name -> (plays or a shipped playbook, how the target is named, which PROOF keys must show on the target)
SCENARIOS = {
    **{f'module_defaults:{name}': (role_play(entries, PLAY_DEFAULTS), 'inventory', [name]) for name, entries in ENTRIES.items()},
    'K8S_AUTH_KUBECONFIG:all-entry-points': (role_play(ALL_ENTRIES), 'env', list(ENTRIES)),
    # Role variables are the most specific: they win over the play's module_defaults (here: the decoy).
    'role-vars-over-module_defaults:all-entry-points': (role_play(ALL_ENTRIES, PLAY_DEFAULTS), 'role-vars', list(ENTRIES)),
    'playbook:install.yml': ('install.yml', 'inventory', ['install-main']),
    'playbook:verify.yml': ('verify.yml', 'inventory', ['cni_test']),
    'playbook:compliance.yml': ('compliance.yml', 'inventory', []),
}
COMPLIANCE_PROOF = [r'/api/v1/events|/apis/events.k8s.io/v1/events', r'/namespaces/kube-system/pods/cilium-agent-1/exec',
                    r'networkpolicies']


def scheduler(servers, done):
    """The scheduler of the test clusters: exec needs the client pods on a node."""
    while not done.wait(0.05):
        for srv in servers:
            for obj in srv.list('v1', 'Pod', CNI_NS):
                if not obj['spec'].get('nodeName'):
                    obj['spec']['nodeName'] = 'kind-worker'
                    srv.apply(obj)


def run_scenario(tmp, name, plays, how):
    """ansible-playbook with HOME/.kube/config -> decoy; the play names the target as `how` says. -> (proc, target, decoy)."""
    target, decoy = KubeAPIServer(), KubeAPIServer()
    target.start()
    decoy.start()
    cluster(target)
    cluster(decoy)
    work = tmp / name.replace(':', '_')
    home = work / 'home'
    (home / '.kube').mkdir(parents=True)
    decoy.write_kubeconfig(str(home / '.kube' / 'config'))
    target_kc = target.write_kubeconfig(str(work / 'target-kubeconfig'))
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, **ROLE_VARS,
            'compliance_hubble_transport': 'exec', 'compliance_report_dir': str(work / 'reports'), 'compliance_baseline': False}
    env = {k: v for k, v in os.environ.items() if not k.startswith('K8S_AUTH_') and k != 'KUBECONFIG'}
    env.update(HOME=str(home), KUBECACHEDIR=str(work / 'kube-cache'), ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_DEPRECATION_WARNINGS='false')
    if how == 'inventory':
        host['netobs_kubeconfig'] = target_kc
    elif how == 'env':
        env['K8S_AUTH_KUBECONFIG'] = target_kc
    elif how == 'role-vars':
        host['netobs_kubeconfig'] = str(home / '.kube' / 'config')  # the play's module_defaults name the decoy
        host.update(install_kubeconfig=target_kc, cni_test_kubeconfig=target_kc)
    (work / 'inventory.yml').write_text(yaml.safe_dump({'clusters': {'hosts': {'lab': host}}}), encoding='utf-8')
    if isinstance(plays, str):
        playbook = os.path.join(REPO, 'playbooks', plays)
    else:
        playbook = str(work / 'play.yml')
        (work / 'play.yml').write_text(yaml.safe_dump(plays, sort_keys=False), encoding='utf-8')
    done = threading.Event()
    thread = threading.Thread(target=scheduler, args=((target, decoy), done), daemon=True)
    thread.start()
    try:
        proc = subprocess.run([PLAYBOOK_BIN, '-i', str(work / 'inventory.yml'), playbook], capture_output=True, text=True,
                              env=env, cwd=str(work), timeout=600, check=False)
    finally:
        done.set()
        thread.join(timeout=10)
        target.stop()
        decoy.stop()
    return proc, target, decoy


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('role_connection')
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_scenario, tmp, name, plays, how) for name, (plays, how, _proof) in SCENARIOS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_only_the_cluster_the_play_names_is_contacted(results, name):
    proc, target, decoy = results[name]
    transcript = proc.stdout[-4000:] + proc.stderr[-2000:]
    contacted = sorted({f'{method} {path}' for method, path, _query, _status in decoy.requests})
    assert contacted == [], f'{name}: the decoy (~/.kube/config) was contacted:\n' + '\n'.join(contacted[:20]) + '\n' + transcript
    paths = [path for _method, path, _query, _status in target.requests]
    expected = [regex for key in SCENARIOS[name][2] for regex in PROOF[key]]
    if name == 'playbook:compliance.yml':
        expected = COMPLIANCE_PROOF
    missing = [regex for regex in expected if not any(re.search(regex, p) for p in paths)]
    assert not missing, f'{name}: the target never saw {missing}; it saw {sorted(set(paths))[:40]}\n{transcript}'
