# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attribution of drops and violations on the reference experiment.

The Drop/Violation dicts below have the shape of ``Drop.to_dict()`` / ``Violation.to_dict()``
and mirror tests/fixtures/cilium (flows.jsonl, events.json, events_v119.json).
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.attribute import (
    EndpointError,
    attribute,
    attribute_many,
    evaluate,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot, iter_objects, load_file

REFERENCE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'policies', 'reference-experiment.yaml')
NGINX_POD = 'nginx-7c5ddbdf54-8xkqz'


@pytest.fixture(scope='module')
def full():
    """Everything in the fixture: NetworkPolicies, CNPs (incl. deny rules) and the CCNP."""
    return PolicySnapshot.from_files(REFERENCE)


@pytest.fixture(scope='module')
def experiment():
    """Only the reference experiment's own policy: NetworkPolicy cni-test/deny-egress (+ nginx-ingress)."""
    objects = [o for o in iter_objects(load_file(REFERENCE)) if o['kind'] not in ('CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy')]
    return PolicySnapshot.from_objects(objects)


def endpoint(namespace=None, pod=None, ip=None, labels=(), reserved=None, workload=None, identity=None):
    return {'namespace': namespace, 'pod': pod, 'workload': workload, 'labels': list(labels), 'identity': identity,
            'reserved': reserved, 'ip': ip}


NETSHOT = endpoint('cni-test', 'netshot', '10.0.0.12', ['k8s:run=netshot', 'k8s:io.kubernetes.pod.namespace=cni-test'], identity=59296)
NGINX = endpoint('cni-test', NGINX_POD, '10.0.0.226', ['k8s:app=nginx', 'k8s:io.kubernetes.pod.namespace=cni-test'],
                 workload={'kind': 'Deployment', 'name': 'nginx'}, identity=2290)
CURL = endpoint('cni-test', 'curl-client', '10.0.0.87', ['k8s:app=curl-client'], identity=31877)
PINGER = endpoint('cni-test', 'pinger', '10.0.0.44')
WORLD_1111 = endpoint(ip='1.1.1.1', labels=['reserved:world'], reserved='world', identity=2)


def drop(direction, reason, source, destination, protocol, port, policies=(), evidence='flow'):
    return {
        'time': '2025-05-31T05:24:48.077000001Z', 'node': 'kind-control-plane', 'direction': direction, 'verdict': 'DROPPED',
        'reason': reason, 'reason_code': {'POLICY_DENIED': 133, 'POLICY_DENY': 181}.get(reason), 'event_type': 'drop',
        'protocol': protocol, 'port': port, 'tcp_flags': ['SYN'] if protocol == 'TCP' else [],
        'source': source, 'destination': destination, 'policies': list(policies),
        'evidence': {'kind': evidence, 'event': None, 'flow_uuid': None, 'file': None, 'line': None},
        'count': 1, 'unparsed': None,
    }


def named(relation, kind, name, namespace='cni-test'):
    clusterwide = kind == 'CiliumClusterwideNetworkPolicy'
    return {'relation': relation, 'kind': kind, 'namespace': None if clusterwide else namespace, 'name': name,
            'clusterwide': clusterwide, 'revision': 7}


REFERENCE_DROP = drop('egress', 'POLICY_DENIED', NETSHOT, NGINX, 'TCP', 80)


# -- the reference experiment ---------------------------------------------------------------------------
def test_reference_drop_is_attributed_to_deny_egress(experiment):
    result = attribute(REFERENCE_DROP, experiment)
    assert result['verdict'] == 'deny'
    assert result['source'] == 'evaluated'
    assert result['responsible'] == [{'kind': 'NetworkPolicy', 'namespace': 'cni-test', 'name': 'deny-egress',
                                      'uid': '7b1e54f0-6a0c-4f8e-9d53-1f1ad0a0e001', 'rule': 'egress', 'effect': 'default-deny'}]
    assert result['explanation'] == ('`cni-test/deny-egress` selects `cni-test/netshot` for Egress and none of its rules '
                                     'allows TCP/80 to `cni-test/nginx-7c5ddbdf54-8xkqz`')
    assert result['disagreement'] is None
    assert result['allowing'] == []


def test_reference_control_and_dns_are_allowed(experiment):
    control = evaluate(experiment, 'cni-test/netshot-control', f'cni-test/{NGINX_POD}', 80, 'TCP')
    assert control.verdict == 'allow' and control.allowed is True
    assert control.egress.effect == 'default-allow'
    assert [h.policy.name for h in control.ingress.allowing] == ['nginx-ingress']
    dns = evaluate(experiment, 'cni-test/netshot', 'kube-system/coredns-76f75df574-7wq9z', 53, 'UDP')
    assert dns.verdict == 'allow'
    assert [(h.policy.name, h.rule) for h in dns.egress.allowing] == [('deny-egress', 'egress[0]')]
    assert evaluate(experiment, 'cni-test/netshot', 'kube-system/coredns', 53, 'TCP').verdict == 'allow'
    assert evaluate(experiment, 'cni-test/netshot', 'kube-system/coredns', 9153, 'TCP').verdict == 'deny'


def test_decision_to_dict_is_serialisable(experiment):
    decision = evaluate(experiment, 'cni-test/netshot', f'cni-test/{NGINX_POD}', 80, 'TCP').to_dict()
    assert decision['verdict'] == 'deny' and decision['allowed'] is False
    assert decision['egress']['responsible'][0]['name'] == 'deny-egress'
    assert decision['ingress']['verdict'] == 'allow'
    assert decision['explanation'].startswith('`cni-test/deny-egress` selects `cni-test/netshot`')


def test_evaluate_rejects_unknown_endpoints(experiment):
    with pytest.raises(EndpointError, match="source 'cni-test/ghost'"):
        evaluate(experiment, 'cni-test/ghost', '8.8.8.8', 443, 'TCP')


# -- source: hubble / event / evaluated / none ------------------------------------------------------------
def test_source_hubble_explicit_deny(full):
    item = drop('egress', 'POLICY_DENY', NETSHOT, WORLD_1111, 'ICMPv4', None,
                [named('denied_by', 'CiliumNetworkPolicy', 'deny-egress-icmp')])
    result = attribute(item, full)
    assert result['source'] == 'hubble'
    assert result['verdict'] == 'deny'
    assert result['responsible'] == [{'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'deny-egress-icmp',
                                      'uid': '5f183d6a-8d27-5de4-8a56-2992b8c72995', 'rule': 'egressDeny[0]', 'effect': 'explicit-deny'}]
    assert result['explanation'] == ('Hubble reports that CiliumNetworkPolicy `cni-test/deny-egress-icmp` denied ICMPv4 from '
                                     '`cni-test/netshot` to `world (1.1.1.1)` on Egress')
    assert result['disagreement'] is None


def test_source_event_extended_denied_by(full):
    item = drop('egress', 'POLICY_DENY', PINGER, WORLD_1111, 'ICMPv4', None,
                [named('denied_by', 'CiliumNetworkPolicy', 'deny-egress-icmp'),
                 named('denied_by', 'CiliumClusterwideNetworkPolicy', 'global-deny-icmp')], evidence='event')
    result = attribute(item, full)
    assert result['source'] == 'event'
    assert [(r['kind'], r['name'], r['rule'], r['effect']) for r in result['responsible']] == [
        ('CiliumNetworkPolicy', 'deny-egress-icmp', 'egressDeny[0]', 'explicit-deny'),
        ('CiliumClusterwideNetworkPolicy', 'global-deny-icmp', 'egressDeny[0]', 'explicit-deny')]
    assert result['explanation'].startswith('The PacketDrop event reports that CiliumNetworkPolicy `cni-test/deny-egress-icmp` and '
                                            'CiliumClusterwideNetworkPolicy `global-deny-icmp` denied ICMPv4')
    assert result['disagreement'] is None


def test_source_event_applied_policies_checked_against_snapshot(full):
    # events_v119.json: curl-client egress drop "Applied policies: CiliumNetworkPolicy/curl-client-egress,NetworkPolicy/default-deny-egress"
    item = drop('egress', 'POLICY_DENIED', CURL, NGINX, 'TCP', 80,
                [named('applied', 'CiliumNetworkPolicy', 'curl-client-egress'), named('applied', 'NetworkPolicy', 'default-deny-egress')],
                evidence='event')
    result = attribute(item, full)
    assert result['source'] == 'event'
    assert result['evaluated_verdict'] == 'allow'
    assert result['responsible'] == []
    assert [a['name'] for a in result['allowing']] == ['curl-client-egress']
    assert 'rule egress[0] of CiliumNetworkPolicy `cni-test/curl-client-egress` allows TCP/80' in result['disagreement']
    assert '`cni-test/default-deny-egress`, which is not in the policy snapshot' in result['disagreement']


def test_source_event_applied_without_snapshot():
    item = drop('egress', 'POLICY_DENIED', CURL, NGINX, 'TCP', 80,
                [named('applied', 'CiliumNetworkPolicy', 'curl-client-egress')], evidence='event')
    result = attribute(item, None)
    assert (result['source'], result['verdict']) == ('event', 'deny')
    assert result['responsible'][0]['name'] == 'curl-client-egress' and result['responsible'][0]['rule'] is None
    assert 'does not say' not in result['explanation'] and 'not which one denied' in result['explanation']


def test_source_evaluated_for_ingress_violation(full):
    violation = {
        'key': 'ingress|cni-test/curl-client|cni-test/nginx|TCP|80|POLICY_DENIED', 'direction': 'ingress',
        'source': {'namespace': 'cni-test', 'workload': 'curl-client', 'kind': 'Pod', 'pods': ['curl-client'], 'reserved': None, 'ip': '10.0.0.87'},
        'destination': {'namespace': 'cni-test', 'workload': 'nginx', 'kind': 'Deployment', 'pods': [NGINX_POD], 'reserved': None,
                        'ip': '10.0.0.226'},
        'protocol': 'TCP', 'port': 80, 'reason': 'POLICY_DENIED', 'count': 3, 'first_seen': None, 'last_seen': None,
        'nodes': ['kind-control-plane'], 'samples': [], 'policies': [], 'evidence_kinds': ['flow', 'event'],
    }
    result = attribute(violation, full)
    assert (result['source'], result['verdict']) == ('evaluated', 'deny')
    assert [(r['name'], r['rule']) for r in result['responsible']] == [('nginx-ingress', 'ingress')]
    assert result['explanation'] == ('`cni-test/nginx-ingress` selects `cni-test/nginx-7c5ddbdf54-8xkqz` for Ingress and none of '
                                     'its rules allows TCP/80 from `cni-test/curl-client`')
    no_pods = copy.deepcopy(violation)
    no_pods['destination']['pods'] = []
    assert attribute(no_pods, full)['responsible'] == result['responsible']     # found through the workload


def test_source_none_for_non_policy_reason(full):
    item = drop('ingress', 'AUTH_REQUIRED', CURL, endpoint('payments', 'payments-api-5f6b9c7d8-r4k2j', '10.0.0.140'), 'TCP', 8080,
                evidence='event')
    result = attribute(item, full)
    assert result['source'] == 'none' and result['responsible'] == []
    assert result['explanation'].startswith('The drop reason AUTH_REQUIRED is not a network-policy verdict')


def test_source_none_without_snapshot():
    result = attribute(REFERENCE_DROP, None)
    assert (result['verdict'], result['source'], result['responsible']) == ('unknown', 'none', [])
    assert 'No policy snapshot' in result['explanation']


def test_source_none_when_nothing_selects_and_disagreement(full):
    control = endpoint('cni-test', 'netshot-control', '10.0.0.13')
    result = attribute(drop('egress', 'POLICY_DENIED', control, endpoint(ip='8.8.8.8', reserved='world'), 'TCP', 443), full)
    assert (result['verdict'], result['source'], result['responsible']) == ('allow', 'none', [])
    assert result['disagreement'].startswith('Cilium dropped this traffic (POLICY_DENIED) but in the policy snapshot no policy isolates '
                                             '`cni-test/netshot-control` for Egress')


def test_unresolvable_endpoint_gives_unknown(full):
    # events.json: dns-probe is gone and the event carries no labels
    item = drop('egress', 'POLICY_DENIED', endpoint('cni-test', 'dns-probe'), endpoint('kube-system', 'coredns-76f75df574-7wq9z', '10.0.0.31'),
                'UDP', 53, evidence='event')
    result = attribute(item, full)
    assert (result['verdict'], result['source']) == ('unknown', 'none')
    assert 'the source `cni-test/dns-probe` is not in the policy snapshot' in result['notes']


# -- disagreements ------------------------------------------------------------------------------------------
def test_disagreement_hubble_names_another_policy(full):
    item = drop('egress', 'POLICY_DENY', NETSHOT, WORLD_1111, 'ICMPv4', None, [named('denied_by', 'CiliumNetworkPolicy', 'old-icmp-deny')])
    result = attribute(item, full)
    assert result['source'] == 'hubble' and result['verdict'] == 'deny'
    assert result['responsible'] == [{'kind': 'CiliumNetworkPolicy', 'namespace': 'cni-test', 'name': 'old-icmp-deny', 'uid': None,
                                      'rule': None, 'effect': 'explicit-deny'}]
    assert result['disagreement'] == ('Hubble names CiliumNetworkPolicy `cni-test/old-icmp-deny` (not in the policy snapshot) but the '
                                      'snapshot evaluation blames CiliumNetworkPolicy `cni-test/deny-egress-icmp`')


def test_disagreement_hubble_denied_but_snapshot_allows(full):
    control = endpoint('cni-test', 'netshot-control', '10.0.0.13')
    item = drop('egress', 'POLICY_DENY', control, WORLD_1111, 'ICMPv4', None, [named('denied_by', 'CiliumNetworkPolicy', 'deny-egress-icmp')])
    result = attribute(item, full)     # deny-egress-icmp selects run in (netshot, pinger), not the control pod
    assert (result['verdict'], result['source'], result['evaluated_verdict']) == ('deny', 'hubble', 'allow')
    assert result['responsible'][0]['rule'] is None
    assert result['disagreement'].startswith('Hubble names CiliumNetworkPolicy `cni-test/deny-egress-icmp` but in the policy snapshot '
                                             'no policy isolates `cni-test/netshot-control` for Egress')


def test_disagreement_named_policy_absent_and_reason_mismatch(experiment):
    item = drop('egress', 'POLICY_DENY', NETSHOT, WORLD_1111, 'ICMPv4', None, [named('denied_by', 'CiliumNetworkPolicy', 'deny-egress-icmp')])
    result = attribute(item, experiment)     # this snapshot has no CiliumNetworkPolicies at all
    assert result['verdict'] == 'deny' and result['evaluated_verdict'] == 'deny'
    assert result['disagreement'] == (
        'Hubble names CiliumNetworkPolicy `cni-test/deny-egress-icmp` (not in the policy snapshot) but the snapshot evaluation blames '
        '`cni-test/deny-egress`; Cilium reports an explicit deny (POLICY_DENY) but no deny rule of the snapshot matches; the snapshot '
        'attributes the drop to default deny')


def test_disagreement_reason_explicit_but_snapshot_default(experiment):
    result = attribute(drop('egress', 'POLICY_DENY', NETSHOT, NGINX, 'TCP', 80), experiment)
    assert result['source'] == 'evaluated'
    assert result['disagreement'].startswith('Cilium reports an explicit deny (POLICY_DENY) but no deny rule of the snapshot matches')


def test_disagreement_drop_on_other_direction(experiment):
    item = drop('ingress', 'POLICY_DENIED', NETSHOT, NGINX, 'TCP', 80)       # nginx-ingress allows netshot
    result = attribute(item, experiment)
    assert result['verdict'] == 'allow'
    assert 'observed on another direction' in result['disagreement']


# -- other inputs -----------------------------------------------------------------------------------------
def test_unknown_direction_evaluates_both(full):
    result = attribute(drop('unknown', 'POLICY_DENIED', CURL, NGINX, 'TCP', 80), full)
    assert result['direction'] == 'unknown'
    assert [(r['name'], r['effect']) for r in result['responsible']] == [('nginx-ingress', 'default-deny')]
    assert [a['name'] for a in result['allowing']] == ['curl-client-egress']


def test_ingress_from_world(full):
    item = drop('ingress', 'POLICY_DENIED', endpoint(ip='172.18.0.1', reserved='world'),
                endpoint('cni-test', 'nginx-7c5ddbdf54-tq2mv', '10.0.0.227'), 'TCP', 80, evidence='event')
    result = attribute(item, full)
    assert result['explanation'] == ('`cni-test/nginx-ingress` selects `cni-test/nginx-7c5ddbdf54-tq2mv` for Ingress and none of its '
                                     'rules allows TCP/80 from `world (172.18.0.1)`')


def test_pod_gone_from_snapshot_is_evaluated_with_drop_labels(full):
    ghost = endpoint('cni-test', 'netshot-2', '10.0.0.77', ['k8s:run=netshot', 'k8s:io.kubernetes.pod.namespace=cni-test'])
    result = attribute(drop('egress', 'POLICY_DENIED', ghost, NGINX, 'TCP', 80), full)
    assert result['verdict'] == 'deny'
    assert {r['name'] for r in result['responsible']} == {'deny-egress', 'netshot-egress'}
    assert any('not in the snapshot: evaluated with the labels from the drop' in n for n in result['notes'])


def test_attribute_many_matches_attribute(full):
    items = [REFERENCE_DROP, drop('ingress', 'POLICY_DENIED', CURL, NGINX, 'TCP', 80)] * 50
    results = attribute_many(items, full)
    assert len(results) == 100
    assert results[0] == attribute(REFERENCE_DROP, full) and results[1]['responsible'][0]['name'] == 'nginx-ingress'


def test_would_this_be_allowed_for_a_pod_that_does_not_exist_yet(full):
    future = {'namespace': 'cni-test', 'labels': {'run': 'netshot'}}
    decision = evaluate(full, future, f'cni-test/{NGINX_POD}', 80, 'TCP')
    assert decision.verdict == 'deny'
    assert decision.egress.subject.synthetic


SHARED_FLOWS = '/work/shared/fixtures/cilium/flows.jsonl'


@pytest.mark.shared_reference
def test_policy_fixture_matches_the_shared_flow_fixture(full):
    """Every pod of the shared Hubble flows resolves, by IP, to the same pod in our policy fixture."""
    if not os.path.exists(SHARED_FLOWS):
        pytest.skip(f'{SHARED_FLOWS} is absent (the shared reference is not mounted)')
    checked = 0
    with open(SHARED_FLOWS, encoding='utf-8') as handle:
        for line in handle:
            flow = json.loads(line).get('flow')
            if not flow:
                continue
            for side, ip_key in (('source', 'source'), ('destination', 'destination')):
                endpoint_data = flow.get(side) or {}
                if endpoint_data.get('pod_name'):
                    pod = full.pod_by_ip(flow['IP'][ip_key])
                    assert (pod.namespace, pod.name) == (endpoint_data['namespace'], endpoint_data['pod_name'])
                    checked += 1
    assert checked >= 20
