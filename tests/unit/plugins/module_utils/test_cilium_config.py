# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cilium_config checks: what a user learns about a Cilium install that can or cannot emit PacketDrop events."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.install import config as cc

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                        'fixtures', 'cilium-config')
MINORS = (16, 17, 18, 19, 20)


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def configmap(minor, **changes):
    obj = load('configmap-1.%d.yaml' % minor)
    for key, value in changes.items():
        key = key.replace('_', '-')
        if value is None:
            obj['data'].pop(key, None)
        else:
            obj['data'][key] = value
    return obj


def pod(name, version, ready=True):
    return {'metadata': {'name': name, 'namespace': 'kube-system', 'labels': {'k8s-app': 'cilium'}},
            'spec': {'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v%s@sha256:abc' % version}]},
            'status': {'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}}


RELAY = {'kind': 'Deployment', 'metadata': {'name': 'hubble-relay'}, 'spec': {'replicas': 1}, 'status': {'readyReplicas': 1}}


def run(cm, version, clusterrole=None, relay=None, pods=None):
    checks = cc.evaluate(cm, version=version, clusterrole=load('clusterrole-cilium.yaml') if clusterrole is None else clusterrole,
                         relay=RELAY if relay is None else relay, pods=pods if pods is not None else [pod('cilium-a', version)])
    assert [c['name'] for c in checks] == list(cc.CHECK_NAMES)
    for item in checks:
        assert item['status'] in ('pass', 'fail', 'unknown')
        assert '\n' not in item['message'] and item['message']
    return {c['name']: c for c in checks}


def failed(checks):
    return sorted(n for n, c in checks.items() if c['status'] == 'fail')


@pytest.mark.parametrize('minor', MINORS)
def test_good_config_passes_everything(minor):
    checks = run(configmap(minor), '1.%d.3' % minor)
    assert failed(checks) == []
    assert [n for n, c in checks.items() if c['status'] == 'unknown'] == []
    assert checks['drop_events_reasons']['details']['effective'] == ['auth_required', 'policy_denied', 'policy_deny']
    assert checks['drop_events_interval']['details']['interval'] == '5s'
    assert checks['drop_events_extended']['details']['applicable'] is (minor >= 19)


@pytest.mark.parametrize('minor', MINORS)
def test_emitter_off(minor):
    checks = run(configmap(minor, hubble_drop_events=None), '1.%d.0' % minor)
    assert failed(checks) == ['drop_events_enabled']
    assert 'hubble.dropEventEmitter.enabled=true' in checks['drop_events_enabled']['message']


@pytest.mark.parametrize('minor', MINORS)
def test_audit_mode_on(minor):
    checks = run(configmap(minor, policy_audit_mode='true'), '1.%d.0' % minor)
    assert failed(checks) == ['policy_audit_mode']
    assert 'AUDIT' in checks['policy_audit_mode']['message']


@pytest.mark.parametrize('minor', MINORS)
def test_reasons_missing_policy_deny(minor):
    checks = run(configmap(minor, hubble_drop_events_reasons='auth_required policy_denied'), '1.%d.0' % minor)
    assert failed(checks) == ['drop_events_reasons']
    assert checks['drop_events_reasons']['details']['missing'] == ['policy_deny']
    assert 'explicit deny' in checks['drop_events_reasons']['message']


@pytest.mark.parametrize('minor', MINORS)
def test_reasons_key_absent_uses_the_agent_default(minor):
    checks = run(configmap(minor, hubble_drop_events_reasons=None), '1.%d.0' % minor)
    details = checks['drop_events_reasons']['details']
    assert checks['drop_events_reasons']['status'] == 'fail'
    assert details['effective'] == ([] if minor == 16 else ['auth_required', 'policy_denied'])


@pytest.mark.parametrize('minor', MINORS)
def test_rbac_without_events(minor):
    role = load('clusterrole-cilium.yaml')
    role['rules'] = [r for r in role['rules'] if 'events' not in r['resources']]
    checks = run(configmap(minor), '1.%d.0' % minor, clusterrole=role)
    assert failed(checks) == ['events_rbac']
    assert checks['events_rbac']['details']['missing_verbs'] == ['create', 'patch']


def test_rbac_with_only_create_or_resource_names_is_not_enough():
    role = load('clusterrole-cilium.yaml')
    role['rules'][3] = {'apiGroups': [''], 'resources': ['events'], 'verbs': ['create']}
    assert run(configmap(19), '1.19.0', clusterrole=role)['events_rbac']['details']['missing_verbs'] == ['patch']
    role['rules'][3] = {'apiGroups': [''], 'resources': ['events'], 'verbs': ['create', 'patch'], 'resourceNames': ['x']}
    assert run(configmap(19), '1.19.0', clusterrole=role)['events_rbac']['status'] == 'fail'
    role['rules'][3] = {'apiGroups': ['*'], 'resources': ['*'], 'verbs': ['*']}
    assert run(configmap(19), '1.19.0', clusterrole=role)['events_rbac']['status'] == 'pass'


def test_missing_clusterrole_fails_and_unreadable_is_unknown():
    assert run(configmap(19), '1.19.0', clusterrole=False)['events_rbac']['status'] == 'fail'
    checks = cc.evaluate(configmap(19), version='1.19.0', clusterrole_error='Forbidden (HTTP 403)', relay=RELAY, pods=[])
    assert {c['name']: c['status'] for c in checks}['events_rbac'] == 'unknown'


def test_upper_case_reasons_never_match_before_1_19_but_do_on_1_19():
    value = 'auth_required POLICY_DENIED POLICY_DENY'
    old = run(configmap(18, hubble_drop_events_reasons=value), '1.18.12')['drop_events_reasons']
    assert old['status'] == 'fail'
    assert old['details']['missing'] == ['policy_denied', 'policy_deny']
    assert 'case-sensitive' in old['message']
    assert run(configmap(19, hubble_drop_events_reasons=value), '1.19.6')['drop_events_reasons']['status'] == 'pass'


def test_comma_joined_reasons_break_1_16_only():
    value = 'auth_required,policy_denied,policy_deny'
    on_116 = run(configmap(16, hubble_drop_events_reasons=value), '1.16.19')['drop_events_reasons']
    assert on_116['status'] == 'fail'
    assert '1.16 splits reasons on whitespace only' in on_116['message']
    for minor in (17, 18, 19, 20):
        assert run(configmap(minor, hubble_drop_events_reasons=value), '1.%d.0' % minor)['drop_events_reasons']['status'] == 'pass'


def test_comma_and_space_leaves_a_token_with_a_space():
    checks = run(configmap(18, hubble_drop_events_reasons='policy_denied, policy_deny'), '1.18.0')
    assert checks['drop_events_reasons']['details']['missing'] == ['policy_deny']


def test_unknown_version_gives_unknown_where_versions_disagree():
    cm = configmap(18, hubble_drop_events_reasons='policy_denied,policy_deny')
    checks = {c['name']: c for c in cc.evaluate(cm, version=None, clusterrole=load('clusterrole-cilium.yaml'), relay=RELAY, pods=[])}
    assert checks['drop_events_reasons']['status'] == 'unknown'
    assert 'cilium_version' in checks['drop_events_reasons']['message']
    assert checks['drop_events_extended']['status'] == 'unknown'
    plain = {c['name']: c for c in cc.evaluate(configmap(18), version=None, relay=RELAY, pods=[])}
    assert plain['drop_events_reasons']['status'] == 'pass'


def test_rate_limit_default_is_a_warning_on_1_19():
    checks = run(configmap(19, hubble_drop_events_rate_limit=None), '1.19.6')
    rate = checks['drop_events_rate_limit']
    assert rate['status'] == 'pass'
    assert rate['details']['limit'] == 1
    assert 'every decoded flow' in rate['details']['warning']
    assert cc.summarise(list(checks.values()))['warnings'] == [rate['details']['warning']]
    assert run(configmap(19, hubble_drop_events_rate_limit='many'), '1.19.6')['drop_events_rate_limit']['status'] == 'fail'


def test_extended_off_is_reported():
    ext = run(configmap(20, hubble_drop_events_extended='false'), '1.20.0')['drop_events_extended']
    assert ext['status'] == 'pass' and ext['details']['enabled'] is False
    assert 'do not name policies' in ext['message']


def test_hubble_off_and_bpf_events_off():
    checks = run(configmap(19, enable_hubble='false', bpf_events_drop_enabled='false', bpf_events_policy_verdict_enabled='false'), '1.19.0')
    assert failed(checks) == ['bpf_drop_events', 'bpf_policy_verdict_events', 'drop_events_enabled', 'hubble_enabled']


def test_absent_bpf_keys_mean_the_chart_default():
    checks = run(configmap(17, bpf_events_drop_enabled=None, bpf_events_policy_verdict_enabled=None), '1.17.0')
    assert checks['bpf_drop_events']['status'] == 'pass' and checks['bpf_drop_events']['details']['default'] is True


def test_bad_interval_and_default_interval():
    assert run(configmap(19, hubble_drop_events_interval='5'), '1.19.0')['drop_events_interval']['status'] == 'fail'
    default = run(configmap(19, hubble_drop_events_interval=None), '1.19.0')['drop_events_interval']
    assert default['status'] == 'pass' and default['details']['interval'] == '2m' and default['details']['default'] is True


def test_configmap_missing_or_unreadable():
    missing = {c['name']: c['status'] for c in cc.evaluate(False, version='1.19.0', relay=RELAY, pods=[])}
    assert missing['hubble_enabled'] == 'fail' and missing['drop_events_enabled'] == 'fail'
    forbidden = {c['name']: c['status'] for c in cc.evaluate(None, configmap_error='Forbidden', relay=RELAY, pods=[])}
    assert forbidden['hubble_enabled'] == 'unknown'


def test_agents_and_relay():
    checks = run(configmap(19), '1.19.0', pods=[pod('cilium-a', '1.19.0'), pod('cilium-b', '1.19.0', ready=False)],
                 relay={'spec': {'replicas': 1}, 'status': {}})
    assert failed(checks) == ['agents_ready', 'relay_ready']
    assert checks['agents_ready']['details']['not_ready'] == ['cilium-b']
    assert run(configmap(19), '1.19.0', pods=[])['agents_ready']['status'] == 'fail'
    assert run(configmap(19), '1.19.0', relay=False)['relay_ready']['message'].startswith('Deployment kube-system/hubble-relay not found')


def test_version_detection():
    assert cc.version_from_image('quay.io/cilium/cilium:v1.19.6@sha256:0123') == '1.19.6'
    assert cc.version_from_image('quay.io/cilium/cilium:v1.20.0-rc.1') == '1.20.0-rc.1'
    assert cc.version_from_image('quay.io/cilium/cilium:latest') is None
    assert cc.detect_version({}, [pod('a', '1.18.3'), pod('b', '1.19.1')]) == ('1.18.3', 'agent image tags (mixed: 1.18.3, 1.19.1; oldest used)')
    assert cc.detect_version({'metadata': {'labels': {'helm.sh/chart': 'cilium-1.17.18'}}}, []) == ('1.17.18', 'ConfigMap label helm.sh/chart')
    assert cc.detect_version({}, [], override='v1.16.19') == ('1.16.19', 'cilium_version option')
    assert cc.detect_version({}, [])[0] is None


def test_required_checks_summary():
    checks = list(run(configmap(19, policy_audit_mode='true'), '1.19.0').values())
    summary = cc.summarise(checks, ['policy_audit_mode', 'hubble_enabled', 'no_such_check'])
    assert summary['required_failed'] == ['policy_audit_mode']
    assert summary['unknown_required'] == ['no_such_check']
    assert summary['summary'] == {'pass': 11, 'fail': 1, 'unknown': 0}


def test_offline_sources(tmp_path):
    both = tmp_path / 'bundle.yaml'
    both.write_text(yaml.safe_dump_all([configmap(18), load('clusterrole-cilium.yaml'), RELAY]), encoding='utf-8')
    inputs = cc.gather_offline(str(both), 'cilium-config')
    assert inputs['configmap']['data']['hubble-drop-events'] == 'true'
    assert inputs['clusterrole']['metadata']['name'] == 'cilium' and inputs['relay'] is RELAY or inputs['relay'] == RELAY
    as_list = tmp_path / 'list.json'
    as_list.write_text(json.dumps({'kind': 'List', 'items': [configmap(19)]}), encoding='utf-8')
    inputs = cc.gather_offline(str(as_list), 'cilium-config', os.path.join(FIXTURES, 'clusterrole-cilium.yaml'))
    assert inputs['clusterrole']['kind'] == 'ClusterRole' and inputs['pods'] is None
    empty = tmp_path / 'other.yaml'
    empty.write_text('kind: Secret\nmetadata: {name: x}\n', encoding='utf-8')
    with pytest.raises(cc.CiliumConfigError, match='holds no ConfigMap'):
        cc.gather_offline(str(empty), 'cilium-config')
    with pytest.raises(cc.CiliumConfigError, match='cannot read'):
        cc.gather_offline(str(tmp_path / 'absent.yaml'), 'cilium-config')
    broken = tmp_path / 'broken.yaml'
    broken.write_text('a: [\n', encoding='utf-8')
    with pytest.raises(cc.CiliumConfigError, match='neither JSON nor YAML'):
        cc.gather_offline(str(broken), 'cilium-config')


def test_evaluate_does_not_mutate_inputs():
    cm = configmap(19)
    before = copy.deepcopy(cm)
    run(cm, '1.19.0')
    assert cm == before
