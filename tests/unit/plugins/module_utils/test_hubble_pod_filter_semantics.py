# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11 B: pod filters mean what they mean to Hubble.

Upstream (Cilium 1.19.6 ``pkg/hubble/k8s/utils.go`` ``ParseNamespaceName``, used by ``pkg/hubble/filters/k8s.go``)
reads ``prefix`` without a slash as ``default/prefix``; ``/prefix`` is the form that matches any namespace.
Our client used to read ``prefix`` as "any namespace" when it filtered locally (``transport: file``), so the same
option selected different flows depending on the transport.
"""

from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hr
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline

NOW = datetime.datetime(2026, 12, 3, 15, 0, 0, tzinfo=datetime.timezone.utc)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
REAL = os.path.join(ROOT, 'tests', 'fixtures', 'real', '1.19.6', 'hubble-observe-last200.jsonl')

# (filter, namespace, pod prefix) exactly as upstream ParseNamespaceName splits them (its unit test table).
UPSTREAM = [
    ('default/pod-1', 'default', 'pod-1'),
    ('kube-system/cilium-', 'kube-system', 'cilium-'),
    ('cni-test/', 'cni-test', ''),
    ('/nginx-', '', 'nginx-'),
    ('nginx-', 'default', 'nginx-'),
]


@pytest.mark.parametrize('text, namespace, prefix', UPSTREAM)
def test_parse_pod_filter_is_upstream_parse_namespace_name(text, namespace, prefix):
    assert hr.parse_pod_filter(text) == (namespace, prefix)


def test_a_name_without_namespace_is_the_default_namespace_not_any():
    query = hr.FlowQuery(from_pods=['netshot'], to_pods=['/nginx-'], now=NOW)
    assert (query.from_pods, query.to_pods) == (['default/netshot'], ['/nginx-'])
    assert hr.build_flow_filters(query) == [{'verdict': ['DROPPED'], 'source_pod': ['default/netshot'], 'destination_pod': ['/nginx-']}]
    netshot = {'namespace': 'cni-test', 'pod_name': 'netshot'}
    assert not hr.pod_matches(['netshot'], netshot)
    assert hr.pod_matches(['netshot'], {'namespace': 'default', 'pod_name': 'netshot-2'})
    assert hr.pod_matches(['/netshot'], netshot) and hr.pod_matches(['cni-test/'], netshot)


def test_namespaces_restrict_a_bare_name_to_default_only():
    # bare name = default namespace: outside namespaces=[cni-test] nothing can match on the source side
    filters = hr.build_flow_filters(hr.FlowQuery(namespaces=['cni-test'], from_pods=['netshot'], now=NOW))
    assert filters == [{'verdict': ['DROPPED'], 'source_pod': ['default/netshot'], 'destination_pod': ['cni-test/']}]
    filters = hr.build_flow_filters(hr.FlowQuery(namespaces=['cni-test'], from_pods=['/netshot'], now=NOW))
    assert filters[0]['source_pod'] == ['cni-test/netshot']


def test_more_than_one_slash_is_a_clear_error():
    with pytest.raises(hr.HubbleError, match=r'from_pods: .*more than one "/".*"/pod-prefix"'):
        hr.FlowQuery(from_pods=['cni-test/netshot/x'], now=NOW)


def _file_flows(**filters):
    result, _collection = pipeline.hubble_flows(
        transport='file', api=None, src=REAL, relay_address=None, cilium_namespace='kube-system', tls=None, timeout=30,
        max_drops=0, verdicts=['DROPPED'], namespaces=None, from_pods=filters.get('from_pods'), to_pods=filters.get('to_pods'),
        from_labels=None, to_labels=None, drop_reasons=None, since=None, until=None, last=None, follow_for=None)
    return result


def test_file_transport_reads_a_bare_name_as_the_default_namespace():
    # the real capture: netshot and nginx live in cni-test, nothing in default
    bare = _file_flows(from_pods=['netshot'])
    assert bare['flows_total'] == 0 and bare['query']['from_pods'] == ['default/netshot']
    assert bare['filters'] == [{'verdict': ['DROPPED'], 'source_pod': ['default/netshot']}]
    anywhere = _file_flows(from_pods=['/netshot'])
    assert anywhere['flows_total'] == 10       # 5 denied SYNs: a policy-verdict and a drop flow each
    assert _file_flows(from_pods=['cni-test/netshot'])['flows_total'] == 10
    assert json.dumps(_file_flows(to_pods=['nginx-'])['violations']) == '[]'
