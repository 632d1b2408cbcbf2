# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 8: one counting rule for PacketDrop Events (docs/drop-model.md, "Counting"), shown consistently."""

from __future__ import annotations

import copy
import json
import os
import xml.etree.ElementTree as ET

import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.evidence import model as evidence_model
from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import EventTable
from ansible_collections.netobs.cilium.plugins.module_utils.report.collect import AggregatedDropEvents

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium')
MESSAGE = 'Packet dropped (policy_denied) 10.0.0.1:4444 -> 10.0.0.2:80 tcp SYN'


def packet_drop(index, count, rv='1'):
    with open(os.path.join(FIXTURES, 'events.json'), encoding='utf-8') as handle:
        event = copy.deepcopy(json.load(handle)['items'][0])
    event['metadata'].update(uid=f'uid-{index}', name=f'netshot.{index}', resourceVersion=rv)
    event['count'] = count
    return event


def test_events_past_the_tracking_limit_are_not_counted_twice(monkeypatch):
    """Cap 2, four Events (5 + 3 + 4 + 4 = 16 occurrences) listed three times: 16, never more."""
    monkeypatch.setattr(evidence_model, 'MAX_TRACKED_EVENTS', 2)
    counts = [5, 3, 4, 4]
    collector = AggregatedDropEvents(max_drops=0)
    for relist in range(3):
        for index, count in enumerate(counts):
            collector.ingest(packet_drop(index, count, rv=str(relist + 1)))  # a relist: new resourceVersion, same count
    result = collector.result()
    assert result['events_total'] == 4
    assert sum(v['count_by_kind']['event'] for v in result['violations']) == 16
    assert len(result['drops']) == 4
    assert result['coverage']['counts_approximate'] is True
    # The exact tables stay at the cap: memory is bounded whatever the number of Events.
    assert len(collector._seen) <= 2 and len(collector.aggregator._event_counts) <= 2  # pylint: disable=protected-access


def test_a_growing_event_past_the_limit_adds_only_its_increase(monkeypatch):
    monkeypatch.setattr(evidence_model, 'MAX_TRACKED_EVENTS', 1)
    collector = AggregatedDropEvents(max_drops=0)
    for count, rv in ((1, '1'), (2, '2'), (2, '3')):
        collector.ingest(packet_drop(0, 1, rv='1'))
        collector.ingest(packet_drop(1, count, rv=rv))  # beyond the limit: 1, then 2, then 2 again
    result = collector.result()
    assert sum(v['count_by_kind']['event'] for v in result['violations']) == 1 + 2
    assert result['events_total'] == 2


def test_event_table_never_over_counts_on_collisions():
    table = EventTable(limit=0, slots=1)  # every key shares one slot
    table.put('a', None, 7, 2)
    assert table.get('b') == (None, 7, 2)  # looks already seen: a new Event can be under-counted, never counted twice
    table.put('b', None, 3)
    assert table.get('a') == (None, 7, 2) and table.approximate == 1
    table.put('c', None, 10 ** 5000)  # absurd counts are clamped, not an error
    assert table.get('c')[1] == (1 << 56) - 1


def test_report_shows_the_event_count_when_flows_saw_fewer_packets():
    """A violation whose Event count is 12 and that 2 flows saw shows 12 in every format."""
    evidence = samples.example_evidence()
    events = evidence[0]
    key = 'egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED'
    for violation in events['violations']:
        if violation['key'] == key:
            violation['count_by_kind'] = {'event': 12, 'flow': 0}
            violation['count'] = 12
    report = samples.example_report(evidence=evidence)
    violation = next(v for v in report['violations'] if v['key'] == key)
    assert violation['count_by_kind'] == {'event': 12, 'flow': 2}
    assert violation['count'] == 12
    rendered = {fmt: report_model.render(report, fmt).decode('utf-8') for fmt in report_model.FORMATS}
    data = json.loads(rendered['json'])
    assert next(v for v in data['violations'] if v['key'] == key)['count'] == 12
    row = next(line for line in rendered['markdown'].splitlines() if line.startswith(f"| `{violation['id']}`"))
    assert '| 12 |' in row
    assert f"<td>{violation['reason']}</td><td>12</td>" in rendered['html']
    assert 'counts: events 12, flows 2' in rendered['html']
    root = ET.fromstring(rendered['junit'].encode('utf-8'))
    texts = ' '.join((element.text or '') for element in root.iter())
    assert f"{violation['summary']} x12" in texts and f"{violation['summary']} x2" not in texts
