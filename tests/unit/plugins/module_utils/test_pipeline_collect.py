# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report/collect.py: sources hand Drops to a sink, the one aggregation runs after them, streaming."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import Aggregator
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as events_collector
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import transports

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures'))
FLOWS = os.path.join(FIXTURES, 'cilium', 'flows.jsonl')
EVENTS = os.path.join(FIXTURES, 'drop_events', 'events.json')


class RecordingSink:
    """A sink that only remembers what it was given."""

    def __init__(self):
        self.drops = []

    def add(self, drop):
        self.drops.append(drop)


def test_a_source_hands_its_drops_to_the_sink_and_returns_no_violations():
    sink = RecordingSink()
    result, _collection = transports.collect(transport='file', src=FLOWS, sink=sink, max_drops=0)
    assert 'violations' not in result and 'aggregation' not in result
    assert len(sink.drops) == result['flows_total'] > 0
    events_sink = RecordingSink()
    events, _collector = events_collector.collect(src=EVENTS, sink=events_sink)
    assert 'violations' not in events and len(events_sink.drops) == events['events_total'] > 0


def test_the_pipeline_result_is_the_sources_result_plus_the_one_aggregation():
    source, _collection = transports.collect(transport='file', src=FLOWS)
    result, _collection = pipeline.hubble_flows(transport='file', src=FLOWS)
    expected = Aggregator().add_all(pipeline.CaptureReader().drops(FLOWS))
    assert result['violations'] == [item.to_dict() for item in expected.violations()]
    assert result['aggregation'] == expected.stats.to_dict()
    assert result['violations_total'] == len(expected.violations()) and result['violations_truncated'] is False
    added = ('violations', 'violations_total', 'violations_truncated', 'aggregation')
    assert {key: value for key, value in result.items() if key not in added} == source
    keys = list(result)  # the order the module always returned
    assert keys.index('violations') == keys.index('drops_truncated') + 1 and keys.index('aggregation') == keys.index('coverage') + 1


def test_drop_events_violations_are_capped_by_max_violations():
    full, _collector = pipeline.drop_events(src=EVENTS, max_violations=0)
    capped, _collector = pipeline.drop_events(src=EVENTS, max_violations=1)
    assert full['violations_total'] == capped['violations_total'] == len(full['violations']) > 1
    assert capped['violations'] == full['violations'][:1] and capped['violations_truncated'] and not full['violations_truncated']


def test_hubble_flows_violations_are_capped_by_max_violations_the_same_way():
    """Issue 12: max_violations means the same in both collectors (hubble_flows_info returned every violation)."""
    full, _collection = pipeline.hubble_flows(transport='file', src=FLOWS, max_violations=0)
    capped, _collection = pipeline.hubble_flows(transport='file', src=FLOWS, max_violations=1)
    assert full['violations_total'] == capped['violations_total'] == len(full['violations']) > 1
    assert capped['violations'] == full['violations'][:1] and capped['violations_truncated'] and not full['violations_truncated']
    with pytest.raises(transports.HubbleError, match='max_violations'):
        pipeline.hubble_flows(transport='file', src=FLOWS, max_violations=-1)


def test_aggregation_consumes_the_source_while_it_reads():
    """No list of every Drop: the first Drop is aggregated before the source has read its last line."""
    with open(FLOWS, 'rb') as handle:
        lines = handle.read().splitlines(keepends=True)
    consumed = []

    def source():
        for line in lines:
            consumed.append(line)
            yield line

    seen_at = []

    class Probe(Aggregator):
        def add(self, drop):
            seen_at.append(len(consumed))
            super().add(drop)

    result = pipeline.aggregate_capture(source(), aggregator=Probe())
    assert seen_at and seen_at[0] < len(lines) and seen_at == sorted(seen_at)
    from_file = pipeline.aggregate_capture(FLOWS).to_dict()
    assert {key: result.to_dict()[key] for key in ('violations', 'aggregation')} == {key: from_file[key] for key in ('violations', 'aggregation')}
