# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12: a large capture file is scanned by two processes, with results identical to one process.

``CaptureReader`` forks a child that scans the second part of a regular file while the parent reads the first; the
parent then decodes the child's candidate lines in order. Here small files are split with ``parallel_min_bytes=1``
at many points (inside malformed stretches, over-long lines, a final line without newline, blank and CRLF lines) and
every result is compared with the one-process read: drops, coverage (line numbers of malformed samples, nodes in
order, time span), aggregation. The fallbacks (fork fails, the child fails or gives up) give the same results too.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import Aggregator
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import capture
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))
FLOWS = os.path.join(FIXTURES, 'flows.jsonl')

pytestmark = pytest.mark.skipif(not hasattr(os, 'fork'), reason='the parallel scan needs fork')


def mixed_capture(path, copies=40):
    """The fixture repeated with every kind of line the reader must account for, ending without a newline."""
    with open(FLOWS, 'rb') as handle:
        flows = handle.read().splitlines()
    lines = []
    for index in range(copies):
        for number, line in enumerate(flows):
            if (index + number) % 7 == 0:
                line = line.replace(b'"kind-control-plane"', b'"node-%d"' % (index % 5))
            lines.append(line)
        lines.append(b'')                                             # blank
        lines.append(b'not json at all %d' % index)                   # garbage
        lines.append(flows[4][:len(flows[4]) // 2])                   # a truncated DROPPED flow
        lines.append(flows[0] + b'\r')                                # CRLF
        if index % 9 == 4:
            lines.append(b'{"x":"' + b'y' * 5000 + b'"}')             # over max_line below
        lines.append(b'{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":%d,"cpu":1},'
                     b'"node_name":"node-%d","time":"2025-05-31T05:25:%02d.000000001Z"}' % (index + 1, index % 3, index % 60))
    path.write_bytes(b'\n'.join(lines) + b'\n' + flows[5])  # last line without newline
    return str(path)


def read(path, **options):
    reader = CaptureReader(**options)
    aggregator = Aggregator()
    drops = []
    for drop in reader.drops(path):
        aggregator.add(drop)
        drops.append(drop.to_dict())
    return drops, reader.coverage.to_dict(), [item.to_dict() for item in aggregator.violations()]


OPTIONS = {'max_line': 4096, 'sample_bytes': 1500, 'map_window': 8192}


@pytest.fixture(scope='module')
def capture_file(tmp_path_factory):
    return mixed_capture(tmp_path_factory.mktemp('parallel') / 'mixed.jsonl')


@pytest.fixture(scope='module')
def alone(capture_file):
    return read(capture_file, parallel=False, **OPTIONS)


@pytest.mark.parametrize('share', [0.01, 0.1, 0.25, 0.42, 0.5, 0.63, 0.77, 0.9, 0.97, 0.999])
def test_two_processes_give_the_results_of_one_at_any_split(capture_file, alone, share, monkeypatch):
    monkeypatch.setattr(capture, 'PARALLEL_SHARE', share)
    assert alone[1]['malformed']['count'] > 0 and alone[0]  # the input exercises drops and malformed lines
    assert read(capture_file, parallel=True, parallel_min_bytes=1, **OPTIONS) == alone


@pytest.mark.parametrize('verdicts', [('DROPPED',), ('FORWARDED', 'DROPPED')])
def test_default_options_and_other_verdicts(capture_file, verdicts):
    assert read(capture_file, parallel=True, parallel_min_bytes=1, verdicts=verdicts) == \
        read(capture_file, parallel=False, verdicts=verdicts)


def test_the_parent_does_not_scan_what_the_child_scanned(capture_file, alone, monkeypatch):
    size = os.path.getsize(capture_file)
    scanned = []
    original = CaptureReader._analyze

    def spy(self, buf, start, end, delta, state):
        if os.getpid() == parent:
            scanned.append(delta + end)
        return original(self, buf, start, end, delta, state)

    parent = os.getpid()
    monkeypatch.setattr(CaptureReader, '_analyze', spy)
    assert read(capture_file, parallel=True, parallel_min_bytes=1, **OPTIONS) == alone
    assert scanned and max(scanned) < size * 0.6  # the parent scanned about PARALLEL_SHARE of the file, not all of it


def fails(*_args, **_kwargs):
    raise OSError('no')


@pytest.mark.parametrize('fault', ['fork fails', 'child fails', 'child gives up', 'child killed'])
def test_fallbacks_read_the_rest_alone_with_the_same_results(capture_file, alone, fault, monkeypatch):
    if fault == 'fork fails':
        monkeypatch.setattr(os, 'fork', fails)
    elif fault == 'child fails':
        monkeypatch.setattr(CaptureReader, '_scan_part', fails)
    elif fault == 'child gives up':
        monkeypatch.setattr(capture, 'PARALLEL_MAX_POSITIONS', 3)
    else:
        monkeypatch.setattr(CaptureReader, '_scan_part', lambda *args: os.kill(os.getpid(), 9))
    assert read(capture_file, parallel=True, parallel_min_bytes=1, **OPTIONS) == alone
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the child was reaped


def test_a_child_reaped_elsewhere_still_counts(capture_file, alone, monkeypatch):
    """A SIGCHLD handler in the embedding program may reap the child first: waitpid then raises ChildProcessError."""
    real_waitpid = os.waitpid

    def reaped_elsewhere(pid, options):
        real_waitpid(pid, options)
        raise ChildProcessError('No child processes')

    monkeypatch.setattr(os, 'waitpid', reaped_elsewhere)
    assert read(capture_file, parallel=True, parallel_min_bytes=1, **OPTIONS) == alone


def test_a_reader_closed_early_reaps_its_child(capture_file):
    drops = CaptureReader(parallel=True, parallel_min_bytes=1, **OPTIONS).drops(capture_file)
    next(drops)
    drops.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize('case', ['one cpu', 'small file', 'off', 'strict'])
def test_when_no_child_is_forked(capture_file, alone, case, monkeypatch):
    forked = []
    real_fork = os.fork
    monkeypatch.setattr(os, 'fork', lambda: forked.append(1) or real_fork())
    options = dict(OPTIONS, parallel='auto', parallel_min_bytes=1)
    if case == 'one cpu':
        monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0})
    elif case == 'small file':
        options['parallel_min_bytes'] = os.path.getsize(capture_file) + 1
    elif case == 'off':
        options['parallel'] = False
    else:
        options['strict'] = True
    got = read(capture_file, **options)
    assert not forked
    if case != 'strict':
        assert got == alone


def test_parallel_option_is_checked():
    with pytest.raises(ValueError, match='parallel'):
        CaptureReader(parallel='yes')


def test_the_module_pipeline_gives_the_same_result_with_a_child(tmp_path, monkeypatch):
    """What hubble_flows_info runs (report.collect -> transports.collect_file) on a file large enough to fork."""
    from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
    path = mixed_capture(tmp_path / 'big.jsonl', copies=200)
    forked = []
    real_fork = os.fork
    monkeypatch.setattr(os, 'fork', lambda: forked.append(1) or real_fork())
    results = []
    for minimum in (1 << 40, 1):
        monkeypatch.setattr(capture, 'DEFAULT_PARALLEL_MIN_BYTES', minimum)
        result = pipeline.hubble_flows(transport='file', src=path, allow_empty=False, max_drops=50)[0]
        results.append(json.dumps(result, sort_keys=True))
    assert forked == [1]  # only the second read forked
    assert results[0] == results[1]
