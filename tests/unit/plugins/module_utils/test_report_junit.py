# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JUnit writer: valid against tests/fixtures/junit/junit.xsd (xmlschema) and readable by junitparser."""

from __future__ import annotations

import junitparser
import report_samples as samples
import xmlschema

from ansible_collections.netobs.cilium.plugins.module_utils.report import junit as report_junit

SCHEMA = xmlschema.XMLSchema(samples.JUNIT_XSD)


def parse(tmp_path, report):
    path = tmp_path / 'report.junit.xml'
    path.write_bytes(report_junit.render(report))
    SCHEMA.validate(str(path))
    return junitparser.JUnitXml.fromfile(str(path))


def cases(xml):
    return {(suite.name, case.name): case for suite in xml for case in suite}


def test_one_testcase_per_expectation_and_per_unexpected_violation(tmp_path):
    evidence = samples.example_evidence()
    evidence[0]['violations'].append(dict(evidence[0]['violations'][0], key='egress|cni-test/netshot|ip:8.8.8.8|UDP|53|POLICY_DENIED',
                                          destination={'namespace': None, 'workload': None, 'pods': [], 'reserved': 'world', 'ip': '8.8.8.8'},
                                          protocol='UDP', port=53))
    report = samples.example_report(evidence=evidence, expectations=samples.example_expectations()[:2])
    xml = parse(tmp_path, report)
    found = cases(xml)
    names = sorted(found)
    assert [n for n in names if n[0] == 'kind-reference.expectations'] == [
        ('kind-reference.expectations', 'control-reaches-nginx'), ('kind-reference.expectations', 'netshot-cannot-reach-nginx')]
    unexpected = [n for n in names if n[0] == 'kind-reference.violations']
    assert len(unexpected) == 1 and 'world (8.8.8.8) UDP/53' in unexpected[0][1]
    assert found[('kind-reference.expectations', 'netshot-cannot-reach-nginx')].is_passed
    failure = found[unexpected[0]].result[0]
    assert isinstance(failure, junitparser.Failure) and failure.type == 'unreviewed'
    assert 'No expectation covers this drop' in failure.text
    assert xml.tests == 4 and xml.failures == 2  # + the evidence coverage case, failing: Hubble lost 2 events
    suite = next(iter(xml))
    props = {p.name: p.value for p in suite.properties()}
    assert props['cluster'] == 'kind-reference' and props['summary.verdict'] == 'fail'
    assert any('emitter interval (5s)' in v for k, v in props.items() if k.startswith('coverage.note.'))


def test_failures_carry_explanation_and_evidence(tmp_path):
    report = samples.example_report(evidence=samples.example_evidence()[2:], probes=[])
    found = cases(parse(tmp_path, report))
    case = found[('kind-reference.expectations', 'netshot-cannot-reach-nginx')]
    failure = case.result[0]
    assert failure.type == 'control_unproven'
    assert failure.message.startswith('no policy drop of cni-test/netshot')
    assert 'Controls: CIS-5.3.2, NETSEC-EGRESS-01' in failure.text and 'Policy evaluation: deny' in failure.text
    passing = found[('kind-reference.expectations', 'netshot-resolves-names')]
    assert passing.is_passed and 'UDP/53 EGRESS FORWARDED' in passing.system_out


def test_hostile_data_stays_valid_xml(tmp_path):
    report = samples.hostile_report(cluster='c\x00l\x1bu]]>s<t"e\'r&')
    data = report_junit.render(report)
    assert b'\x00' not in data and b'\x1b' not in data and b']]>' not in data
    found = cases(parse(tmp_path, report))
    assert any(samples.SCRIPT in name for _suite, name in found)
    texts = ' '.join((case.result[0].text or '') for case in found.values() if case.result)
    assert samples.SVG_BREAK in texts
