# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI detection behind the install role's guard."""

from __future__ import annotations

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.install import cni_detect


def obj(kind, namespace, name, labels=None):
    meta = {'name': name, 'labels': labels or {}}
    if namespace:
        meta['namespace'] = namespace
    return {'kind': kind, 'metadata': meta}


def test_calico_operator_install_is_found_by_all_three_signatures():
    result = cni_detect.detect([obj('DaemonSet', 'calico-system', 'calico-node')],
                               [obj('Deployment', 'tigera-operator', 'tigera-operator')],
                               [obj('Installation', None, 'default')])
    assert result['conflicting'] == ['calico']
    assert result['cnis'][0]['objects'] == ['DaemonSet calico-system/calico-node', 'Deployment tigera-operator/tigera-operator',
                                            'Installation.operator.tigera.io default']
    assert 'Migrating a cluster to Cilium' in result['message']
    assert 'install_allow_existing_cni: true' in result['message']


@pytest.mark.parametrize('daemonset, cni', [
    (obj('DaemonSet', 'kube-system', 'calico-node'), 'calico'),
    (obj('DaemonSet', 'kube-system', 'canal', {'k8s-app': 'canal'}), 'canal'),
    (obj('DaemonSet', 'kube-flannel', 'kube-flannel-ds', {'app': 'flannel'}), 'flannel'),
    (obj('DaemonSet', 'kube-system', 'flannel-custom', {'app': 'flannel'}), 'flannel'),
    (obj('DaemonSet', 'kube-system', 'weave-net'), 'weave'),
    (obj('DaemonSet', 'kube-system', 'kindnet', {'app': 'kindnet'}), 'kindnet'),
    (obj('DaemonSet', 'kube-system', 'aws-node'), 'aws-vpc-cni'),
])
def test_each_cni(daemonset, cni):
    result = cni_detect.detect([daemonset, obj('DaemonSet', 'kube-system', 'kube-proxy')], [], [])
    assert result['conflicting'] == [cni]
    assert not result['cilium_present']


def test_kindnet_guidance_mentions_disable_default_cni():
    assert 'disableDefaultCNI: true' in cni_detect.detect([obj('DaemonSet', 'kube-system', 'kindnet')], [], [])['message']


def test_existing_cilium_is_an_upgrade_not_a_conflict():
    result = cni_detect.detect([obj('DaemonSet', 'kube-system', 'cilium', {'k8s-app': 'cilium'}),
                                obj('DaemonSet', 'kube-system', 'cilium-envoy', {'k8s-app': 'cilium-envoy'})], [], [])
    assert result['conflicting'] == [] and result['cilium_present']
    assert result['cilium_objects'] == ['DaemonSet kube-system/cilium']
    assert 'upgrade' in result['message']


def test_nothing_found():
    result = cni_detect.detect([obj('DaemonSet', 'kube-system', 'kube-proxy')], [], [])
    assert result == {'cnis': [], 'conflicting': [], 'cilium_present': False, 'cilium_objects': [], 'message': 'No other CNI found.'}


class FakeError(Exception):
    def __init__(self, status):
        super().__init__('HTTP %d' % status)
        self.status = status


class FakeAPI:
    """Answers list_pages from a dict path -> items or status code."""

    def __init__(self, answers):
        self.answers = answers
        self.paths = []

    def list_pages(self, path, params=None):
        self.paths.append((path, params))
        answer = self.answers.get(path, [])
        if isinstance(answer, int):
            raise FakeError(answer)
        items = [i for i in answer if not params or i['metadata']['name'] == params['fieldSelector'].split('=')[1]]
        yield {'items': items}


def test_gather_lists_cluster_wide_and_ignores_a_missing_tigera_crd():
    api = FakeAPI({'/apis/apps/v1/daemonsets': [obj('DaemonSet', 'calico-system', 'calico-node')],
                   '/apis/apps/v1/deployments': [obj('Deployment', 'tigera-operator', 'tigera-operator')],
                   '/apis/operator.tigera.io/v1/installations': 404})
    daemonsets, deployments, installations, notes = cni_detect.gather(api, FakeError)
    assert [d['metadata']['name'] for d in daemonsets] == ['calico-node']
    assert [d['metadata']['name'] for d in deployments] == ['tigera-operator']
    assert installations == [] and notes == []


def test_gather_falls_back_to_namespaces_when_forbidden():
    api = FakeAPI({'/apis/apps/v1/daemonsets': 403, '/apis/apps/v1/namespaces/kube-system/daemonsets': [obj('DaemonSet', 'kube-system', 'weave-net')],
                   '/apis/apps/v1/namespaces/weave/daemonsets': 403, '/apis/apps/v1/deployments': 403,
                   '/apis/operator.tigera.io/v1/installations': 403})
    daemonsets, _deployments, _installations, notes = cni_detect.gather(api, FakeError)
    assert [d['metadata']['name'] for d in daemonsets] == ['weave-net']
    assert any('cluster-wide DaemonSet listing forbidden' in n for n in notes)
    assert any('Installations' in n for n in notes)


def test_gather_raises_other_errors():
    with pytest.raises(FakeError):
        cni_detect.gather(FakeAPI({'/apis/apps/v1/daemonsets': 500}), FakeError)
