# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 2: evidence that is empty, garbage or of the wrong format never yields a plain PASS.

Every case goes through the collector module (``main()``) and then through ``violation_report`` output in all four
formats (JSON, JUnit, Markdown, HTML). The coverage rule is documented in docs/drop-model.md.
"""

from __future__ import annotations

import json
import os
import random
import xml.etree.ElementTree as ET

import pytest
import report_samples as samples
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import read_drops
from ansible_collections.netobs.cilium.plugins.modules import drop_events_info, hubble_flows_info

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium')
KUBECTL_TABLE = (
    'NAMESPACE   LAST SEEN   TYPE      REASON       OBJECT        MESSAGE\n'
    'cni-test    2m          Warning   PacketDrop   pod/netshot   Packet dropped (policy_denied) 10.0.0.1:4444 -> 10.0.0.2:80 tcp SYN\n'
    'cni-test    2m          Normal    Scheduled    pod/nginx     Successfully assigned cni-test/nginx to kind-worker\n')


def fixture_path(name):
    return os.path.join(FIXTURES, name)


def clean_flows():
    """The fixture capture without its lost_events record and without drops: evidence that alone earns a plain pass."""
    with open(fixture_path('flows.jsonl'), 'rb') as handle:
        return b''.join(line for line in handle if b'lost_events' not in line and b'"DROPPED"' not in line)


def run_module(module, capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def hubble(capsys, monkeypatch, path, **args):
    return run_module(hubble_flows_info, capsys, monkeypatch, transport='file', src=str(path), **args)


def events(capsys, monkeypatch, path, **args):
    return run_module(drop_events_info, capsys, monkeypatch, src=str(path), **args)


def report_of(evidence):
    """Build the report and render every format; returns (report, {format: text})."""
    report = report_model.build_report(cluster='c1', evidence=evidence, snapshot=samples.example_snapshot(), now=samples.NOW)
    rendered = {fmt: report_model.render(report, fmt).decode('utf-8') for fmt in report_model.FORMATS}
    return report, rendered


def assert_no_plain_pass(report, rendered, reason):
    """Incomplete evidence shows in every format and the verdict is at best 'pass (incomplete evidence)'."""
    assert report['coverage']['complete'] is False
    assert any(reason in r for r in report['coverage']['incomplete_reasons']), report['coverage']['incomplete_reasons']
    assert report['summary']['verdict'] in ('incomplete', 'fail')
    data = json.loads(rendered['json'])
    assert data['summary']['verdict'] != 'pass' and data['coverage']['complete'] is False
    root = ET.fromstring(rendered['junit'].encode('utf-8'))
    coverage_case = root.find(".//testcase[@name='evidence coverage']")
    assert coverage_case is not None and coverage_case.find('failure') is not None
    assert coverage_case.find('failure').get('type') == 'incomplete_evidence'
    assert int(root.get('failures')) >= 1
    assert reason in coverage_case.find('failure').get('message')
    if report['summary']['verdict'] == 'incomplete':
        assert '**PASS (incomplete evidence)**' in rendered['markdown']
        assert 'PASS (incomplete evidence)</span>' in rendered['html']
    assert '**PASS**' not in rendered['markdown']
    assert '>PASS</span>' not in rendered['html'].split('<section id="expectations"')[0]
    assert 'Coverage complete | no: ' in rendered['markdown']
    assert 'Incomplete because' in rendered['html']


def test_clean_evidence_with_a_snapshot_earns_a_plain_pass(tmp_path, capsys, monkeypatch):
    """The control case: the rule does not make every report incomplete."""
    path = tmp_path / 'flows.jsonl'
    path.write_bytes(clean_flows())
    result = hubble(capsys, monkeypatch, path)
    assert result['coverage']['not_understood'] == 0 and result['coverage']['empty'] is False
    report, rendered = report_of([result])
    assert report['coverage']['complete'] is True and report['coverage']['incomplete_reasons'] == []
    assert report['summary']['verdict'] == 'pass' and '**PASS**' in rendered['markdown']
    root = ET.fromstring(rendered['junit'].encode('utf-8'))
    assert root.find(".//testcase[@name='evidence coverage']").find('failure') is None


@pytest.mark.parametrize('garbage', [
    pytest.param(b'', id='nothing'),
    pytest.param(None, id='1MB-random-bytes'),
    pytest.param('compact', id='hubble-observe-compact-text'),
    pytest.param(KUBECTL_TABLE.encode(), id='kubectl-get-events-table'),
    pytest.param('events', id='events-file'),
])
def test_hubble_src_that_is_not_a_flow_capture_fails_or_is_incomplete(tmp_path, capsys, monkeypatch, garbage):
    if garbage is None:
        garbage = random.Random(10).randbytes(1 << 20)
    elif garbage == 'compact':
        with open(fixture_path('flows_compact.txt'), 'rb') as handle:
            garbage = handle.read()
    elif garbage == 'events':
        with open(fixture_path('events.json'), 'rb') as handle:
            garbage = handle.read()
    path = tmp_path / 'capture.txt'
    path.write_bytes(garbage)
    failed = hubble(capsys, monkeypatch, path)
    assert failed['failed'] is True
    assert 'holds no Hubble flows' in failed['msg'] and 'allow_empty: true' in failed['msg']
    accepted = hubble(capsys, monkeypatch, path, allow_empty=True)
    assert accepted['coverage']['empty'] is True and accepted['flows_total'] == 0
    assert accepted['coverage']['not_understood'] == accepted['malformed']['count'] + accepted['coverage']['other_records']
    if garbage.strip():
        assert accepted['coverage']['not_understood'] > 0
    report, rendered = report_of([accepted])
    assert_no_plain_pass(report, rendered, 'empty evidence')
    # The failed collector result cannot make a report pass either: it is refused as evidence.
    with pytest.raises(report_model.ReportError, match='is not a result of'):
        report_of([failed])


def test_garbage_mixed_into_a_flow_capture_is_counted_and_shown(tmp_path, capsys, monkeypatch):
    with open(fixture_path('flows_compact.txt'), 'rb') as handle:
        compact = handle.read()
    path = tmp_path / 'flows.jsonl'
    path.write_bytes(clean_flows() + compact + KUBECTL_TABLE.encode() + b'{"kind": "Event"}\n' + clean_flows()[:300] + b'\n')
    result = hubble(capsys, monkeypatch, path)
    bad = compact.count(b'\n') + KUBECTL_TABLE.count('\n') + 2  # + the JSON object that is no flow + the truncated line
    assert result['coverage']['not_understood'] == bad
    report, rendered = report_of([result])
    assert report['coverage']['not_understood']['count'] == bad
    assert_no_plain_pass(report, rendered, f'{bad} input element(s) not understood')
    assert f'| Input not understood | {bad} |' in rendered['markdown']
    assert f'<th>Input not understood</th><td>{bad}</td>' in rendered['html']
    assert f'Not understood: {bad}' in rendered['junit']


def test_lines_skipped_by_the_fast_path_are_only_complete_objects_of_other_verdicts():
    forwarded = [line for line in clean_flows().splitlines() if b'"FORWARDED"' in line]
    truncated = forwarded[0][:-40]
    drops, coverage = read_drops(b'\n'.join(forwarded + [truncated, b'', b'  ']) + b'\n')
    assert drops == []
    assert coverage.skipped_other_verdicts == len(forwarded)  # never decoded, provably another verdict
    assert coverage.malformed == 1 and coverage.malformed_lines == [len(forwarded) + 1]  # the truncated one is decoded


@pytest.mark.parametrize('content, what', [
    pytest.param(b'', 'contains nothing', id='nothing'),
    pytest.param(KUBECTL_TABLE.encode(), 'not Kubernetes Events', id='kubectl-get-events-table'),
    pytest.param('flows', 'not Kubernetes Events', id='flows-file'),
])
def test_events_src_that_holds_no_event_fails_or_is_incomplete(tmp_path, capsys, monkeypatch, content, what):
    if content == 'flows':
        with open(fixture_path('flows.jsonl'), 'rb') as handle:
            content = handle.read()
    path = tmp_path / 'events.yaml'
    path.write_bytes(content)
    failed = events(capsys, monkeypatch, path)
    assert failed['failed'] is True
    assert 'holds no Kubernetes Event' in failed['msg'] and what in failed['msg'] and 'allow_empty: true' in failed['msg']
    accepted = events(capsys, monkeypatch, path, allow_empty=True)
    assert accepted['coverage']['empty'] is True and accepted['events_total'] == 0
    if content:
        assert accepted['coverage']['not_understood'] > 0
    flows = tmp_path / 'flows.jsonl'
    flows.write_bytes(clean_flows())
    report, rendered = report_of([accepted, hubble(capsys, monkeypatch, flows)])
    assert_no_plain_pass(report, rendered, 'empty evidence')


def test_random_bytes_given_to_drop_events_info_fail_with_a_clear_error(tmp_path, capsys, monkeypatch):
    path = tmp_path / 'events.json'
    path.write_bytes(random.Random(7).randbytes(1 << 20))
    failed = events(capsys, monkeypatch, path, allow_empty=True)
    assert failed['failed'] is True and str(path) in failed['msg'] and 'Traceback' not in failed['msg']
    with pytest.raises(report_model.ReportError, match='is not a result of'):
        report_of([failed])


def test_flows_mixed_into_an_event_file_and_unparsed_messages_are_not_understood(tmp_path, capsys, monkeypatch):
    with open(fixture_path('events.json'), encoding='utf-8') as handle:
        document = json.load(handle)
    document['items'].append({'flow': {'verdict': 'DROPPED'}, 'node_name': 'kind-worker', 'time': '2025-05-31T05:24:48Z'})
    document['items'].append('LAST SEEN TYPE REASON')
    odd = json.loads(json.dumps(document['items'][0]))
    odd['metadata']['uid'] = 'odd-uid'
    odd['message'] = 'something Cilium never wrote'
    document['items'].append(odd)
    path = tmp_path / 'events.json'
    path.write_text(json.dumps(document), encoding='utf-8')
    result = events(capsys, monkeypatch, path)
    assert result['coverage']['events_malformed'] == 2 and result['unparsed']['count'] >= 1
    assert result['coverage']['not_understood'] == 2 + result['unparsed']['count']
    assert any('keys flow, node_name, time' in s for s in result['coverage']['not_understood_samples'])
    flows = tmp_path / 'flows.jsonl'
    flows.write_bytes(clean_flows())
    report, rendered = report_of([result, hubble(capsys, monkeypatch, flows)])
    assert report['coverage']['not_understood']['events'] == result['coverage']['not_understood']
    assert_no_plain_pass(report, rendered, 'input element(s) not understood')
    assert 'were not usable Events' in rendered['markdown']


def test_missing_policy_snapshot_is_incomplete(tmp_path, capsys, monkeypatch):
    path = tmp_path / 'flows.jsonl'
    path.write_bytes(clean_flows())
    result = hubble(capsys, monkeypatch, path)
    report = report_model.build_report(cluster='c1', evidence=[result], snapshot=None, now=samples.NOW)
    rendered = {fmt: report_model.render(report, fmt).decode('utf-8') for fmt in report_model.FORMATS}
    assert_no_plain_pass(report, rendered, 'no policy snapshot')
    assert report_model.should_fail(report['summary'], 'any') and not report_model.should_fail(report['summary'], 'unexpected')


@pytest.mark.parametrize('collector', ['hubble_flows_info', 'drop_events_info'])
def test_violations_cut_by_max_violations_are_incomplete_evidence(tmp_path, capsys, monkeypatch, collector):
    """A collector that returned only some violations (max_violations) cannot back a plain pass: the report never saw
    the rest. With max_violations: 0 the same evidence is complete again."""
    if collector == 'hubble_flows_info':
        path = fixture_path('flows.jsonl')
        cut = hubble(capsys, monkeypatch, path, max_violations=1)
        whole = hubble(capsys, monkeypatch, path, max_violations=0)
        others = [hubble(capsys, monkeypatch, path, max_violations=0)]
    else:
        path = fixture_path('events.json')
        cut = events(capsys, monkeypatch, path, max_violations=1)
        whole = events(capsys, monkeypatch, path, max_violations=0)
        others = []
    assert cut['violations_truncated'] is True and cut['violations_total'] > 1 and len(cut['violations']) == 1
    report, rendered = report_of([cut] + others)
    assert_no_plain_pass(report, rendered, 'violations not returned by a collector')
    assert any('max_violations: 0' in note for note in report['coverage']['notes'])
    report, _rendered = report_of([whole] + others)
    assert not any('violations not returned' in r for r in report['coverage']['incomplete_reasons'])


def test_drops_beyond_the_aggregation_limit_are_incomplete_evidence(tmp_path, capsys, monkeypatch):
    path = tmp_path / 'flows.jsonl'
    path.write_bytes(clean_flows())
    result = hubble(capsys, monkeypatch, path)
    report, _rendered = report_of([result])
    assert report['coverage']['complete'] is True
    result['aggregation']['overflow_drops'] = 7  # what the Aggregator reports past its max_violations distinct keys
    report, rendered = report_of([result])
    assert_no_plain_pass(report, rendered, '7 drop(s) beyond the aggregation limit')
