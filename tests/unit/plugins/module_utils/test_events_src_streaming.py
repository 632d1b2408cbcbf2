# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline Event files are read item by item: same result as reading them whole, bounded memory."""

from __future__ import annotations

import copy
import datetime
import json
import os
import tracemalloc

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as events_collector

EVENTS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drop_events', 'events.json')
NOW = datetime.datetime(2025, 5, 31, 6, 0, tzinfo=datetime.timezone.utc)


def _result(path):
    result, _collector = pipeline.drop_events(src=str(path), max_drops=0, max_violations=0, now=NOW)
    return result


def _whole_file_loads_forbidden(monkeypatch, limit):
    real = events_collector.json_loads

    def guarded(data):
        assert len(data) < limit, 'the whole src file was decoded at once'
        return real(data)
    monkeypatch.setattr(events_collector, 'json_loads', guarded)


@pytest.mark.parametrize('chunk', [1, 7, 4096])
def test_a_streamed_event_list_gives_the_same_result_as_reading_it_whole(tmp_path, monkeypatch, chunk):
    with open(EVENTS, encoding='utf-8') as handle:
        document = json.load(handle)
    compact = tmp_path / 'compact.json'
    compact.write_text('\ufeff' + json.dumps(document, separators=(',', ':')), encoding='utf-8')  # BOM, one line
    paths = (EVENTS, compact)
    whole = [_result(path) for path in paths]
    assert whole[0]['events_total'] == 6 and whole[0]['violations']
    monkeypatch.setattr(events_collector, 'STREAM_MIN_BYTES', 0)
    monkeypatch.setattr(events_collector, 'STREAM_CHUNK', chunk)
    _whole_file_loads_forbidden(monkeypatch, 1)
    assert [_result(path) for path in paths] == whole


def _items_or_error(path):
    try:
        return list(events_collector.iter_src_items(str(path)))
    except events_collector.DropEventsError as exc:
        return str(exc)


@pytest.mark.parametrize('text', [
    '{"kind": "EventList", "items": [ {"reason": "PacketDrop"}',           # truncated
    '{"items": [], "items": []}',                                          # duplicate key: read whole, as before
    '{"items": [1, 2]} {"items": [3]}',                                    # two documents
    '{"involvedObject": {}, "items": []}',                                 # an Event, not a list
    '{"items": [12345',                                                    # a number cut by the end of the file
])
def test_anything_but_one_event_list_is_read_whole_as_before(tmp_path, monkeypatch, text):
    path = tmp_path / 'events.json'
    path.write_text(text, encoding='utf-8')
    monkeypatch.setattr(events_collector, 'STREAM_MIN_BYTES', 10 ** 9)
    before = _items_or_error(path)
    monkeypatch.setattr(events_collector, 'STREAM_MIN_BYTES', 0)
    monkeypatch.setattr(events_collector, 'STREAM_CHUNK', 3)
    assert _items_or_error(path) == before


def test_a_large_event_list_is_read_with_bounded_memory(tmp_path, monkeypatch):
    with open(EVENTS, encoding='utf-8') as handle:
        document = json.load(handle)
    items = []
    for index in range(8000):
        item = copy.deepcopy(document['items'][index % len(document['items'])])
        item['metadata']['uid'] = f'uid-{index}'
        items.append(item)
    path = tmp_path / 'large.json'
    path.write_text(json.dumps(dict(document, items=items), indent=2), encoding='utf-8')
    size = os.path.getsize(path)
    del items, document
    monkeypatch.setattr(events_collector, 'STREAM_MIN_BYTES', 1 << 20)
    assert size > 6 << 20
    _whole_file_loads_forbidden(monkeypatch, 1 << 20)
    tracemalloc.start()
    try:
        count = sum(1 for _item in events_collector.iter_src_items(str(path)))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8000
    assert peak < size / 2, f'peak {peak} bytes for a {size}-byte file'  # reading it whole takes several times its size
