# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JUnit XML writer: one testcase per expectation, one per unexpected (unreviewed) violation, one per other drop.

Layout (Jenkins / Surefire compatible; validated against ``tests/fixtures/junit/junit.xsd``)::

    <testsuites name="netobs.cilium compliance: <cluster>" tests failures errors skipped time>
      <testsuite name="<cluster>.expectations" ...>
        <properties> cluster, collection, schema version, content hash, coverage </properties>
        <testcase classname="netobs.cilium.<cluster>.expectations" name="<expectation>">
          <failure type="<category>" message="<explanation>">explanation, controls, evidence, attribution</failure>
          <system-out>details of passing expectations</system-out>
        </testcase>
      </testsuite>
      <testsuite name="<cluster>.violations"> one failing testcase per unreviewed violation </testsuite>
      <testsuite name="<cluster>.other_drops"> (only when there are some) one testcase per drop that is not a policy
        verdict: <skipped> (shown, not judged), or <failure type="other_drop"> with other_drops=fail; properties
        other_drops.total, other_drops.count, other_drops.reason.<REASON> </testsuite>
    </testsuites>

Every string comes through ElementTree (escaped) after removing characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.report.document import marker_text, neutralise_bidi

_XML_INVALID = re.compile('[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')
MAX_MESSAGE = 1000


def clean(value) -> str:
    """Text safe for XML 1.0 (invalid characters replaced by U+FFFD)."""
    return neutralise_bidi(_XML_INVALID.sub('\ufffd', '' if value is None else str(value)))


def _short(text: str) -> str:
    text = ' '.join(clean(text).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + '...'


def _attribution_lines(attribution: Mapping | None) -> list[str]:
    attribution = attribution or {}
    lines = [f"Attribution ({attribution.get('source') or 'none'}): {attribution.get('explanation') or 'none'}"]
    for hit in attribution.get('responsible') or []:
        ref = f"{hit.get('namespace')}/{hit.get('name')}" if hit.get('namespace') else str(hit.get('name'))
        lines.append(f"  responsible: {hit.get('kind')} {ref} rule {hit.get('rule') or '-'} ({hit.get('effect')})")
    if attribution.get('disagreement'):
        lines.append(f"  disagreement: {attribution['disagreement']}")
    return lines


def _evidence_lines(samples) -> list[str]:
    lines = []
    for sample in samples or []:
        when = sample.get('time') or '-'
        node = f" [{sample['node']}]" if sample.get('node') else ''
        count = f" x{sample['count']}" if sample.get('count') not in (None, 1) else ''
        lines.append(f"  {when}{node} {sample.get('text')} ({sample.get('ref')}){count}")
    return lines


def _expectation_text(result: Mapping, violations: Mapping[str, Mapping]) -> str:
    lines = [result['explanation'], '']
    lines.append(f"Traffic: {result['from']['text']} -> {result['to']['text']} {result.get('protocol')}"
                 + (f"/{result['port']}" if result.get('port') else ''))
    lines.append(f"Expect: {result['expect']}; verdict: {result['verdict']} ({result['category']}, basis {result.get('basis')})")
    if result.get('controls'):
        lines.append('Controls: ' + ', '.join(result['controls']))
    if result.get('description'):
        lines.append('Description: ' + result['description'])
    for vid in result.get('violations') or []:
        violation = violations.get(vid)
        if violation is None:
            continue
        lines.append('')
        lines.append(f"Violation {vid}: {violation['summary']} x{violation.get('count')}")
        lines.extend(_attribution_lines(violation.get('attribution')))
        lines.extend(_evidence_lines(violation.get('evidence')))
    others = [e for e in result.get('evidence') or [] if e.get('origin') != 'violation']
    if others:
        lines.append('')
        lines.append('Other observations:')
        lines.extend(f"  {e.get('text')}" for e in others)
    prediction = result.get('prediction')
    if prediction:
        lines.append('')
        lines.append(f"Policy evaluation: {prediction.get('verdict')}: {prediction.get('explanation') or 'no reason given'}")
    for note in result.get('notes') or []:
        lines.append('Note: ' + note)
    return clean('\n'.join(lines))


def _violation_text(violation: Mapping) -> str:
    lines = [violation['summary'] + f" x{violation.get('count')}",
             f"First seen {violation.get('first_seen') or '-'}, last seen {violation.get('last_seen') or '-'}; "
             f"nodes: {', '.join(violation.get('nodes') or []) or '-'}; evidence: {', '.join(violation.get('evidence_kinds') or [])}",
             'No expectation covers this drop: add one (expect: deny if it is a control working, expect: allow if this traffic is needed).']
    if violation.get('baseline'):
        lines.append(f"Baseline: {violation['baseline']}")
    lines.extend(_attribution_lines(violation.get('attribution')))
    lines.extend(_evidence_lines(violation.get('evidence')))
    return clean('\n'.join(lines))


def _other_drop_text(item: Mapping) -> str:
    lines = [item['summary'] + f" x{item.get('count')}", item.get('explanation') or '',
             f"First seen {item.get('first_seen') or '-'}, last seen {item.get('last_seen') or '-'}; "
             f"nodes: {', '.join(item.get('nodes') or []) or '-'}; evidence: {', '.join(item.get('evidence_kinds') or [])}"]
    if item.get('baseline'):
        lines.append(f"Baseline: {item['baseline']}")
    lines.extend(_evidence_lines(item.get('evidence')))
    return clean('\n'.join(lines))


def _other_drop_cases(other: Mapping) -> list:
    cases = []
    for item in other.get('items') or []:
        text = _other_drop_text(item)
        message = _short(f"not a policy verdict ({item.get('reason')}): {item['summary']} x{item.get('count')}")
        if other.get('fail'):
            cases.append((f"{item['id']} {item['summary']}", 'other_drops', (exp.OTHER_DROP, message, text), text, None))
        else:
            cases.append((f"{item['id']} {item['summary']}", 'other_drops', None, text, message + ' - not judged'))
    return cases


def _suite(parent, name: str, report: Mapping, cases: list) -> ET.Element:
    failures = sum(1 for case in cases if case[2] is not None)
    skipped = sum(1 for case in cases if case[4] is not None)
    suite = ET.SubElement(parent, 'testsuite', {
        'name': clean(name), 'tests': str(len(cases)), 'failures': str(failures), 'errors': '0', 'skipped': str(skipped),
        'time': '0', 'timestamp': clean((report['run'].get('generated_at') or '').rstrip('Z')),
        'hostname': clean(report['run'].get('cluster') or 'unknown'),
    })
    return suite


def render(report: Mapping) -> bytes:
    run = report['run']
    cluster = clean(run.get('cluster') or 'unknown')
    violations = {v['id']: v for v in report.get('violations') or []}
    coverage = report.get('coverage') or {}
    root = ET.Element('testsuites', {'name': f'netobs.cilium compliance: {cluster}'})
    root.append(ET.Comment(' ' + marker_text(report) + ' '))
    expectation_cases = []
    for result in report.get('expectations') or []:
        text = _expectation_text(result, violations)
        failure = None if result['verdict'] == exp.PASS else (result['category'], _short(result['explanation']), text)
        expectation_cases.append((result['name'], 'expectations', failure, text, None))
    violation_cases = []
    for violation in report.get('violations') or []:
        if violation.get('classification') != exp.UNREVIEWED:
            continue
        text = _violation_text(violation)
        message = _short(f"unreviewed drop: {violation['summary']}: {(violation.get('attribution') or {}).get('explanation') or ''}")
        violation_cases.append((f"{violation['id']} {violation['summary']}", 'violations', (exp.UNREVIEWED, message, text), text, None))
    # Evidence coverage is a test case of its own: incomplete evidence fails it, so a CI view is never all green over
    # evidence that was empty, not understood, partial or not checked against a policy snapshot.
    reasons = coverage.get('incomplete_reasons') or ([] if coverage.get('complete') else ['coverage incomplete'])
    lines = [f"Not understood: {(coverage.get('not_understood') or {}).get('count', 0)}"]
    lines += [f'- {n}' for n in coverage.get('notes') or []]
    coverage_text = clean('\n'.join(lines))
    coverage_failure = None
    if reasons:
        coverage_failure = ('incomplete_evidence', _short('evidence is incomplete: ' + '; '.join(reasons)), coverage_text)
    coverage_cases = [('evidence coverage', 'coverage', coverage_failure, coverage_text, None)]
    other = report.get('other_drops') or {}
    other_cases = _other_drop_cases(other)
    suites = [('expectations', expectation_cases), ('violations', violation_cases), ('coverage', coverage_cases)]
    if other_cases:
        suites.append(('other_drops', other_cases))
    total_failures = total_skipped = 0
    for suite_name, cases in suites:
        suite = _suite(root, f'{cluster}.{suite_name}', report, cases)
        properties = ET.SubElement(suite, 'properties')
        props = [('cluster', cluster), ('collection', f"{run['collection']['name']} {run['collection']['version']}"),
                 ('schema_version', report.get('schema_version')), ('content_hash', report.get('content_hash')),
                 ('coverage.complete', str(bool(coverage.get('complete'))).lower()),
                 ('summary.verdict', (report.get('summary') or {}).get('verdict'))]
        for index, note in enumerate(coverage.get('notes') or []):
            props.append((f'coverage.note.{index + 1}', note))
        if suite_name == 'other_drops':
            props += [('other_drops.note', other.get('note')), ('other_drops.total', other.get('total')),
                      ('other_drops.count', other.get('count'))]
            props += [(f"other_drops.reason.{row.get('reason')}", row.get('count')) for row in other.get('by_reason') or []]
        for name, value in props:
            ET.SubElement(properties, 'property', {'name': clean(name), 'value': clean(value)})
        for name, kind, failure, text, skip in cases:
            case = ET.SubElement(suite, 'testcase', {'name': clean(name), 'classname': f'netobs.cilium.{cluster}.{kind}', 'time': '0'})
            if failure is not None:
                total_failures += 1
                element = ET.SubElement(case, 'failure', {'type': clean(failure[0]), 'message': failure[1]})
                element.text = failure[2]
            elif skip is not None:
                total_skipped += 1
                ET.SubElement(case, 'skipped', {'message': clean(skip)})
                ET.SubElement(case, 'system-out').text = text
            else:
                ET.SubElement(case, 'system-out').text = text
        ET.SubElement(suite, 'system-out').text = clean('Coverage notes:\n' + '\n'.join(f'- {n}' for n in coverage.get('notes') or []))
    root.set('tests', str(sum(len(cases) for _name, cases in suites)))
    root.set('failures', str(total_failures))
    root.set('errors', '0')
    root.set('skipped', str(total_skipped))
    root.set('time', '0')
    ET.indent(root)
    body = ET.tostring(root, encoding='unicode')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + '\n').encode('utf-8')
