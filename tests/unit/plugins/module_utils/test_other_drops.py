# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: drops that are not network-policy verdicts are listed as other drops, counted, and never judged.

Evidence is the real Cilium 1.19.6 capture (tests/fixtures/real/1.19.6): a POLICY_DENIED curl netshot -> nginx and
12 ICMPv6 router/multicast solicitations dropped as UNSUPPORTED_L3_PROTOCOL (IPv6 disabled in Cilium).
"""

from __future__ import annotations

import copy
import json
import os

import jsonschema
import pytest
import report_samples as samples
import xmlschema

from ansible_collections.netobs.cilium.plugins.module_utils.evidence import reasons as drop_reasons
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.report import json as report_json
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot

CAPTURE = os.path.join(samples.REPO, 'tests', 'fixtures', 'real', '1.19.6', 'hubble-observe-last200.jsonl')
ICMP6_TARGETS = {'ff02::2', 'ff02::16', 'ff02::1:ff3e:7669', 'ff02::1:ff4e:7aed'}


@pytest.fixture(scope='module')
def evidence():
    result = pipeline.hubble_flows(transport='file', src=CAPTURE, verdicts=['DROPPED'])[0]
    return json.loads(json.dumps(result))


def report_of(evidence, **options):
    return report_model.build_report(cluster='netobs-local', evidence=[copy.deepcopy(evidence)], now=samples.NOW, **options)


def expectation(**entry):
    return exp.load_expectations([dict({'name': 'e'}, **entry)])


@pytest.mark.parametrize('reason, verdict', [
    ('POLICY_DENIED', True), ('policy_deny', True), (189, True), ('AUTH_REQUIRED', True),
    ('UNSUPPORTED_L3_PROTOCOL', False), (139, False), ('ct_map_insertion_failed', False), ('STALE_OR_UNROUTABLE_IP', False),
    (None, None), ('', None), ('DROP_REASON_UNKNOWN', None), ('UNKNOWN_250', None), (250, None), ('SOMETHING_NEW', None),
])
def test_drop_reasons_are_classified(reason, verdict):
    assert drop_reasons.is_policy_verdict(reason) is verdict


def test_icmpv6_solicitations_are_other_drops_not_violations(evidence):
    report = report_of(evidence)
    assert [v['reason'] for v in report['violations']] == ['POLICY_DENIED']
    other = report['other_drops']
    assert {item['destination']['ip'] for item in other['items']} == ICMP6_TARGETS
    assert {item['reason'] for item in other['items']} == {'UNSUPPORTED_L3_PROTOCOL'}
    assert sum(item['count'] for item in other['items']) == other['count'] == 12
    assert other['by_reason'][0]['explanation'].startswith('UNSUPPORTED_L3_PROTOCOL is a datapath drop, not a network-policy verdict')
    assert all(item['evidence'] and 'UNSUPPORTED_L3_PROTOCOL' in item['evidence'][0]['text'] for item in other['items'])
    # The only failing finding is the unreviewed policy drop.
    assert report['summary']['unexpected'] == report['summary']['failing'] == 1
    assert [f['name'] for f in report_model.findings(report)[0]] == [report['violations'][0]['id']]


def test_report_with_other_drops_is_valid_in_every_format(evidence):
    snapshot = PolicySnapshot.from_files([os.path.join(os.path.dirname(CAPTURE), 'policy-snapshot.json')])
    report = report_of(evidence, snapshot=snapshot, expectations=expectation(**{'from': 'cni-test/netshot', 'to': 'cni-test/nginx',
                                                                                'port': 80, 'expect': 'deny'}))
    assert report['schema_version'] == '1.1' and report['summary']['verdict'] == exp.PASS
    jsonschema.Draft202012Validator(samples.schema('report')).validate(json.loads(report_json.render(report)))
    junit = report_model.render(report, 'junit').decode()
    xmlschema.XMLSchema(samples.JUNIT_XSD).validate(junit)
    assert 'skipped="6"' in junit and '<skipped message="not a policy verdict (UNSUPPORTED_L3_PROTOCOL)' in junit
    markdown = report_model.render(report, 'markdown').decode()
    assert '**PASS**: 0 failing finding(s), 0 unexpected; 6 other drop(s) (not policy verdicts, not judged).' in markdown
    assert '| `UNSUPPORTED_L3_PROTOCOL` | 12 | 6 |' in markdown
    html = report_model.render(report, 'html').decode()
    assert '<section id="other-drops">' in html and 'not judged</span>' in html


def test_schema_rejects_a_policy_verdict_listed_as_other_drop(evidence):
    report = json.loads(report_json.render(report_of(evidence)))
    report['other_drops']['items'][0]['reason'] = 'POLICY_DENIED'
    assert not jsonschema.Draft202012Validator(samples.schema('report')).is_valid(report)


def test_allow_expectation_is_not_an_outage_because_of_datapath_drops(evidence):
    allow = expectation(**{'from': 'cni-test/*', 'to': 'world', 'protocol': 'ICMPv6', 'expect': 'allow'})
    result = report_of(evidence, expectations=allow)['expectations'][0]
    assert (result['verdict'], result['category']) == (exp.PASS, exp.ALLOW_NOT_CONTRADICTED)
    assert 'also dropped for a reason that is not a policy verdict, not judged' in result['explanation']
    assert result['observed']['drops'] == 0 and result['observed']['other_drops'] > 0 and result['violations'] == []


def test_deny_expectation_is_not_proven_by_datapath_drops(evidence):
    deny = expectation(**{'from': 'cni-test/*', 'to': 'world', 'protocol': 'ICMPv6', 'expect': 'deny'})
    result = report_of(evidence, expectations=deny)['expectations'][0]
    assert (result['verdict'], result['category']) == (exp.FAIL, exp.CONTROL_UNPROVEN)
    assert 'dropped for a non-policy reason' in result['explanation']
    assert {e['origin'] for e in result['evidence']} == {exp.OTHER_DROP}


def test_other_drops_fail_opt_in_counts_them_as_unexpected(evidence):
    report = report_of(evidence, other_drops='fail')
    assert report['summary']['other_drops'] == {'total': 6, 'count': 12, 'fail': True}
    assert report['summary']['unexpected'] == report['summary']['failing'] == 7
    assert report_model.should_fail(report['summary'], 'unexpected')
    assert sum(1 for f in report_model.findings(report)[0] if f['category'] == exp.OTHER_DROP) == 6
    with pytest.raises(report_model.ReportError, match="other_drops must be one of report, fail, got 'always'"):
        report_of(evidence, other_drops='always')


def test_unknown_reason_is_still_judged(evidence):
    changed = copy.deepcopy(evidence)
    for item in changed['violations']:
        if item['reason'] == 'UNSUPPORTED_L3_PROTOCOL':
            item['reason'] = 'UNKNOWN_250'
            item['key'] = item['key'].replace('UNSUPPORTED_L3_PROTOCOL', 'UNKNOWN_250')
    report = report_of(changed)
    assert report['other_drops']['total'] == 0
    assert {v['reason'] for v in report['violations']} == {'POLICY_DENIED', 'UNKNOWN_250'}


def test_old_report_listing_them_as_violations_does_not_call_them_resolved(evidence):
    current = report_of(evidence)
    old = copy.deepcopy(current)
    old['violations'] += old.pop('other_drops')['items']  # what a 1.0 report held
    report = report_of(evidence, baseline=old)
    assert report['baseline']['resolved'] == [] and report['summary']['baseline']['resolved'] == 0
    assert {item['baseline'] for item in report['other_drops']['items']} == {'persisting'}
    again = report_of(evidence, baseline=report)
    assert again['evidence_hash'] == report['evidence_hash']
