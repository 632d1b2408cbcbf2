# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 6: one mistyped Event never aborts an analysis.

``DropEventsCollector.ingest`` gets real fixture Events mutated by ``tests/event_mutations.py`` (type swaps,
deletions, 5000-digit integers, unicode, nesting, wrappers, scalars). It must never raise, and every item must
be accounted exactly once: ``events_total`` (parsed; includes the ones the ``reasons`` filter left out) +
``events_malformed`` + ``excluded.before_since`` + ``excluded.namespaces`` + ``excluded.other_reasons``.
Malformed items are kept as bounded samples naming what is wrong. ``tests/perf/fuzz_ingest.py`` runs the same
mutations 500 000+ times.
"""

from __future__ import annotations

import copy
import datetime
import json

import pytest
from event_mutations import HUGE_INT, fixture_events, mutate
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netobs.cilium.plugins.module_utils.report.collect import AggregatedDropEvents
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import MAX_MALFORMED_SAMPLES

NOW = datetime.datetime(2025, 5, 31, 5, 30, tzinfo=datetime.timezone.utc)
EVENTS = fixture_events()
OPTION_SETS = (
    {},
    {'namespaces': ['cni-test']},
    {'since': '2025-05-31T05:25:10Z'},
    {'reasons': ['policy_denied', 'auth_required']},
    {'wait_for': {'min_count': 1, 'direction': 'egress', 'pod': 'net*', 'port': 80, 'protocol': 'tcp'}},
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


# Each example is costly (5000-deep nesting, 70 000-character strings): the CI profile's 10 000 examples are capped
# here; tests/perf/fuzz_ingest.py runs the 500 000-input campaign.
CAPPED = settings(max_examples=min(settings().max_examples, 1000))
CAPPED_STREAM = settings(max_examples=min(settings().max_examples, 300))


def accounted(collector):
    excluded = collector.excluded
    return (collector.events_total + collector.malformed + excluded['before_since'] + excluded['namespaces']
            + excluded['other_reasons'])


def packet_drop(index=0):
    return copy.deepcopy([e for e in EVENTS if e['reason'] == 'PacketDrop'][index])


@CAPPED
@given(rng=st.randoms(use_true_random=False), options=st.sampled_from(OPTION_SETS), extra=st.lists(JSON_VALUES, max_size=3))
def test_mutated_event_never_raises_and_is_accounted_once(rng, options, extra):
    event = mutate(rng, rng.choice(EVENTS), extra)
    collector = AggregatedDropEvents(now=NOW, **options)
    collector.ingest(event)
    assert accounted(collector) == 1
    result = collector.result()
    json.dumps(result)  # a module result must serialise
    assert result['coverage']['events_malformed'] == collector.malformed
    assert len(result['coverage']['events_malformed_samples']) == min(collector.malformed, MAX_MALFORMED_SAMPLES)


@CAPPED_STREAM
@given(rng=st.randoms(use_true_random=False), size=st.integers(1, 30))
def test_mutated_stream_never_raises_and_counts_each_item_at_most_once(rng, size):
    collector = AggregatedDropEvents(now=NOW)
    for index in range(size):
        before = accounted(collector)
        item = mutate(rng, rng.choice(EVENTS)) if rng.random() < 0.7 else rng.choice(EVENTS)
        collector.ingest(item)
        grown = accounted(collector) - before
        assert grown == 1 if index == 0 else grown in (0, 1)  # 0 only for an Event seen again (same uid)
    result = collector.result()
    assert result['events_total'] + result['coverage']['events_malformed'] <= size
    assert len(result['coverage']['events_malformed_samples']) <= MAX_MALFORMED_SAMPLES


def _set(path, value):
    def edit(event):
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return event
    return edit


def _deep_wrapper(event):
    for _unused in range(5000):
        event = {'type': 'ADDED', 'object': event}
    return event


@pytest.mark.parametrize('edit, error', [
    (_set(('metadata', 'uid'), ['c4dbb1bb']), 'metadata.uid is a list, expected a string'),
    (_set(('lastTimestamp',), 1748669123), 'lastTimestamp is an integer, expected a timestamp string'),
    (_set(('metadata',), 'netshot'), 'metadata is a string, expected an object'),
    (_set(('involvedObject',), ['Pod', 'netshot']), 'involvedObject/regarding is a list, expected an object'),
    (_set(('metadata', 'namespace'), HUGE_INT), 'metadata.namespace is an integer, expected a string'),
    (_set(('involvedObject', 'name'), -HUGE_INT), 'involvedObject.name is an integer, expected a string'),
    (_set(('count',), HUGE_INT), 'count is not a count'),
    (_set(('series',), 'every 5s'), 'series is a string, expected an object'),
    (_set(('source',), [None]), 'source is not an object'),
    (_set(('message',), {'text': None}), 'message is not a string'),
    (_set(('reason',), ['PacketDrop']), 'reason is a list, expected a string'),
    (lambda event: [event], 'not an Event object but a list'),
    (lambda event: HUGE_INT, 'not an Event object but an integer'),
    (lambda event: None, 'not an Event object but null'),
    (_deep_wrapper, 'watch event wrappers nested more than'),
])
def test_mistyped_event_is_counted_with_a_sample_and_the_rest_still_counts(edit, error):
    good = EVENTS[:8]  # events.json: 6 PacketDrop + 2 other reasons
    collector = AggregatedDropEvents(now=NOW)
    collector.ingest(edit(packet_drop(0)))
    for event in good[1:]:
        collector.ingest(copy.deepcopy(event))
    result = collector.result()
    assert result['coverage']['events_malformed'] == 1
    sample = result['coverage']['events_malformed_samples'][0]
    assert error in sample['error']
    assert result['events_total'] == 5 and result['excluded']['other_reasons'] == 2
    json.dumps(result)


def test_malformed_samples_are_bounded():
    collector = AggregatedDropEvents(now=NOW)
    for index in range(50):
        collector.ingest({'reason': 'PacketDrop', 'metadata': {'uid': index}})
    assert collector.malformed == 50 and len(collector.result()['coverage']['events_malformed_samples']) == MAX_MALFORMED_SAMPLES


def test_yaml_datetime_timestamps_are_accepted():
    """YAML loads unquoted timestamps as datetime objects: not malformed, and since still applies."""
    event = packet_drop(0)
    event['lastTimestamp'] = datetime.datetime(2025, 5, 31, 5, 25, 23, tzinfo=datetime.timezone.utc)
    event['firstTimestamp'] = datetime.datetime(2025, 5, 31, 5, 24, 48)
    collector = AggregatedDropEvents(now=NOW, since='2025-05-31T05:25:30Z')
    collector.ingest(event)
    assert collector.malformed == 0 and collector.excluded['before_since'] == 1
