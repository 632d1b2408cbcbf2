# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hubble_flows_info ``timeout`` bounds the whole live call (issue 10, item 5): a slow Relay stream, slow agent execs
and a slow Kubernetes API return what was collected with ``partial``/``timed_out`` and a warning instead of failing or
running on. Assertions are on flags and counts; time is only checked with generous margins against hangs.
"""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI
from servers.hubble_relay import HubbleRelayServer

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = os.path.join(REPO, 'tests', 'fixtures', 'cilium', 'flows.jsonl')


def test_slow_relay_stream_returns_the_flows_received_with_partial():
    with HubbleRelayServer() as relay:
        for node in ('n1', 'n2', 'n3'):
            relay.load_jsonl(FLOWS, node_name=node)
        relay.flow_delay = 0.3
        total = sum(1 for record in relay.records if 'flow' in record)
        start = time.monotonic()
        result, collection = pipeline.hubble_flows(transport='relay', relay_address=relay.address, timeout=2, verdicts=['DROPPED', 'FORWARDED'])
        assert time.monotonic() - start < 10
    assert result['timed_out'] is True and result['partial'] is True
    assert 0 < result['flows_total'] < total
    assert any(reason.startswith('timeout (2s) reached: the Relay stream') for reason in result['partial_reasons'])
    assert any('partial' in warning for warning in collection.warnings)


def test_fast_relay_stream_is_complete():
    with HubbleRelayServer() as relay:
        relay.load_jsonl(FLOWS, node_name='n1')
        result, _collection = pipeline.hubble_flows(transport='relay', relay_address=relay.address, timeout=10)
    assert result['timed_out'] is False and result['flows_total'] > 0


def test_slow_kubernetes_api_is_bounded_by_the_timeout(real_kube):
    kube = real_kube  # the session's real kube-apiserver, every pod list delayed 15 s by the proxy in front of it
    kube.add_fault(method='GET', path=r'/pods', status=None, delay=15, times=None)
    api = KubeAPI.from_kubeconfig(kube.kubeconfig, backoff=0.01)
    start = time.monotonic()
    result, collection = pipeline.hubble_flows(transport='exec', api=api, cilium_namespace='kube-system', timeout=2)
    assert time.monotonic() - start < 12
    assert kube.request_count(path=r'/pods') <= 2
    assert result['timed_out'] is True and result['partial'] is True
    assert any('Kubernetes API' in reason for reason in result['partial_reasons'])
    assert api.deadline is None and collection.warnings
