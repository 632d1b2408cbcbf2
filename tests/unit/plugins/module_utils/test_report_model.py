# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report document: merging sources, attribution, coverage, hashing, writing plans and the fleet roll-up."""

from __future__ import annotations

import copy
import datetime
import json
import os

import jsonschema
import pytest
import report_samples as samples
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.report import document as report_document

LATER = samples.NOW + datetime.timedelta(hours=3)


def validate(document, name='report'):
    jsonschema.Draft202012Validator(samples.schema(name)).validate(document)


def netshot_violation(report):
    found = [v for v in report['violations'] if v['source']['workload'] == 'netshot' and v['port'] == 80]
    assert len(found) == 1, report['violations']
    return found[0]


def test_reference_experiment_report_attributes_the_drop_and_passes():
    report = samples.example_report()
    validate(report)
    violation = netshot_violation(report)
    # Events (sampled, count 7) and flows (2 packets after collapsing the verdict/drop pair) merged under one key;
    # count is the larger of the two lower bounds.
    assert violation['count_by_kind'] == {'event': 7, 'flow': 2} and violation['count'] == 7
    assert violation['evidence_kinds'] == ['event', 'flow']
    assert violation['attribution']['verdict'] == 'deny'
    assert [(h['kind'], h['namespace'], h['name'], h['effect']) for h in violation['attribution']['responsible']] == [
        ('NetworkPolicy', 'cni-test', 'deny-egress', 'default-deny')]
    assert violation['classification'] == 'expected' and violation['expectation'] == 'netshot-cannot-reach-nginx'
    assert {s['kind'] for s in violation['evidence']} == {'event', 'flow'}
    results = {r['name']: (r['verdict'], r['category']) for r in report['expectations']}
    assert results == {'netshot-cannot-reach-nginx': ('pass', 'control_proven'),
                       'control-reaches-nginx': ('pass', 'allow_observed'),
                       'netshot-resolves-names': ('pass', 'allow_observed')}
    # Hubble lost 2 events in this capture: every expectation passes, but the evidence is incomplete (no plain pass).
    assert report['summary']['verdict'] == 'incomplete' and report['summary']['unexpected'] == 0
    assert report['coverage']['incomplete_reasons'] == ['Hubble lost 2 event(s)']
    assert report['run']['cluster'] == 'kind-reference'
    assert [s['kind'] for s in report['run']['sources']] == ['events', 'hubble', 'hubble']


def test_coverage_says_what_the_run_could_not_see():
    coverage = samples.example_report()['coverage']
    notes = '\n'.join(coverage['notes'])
    assert 'at most one PacketDrop Event per pod per emitter interval (5s)' in notes
    assert '--event-ttl (1h)' in notes and '2025-05-31T05:24:48Z' in notes
    # Two Hubble collections over the same capture: the 2 lost events are counted once.
    assert coverage['lost_events'] == {'total': 2, 'by_source': {'HUBBLE_RING_BUFFER': 2}, 'by_node': {'kind-control-plane': 2}}
    assert 'Hubble lost 2 event(s)' in notes
    assert coverage['complete'] is False
    assert coverage['nodes']['seen'] == ['kind-control-plane'] and coverage['nodes']['expected'] == ['kind-control-plane']
    events_only = samples.example_report(evidence=samples.example_evidence()[:1], snapshot=None)['coverage']
    assert 'Hubble flows were not collected' in ' '.join(events_only['notes'])
    assert 'No policy snapshot' in ' '.join(events_only['notes'])


def test_failed_partial_and_invalid_evidence():
    evidence = samples.example_evidence()
    evidence[1]['partial'] = True
    evidence[1]['partial_reasons'] = ['1 of 2 nodes did not answer: kind-worker (NODE_UNAVAILABLE)']
    evidence[1]['nodes']['unavailable'] = [{'name': 'kind-worker', 'pod': None, 'reason': 'NODE_UNAVAILABLE'}]
    evidence.append({'failed': True, 'msg': 'relay unreachable', 'flows_total': 0})
    evidence.append({'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'})
    report = samples.example_report(evidence=evidence)
    notes = ' '.join(report['coverage']['notes'])
    assert 'kind-worker (NODE_UNAVAILABLE)' in notes and 'Partial collection' in notes
    assert '1 collector result(s) had failed' in notes
    assert report['run']['sources'][-1]['failed'] is True and len(report['run']['sources']) == 4
    validate(report)
    with pytest.raises(report_model.ReportError, match=r'evidence\[0\] is not a result of netobs.cilium.drop_events_info'):
        samples.example_report(evidence=[{'stdout': 'x'}])
    with pytest.raises(report_model.ReportError, match='not a registered module result'):
        samples.example_report(evidence=['text'])


def test_merge_violations_adds_counts_per_kind_and_widens_times():
    base = {'key': 'k', 'direction': 'egress', 'source': {'namespace': 'a', 'workload': 'x', 'pods': ['x-1']},
            'destination': {'namespace': 'b', 'workload': 'y', 'pods': []}, 'protocol': 'TCP', 'port': 80, 'reason': 'POLICY_DENIED'}
    events = dict(base, count=5, count_by_kind={'event': 5, 'flow': 0}, first_seen='2025-05-31T05:00:00Z', last_seen='2025-05-31T05:10:00Z',
                  evidence_kinds=['event'], samples=[{'kind': 'event', 'ref': 'a/x-1.1'}])
    flows = dict(base, source=dict(base['source'], pods=['x-2']), count=3, count_by_kind={'event': 0, 'flow': 3},
                 first_seen='2025-05-31T04:59:59.5Z', last_seen='2025-05-31T05:05:00Z', nodes=['n1'], evidence_kinds=['flow'],
                 policies=[{'relation': 'denied_by', 'name': 'p'}])
    merged = report_model.merge_violations([[events], [flows], [{'no': 'key'}]])
    assert len(merged) == 1
    item = merged[0]
    assert item['count_by_kind'] == {'event': 5, 'flow': 3} and item['count'] == 5
    assert (item['first_seen'], item['last_seen']) == ('2025-05-31T04:59:59.5Z', '2025-05-31T05:10:00Z')
    assert item['source']['pods'] == ['x-1', 'x-2'] and item['nodes'] == ['n1'] and item['evidence_kinds'] == ['event', 'flow']
    assert item['policies'] == [{'relation': 'denied_by', 'name': 'p'}]


def test_probes_from_a_role_result_and_bad_probes():
    probes = [{'probes': [{'name': 'p1', 'from': 'cni-test/netshot', 'to': '10.0.0.226', 'port': 80, 'succeeded': True}]},
              {'name': 'broken', 'from': 'cni-test/netshot'}]
    report = samples.example_report(probes=probes)
    result = next(r for r in report['expectations'] if r['name'] == 'netshot-cannot-reach-nginx')
    assert (result['verdict'], result['category']) == ('fail', 'unexpected_allow')
    assert 'probe p1' in result['explanation']
    assert any('probe broken was ignored' in note for note in report['coverage']['notes'])
    assert report['summary']['unexpected'] == 1
    assert report_model.should_fail(report['summary'], 'unexpected') and report_model.should_fail(report['summary'], 'any')
    assert not report_model.should_fail(report['summary'], 'none')


def test_unproven_control_fails_only_fail_on_any():
    report = samples.example_report(evidence=samples.example_evidence()[2:], probes=[])
    result = next(r for r in report['expectations'] if r['name'] == 'netshot-cannot-reach-nginx')
    assert (result['verdict'], result['category']) == ('fail', 'control_unproven')
    assert result['prediction']['verdict'] == 'deny' and 'would deny it' in result['explanation']
    assert report['summary']['failing'] == 1 and report['summary']['unexpected'] == 0
    assert report_model.should_fail(report['summary'], 'any') and not report_model.should_fail(report['summary'], 'unexpected')
    findings, truncated = report_model.findings(report)
    assert [(f['type'], f['name'], f['category']) for f in findings] == [('expectation', 'netshot-cannot-reach-nginx', 'control_unproven')]
    assert truncated is False


def test_hashes_ignore_time_and_baseline_but_not_content():
    first = samples.example_report()
    second = samples.example_report(now=LATER)
    assert first['run']['generated_at'] != second['run']['generated_at']
    assert first['content_hash'] == second['content_hash'] and first['evidence_hash'] == second['evidence_hash']
    with_baseline = samples.example_report(baseline=first, baseline_source='prev.json')
    assert with_baseline['content_hash'] != first['content_hash']
    assert with_baseline['evidence_hash'] == first['evidence_hash']
    assert report_model.same_evidence(with_baseline, first)
    assert with_baseline['baseline']['persisting'] == [v['id'] for v in sorted(first['violations'], key=lambda v: v['id'])]
    assert all(v['baseline'] == 'persisting' for v in with_baseline['violations'])
    fewer = samples.example_report(expectations=samples.example_expectations()[:1])
    assert fewer['content_hash'] != first['content_hash'] and not report_model.same_evidence(fewer, first)
    validate(with_baseline)


def test_baseline_new_and_resolved(tmp_path):
    events_only = samples.example_report(evidence=samples.example_evidence()[:1])
    extra = copy.deepcopy(samples.example_evidence())
    extra[1]['violations'].append(dict(extra[1]['violations'][0], key='egress|cni-test/netshot|ip:9.9.9.9|UDP|53|POLICY_DENIED',
                                       destination={'namespace': None, 'workload': None, 'pods': [], 'reserved': 'world', 'ip': '9.9.9.9'},
                                       protocol='UDP', port=53))
    now = samples.example_report(evidence=extra, baseline=events_only, baseline_source='prev.json')
    new_id = report_model.violation_id('egress|cni-test/netshot|ip:9.9.9.9|UDP|53|POLICY_DENIED')
    assert now['baseline']['new'] == [new_id] and now['summary']['baseline'] == {'new': 1, 'resolved': 0, 'persisting': 1}
    unreviewed = next(v for v in now['violations'] if v['id'] == new_id)
    assert unreviewed['classification'] == 'unreviewed' and unreviewed['baseline'] == 'new'
    back = samples.example_report(evidence=samples.example_evidence()[:1], baseline=now)
    assert back['baseline']['resolved'] == [new_id]
    assert back['baseline']['resolved_details'][0]['summary'].startswith('cni-test/netshot -> world (9.9.9.9) UDP/53')


def test_plan_outputs_reuses_the_generation_time_of_unchanged_reports(tmp_path):
    report = samples.example_report()
    plan = report_model.plan_outputs(report, str(tmp_path), 'compliance', report_model.FORMATS)
    assert [p['changed'] for p in plan] == [True] * 4
    for item in plan:
        report_model.write_atomic(item['path'], item['content'])
    assert sorted(os.listdir(tmp_path)) == ['compliance.html', 'compliance.json', 'compliance.junit.xml', 'compliance.md']
    later = samples.example_report(now=LATER)
    replan = report_model.plan_outputs(later, str(tmp_path), 'compliance', report_model.FORMATS)
    assert [p['changed'] for p in replan] == [False] * 4
    assert later['run']['generated_at'] == report['run']['generated_at']
    for fmt in ('junit', 'markdown', 'html'):
        path = report_model.output_paths(str(tmp_path), 'compliance', [fmt])[fmt]
        assert report_document.read_marker(path) == (report['content_hash'], report['run']['generated_at'])
    changed = samples.example_report(now=LATER, expectations=samples.example_expectations()[:2])
    assert all(p['changed'] for p in report_model.plan_outputs(changed, str(tmp_path), 'compliance', ['json', 'html']))
    assert changed['run']['generated_at'] == '2025-06-01T11:00:00Z'


def test_rollup(tmp_path):
    paths = []
    for cluster, evidence in (('prod', samples.example_evidence()), ('staging', samples.example_evidence()[2:])):
        report = samples.example_report(cluster=cluster, evidence=evidence)
        path = tmp_path / cluster / 'compliance.json'
        report_model.write_atomic(str(path), report_model.render(report, 'json'))
        paths.append(str(path))
    rollup = report_model.build_rollup(list(reversed(paths)), now=samples.NOW)
    validate(rollup, 'fleet')
    assert [(c['cluster'], c['verdict']) for c in rollup['clusters']] == [('prod', 'incomplete'), ('staging', 'fail')]
    assert rollup['summary'] == {'clusters': 2, 'passed': 0, 'failed': 2, 'unexpected': 0}  # incomplete evidence is no pass
    matrix = {item['name']: {k: v['category'] for k, v in item['results'].items()} for item in rollup['expectations']}
    assert matrix['netshot-cannot-reach-nginx'] == {'prod': 'control_proven', 'staging': 'control_unproven'}
    assert report_model.build_rollup(paths, now=LATER)['content_hash'] == rollup['content_hash']
    for fmt in ('markdown', 'html'):
        assert b'staging' in report_model.render(rollup, fmt)
    with pytest.raises(report_model.ReportError, match='junit'):
        report_model.render(rollup, 'junit')
    with pytest.raises(report_model.ReportError, match="cluster 'prod' appears in several"):
        report_model.build_rollup([paths[0], paths[0]])
    (tmp_path / 'other.json').write_text(json.dumps({'kind': 'something'}))
    with pytest.raises(report_model.ReportError, match='is not a netobs.cilium compliance report'):
        report_model.build_rollup([str(tmp_path / 'other.json')])


def test_collection_version_matches_galaxy_yml():
    with open(os.path.join(samples.REPO, 'galaxy.yml'), encoding='utf-8') as handle:
        assert yaml.safe_load(handle)['version'] == report_document.COLLECTION_VERSION
