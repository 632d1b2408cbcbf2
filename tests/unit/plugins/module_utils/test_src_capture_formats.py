# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 7: saved Event captures as kubectl writes them while watching, and captures cut off mid-write.

``kubectl get events -w -o json`` prints pretty JSON objects back to back (not a list), with
``--output-watch-events`` wrapped in ``{"type": ..., "object": ...}``; a watch capture stopped mid-write ends in
a truncated line. These are read; what does not decode is counted in ``coverage.events_malformed`` with the file
and line, never silently. A file where nothing decodes is an error naming the file and the formats expected.
"""

from __future__ import annotations

import copy
import datetime
import json
import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsError

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drop_events')
NOW = datetime.datetime(2025, 5, 31, 5, 30, tzinfo=datetime.timezone.utc)


def items():
    with open(os.path.join(FIXTURES, 'events.json'), encoding='utf-8') as handle:
        return json.load(handle)['items']  # 6 PacketDrop Events + 2 other reasons


def collect(path):
    result, _collector = pipeline.drop_events(src=str(path), now=NOW)
    return result


def pretty(objects):
    """What kubectl get events -w -o json prints: json.MarshalIndent(obj, "", "    ") per object, back to back."""
    return ''.join(json.dumps(obj, indent=4) + '\n' for obj in objects)


def test_kubectl_watch_json_pretty_objects_back_to_back(tmp_path):
    capture = tmp_path / 'watch.json'
    capture.write_text(pretty(items()))
    result = collect(capture)
    assert result['events_total'] == 6 and result['excluded']['other_reasons'] == 2
    assert result['coverage']['events_malformed'] == 0
    assert result['violations'][0]['count'] == 7


def test_kubectl_watch_json_with_output_watch_events(tmp_path):
    capture = tmp_path / 'watch.json'
    capture.write_text(pretty([{'type': 'ADDED', 'object': item} for item in items()]))
    result = collect(capture)
    assert result['events_total'] == 6 and result['coverage']['events_malformed'] == 0


def test_jsonl_watch_capture_with_truncated_last_line_is_read_and_the_line_counted(tmp_path):
    lines = [json.dumps({'type': 'ADDED', 'object': item}) for item in items()]
    capture = tmp_path / 'watch.jsonl.json'
    capture.write_text('\n'.join(lines[:-1]) + '\n' + lines[-1][:57])  # cut off mid-write
    result = collect(capture)
    assert result['events_total'] == 6 and result['excluded']['other_reasons'] == 1
    assert result['coverage']['events_malformed'] == 1
    sample = result['coverage']['events_malformed_samples'][0]
    assert sample['file'] == str(capture) and sample['line'] == 8 and 'truncated' in sample['error']


def test_pretty_watch_capture_with_truncated_last_object(tmp_path):
    text = pretty(items())
    capture = tmp_path / 'watch.json'
    capture.write_text(text[:-40])  # the last (kubelet Pulled) object is cut off
    result = collect(capture)
    assert result['events_total'] == 6 and result['excluded']['other_reasons'] == 1
    assert result['coverage']['events_malformed'] == 1
    assert 'does not decode' in result['coverage']['events_malformed_samples'][0]['error']


def test_garbage_between_pretty_objects_is_counted_and_reading_resumes(tmp_path):
    events = items()
    capture = tmp_path / 'watch.json'
    capture.write_text(pretty(events[:3]) + '{ "kind": "Event", oops\n' + pretty(events[3:]))
    result = collect(capture)
    assert result['events_total'] == 6 and result['coverage']['events_malformed'] == 1
    assert result['coverage']['events_malformed_samples'][0]['line'] == pretty(events[:3]).count('\n') + 1


def test_yaml_capture_cut_off_keeps_the_documents_before(tmp_path):
    capture = tmp_path / 'events.yaml'
    documents = items()[:6]
    capture.write_text(yaml.safe_dump_all(documents) + '---\nmetadata: {name: [unbalanced\n')
    result = collect(capture)
    assert result['events_total'] == sum(1 for d in documents if d['reason'] == 'PacketDrop') > 0
    assert result['events_total'] + result['excluded']['other_reasons'] == 6
    assert result['coverage']['events_malformed'] == 1
    assert 'YAML from line' in result['coverage']['events_malformed_samples'][0]['error']


def test_malformed_items_in_a_saved_capture_are_counted_not_fatal(tmp_path):
    events = items()
    bad = copy.deepcopy(events[0])
    bad['metadata']['uid'] = ['x']
    bad_ts = copy.deepcopy(events[1])
    bad_ts['lastTimestamp'] = 1748669123
    capture = tmp_path / 'events.json'
    capture.write_text(json.dumps({'kind': 'EventList', 'items': [bad, bad_ts, 42, 'text'] + events[2:]}))
    result = collect(capture)
    assert result['events_total'] == 4
    assert result['coverage']['events_malformed'] == 4
    errors = [s['error'] for s in result['coverage']['events_malformed_samples']]
    assert errors == ['metadata.uid is a list, expected a string', 'lastTimestamp is an integer, expected a timestamp string',
                      'not an Event object but an integer', 'not an Event object but a string']
    assert {s['file'] for s in result['coverage']['events_malformed_samples']} == {str(capture)}


@pytest.mark.parametrize('content', [
    '{"items": [\n  oops: ]: [',
    '{"kind": "EventList", "items": [{"reason": "PacketDrop"',  # a JSON list cut off: nothing decodes
    '\x00\x01\x02 binary',
])
def test_unreadable_file_is_an_error_naming_the_file_and_the_format(tmp_path, content):
    capture = tmp_path / 'capture.json'
    capture.write_text(content)
    with pytest.raises(DropEventsError) as info:
        collect(capture)
    message = str(info.value)
    assert str(capture) in message and 'neither valid JSON nor YAML' in message
    assert 'kubectl get events -o json' in message and 'Traceback' not in message


_CAPTURES = {
    'pretty': pretty(items()).encode(),
    'watch_pretty': pretty([{'type': 'ADDED', 'object': item} for item in items()]).encode(),
    'jsonl': ''.join(json.dumps(item) + '\n' for item in items()).encode(),
    'yaml': yaml.safe_dump_all(items()).encode(),
}


@settings(max_examples=min(settings().max_examples, 500))  # each example writes and reads a file
@given(kind=st.sampled_from(sorted(_CAPTURES)), data=st.data())
def test_cut_or_corrupted_capture_never_raises_anything_but_a_clear_error(tmp_path_factory, kind, data):
    content = _CAPTURES[kind]
    cut = data.draw(st.integers(0, len(content)))
    where = data.draw(st.integers(0, cut))
    garbage = data.draw(st.binary(max_size=20))
    capture = tmp_path_factory.mktemp('cut') / 'capture.json'
    capture.write_bytes(content[:where] + garbage + content[where:cut])
    try:
        result = collect(capture)
    except DropEventsError as exc:
        assert str(capture) in str(exc)
        return
    complete = content[:min(where, cut)]
    # every object that ended before the damage is read; nothing read is unaccounted for
    if kind == 'jsonl':
        assert result['events_total'] + result['excluded']['other_reasons'] >= complete.count(b'\n')
    json.dumps(result)
