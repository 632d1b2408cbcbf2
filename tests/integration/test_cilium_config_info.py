# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netobs.cilium.cilium_config_info through ansible-playbook against the session's real kube-apiserver.

One playbook run evaluates every scenario (one namespace + ClusterRole per scenario, modelled on what
each chart version renders), plus offline files and check mode; the assertions then read its results.
Agent pods and the hubble-relay Deployment exist as objects with the status a test writes (no kubelet or
controllers run); the "forbidden" scenario reads as a user whose RBAC grants lack the ConfigMap and ClusterRole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures', 'cilium-config')
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def cluster_objects(namespace, version, data_changes=None, clusterrole='cilium', events_rule=True, relay_ready=True):
    """ConfigMap, ClusterRole, agent pod and hubble-relay Deployment for one Cilium installation."""
    minor = int(version.split('.')[1])
    configmap = fixture('configmap-1.%d.yaml' % minor)
    configmap['metadata']['namespace'] = namespace
    for key, value in (data_changes or {}).items():
        if value is None:
            configmap['data'].pop(key, None)
        else:
            configmap['data'][key] = value
    role = fixture('clusterrole-cilium.yaml')
    role['metadata']['name'] = clusterrole
    if not events_rule:
        role['rules'] = [r for r in role['rules'] if 'events' not in r['resources']]
    agent = {'apiVersion': 'v1', 'kind': 'Pod',
             'metadata': {'name': 'cilium-x7k2p', 'namespace': namespace, 'labels': {'k8s-app': 'cilium'}},
             'spec': {'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v%s@sha256:%s' % (version, '0' * 64)}]},
             'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    relay = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'hubble-relay', 'namespace': namespace},
             'spec': {'replicas': 1, 'selector': {'matchLabels': {'k8s-app': 'hubble-relay'}},
                      'template': {'metadata': {'labels': {'k8s-app': 'hubble-relay'}},
                                   'spec': {'containers': [{'name': 'hubble-relay', 'image': 'quay.io/cilium/hubble-relay:v%s' % version}]}}},
             'status': {'replicas': 1, 'readyReplicas': 1 if relay_ready else 0, 'observedGeneration': 1}}
    return [configmap, role, agent, relay]


# name -> (version, configmap changes, extra options). Every chart version has a good installation; each kind of
# breakage is shown on one version here (the full version x breakage matrix is in the unit tests).
SCENARIOS = {
    'good-116': ('1.16.19', {}, {}),
    'good-117': ('1.17.18', {}, {}),
    'good-118': ('1.18.12', {}, {}),
    'good-119': ('1.19.6', {}, {}),
    'good-120': ('1.20.0', {}, {}),
    'off-118': ('1.18.12', {'hubble-drop-events': None, 'hubble-drop-events-interval': None, 'hubble-drop-events-reasons': None}, {}),
    'audit-120': ('1.20.0', {'policy-audit-mode': 'true'}, {}),
    'nodeny-119': ('1.19.6', {'hubble-drop-events-reasons': 'auth_required policy_denied'}, {}),
    'comma-116': ('1.16.19', {'hubble-drop-events-reasons': 'auth_required,policy_denied,policy_deny'}, {}),
    'upper-118': ('1.18.12', {'hubble-drop-events-reasons': 'POLICY_DENIED POLICY_DENY'}, {}),
    'norbac-117': ('1.17.18', {'hubble-drop-events-rate-limit': None}, {'events_rule': False}),
    'ratelimit-119': ('1.19.6', {'hubble-drop-events-rate-limit': None}, {'relay_ready': False}),
}
EXPECTED_FAILS = {
    'off-118': ['drop_events_enabled', 'drop_events_reasons'],
    'audit-120': ['policy_audit_mode'],
    'nodeny-119': ['drop_events_reasons'],
    'comma-116': ['drop_events_reasons'],
    'upper-118': ['drop_events_reasons'],
    'norbac-117': ['events_rbac'],
    'ratelimit-119': ['relay_ready'],
}
REQUIRED = ['hubble_enabled', 'drop_events_enabled', 'drop_events_reasons', 'policy_audit_mode', 'events_rbac']


def inventory(kubeconfig, forbidden_kubeconfig, offline_dir):
    """One inventory host per scenario: the hosts run in parallel (forks), each calls the module once."""
    hosts = {name: {'scenario_args': {'cilium_namespace': 's-' + name, 'clusterrole_name': 'cilium-' + name, 'kubeconfig': kubeconfig}}
             for name in SCENARIOS}
    hosts['missing'] = {'scenario_args': {'cilium_namespace': 's-missing', 'clusterrole_name': 'cilium-missing', 'kubeconfig': kubeconfig}}
    hosts['forbidden'] = {'scenario_args': {'cilium_namespace': 's-forbidden', 'clusterrole_name': 'cilium-forbidden',
                                            'kubeconfig': forbidden_kubeconfig}}
    hosts['checkmode'] = {'scenario_args': {'cilium_namespace': 's-good-119', 'clusterrole_name': 'cilium-good-119',
                                            'kubeconfig': kubeconfig}, 'scenario_check_mode': True}
    hosts['offline'] = {'scenario_args': {'src': os.path.join(offline_dir, 'configmap.json'), 'cilium_version': '1.18.12',
                                          'clusterrole_src': os.path.join(FIXTURES, 'clusterrole-cilium.yaml')}}
    hosts['offline_noversion'] = {'scenario_args': {'src': os.path.join(offline_dir, 'configmap.json')}}
    hosts['offline_bad'] = {'scenario_args': {'src': os.path.join(FIXTURES, 'clusterrole-cilium.yaml')}}
    return {'all': {'hosts': hosts, 'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}


def playbook():
    return [{'name': 'cilium_config_info scenarios', 'hosts': 'all', 'gather_facts': False, 'tasks': [{
        'name': 'Check the scenario',
        'netobs.cilium.cilium_config_info': '{{ scenario_args | combine({"required_checks": required}) }}',
        'vars': {'required': REQUIRED},
        'check_mode': '{{ scenario_check_mode | default(false) }}',
        'register': 'result',
        'ignore_errors': '{{ inventory_hostname == "offline_bad" }}',
    }]}]


def run_scenarios(kube, tmp):
    """Write the scenarios into the real apiserver, run the playbook once, return every host's result."""
    for name, (version, changes, options) in SCENARIOS.items():
        kube.apply(cluster_objects('s-' + name, version, changes, clusterrole='cilium-' + name, **options))
    kube.apply({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 's-missing'}})
    kube.apply(cluster_objects('s-forbidden', '1.19.6', clusterrole='cilium-forbidden'))
    # "test" may read the agent pods and the relay, but not the ConfigMap nor the ClusterRole
    kube.grant('test', [{'apiGroups': [''], 'resources': ['pods'], 'verbs': ['list']},
                        {'apiGroups': ['apps'], 'resources': ['deployments'], 'verbs': ['get']}], namespace='s-forbidden')
    kubeconfig = kube.kubeconfig
    forbidden_kubeconfig = kube.write_kubeconfig(user='test')
    offline = cluster_objects('kube-system', '1.18.12')[0]
    (tmp / 'configmap.json').write_text(json.dumps(offline), encoding='utf-8')
    (tmp / 'play.yml').write_text(yaml.safe_dump(playbook()), encoding='utf-8')
    (tmp / 'inventory.yml').write_text(yaml.safe_dump(inventory(kubeconfig, forbidden_kubeconfig, str(tmp))), encoding='utf-8')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORKS='20', ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree', ANSIBLE_CALLBACK_TREE_DIR=str(tmp / 'tree'))
    proc = subprocess.run([PLAYBOOK_BIN, '-i', str(tmp / 'inventory.yml'), str(tmp / 'play.yml')],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    data = {}
    for host in os.listdir(tmp / 'tree'):  # the tree callback keeps each host's (only) task result
        with open(tmp / 'tree' / host, encoding='utf-8') as handle:
            data[host] = json.load(handle)
    data['stdout'] = proc.stdout + proc.stderr
    return data


def statuses(result):
    return {c['name']: c['status'] for c in result['checks']}


def check_good_installation(results, name):
    result = results[name]
    assert result['version'] == SCENARIOS[name][0] and result['version_source'] == 'agent image tag'
    assert set(statuses(result).values()) == {'pass'}, result['checks']
    assert result['required_failed'] == [] and result['failed_checks'] == []
    assert result['changed'] is False and result['api_requests'] >= 4
    assert result['config']['hubble-drop-events-reasons'] == 'auth_required policy_denied policy_deny'


def check_broken_installation(results, name):
    result = results[name]
    assert result['failed_checks'] == EXPECTED_FAILS[name], result['checks']
    assert result['required_failed'] == [n for n in EXPECTED_FAILS[name] if n in REQUIRED]
    assert result.get('failed_when_result') is None and not result.get('failed')  # an _info module never fails on a check


def check_messages_explain_the_version_specific_traps(results):
    def message(name, check):
        return next(c['message'] for c in results[name]['checks'] if c['name'] == check)
    assert 'splits reasons on whitespace only' in message('comma-116', 'drop_events_reasons')
    assert 'case-sensitive before 1.19' in message('upper-118', 'drop_events_reasons')
    assert 'explicit deny' in message('nodeny-119', 'drop_events_reasons')
    assert 'hubble.dropEventEmitter.enabled=true' in message('norbac-117', 'events_rbac')
    assert 'AUDIT' in message('audit-120', 'policy_audit_mode')
    assert message('off-118', 'drop_events_enabled').startswith('hubble-drop-events is not true')


def check_rate_limit_default_warns(results):
    result = results['ratelimit-119']
    rate = next(c for c in result['checks'] if c['name'] == 'drop_events_rate_limit')
    assert rate['status'] == 'pass' and rate['details']['limit'] == 1
    assert 'hubble-drop-events-rate-limit is 1 (default)' in results['stdout']


def check_missing_and_forbidden_objects(results):
    missing = results['missing']
    assert statuses(missing)['hubble_enabled'] == 'fail'
    assert 'ConfigMap not found in namespace s-missing' in missing['checks'][0]['message']
    assert statuses(missing)['events_rbac'] == 'fail'  # ClusterRole cilium-missing does not exist
    forbidden = results['forbidden']
    assert statuses(forbidden)['hubble_enabled'] == 'unknown'
    assert 'Forbidden' in forbidden['checks'][0]['message'] and 'configmaps' in forbidden['checks'][0]['message']
    assert 'User "test" cannot get resource "configmaps"' in forbidden['checks'][0]['message']  # the apiserver's RBAC words
    assert statuses(forbidden)['events_rbac'] == 'unknown'
    assert statuses(forbidden)['agents_ready'] == 'pass'
    assert 'hubble_enabled' in forbidden['required_failed']


def check_check_mode_is_read_only_and_identical(results):
    assert results['checkmode']['checks'] == results['good-119']['checks']
    assert results['checkmode']['version'] == '1.19.6'
    assert results['checkmode']['changed'] is False


def check_offline_files(results):
    offline = results['offline']
    assert offline['source'].endswith('configmap.json') and offline['api_requests'] == 0
    assert offline['version'] == '1.18.12' and offline['version_source'] == 'cilium_version option'
    assert statuses(offline)['events_rbac'] == 'pass'
    assert statuses(offline)['agents_ready'] == 'unknown' and statuses(offline)['relay_ready'] == 'unknown'
    assert statuses(offline)['drop_events_extended'] == 'pass'  # not applicable on 1.18
    noversion = results['offline_noversion']
    assert noversion['version'] is None
    assert statuses(noversion)['drop_events_reasons'] == 'pass'  # space-separated lower-case works on every version
    assert statuses(noversion)['drop_events_extended'] == 'unknown'
    assert statuses(noversion)['events_rbac'] == 'unknown'
    bad = results['offline_bad']
    assert 'checks' not in bad and 'holds no ConfigMap' in bad['msg']


def test_cilium_config_info_scenarios(real_kube, tmp_path):
    """One ansible-playbook run (expensive) feeds every check below; all problems are reported together."""
    results = run_scenarios(real_kube, tmp_path)
    checks = [(check_good_installation, name) for name in sorted(SCENARIOS) if name.startswith('good-')]
    checks += [(check_broken_installation, name) for name in sorted(EXPECTED_FAILS)]
    checks += [(func, None) for name, func in sorted(globals().items())
               if name.startswith('check_') and func not in (check_good_installation, check_broken_installation)]
    assert len(checks) == 17
    problems = []
    for func, arg in checks:
        try:
            if arg is None:
                func(results)
            else:
                func(results, arg)
        except (AssertionError, KeyError, TypeError, StopIteration) as exc:
            problems.append('%s(%s): %s %s' % (func.__name__, arg or '', type(exc).__name__, ' '.join(str(exc).split())[:600]))
    assert not problems, '\n'.join(problems)
