# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Cilium label-string parser (_common.labels) and the places that used their own copy."""

from __future__ import annotations

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import parse_label, split_pod_labels, split_source
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import CiliumLabels
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.relay import selector_matches
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts.expectations import labels_from_strings


@pytest.mark.parametrize('text, parsed', [
    ('k8s:app=nginx', ('k8s', 'app', 'nginx')),
    ('reserved:world', ('reserved', 'world', '')),
    ('k8s:url=http://x:80/a=b', ('k8s', 'url', 'http://x:80/a=b')),
    ('app=nginx', ('unspec', 'app', 'nginx')),
    ('app=a:b', ('unspec', 'app', 'a:b')),
    ('k8s:app.kubernetes.io/name=', ('k8s', 'app.kubernetes.io/name', '')),
])
def test_parse_label(text, parsed):
    assert parse_label(text) == parsed


def test_split_source():
    assert split_source('k8s:app') == ('k8s', 'app')
    assert split_source('app', 'dflt') == ('dflt', 'app')


def test_value_with_colon_and_no_source_keeps_its_key():
    # CiliumLabels.from_strings (now gone) split at ':' first, so 'app=a:b' became source 'app=a', key 'b'
    labels = CiliumLabels([parse_label('app=a:b')])
    assert labels['app'] == 'a:b'


def test_pod_labels_split_is_the_same_for_expectations_and_snapshots():
    strings = ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop', 'k8s:io.cilium.k8s.namespace.labels.team=a',
               'k8s:io.cilium.k8s.policy.serviceaccount=sa', 'k8s:io.cilium.k8s.policy.cluster=default',
               'reserved:host', 'k8s:tier=db:primary', 7]
    pod, ns_labels, namespace, account = split_pod_labels(strings)
    assert pod == {'app': 'web', 'tier': 'db:primary'}
    assert (ns_labels, namespace, account) == ({'team': 'a'}, 'shop', 'sa')
    assert labels_from_strings(strings) == pod


def test_relay_selector_uses_the_same_parser():
    labels = ['k8s:app=web', 'k8s:url=a=b', 'reserved:host']
    assert selector_matches('app=web', labels)
    assert selector_matches('k8s:app=web', labels) and not selector_matches('reserved:app=web', labels)
    assert selector_matches('url', labels) and not selector_matches('!url', labels)
    assert selector_matches('host', labels)
