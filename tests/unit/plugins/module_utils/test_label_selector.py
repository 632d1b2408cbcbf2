# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selectors: Kubernetes matchLabels/matchExpressions and Cilium source-qualified labels."""

from __future__ import annotations

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import (
    CiliumLabels,
    LabelSelector,
    SelectorError,
    identity_labels,
    split_source,
)
from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import parse_label

POD = {'app': 'nginx', 'tier': 'web', 'env': 'prod'}


def labels_from_strings(strings):
    """CiliumLabels of Hubble label strings (CiliumLabels.from_strings was used by tests only; moved here)."""
    return CiliumLabels(parse_label(text) for text in strings)


def label_strings(labels):
    """Sorted ``source:key=value`` strings (``source:key`` when the value is empty) of a CiliumLabels."""
    return sorted(f'{name}={labels[name]}' if labels[name] else name for name in labels)


@pytest.mark.parametrize('selector, expected', [
    ({}, True),                                                          # empty selector: everything
    (None, True),
    ({'matchLabels': {'app': 'nginx'}}, True),
    ({'matchLabels': {'app': 'nginx', 'tier': 'db'}}, False),            # all matchLabels are ANDed
    ({'matchExpressions': [{'key': 'tier', 'operator': 'In', 'values': ['web', 'api']}]}, True),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'In', 'values': ['db']}]}, False),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'NotIn', 'values': ['db']}]}, True),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'NotIn', 'values': ['web']}]}, False),
    ({'matchExpressions': [{'key': 'missing', 'operator': 'NotIn', 'values': ['x']}]}, True),  # absent key passes NotIn
    ({'matchExpressions': [{'key': 'env', 'operator': 'Exists'}]}, True),
    ({'matchExpressions': [{'key': 'missing', 'operator': 'Exists'}]}, False),
    ({'matchExpressions': [{'key': 'missing', 'operator': 'DoesNotExist'}]}, True),
    ({'matchExpressions': [{'key': 'env', 'operator': 'DoesNotExist'}]}, False),
    ({'matchLabels': {'app': 'nginx'}, 'matchExpressions': [{'key': 'env', 'operator': 'In', 'values': ['dev']}]}, False),
])
def test_kubernetes_selector_semantics(selector, expected):
    assert LabelSelector.parse(selector).matches(POD) is expected


def test_yaml_scalars_become_label_strings():
    assert LabelSelector.parse({'matchLabels': {'enabled': True, 'version': 2}}).matches({'enabled': 'true', 'version': '2'})


@pytest.mark.parametrize('selector, message', [
    ({'matchExpressions': [{'key': 'a', 'operator': 'Equals', 'values': ['x']}]}, "operator 'Equals'"),
    ({'matchExpressions': [{'key': 'a', 'operator': 'In', 'values': []}]}, 'needs at least one value'),
    ({'matchExpressions': [{'key': 'a', 'operator': 'Exists', 'values': ['x']}]}, 'takes no values'),
    ({'matchExpressions': [{'operator': 'Exists'}]}, '"key" is required'),
    ({'matchLabels': ['app=nginx']}, 'matchLabels'),
    ('app=nginx', 'expected a mapping'),
])
def test_invalid_selectors_name_the_problem(selector, message):
    with pytest.raises(SelectorError, match=message) as info:
        LabelSelector.parse(selector, 'spec.podSelector')
    assert 'spec.podSelector' in str(info.value)


def test_describe_is_kubectl_like():
    selector = LabelSelector.parse({'matchLabels': {'app': 'nginx'},
                                    'matchExpressions': [{'key': 'tier', 'operator': 'In', 'values': ['web', 'api']},
                                                         {'key': 'x', 'operator': 'DoesNotExist'}]})
    assert selector.describe() == 'app=nginx,tier in (api,web),!x'
    assert LabelSelector.parse({}).describe() == '{}'


def test_split_source():
    assert split_source('k8s:app') == ('k8s', 'app')
    assert split_source('app') == ('any', 'app')
    assert split_source('reserved:host') == ('reserved', 'host')


def test_cilium_labels_source_prefixes():
    labels = CiliumLabels.for_pod({'app': 'nginx'}, 'cni-test', {'team': 'a'}, 'default', 'default')
    # k8s: prefix matches the k8s source, a bare key matches any source
    assert LabelSelector.parse({'matchLabels': {'k8s:app': 'nginx'}}).matches(labels)
    assert LabelSelector.parse({'matchLabels': {'app': 'nginx'}}).matches(labels)
    assert LabelSelector.parse({'matchLabels': {'any:app': 'nginx'}}).matches(labels)
    assert not LabelSelector.parse({'matchLabels': {'reserved:app': 'nginx'}}).matches(labels)
    # namespace and namespace-label keys Cilium adds to every pod
    assert LabelSelector.parse({'matchLabels': {'io.kubernetes.pod.namespace': 'cni-test'}}).matches(labels)
    assert LabelSelector.parse({'matchLabels': {'k8s:io.cilium.k8s.namespace.labels.team': 'a'}}).matches(labels)
    assert LabelSelector.parse({'matchLabels': {'io.cilium.k8s.policy.serviceaccount': 'default'}}).matches(labels)
    assert 'k8s:io.kubernetes.pod.namespace=cni-test' in label_strings(labels)


def test_reserved_labels_have_empty_values_and_still_exist():
    world = CiliumLabels.reserved('world')
    assert LabelSelector.parse({'matchLabels': {'reserved:world': ''}}).matches(world)
    assert LabelSelector.parse({'matchExpressions': [{'key': 'reserved:world', 'operator': 'Exists'}]}).matches(world)
    assert not LabelSelector.parse({'matchLabels': {'app': 'nginx'}}).matches(world)
    assert label_strings(world) == ['reserved:world']


def test_labels_from_hubble_strings():
    labels = labels_from_strings(['k8s:app=nginx', 'k8s:io.kubernetes.pod.namespace=cni-test', 'reserved:host'])
    assert labels['app'] == 'nginx'
    assert labels['k8s:io.kubernetes.pod.namespace'] == 'cni-test'
    assert 'reserved:host' in labels
    assert 'host' in labels            # bare key = any source
    assert 'k8s:host' not in labels
    assert len(labels) == 3 and sorted(labels) == ['k8s:app', 'k8s:io.kubernetes.pod.namespace', 'reserved:host']


def test_identity_labels_drop_what_cilium_ignores():
    labels = {'app': 'nginx', 'pod-template-hash': '7c5ddbdf54', 'controller-revision-hash': 'abc',
              'statefulset.kubernetes.io/pod-name': 'db-0'}
    assert identity_labels(labels) == {'app': 'nginx'}
    cilium = CiliumLabels.for_pod(labels, 'ns')
    assert not LabelSelector.parse({'matchLabels': {'pod-template-hash': '7c5ddbdf54'}}).matches(cilium)
