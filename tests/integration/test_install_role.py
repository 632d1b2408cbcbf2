# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netobs.cilium.install role through ansible-playbook against loopback Kubernetes API servers.

There is no helm binary and no cluster here, so the Helm tasks cannot run. The role is built so that
everything around them is testable: the ``preflight`` entry point (argument validation, values rendering,
CNI guard) and the ``verify`` entry point (readiness gates, cilium_config_info checks, evidence) are the same
task files ``main`` runs before and after Helm. Each scenario is an inventory host, so one playbook run
covers many scenarios in parallel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.install.values import build_values
from servers.kube_apiserver import KubeAPIServer

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures', 'cilium-config')
BIN = os.path.dirname(sys.executable)
NS = 'kube-system'


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def run_playbook(tmp, name, plays, inventory, extra_args=()):
    """Run a playbook; the tree callback leaves each host's last task result (the 'Report' task) in tmp/<name>-tree/<host>."""
    play_path = tmp / ('%s.yml' % name)
    inv_path = tmp / ('%s-inventory.yml' % name)
    play_path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding='utf-8')
    inv_path.write_text(yaml.safe_dump(inventory), encoding='utf-8')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORKS='20', ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree',
               ANSIBLE_CALLBACK_TREE_DIR=str(tmp / ('%s-tree' % name)))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inv_path), str(play_path), *extra_args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def hosts_inventory(hosts):
    return {'all': {'hosts': hosts, 'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}


def outcome(proc, tree):
    """Per host: the 'Report' task's msg (failure, facts), plus the host's PLAY RECAP counters."""
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    hosts = {}
    for host in os.listdir(tree):
        with open(os.path.join(tree, host), encoding='utf-8') as handle:
            hosts[host] = dict(json.loads(handle.read())['msg'])
    for line in proc.stdout.split('PLAY RECAP')[-1].splitlines():
        match = re.match(r'^(\S+)\s+:\s+(.*)$', line.strip())
        if match:
            hosts.setdefault(match.group(1), {})['_stats'] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', match.group(2))}
    return hosts


def capture_play(tasks_from):
    """Include the role entry point per host; report the failure message (if any) and the facts it set."""
    return [{'name': 'Run the install role entry point', 'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'Entry point', 'block': [
            {'name': 'Include the role', 'ansible.builtin.include_role': {'name': 'netobs.cilium.install', 'tasks_from': tasks_from}},
            {'name': 'Keep the first rendering', 'ansible.builtin.set_fact': {'first_render': '{{ install_values_rendered | to_json }}'},
             'when': 'install_values_rendered is defined'},
            {'name': 'Render the values a second time', 'ansible.builtin.include_role': {'name': 'netobs.cilium.install', 'tasks_from': 'values'},
             'when': 'install_values_rendered is defined'},
            {'name': 'Compare both renderings', 'ansible.builtin.set_fact': {
                'render_stable': '{{ first_render == (install_values_rendered | to_json) }}'}, 'when': 'install_values_rendered is defined'},
        ], 'rescue': [
            {'name': 'Record the failure', 'ansible.builtin.set_fact': {
                'failure': '{{ ansible_failed_result.msg | default("") }}', 'failed_task': '{{ ansible_failed_task.name | default("") }}'}},
        ]},
        {'name': 'Report', 'ansible.builtin.debug': {
            'msg': '{{ hostvars[inventory_hostname] | dict2items | selectattr("key", "in", ["failure", "failed_task", "install_values_rendered",'
                   ' "install_cni", "install_evidence", "install_config_info", "render_stable"]) | items2dict }}'}},
    ]}]


# ---------------------------------------------------------------------------------------------- preflight
BAD_INPUTS = {
    'bad-interval': ({'install_drop_events_interval': '5'}, 'install_drop_events_interval: "5" is not a Go duration'),
    'bad-interval-int': ({'install_drop_events_interval': 5}, 'did you mean "5s"'),
    'bad-verbose': ({'install_debug_enabled': True, 'install_debug_verbose': ['flows']}, '"flows" is not a verbose debug group'),
    'tagged-118': ({'install_chart_version': '1.18.12', 'install_debug_enabled': True, 'install_debug_verbose': ['tagged']},
                   '"tagged" exists from the 1.19 charts'),
    'bad-version': ({'install_chart_version': '1.21.0'}, 'supported are Cilium charts 1.16.x-1.20.x'),
    'rc1': ({'install_chart_version': '1.16.0-rc.1'}, 'no drop event is ever emitted'),
    'bad-reasons': ({'install_drop_events_reasons': ['policy_denied', 'denied']}, '"denied" is not a drop reason name'),
    'extended-118': ({'install_chart_version': '1.18.12', 'install_drop_events_extended': True}, 'hubble-drop-events-extended'),
    'no-hubble': ({'install_extra_values': {'hubble': {'enabled': False}}}, 'hubble.enabled must stay true'),
    'bad-profile': ({'install_profile': 'minikube'}, 'install_profile'),
    'bad-bool': ({'install_drop_events_enabled': 'maybe'}, 'install_drop_events_enabled'),
}


def calico_objects():
    return [
        {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': 'calico-node', 'namespace': 'calico-system'},
         'spec': {'selector': {'matchLabels': {'k8s-app': 'calico-node'}},
                  'template': {'metadata': {'labels': {'k8s-app': 'calico-node'}}, 'spec': {'containers': [{'name': 'calico-node', 'image': 'c'}]}}}},
        {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'tigera-operator', 'namespace': 'tigera-operator'},
         'spec': {'replicas': 1, 'selector': {'matchLabels': {'name': 'tigera-operator'}},
                  'template': {'metadata': {'labels': {'name': 'tigera-operator'}}, 'spec': {'containers': [{'name': 'o', 'image': 'o'}]}}}},
        {'apiVersion': 'operator.tigera.io/v1', 'kind': 'Installation', 'metadata': {'name': 'default'}, 'spec': {'variant': 'Calico'}},
    ]


def daemonset(name, namespace, labels, ready=True, image='x'):
    template = {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': name, 'image': image}]}}
    return {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': name, 'namespace': namespace, 'labels': labels},
            'spec': {'selector': {'matchLabels': labels}, 'template': template},
            'status': {'observedGeneration': 1, 'desiredNumberScheduled': 1, 'currentNumberScheduled': 1,
                       'numberReady': 1 if ready else 0, 'updatedNumberScheduled': 1, 'numberAvailable': 1 if ready else 0}}


def run_preflight(tmp):
    """One playbook run: every preflight scenario is an inventory host."""
    with KubeAPIServer() as empty, KubeAPIServer() as calico, KubeAPIServer() as kindnet, KubeAPIServer() as cilium:
        calico.apply(calico_objects() + [daemonset('kube-proxy', NS, {'k8s-app': 'kube-proxy'})])
        kindnet.apply(daemonset('kindnet', NS, {'app': 'kindnet'}))
        cilium.apply(daemonset('cilium', NS, {'k8s-app': 'cilium'}))
        configs = {name: srv.write_kubeconfig(str(tmp / ('kc-' + name))) for name, srv in
                   (('empty', empty), ('calico', calico), ('kindnet', kindnet), ('cilium', cilium))}
        hosts = {name: dict(case[0], install_kubeconfig=configs['empty']) for name, case in BAD_INPUTS.items()}
        hosts.update({
            'ok-default': {'install_kubeconfig': configs['empty']},
            'ok-kind-118': {'install_kubeconfig': configs['empty'], 'install_profile': 'kind', 'install_chart_version': '1.18.12',
                            'install_drop_events_reasons': ['POLICY_DENY', 'policy_denied'], 'install_debug_enabled': True,
                            'install_debug_verbose': ['policy', 'flow']},
            'calico': {'install_kubeconfig': configs['calico']},
            'calico-allowed': {'install_kubeconfig': configs['calico'], 'install_allow_existing_cni': True},
            'kindnet': {'install_kubeconfig': configs['kindnet']},
            'cilium-upgrade': {'install_kubeconfig': configs['cilium']},
        })
        return outcome(run_playbook(tmp, 'preflight', capture_play('preflight'), hosts_inventory(hosts)), tmp / 'preflight-tree')


def check_bad_input(preflight, host):
    outcome = preflight[host]
    assert BAD_INPUTS[host][1] in outcome.get('failure', ''), outcome
    # nothing past validation ran: no CNI detection for this host
    assert 'install_cni' not in outcome and 'install_values_rendered' not in outcome


def check_preflight_argument_spec_failures_come_from_role_validation(preflight):
    assert 'Validating arguments' in preflight['bad-profile']['failed_task']
    assert 'default, kind' in preflight['bad-profile']['failure']
    assert 'Render the Helm values' in preflight['bad-interval']['failed_task']


def check_preflight_rendered_values_match_the_python_function_and_are_stable(preflight):
    ok = preflight['ok-default']
    assert 'failure' not in ok, ok
    assert ok['install_values_rendered'] == build_values()
    assert ok['render_stable'] is True and preflight['ok-kind-118']['render_stable'] is True
    kind = preflight['ok-kind-118']
    assert kind['install_values_rendered'] == build_values('1.18.12', profile='kind', drop_events_reasons=['policy_denied', 'policy_deny'],
                                                           debug_enabled=True, debug_verbose=['flow', 'policy'])
    assert kind['install_values_rendered']['debug'] == {'enabled': True, 'verbose': 'flow policy'}


def check_preflight_cni_guard_stops_on_calico_with_guidance(preflight):
    message = preflight['calico']['failure']
    assert 'Calico (DaemonSet calico-system/calico-node, Deployment tigera-operator/tigera-operator, Installation.operator.tigera.io default)' \
        in message
    assert 'Migrating a cluster to Cilium' in message and 'install_allow_existing_cni: true' in message
    assert preflight['calico']['failed_task'] == 'Stop when another CNI runs'
    assert 'failure' not in preflight['calico-allowed'] and preflight['calico-allowed']['install_cni']['conflicting'] == ['calico']


def check_preflight_cni_guard_kindnet_and_existing_cilium(preflight):
    assert 'networking.disableDefaultCNI: true' in preflight['kindnet']['failure']
    upgrade = preflight['cilium-upgrade']
    assert 'failure' not in upgrade and upgrade['install_cni']['cilium_present'] is True
    assert preflight['ok-default']['install_cni']['cnis'] == []


def test_shipped_playbook_stops_before_touching_the_cluster(tmp_path):
    with open(os.path.join(REPO, 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        groups = (yaml.safe_load(handle) or {}).get('action_groups') or {}
    assert {'cilium_config_info', 'cni_info'} <= {m for m in groups.get('cilium') or [] if isinstance(m, str)}, \
        'meta/runtime.yml must list cilium_config_info and cni_info in action_groups.cilium (playbooks/install.yml uses group/netobs.cilium.cilium)'
    with KubeAPIServer() as srv:
        kubeconfig = srv.write_kubeconfig(str(tmp_path / 'kubeconfig'))
        inventory = {'clusters': {'hosts': {'lab': {'netobs_kubeconfig': kubeconfig, 'install_drop_events_interval': '5',
                                                    'ansible_python_interpreter': sys.executable}}}}
        inv_path = tmp_path / 'inventory.yml'
        inv_path.write_text(yaml.safe_dump(inventory), encoding='utf-8')
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1')
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inv_path), os.path.join(REPO, 'playbooks', 'install.yml')],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert 'install_drop_events_interval: "5" is not a Go duration (a bare number has no unit: did you mean "5s"?)' in proc.stdout + proc.stderr
        assert srv.requests == []


# ---------------------------------------------------------------------------------------------- verify (gates + postflight)
def cilium_install(version='1.19.6', operator_ready=True, relay=True, configmap_changes=None):
    """What a Helm install leaves in kube-system, as the gates and checks read it."""
    image = 'quay.io/cilium/cilium:v%s@sha256:%s' % (version, 'a' * 64)
    configmap = fixture('configmap-1.%s.yaml' % version.split('.')[1])
    configmap['data'].update(configmap_changes or {})
    objs = [configmap, fixture('clusterrole-cilium.yaml'), daemonset('cilium', NS, {'k8s-app': 'cilium'}, image=image)]

    def deployment(name, labels, replicas, ready):
        return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': NS},
                'spec': {'replicas': replicas, 'selector': {'matchLabels': labels},
                         'template': {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': name, 'image': 'y'}]}}},
                'status': {'observedGeneration': 1, 'replicas': replicas, 'readyReplicas': ready, 'availableReplicas': ready,
                           'updatedReplicas': replicas, **({'unavailableReplicas': replicas - ready} if ready < replicas else {})}}

    def pod(name, labels, ready=True, containers=('c',), image='y', **status):
        body = {'phase': 'Running' if ready else 'Pending', 'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}
        body.update(status)
        return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': NS, 'labels': labels},
                'spec': {'containers': [{'name': c, 'image': image} for c in containers]}, 'status': body}

    objs.append(pod('cilium-4xk8d', {'k8s-app': 'cilium'}, containers=('cilium-agent',), image=image))
    op_labels = {'io.cilium/app': 'operator', 'name': 'cilium-operator'}
    objs.append(deployment('cilium-operator', op_labels, 2 if not operator_ready else 1, 1))
    objs.append(pod('cilium-operator-7c9d-a', op_labels))
    if not operator_ready:
        objs.append(pod('cilium-operator-7c9d-b', op_labels, ready=False, conditions=[
            {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
             'message': "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."}]))
        objs.append({'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': 'cilium-operator-7c9d-b.1', 'namespace': NS},
                     'involvedObject': {'kind': 'Pod', 'name': 'cilium-operator-7c9d-b', 'namespace': NS}, 'type': 'Warning',
                     'reason': 'FailedScheduling', 'message': "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.",
                     'count': 3, 'lastTimestamp': '2026-01-01T00:00:00Z', 'source': {'component': 'default-scheduler'}})
    if relay:
        objs.append(deployment('hubble-relay', {'k8s-app': 'hubble-relay'}, 1, 1))
        objs.append(pod('hubble-relay-6f7c-z', {'k8s-app': 'hubble-relay'}))
    return objs


def run_verify(tmp):
    """Two playbook runs of the verify entry point (the second for idempotence)."""
    evidence = tmp / 'evidence'
    evidence.mkdir()
    with KubeAPIServer() as healthy, KubeAPIServer() as broken, KubeAPIServer() as audit:
        healthy.apply(cilium_install())
        broken.apply(cilium_install('1.20.0', operator_ready=False, relay=False))
        audit.apply(cilium_install('1.17.18', configmap_changes={'policy-audit-mode': 'true'}))
        common = {'install_wait_timeout': 2, 'install_wait_sleep': 1, 'install_evidence_dir': str(evidence)}
        hosts = {
            'healthy': dict(common, install_kubeconfig=healthy.write_kubeconfig(str(tmp / 'kc-healthy'))),
            'broken': dict(common, install_chart_version='1.20.0', install_kubeconfig=broken.write_kubeconfig(str(tmp / 'kc-broken'))),
            'audit': dict(common, install_chart_version='1.17.18', install_evidence_dir=None,
                          install_kubeconfig=audit.write_kubeconfig(str(tmp / 'kc-audit'))),
        }
        data = outcome(run_playbook(tmp, 'verify', capture_play('verify'), hosts_inventory(hosts)), tmp / 'verify-tree')
        with open(evidence / 'cilium-install-healthy.json', encoding='utf-8') as handle:
            data['_evidence_first'] = handle.read()
        healthy_writes = [r for r in healthy.requests if r[0] not in ('GET',)]
        second = outcome(run_playbook(tmp, 'verify2', capture_play('verify'), hosts_inventory({'healthy': hosts['healthy']})),
                         tmp / 'verify2-tree')
        with open(evidence / 'cilium-install-healthy.json', encoding='utf-8') as handle:
            data['_evidence_second'] = handle.read()
    data['_stats'] = (data['healthy']['_stats'], second['healthy']['_stats'])
    data['_writes'] = healthy_writes
    data['_evidence_files'] = sorted(os.listdir(evidence))
    return data


def check_verify_healthy_installation_passes_and_records_evidence(verify):
    healthy = verify['healthy']
    assert 'failure' not in healthy, healthy
    evidence = healthy['install_evidence']
    assert evidence['config']['version'] == '1.19.6'
    assert evidence['config']['required_failed'] == []
    assert {c['status'] for c in evidence['config']['checks']} == {'pass'}
    assert [(g['name'], int(g['ready']), int(g['desired'])) for g in evidence['gates']] == [
        ('DaemonSet/cilium', 1, 1), ('Deployment/cilium-operator', 1, 1), ('Deployment/hubble-relay', 1, 1)]
    assert evidence['values'] == build_values()
    assert json.loads(verify['_evidence_first']) == json.loads(json.dumps(evidence))
    assert verify['_evidence_files'] == ['cilium-install-healthy.json']  # hosts whose gates failed write none
    assert verify['_writes'] == []  # the verify entry point never writes to the cluster


def check_verify_second_run_changes_nothing(verify):
    first, second = verify['_stats']
    assert first['changed'] == 1  # the evidence file
    assert second['changed'] == 0 and second['failed'] == 0
    assert verify['_evidence_first'] == verify['_evidence_second']


def check_verify_gate_failure_names_the_pod_and_its_events(verify):
    message = verify['broken']['failure']
    assert message.startswith('Cilium is not ready in namespace kube-system'), message
    assert 'Deployment/hubble-relay not found' in message
    assert 'Deployment kube-system/cilium-operator: 1/2 ready' in message
    assert 'pod kube-system/cilium-operator-7c9d-b not ready (phase Pending; PodScheduled=False Unschedulable' in message
    assert "Warning FailedScheduling: 0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. (x3)" in message
    assert 'DaemonSet kube-system/cilium: 1/1 ready' in message
    assert 'cilium-operator-7c9d-a' not in message
    assert '[gate: Wait for Deployment cilium-operator to be ready: Failed to gather information about Deployment(s)' in message
    assert 'install_evidence' not in verify['broken']


def check_verify_config_check_failure_after_ready_gates(verify):
    audit = verify['audit']
    assert audit['failed_task'] == 'Assert the required configuration checks pass'
    assert 'policy_audit_mode (fail): policy-audit-mode is true' in audit['failure']
    assert audit['install_evidence']['config']['required_failed'] == ['policy_audit_mode']


def run_checks(data, checks):
    problems = []
    for func, args in checks:
        try:
            func(data, *args)
        except (AssertionError, KeyError, TypeError, StopIteration) as exc:
            problems.append('%s%s: %s %s' % (func.__name__, args or '', type(exc).__name__, ' '.join(str(exc).split())[:600]))
    assert not problems, '\n'.join(problems)


def test_preflight_entry_point(tmp_path):
    """Argument validation, values rendering and the CNI guard (one ansible-playbook run, hosts in parallel)."""
    data = run_preflight(tmp_path)
    checks = [(check_bad_input, (host,)) for host in sorted(BAD_INPUTS)]
    checks += [(func, ()) for name, func in sorted(globals().items()) if name.startswith('check_preflight_')]
    assert len(checks) == len(BAD_INPUTS) + 4
    run_checks(data, checks)


def test_verify_entry_point(tmp_path):
    """Readiness gates, config checks and evidence on healthy and broken installations, then idempotence."""
    data = run_verify(tmp_path)
    checks = [(func, ()) for name, func in sorted(globals().items()) if name.startswith('check_verify_')]
    assert len(checks) == 4
    run_checks(data, checks)
