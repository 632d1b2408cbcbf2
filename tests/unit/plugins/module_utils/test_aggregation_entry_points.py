# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""evidence.aggregation public entry points: the key function and the merge of results (one aggregation, one rule)."""

from __future__ import annotations

import os

from ansible_collections.netobs.cilium.plugins.module_utils.evidence import aggregation
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader

FLOWS = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium', 'flows.jsonl'))


def test_violation_key_is_the_key_the_aggregator_uses():
    drops = list(CaptureReader().drops(FLOWS))
    keys = {aggregation.violation_key(drop) for drop in drops}
    assert keys == {item.key for item in aggregation.Aggregator().add_all(drops).violations()}


def _violation(key, pods, flow=0, event=0, nodes=(), samples=(), policies=()):
    return {'key': key, 'direction': 'egress', 'source': {'namespace': 'a', 'workload': 'w', 'pods': list(pods)},
            'destination': {'reserved': 'world'}, 'protocol': 'TCP', 'port': 80, 'reason': 'POLICY_DENIED',
            'count_by_kind': {'event': event, 'flow': flow}, 'nodes': list(nodes), 'samples': list(samples),
            'policies': list(policies), 'evidence_kinds': ['flow'] if flow else ['event']}


def test_merging_results_uses_the_aggregators_caps_and_counting_rule():
    first = _violation('k', [f'p{i}' for i in range(4)], flow=3, nodes=[f'n{i}' for i in range(40)],
                       samples=[{'kind': 'flow', 'ref': f'r{i}'} for i in range(4)])
    second = _violation('k', [f'q{i}' for i in range(4)], flow=2, event=4, nodes=[f'm{i}' for i in range(40)],
                        samples=[{'kind': 'event', 'ref': f's{i}'} for i in range(4)],
                        policies=[{'name': f'p{i}'} for i in range(40)])
    [merged] = aggregation.merge_violation_dicts([[first], [second]])
    assert merged['count_by_kind'] == {'event': 4, 'flow': 5}
    assert merged['count'] == aggregation.drop_count(5, 4) == 5
    assert len(merged['source']['pods']) == aggregation.MAX_PODS
    assert len(merged['samples']) == aggregation.DEFAULT_MAX_SAMPLES
    assert len(merged['nodes']) == aggregation.MAX_NODES_PER_VIOLATION
    assert len(merged['policies']) == aggregation.MAX_POLICIES_PER_VIOLATION


def test_merging_one_result_keeps_its_violations():
    result = pipeline.aggregate_capture(FLOWS).to_dict()
    merged = aggregation.merge_violation_dicts([result['violations']])
    assert [(item['key'], item['count']) for item in merged] == [(item['key'], item['count']) for item in result['violations']]
