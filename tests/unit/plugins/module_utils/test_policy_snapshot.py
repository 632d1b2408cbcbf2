# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy snapshot: loading (objects, files, directories, live API), owners, hashes, endpoint resolution."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import (
    PolicySnapshot,
    SnapshotError,
    iter_objects,
    load_file,
    resolve_endpoint,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'policies')
REFERENCE = os.path.join(FIXTURES, 'reference-experiment.yaml')


def find_policy(snapshot, kind, namespace, name):
    """A policy by kind/namespace/name; ``kind=None`` matches any kind (moved from PolicySnapshot: tests only)."""
    for policy in snapshot.policies:
        if policy.name != name or (kind and policy.kind != kind):
            continue
        if policy.clusterwide or namespace is None or policy.namespace == namespace:
            return policy
    return None


@pytest.fixture(scope='module')
def reference():
    return PolicySnapshot.from_files(REFERENCE)


def test_reference_fixture_counts(reference):
    summary = reference.to_dict()
    assert summary['counts'] == {'namespaces': 3, 'pods': 9, 'nodes': 1, 'network_policies': 2,
                                 'cilium_network_policies': 3, 'clusterwide_policies': 1}
    assert summary['source'] == 'files'
    assert summary['warnings'] == []


@pytest.mark.parametrize('namespace, name, workload', [
    ('cni-test', 'nginx-7c5ddbdf54-8xkqz', {'kind': 'Deployment', 'name': 'nginx'}),                 # via the ReplicaSet object
    ('kube-system', 'coredns-76f75df574-7wq9z', {'kind': 'Deployment', 'name': 'coredns'}),          # pod-template-hash stripped
    ('payments', 'payments-api-5f6b9c7d8-r4k2j', {'kind': 'Deployment', 'name': 'payments-api'}),
    ('kube-system', 'kube-proxy-x7k2p', {'kind': 'DaemonSet', 'name': 'kube-proxy'}),
    ('cni-test', 'netshot', {'kind': 'Pod', 'name': 'netshot'}),                                     # bare pod
])
def test_owner_workloads(reference, namespace, name, workload):
    assert reference.pod(namespace, name).workload == workload


def test_replicaset_owner_resolution_prefers_the_replicaset_object():
    objs = [
        {'kind': 'ReplicaSet', 'metadata': {'namespace': 'a', 'name': 'web-abc', 'ownerReferences': [
            {'kind': 'Deployment', 'name': 'web-frontend', 'controller': True}]}},
        {'kind': 'ReplicaSet', 'metadata': {'namespace': 'a', 'name': 'orphan-def'}},
        {'kind': 'Pod', 'metadata': {'namespace': 'a', 'name': 'web-abc-1', 'labels': {'pod-template-hash': 'abc'},
                                     'ownerReferences': [{'kind': 'ReplicaSet', 'name': 'web-abc', 'controller': True}]}},
        {'kind': 'Pod', 'metadata': {'namespace': 'a', 'name': 'orphan-def-1', 'labels': {'pod-template-hash': 'def'},
                                     'ownerReferences': [{'kind': 'ReplicaSet', 'name': 'orphan-def'}]}},
        {'kind': 'Pod', 'metadata': {'namespace': 'a', 'name': 'db-0', 'ownerReferences': [{'kind': 'StatefulSet', 'name': 'db'}]}},
    ]
    snap = PolicySnapshot.from_objects(objs)
    assert snap.pod('a', 'web-abc-1').workload == {'kind': 'Deployment', 'name': 'web-frontend'}   # not "web" by suffix
    assert snap.pod('a', 'orphan-def-1').workload == {'kind': 'ReplicaSet', 'name': 'orphan-def'}
    assert snap.pod('a', 'db-0').workload == {'kind': 'StatefulSet', 'name': 'db'}


def test_pod_details(reference):
    coredns = reference.pod('kube-system', 'coredns-76f75df574-7wq9z')
    assert coredns.named_ports == {'dns': (53, 'UDP'), 'dns-tcp': (53, 'TCP'), 'metrics': (9153, 'TCP')}
    assert coredns.ips == ('10.0.0.31',) and coredns.node == 'kind-control-plane' and coredns.service_account == 'coredns'
    assert reference.pod('kube-system', 'kube-proxy-x7k2p').host_network
    assert reference.pod_by_ip('10.0.0.226').name == 'nginx-7c5ddbdf54-8xkqz'
    assert reference.pod_by_ip('172.18.0.2') is None          # host-network pods own no pod IP
    assert reference.node_by_ip('172.18.0.2').name == 'kind-control-plane'


def test_dual_stack_ips_and_ip_reuse():
    objs = [
        {'kind': 'Pod', 'metadata': {'namespace': 'a', 'name': 'old'}, 'status': {'phase': 'Succeeded', 'podIP': '10.0.0.5'}},
        {'kind': 'Pod', 'metadata': {'namespace': 'a', 'name': 'new'},
         'status': {'phase': 'Running', 'podIP': '10.0.0.5', 'podIPs': [{'ip': '10.0.0.5'}, {'ip': 'fd00:0::5'}]}},
    ]
    snap = PolicySnapshot.from_objects(objs)
    assert snap.pod_by_ip('10.0.0.5').name == 'new'
    assert snap.pod_by_ip('fd00::5').name == 'new'            # IPv6 compared in canonical form


def test_content_hash_is_sha256_of_canonical_spec(reference):
    policy = find_policy(reference, 'NetworkPolicy', 'cni-test', 'deny-egress')
    canonical = json.dumps(policy.spec, sort_keys=True, separators=(',', ':'))
    assert policy.content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert (policy.uid, policy.resource_version) == ('7b1e54f0-6a0c-4f8e-9d53-1f1ad0a0e001', '40112')


def test_hash_ignores_key_order_but_not_content():
    def snap(spec):
        return PolicySnapshot.from_objects([{'kind': 'NetworkPolicy', 'metadata': {'namespace': 'a', 'name': 'p'}, 'spec': spec}])
    one = snap({'podSelector': {'matchLabels': {'a': '1'}}, 'policyTypes': ['Ingress']})
    two = snap({'policyTypes': ['Ingress'], 'podSelector': {'matchLabels': {'a': '1'}}})
    three = snap({'policyTypes': ['Ingress'], 'podSelector': {'matchLabels': {'a': '2'}}})
    assert one.policies[0].content_hash == two.policies[0].content_hash != three.policies[0].content_hash
    assert one.fingerprint == two.fingerprint != three.fingerprint


def test_cnp_specs_are_part_of_the_hash_and_rule_sets():
    spec = {'endpointSelector': {}, 'ingress': [{}]}
    specs = [{'endpointSelector': {'matchLabels': {'a': 'b'}}, 'egress': [{}]}]
    snap = PolicySnapshot.from_objects([{'kind': 'CiliumNetworkPolicy', 'metadata': {'namespace': 'a', 'name': 'p'},
                                         'spec': spec, 'specs': specs}])
    record = snap.policies[0]
    canonical = json.dumps({'spec': spec, 'specs': specs}, sort_keys=True, separators=(',', ':'))
    assert record.content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert [rule_set[0] for rule_set in record.rule_sets()] == ['', 'specs[0].']


def test_to_dict_is_compact(reference):
    summary = reference.to_dict()
    assert set(summary) == {'source', 'taken_at', 'cluster_name', 'fingerprint', 'counts', 'policies', 'ignored_objects', 'warnings'}
    ccnp = [p for p in summary['policies'] if p['kind'] == 'CiliumClusterwideNetworkPolicy']
    assert ccnp == [{'kind': 'CiliumClusterwideNetworkPolicy', 'namespace': None, 'name': 'global-deny-icmp',
                     'uid': '5f183d6a-8d27-5de4-8a56-2992b8c72996', 'resource_version': '40117',
                     'hash': find_policy(reference, None, None, 'global-deny-icmp').content_hash}]
    assert 'spec' not in json.dumps(summary)


def test_api_list_items_without_kind_and_directories(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'netpols.json').write_text(json.dumps({
        'kind': 'NetworkPolicyList', 'apiVersion': 'networking.k8s.io/v1',
        'items': [{'metadata': {'namespace': 'a', 'name': 'p1'}, 'spec': {'podSelector': {}}}]}))
    (tmp_path / 'sub' / 'pods.yaml').write_text(
        'kind: PodList\nitems:\n- metadata: {namespace: a, name: x}\n  status: {podIP: 10.0.0.9}\n---\n'
        'kind: Namespace\nmetadata: {name: a}\n')
    (tmp_path / 'notes.txt').write_text('ignored: not a manifest')
    snap = PolicySnapshot.from_files([tmp_path])
    assert [p.ref for p in snap.network_policies] == ['a/p1']
    assert snap.pod('a', 'x').ips == ('10.0.0.9',)
    assert 'a' in snap.namespaces
    assert list(iter_objects([{'kind': 'List', 'items': [{'kind': 'Pod', 'metadata': {'name': 'p'}}]}]))[0]['kind'] == 'Pod'


def test_other_kinds_are_counted_not_kept():
    snap = PolicySnapshot.from_objects([{'kind': 'Service', 'metadata': {'name': 's'}}, {'kind': 'ConfigMap', 'metadata': {'name': 'c'}}])
    assert snap.to_dict()['ignored_objects'] == {'ConfigMap': 1, 'Service': 1}


@pytest.mark.parametrize('content, name, message', [
    ('kind: [unclosed', 'bad.yaml', 'is not valid YAML'),
    ('{"kind": ', 'bad.json', 'is not valid JSON'),
])
def test_unreadable_files_raise_snapshot_error(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SnapshotError, match=message) as info:
        load_file(str(path))
    assert name in str(info.value)


def test_missing_source_raises():
    with pytest.raises(SnapshotError, match='does not exist'):
        PolicySnapshot.from_files('/nonexistent/policies')


def test_cnp_without_spec_is_a_warning():
    snap = PolicySnapshot.from_objects([{'kind': 'CiliumNetworkPolicy', 'metadata': {'namespace': 'a', 'name': 'empty'}}])
    assert snap.policies == ()
    assert 'neither spec nor specs' in snap.warnings[0]


class FakeError(Exception):
    def __init__(self, status):
        super().__init__(f'HTTP {status}')
        self.status = status


class FakeAPI:
    """Anything with list_pages(path, params) works; pages are raw *List dicts."""

    def __init__(self, objects_by_path, failures=None):
        self.objects = objects_by_path
        self.failures = failures or {}
        self.calls = []

    def list_pages(self, path, params=None):
        self.calls.append((path, dict(params or {})))
        if path in self.failures:
            raise FakeError(self.failures[path])
        items = self.objects.get(path, [])
        # two pages, items without kind like the real API
        yield {'kind': 'List', 'items': items[:1]}
        yield {'kind': 'List', 'items': items[1:]}


def test_live_snapshot_through_list_pages():
    api = FakeAPI({
        '/api/v1/namespaces': [{'metadata': {'name': 'a', 'labels': {'team': 'x'}}}],
        '/api/v1/pods': [{'metadata': {'namespace': 'a', 'name': 'p1', 'labels': {'app': 'x'}}, 'status': {'podIP': '10.0.0.1'}},
                         {'metadata': {'namespace': 'a', 'name': 'p2'}, 'status': {'podIP': '10.0.0.2'}}],
        '/apis/networking.k8s.io/v1/networkpolicies': [{'metadata': {'namespace': 'a', 'name': 'np', 'uid': 'u1',
                                                                     'resourceVersion': '7'}, 'spec': {'podSelector': {}}}],
    }, failures={'/apis/cilium.io/v2/ciliumnetworkpolicies': 404, '/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies': 404,
                 '/api/v1/nodes': 403})
    snap = PolicySnapshot.from_api(api, page_size=50)
    assert snap.source == 'live' and snap.taken_at.endswith('Z')
    assert sorted(p.name for p in snap.pods.values()) == ['p1', 'p2']
    assert snap.network_policies[0].to_dict()['resource_version'] == '7'
    assert snap.namespaces['a'].labels == {'team': 'x'}
    assert any('CiliumNetworkPolicy' in w and 'not installed' in w for w in snap.warnings)
    assert any('Node' in w and 'forbidden' in w for w in snap.warnings)
    assert all(params == {'limit': 50} for _path, params in api.calls)


def test_live_snapshot_scoped_to_namespaces():
    api = FakeAPI({})
    PolicySnapshot.from_api(api, namespaces=['b', 'a'])
    paths = [call[0] for call in api.calls]
    assert '/api/v1/namespaces/a/pods' in paths and '/api/v1/namespaces/b/pods' in paths
    assert '/apis/cilium.io/v2/namespaces/a/ciliumnetworkpolicies' in paths
    assert '/api/v1/namespaces' in paths and '/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies' in paths
    assert '/api/v1/pods' not in paths


def test_live_snapshot_fails_on_required_resources():
    api = FakeAPI({}, failures={'/api/v1/pods': 403})
    with pytest.raises(SnapshotError, match='cannot list Pod objects at /api/v1/pods'):
        PolicySnapshot.from_api(api)


# -- endpoint resolution ------------------------------------------------------------------------------
@pytest.mark.parametrize('spec, kind, display', [
    ('cni-test/netshot', 'pod', 'cni-test/netshot'),
    ('cni-test/nginx', 'pod', 'cni-test/nginx-7c5ddbdf54-8xkqz'),                  # workload name -> first pod
    ('10.0.0.226', 'pod', 'cni-test/nginx-7c5ddbdf54-8xkqz'),
    ('8.8.8.8', 'entity', 'world (8.8.8.8)'),
    ('172.18.0.2', 'entity', 'remote-node (172.18.0.2)'),
    ('kube-apiserver', 'entity', 'kube-apiserver'),
    ({'namespace': 'cni-test', 'pod': 'netshot'}, 'pod', 'cni-test/netshot'),
    ({'namespace': 'cni-test', 'pods': ['curl-client'], 'workload': 'curl-client', 'kind': 'Pod'}, 'pod', 'cni-test/curl-client'),
    ({'namespace': 'cni-test', 'pods': [], 'workload': 'nginx', 'kind': 'Deployment'}, 'pod', 'cni-test/nginx-7c5ddbdf54-8xkqz'),
    ({'namespace': 'cni-test', 'workload': {'kind': 'Deployment', 'name': 'nginx'}}, 'pod', 'cni-test/nginx-7c5ddbdf54-8xkqz'),
    ({'reserved': 'world', 'ip': '1.1.1.1'}, 'entity', 'world (1.1.1.1)'),
    ({'reserved': 'host', 'ip': '172.18.0.2'}, 'entity', 'host (172.18.0.2)'),
    ({'reserved': 'world', 'ip': '10.0.0.12'}, 'entity', 'world (10.0.0.12)'),     # Cilium's identity beats an IP now reused
    ({'reserved': 'unknown', 'ip': '10.0.0.12'}, 'pod', 'cni-test/netshot'),
    ({'ip': '10.0.0.12', 'reserved': None}, 'pod', 'cni-test/netshot'),
    ({'namespace': 'kube-system', 'pod': 'kube-proxy-x7k2p'}, 'entity', 'kube-system/kube-proxy-x7k2p (host network)'),
])
def test_resolve_endpoint(reference, spec, kind, display):
    endpoint = resolve_endpoint(reference, spec)
    assert (endpoint.kind, endpoint.display()) == (kind, display)


def test_node_ip_is_host_from_its_own_node(reference):
    assert resolve_endpoint(reference, '172.18.0.2', local_node='kind-control-plane').entity == 'host'


def test_pod_missing_from_snapshot_uses_drop_labels(reference):
    spec = {'namespace': 'cni-test', 'pod': 'netshot-old', 'ip': '10.0.0.99',
            'labels': ['k8s:run=netshot', 'k8s:io.kubernetes.pod.namespace=cni-test',
                       'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=cni-test',
                       'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.cilium.k8s.policy.serviceaccount=default']}
    endpoint = resolve_endpoint(reference, spec)
    assert endpoint.kind == 'pod' and endpoint.synthetic
    assert endpoint.labels == {'run': 'netshot'}
    assert endpoint.namespace_labels == {'kubernetes.io/metadata.name': 'cni-test'}
    assert endpoint.named_ports is None
    assert 'cni-test/netshot-old not in the snapshot' in endpoint.note


def test_unresolvable_endpoints(reference):
    assert resolve_endpoint(reference, {'namespace': 'cni-test', 'pod': 'dns-probe'}) is None
    assert resolve_endpoint(reference, 'cni-test/nothing') is None
    assert resolve_endpoint(reference, {}) is None
    assert resolve_endpoint(reference, None) is None
