# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""capture_reader: sources, fast-path pre-filter accounting, strict mode, equivalence of every input form."""

from __future__ import annotations

import gzip
import io
import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import parser as flow_parser
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader, read_drops

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))
FLOWS = os.path.join(FIXTURES, 'flows.jsonl')
BACKENDS = ['json'] + (['orjson'] if flow_parser.HAS_ORJSON else [])
DROP_UUIDS = ['68bb93a3-14cb-5813-91e5-a8db0639a327', 'c6b12718-6033-5626-b693-a0702ff8fd5e', '1820e089-df4d-5d69-8d31-0dfe22f01ea6',
              'ebd3d621-0ae1-5641-b845-636d48418f81', '53516788-0a87-55fa-b11b-8f0032f4eb55', '8ae25b1c-717e-5d31-8fdc-12712bcd651b',
              'aa0abbaf-60f0-5f37-a519-1601fc443a24']


def fixture_bytes():
    with open(FLOWS, 'rb') as handle:
        return handle.read()


def run(source, **options):
    drops, coverage = read_drops(source, **options)
    result = coverage.to_dict()
    result.pop('files')
    return [d.to_dict() for d in drops], result


@pytest.mark.parametrize('backend', BACKENDS)
def test_fixture_coverage_on_the_fast_path(backend):
    drops, coverage = read_drops(FLOWS, json_backend=backend)
    assert [d.evidence.flow_uuid for d in drops] == DROP_UUIDS
    assert [d.evidence.line for d in drops] == [5, 6, 7, 9, 10, 11, 12]
    assert {d.evidence.file for d in drops} == {FLOWS}
    got = coverage.to_dict()
    assert (got['lines_read'], got['decoded'], got['not_decoded'], got['flows'], got['drops']) == (13, 8, 5, 7, 7)
    assert got['malformed'] == {'count': 0, 'lines': [], 'samples': []}
    assert got['lost_events'] == {'total': 3, 'records': 1, 'by_source': {'HUBBLE_RING_BUFFER': 3}, 'by_node': {'kind-control-plane': 3},
                                  'samples': [{'source': 'HUBBLE_RING_BUFFER', 'num_lost': 3, 'node': 'kind-control-plane', 'cpu': 1,
                                               'first': None, 'last': None, 'time': '2025-05-31T05:25:14.077000001Z'}]}
    assert got['nodes'] == ['kind-control-plane']
    # first line (sampled, not decoded) and the lost_events line bound the span
    assert got['time'] == {'first': '2025-05-31T05:24:47.177000001Z', 'last': '2025-05-31T05:25:14.077000001Z'}
    assert got['files'] == [FLOWS]
    assert (got['strict'], got['verdicts']) == (False, ['DROPPED'])


def test_strict_mode_decodes_every_line():
    drops, coverage = read_drops(FLOWS, strict=True)
    assert len(drops) == 7
    assert (coverage.lines_read, coverage.decoded, coverage.flows, coverage.drops, coverage.lost_records) == (13, 13, 12, 7, 1)


def test_other_verdicts_can_be_requested_by_name_or_number():
    drops, coverage = read_drops(FLOWS, verdicts=['forwarded', 2])
    assert len(drops) == 12
    assert coverage.to_dict()['verdicts'] == ['DROPPED', 'FORWARDED']
    with pytest.raises(ValueError, match='unknown verdict'):
        CaptureReader(verdicts=['DENIED'])


def test_malformed_only_counts_decoded_lines_and_strict_counts_all():
    lines = fixture_bytes().splitlines()
    damaged = [lines[4][:300], b'not json at all', lines[0][:200], b'{"flow":{"verdict":"DROPPED","source":{"identity":"x"}}}',
               b'\xff\xfe"verdict":"DROPPED"\xff', b'', b'   ', lines[12]]
    blob = b'\n'.join(damaged) + b'\n'
    _drops, fast = run(blob)
    assert fast['lines_read'] == 8
    # Nothing that could be garbage is skipped unseen: the truncated DROPPED line, the prose, the truncated FORWARDED line
    # (not one complete JSON object), the bad identity type and the non-UTF-8 candidate are all malformed, as in strict mode.
    assert fast['malformed']['count'] == 5
    assert fast['malformed']['lines'] == [1, 2, 3, 4, 5]
    assert fast['decoded'] == 6 and fast['lost_events']['records'] == 1
    assert fast['skipped_other_verdicts'] == 0 and fast['not_understood'] == 5
    _drops, strict = run(blob, strict=True)
    assert strict['malformed']['count'] == 5
    assert strict['malformed']['lines'] == [1, 2, 3, 4, 5]
    assert strict['decoded'] == 6  # blank and whitespace-only lines are not decoded


def test_malformed_samples_are_bounded_to_ten():
    blob = b'{"verdict":"DROPPED"\n' * 25
    _drops, coverage = run(blob, label='stream')
    assert coverage['malformed']['count'] == 25
    assert coverage['malformed']['lines'] == list(range(1, 11))
    assert coverage['malformed']['samples'][0]['file'] == 'stream'
    assert coverage['malformed']['samples'][0]['error'].startswith('invalid JSON')


def test_overlong_lines_are_malformed_and_never_decoded(tmp_path):
    lines = fixture_bytes().splitlines()
    blob = b'\n'.join([lines[4], b'{"flow":{"verdict":"DROPPED",' + b' ' * 5000 + b'}}', lines[5]]) + b'\n'
    path = tmp_path / 'long.jsonl'
    path.write_bytes(blob)
    for options in ({}, {'use_mmap': False, 'chunk_size': 64}, {'map_window': 100}):
        drops, coverage = read_drops(str(path), max_line=4000, **options)
        assert [d.evidence.line for d in drops] == [1, 3]
        assert (coverage.lines_read, coverage.decoded, coverage.malformed, coverage.malformed_lines) == (3, 2, 1, [2])
        assert 'line of 4000 bytes or more' in coverage.malformed_samples[0]['error']


def test_non_utf8_bytes_never_raise():
    blob = b'\x80\x81\xfe\xff\n"verdict":"DROPPED" \xc3\x28\n{"lost_events":{"source":"\xff"}}\n'
    for strict in (False, True):
        drops, coverage = read_drops(blob, strict=strict)
        assert drops == [] and coverage.lines_read == 3
    drops, coverage = read_drops([b'\xff\xfe', '\udcff text \ud800', 42, bytearray(b'{"verdict":"DROPPED"}')], strict=True)
    assert len(drops) == 1 and coverage.lines_read == 4 and coverage.malformed == 3


def test_directory_reads_sorted_capture_files_including_gzip(tmp_path):
    lines = fixture_bytes().splitlines(keepends=True)
    (tmp_path / 'b.jsonl').write_bytes(b''.join(lines[8:]))
    with gzip.open(tmp_path / 'a.json.gz', 'wb') as handle:
        handle.write(b''.join(lines[:8]))
    (tmp_path / 'c.log').write_bytes(lines[5])
    (tmp_path / '.hidden.json').write_bytes(lines[5])
    (tmp_path / 'sub.json').mkdir()
    drops, coverage = read_drops(str(tmp_path))
    assert [d.evidence.flow_uuid for d in drops] == DROP_UUIDS
    assert [(os.path.basename(d.evidence.file), d.evidence.line) for d in drops] == [
        ('a.json.gz', 5), ('a.json.gz', 6), ('a.json.gz', 7), ('b.jsonl', 1), ('b.jsonl', 2), ('b.jsonl', 3), ('b.jsonl', 4)]
    assert coverage.lines_read == 13
    assert [os.path.basename(p) for p in coverage.files] == ['a.json.gz', 'b.jsonl']


def test_every_input_form_gives_identical_results(tmp_path):
    data = fixture_bytes()
    path = tmp_path / 'flows.jsonl'
    path.write_bytes(data)
    label = str(path)
    reference = run(str(path))
    text_lines = data.decode().splitlines()
    forms = [
        run(str(path), use_mmap=False, chunk_size=97),
        run(str(path), map_window=333),
        run(data, label=label),
        run(io.BytesIO(data), label=label),
        run(iter(data.splitlines(keepends=True)), label=label),
        run(text_lines, label=label),
        run(['\n'.join(text_lines[:6]), '\n'.join(text_lines[6:]) + '\n'], label=label),
    ]
    for form in forms:
        assert form == reference


def test_final_line_without_newline_and_empty_input(tmp_path):
    data = fixture_bytes().rstrip(b'\n')
    path = tmp_path / 'x.jsonl'
    path.write_bytes(data)
    assert run(str(path)) == run(data + b'\n', label=str(path))
    empty = tmp_path / 'empty.jsonl'
    empty.write_bytes(b'')
    drops, coverage = read_drops(str(empty))
    assert drops == [] and coverage.lines_read == 0


def test_sampling_picks_up_nodes_and_time_of_lines_that_are_not_decoded():
    lines = []
    for index in range(400):
        node = f'node-{index % 4}'
        lines.append(json.dumps({'flow': {'time': f'2025-05-31T05:{index // 60:02d}:{index % 60:02d}Z', 'verdict': 'FORWARDED',
                                          'node_name': node}, 'node_name': node, 'time': f'2025-05-31T05:{index // 60:02d}:{index % 60:02d}Z'}))
    blob = ('\n'.join(lines) + '\n').encode()
    drops, coverage = read_drops(blob, sample_bytes=64)
    assert drops == [] and coverage.decoded == 0
    assert sorted(coverage.nodes) == ['node-0', 'node-1', 'node-2', 'node-3']
    assert (coverage.first_time, coverage.last_time) == ('2025-05-31T05:00:00Z', '2025-05-31T05:06:39Z')
    _drops, sparse = read_drops(blob)  # default: one line per MiB, plus the last line
    assert sorted(sparse.nodes) == ['node-0', 'node-3']


def test_node_status_records_widen_nodes():
    blob = (b'{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["kind-worker2"],"message":"timeout"},'
            b'"time":"2025-05-31T05:25:14Z"}\n')
    _drops, coverage = run(blob)
    assert coverage['node_status'] == {'kind-worker2': 'NODE_UNAVAILABLE'}
    assert coverage['node_status_records'] == 1 and coverage['nodes'] == ['kind-worker2']


def test_numeric_and_spaced_verdicts_are_found_and_the_first_verdict_key_decides():
    lines = [
        b'{"flow":{"verdict": "DROPPED","uuid":"a"}}',
        b'{"flow":{"verdict":2,"uuid":"b"}}',
        b'{"flow":{"verdict": 2 ,"uuid":"c"}}',
        b'{"flow":{"x\\"verdict":"FORWARDED","verdict":"DROPPED","uuid":"d"}}',
        b'{"flow":{"verdict":"FORWARDED","uuid":"e"}}',
        b'{"verdict":"DROPPED","uuid":"f"}',
    ]
    drops, coverage = read_drops(lines)
    assert [d.evidence.flow_uuid for d in drops] == ['a', 'b', 'c', 'f']
    assert coverage.decoded == 4
    # a key that merely ends in "verdict (never produced by Hubble) hides the line from the pre-filter, not from strict mode
    assert [d.evidence.flow_uuid for d in read_drops(lines, strict=True)[0]] == ['a', 'b', 'c', 'd', 'f']


def test_aggregate_capture_streams_into_violations():
    result = pipeline.aggregate_capture(FLOWS)
    assert [(v.key, v.count) for v in result.violations] == [
        ('egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED', 2),
        ('egress|cni-test/netshot|ip:1.1.1.1|ICMPv4|-|POLICY_DENY', 1),
        ('ingress|cni-test/curl-client|cni-test/nginx|TCP|80|POLICY_DENIED', 1),
    ]
    assert result.stats.pairs_collapsed == 3 and result.coverage.drops == 7
    assert set(result.to_dict()) == {'violations', 'coverage', 'aggregation'}


def test_verdict_key_at_the_very_end_of_a_mapped_window(tmp_path):
    lines = fixture_bytes().splitlines(keepends=True)
    path = tmp_path / 'edge.jsonl'
    path.write_bytes(lines[5] + b'{"flow":{"verdict":\n')
    for options in ({}, {'use_mmap': False}):
        drops, coverage = read_drops(str(path), **options)
        assert [d.evidence.line for d in drops] == [1]
        # the truncated last line is decoded and counted malformed (it is no complete JSON object)
        assert (coverage.lines_read, coverage.decoded, coverage.malformed) == (2, 2, 1)


def test_corrupt_or_truncated_gzip_is_counted_not_raised(tmp_path):
    packed = gzip.compress(fixture_bytes())
    (tmp_path / 'cut.jsonl.gz').write_bytes(packed[:len(packed) // 2])
    (tmp_path / 'junk.gz').write_bytes(b'\x1f\x8bnot really gzip')
    for name in ('cut.jsonl.gz', 'junk.gz'):
        drops, coverage = read_drops(str(tmp_path / name))
        assert coverage.malformed == 1
        assert 'corrupt gzip stream' in coverage.malformed_samples[0]['error']
        assert len(drops) <= 7
