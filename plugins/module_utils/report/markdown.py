# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown writer: a summary for pull-request comments and tickets (GitHub-flavoured Markdown).

Cluster-provided text is never trusted: identifiers go into code spans (``code()``: no HTML, no
links inside), free text goes through ``text()`` (HTML-escaped, Markdown punctuation backslash-escaped,
URL-like tokens put into code spans so they are never turned into links). Table cells also escape
``|`` and newlines.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.report.document import (
    VERDICT_INCOMPLETE, VERDICT_LABELS, marker_text, neutralise_bidi, rollup_headline, split_code_spans)

_SPECIAL = re.compile(r'([\\`*_{}\[\]()#+!|~])')
_URLISH = re.compile(r'(?i)(\b(?:[a-z][a-z0-9+.-]*://|(?:javascript|data|vbscript|mailto|file|tel):|www\.)\S*)')
_CONTROL = re.compile('[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]')
MAX_ROWS = 200
ICON = {exp.PASS: 'PASS', exp.FAIL: 'FAIL', VERDICT_INCOMPLETE: VERDICT_LABELS[VERDICT_INCOMPLETE]}


def _flat(value) -> str:
    return ' '.join(neutralise_bidi(_CONTROL.sub('', '' if value is None else str(value))).split())


def code(value) -> str:
    """An inline code span holding ``value`` literally (longer fence than any backtick run inside)."""
    body = _flat(value).replace('|', '\\|')
    if not body:
        return ''
    longest = max((len(run) for run in re.findall('`+', body)), default=0)
    fence = '`' * (longest + 1)
    pad = ' ' if body.startswith('`') or body.endswith('`') or longest else ''
    return f'{fence}{pad}{body}{pad}{fence}'


def text(value) -> str:
    """Plain text: escaped so that nothing in it becomes HTML, emphasis, a link or a table cell break."""
    parts = _URLISH.split(_flat(value))
    out = []
    for index, part in enumerate(parts):
        if not part:
            continue
        if index % 2:
            out.append(code(part))
        else:
            out.append(html.escape(_SPECIAL.sub(r'\\\1', part), quote=False))
    return ''.join(out)


def rich(value) -> str:
    """An explanation: its `name` spans become code spans, the rest is ``text()``."""
    out = []
    for is_code, part in split_code_spans('' if value is None else str(value)):
        if is_code:
            out.append(code(part))
        else:  # text() trims; the spaces around a code span are part of the sentence
            out.append((' ' if part[:1].isspace() else '') + text(part) + (' ' if part[-1:].isspace() and part.strip() else ''))
    return ''.join(out)


def _prediction(result: Mapping) -> str:
    """Why the policy evaluation of an expectation is unknown (or what it found), for the explanation cell."""
    prediction = result.get('prediction') or {}
    if not prediction or prediction.get('verdict') != 'unknown':
        return ''
    return f"<br>policy evaluation: unknown - {rich(prediction.get('explanation') or 'no reason given')}"


def _row(cells) -> str:
    return '| ' + ' | '.join(cells) + ' |'


def _table(headers, rows) -> list[str]:
    lines = [_row(headers), _row(['---'] * len(headers))]
    for row in rows[:MAX_ROWS]:
        lines.append(_row(row))
    if len(rows) > MAX_ROWS:
        lines.append('')
        lines.append(f'({len(rows) - MAX_ROWS} more rows in the JSON report)')
    return lines


def _traffic(result: Mapping) -> str:
    l4 = result.get('protocol') or 'ANY'
    if result.get('port'):
        l4 = f"{l4}/{result['port']}"
    return f"{code(result['from']['text'])} -> {code(result['to']['text'])} {code(l4)}"


def _policies(attribution: Mapping | None) -> str:
    hits = (attribution or {}).get('responsible') or []
    if not hits:
        return '-'
    parts = []
    for hit in hits[:3]:
        ref = f"{hit.get('namespace')}/{hit.get('name')}" if hit.get('namespace') else str(hit.get('name'))
        rule = f" {hit['rule']}" if hit.get('rule') else ''
        parts.append(code(f"{hit.get('kind')} {ref}{rule}"))
    more = f' (+{len(hits) - 3})' if len(hits) > 3 else ''
    return ', '.join(parts) + more


def _other_headline(summary: Mapping) -> str:
    other = summary.get('other_drops') or {}
    if not other.get('total'):
        return ''
    how = 'counted as failures' if other.get('fail') else 'not judged'
    return f"; {other['total']} other drop(s) (not policy verdicts, {how})"


def _other_drops(report: Mapping) -> list[str]:
    """The "Other drops (not policy verdicts)" section: per reason, then per peer."""
    other = report.get('other_drops') or {}
    items = other.get('items') or []
    if not items:
        return []
    lines = ['', '## Other drops (not policy verdicts)', '', text(other.get('note')), '']
    lines.extend(_table(['Reason', 'Drops', 'Entries', 'Meaning'], [
        [code(row.get('reason')), str(row.get('count')), str(row.get('entries')), rich(row.get('explanation'))]
        for row in other.get('by_reason') or []]))
    lines.append('')
    lines.extend(_table(['ID', 'Traffic', 'Reason', 'Count', 'Nodes', 'Baseline'], [
        [code(item['id']), text(item.get('summary')), code(item.get('reason')), str(item.get('count')),
         text(', '.join(item.get('nodes') or []) or '-'), text(item.get('baseline') or '-')] for item in items]))
    return lines


def render(report: Mapping) -> bytes:
    run = report['run']
    summary = report.get('summary') or {}
    coverage = report.get('coverage') or {}
    verdict = summary.get('verdict', exp.FAIL)
    lines = [f"# Network-policy compliance: {code(run.get('cluster'))}", '', f'<!-- {marker_text(report)} -->', '']
    lines.append(f"**{ICON.get(verdict, verdict.upper())}**: {summary.get('failing', 0)} failing finding(s), "
                 f"{summary.get('unexpected', 0)} unexpected{_other_headline(summary)}. Generated {text(run.get('generated_at'))} by "
                 f"netobs.cilium {text(run['collection']['version'])} (report schema {text(report.get('schema_version'))}).")
    lines.append('')
    expectations = summary.get('expectations') or {}
    violations = summary.get('violations') or {}
    lines.extend(_table(['Item', 'Count'], [
        ['Expectations passed', str(expectations.get('passed', 0))],
        ['Controls unproven', str(expectations.get(exp.CONTROL_UNPROVEN, 0))],
        ['Outage risks', str(expectations.get(exp.OUTAGE_RISK, 0))],
        ['Unexpected allows', str(expectations.get(exp.UNEXPECTED_ALLOW, 0))],
        ['Violations (total)', str(violations.get('total', 0))],
        ['Unreviewed violations', str(violations.get(exp.UNREVIEWED, 0))],
        ['Expected violations (controls working)', str(violations.get(exp.EXPECTED, 0))],
        ['Other drops (not policy verdicts)', str(((summary.get('other_drops') or {}).get('total', 0)))],
        ['Coverage complete', 'yes' if coverage.get('complete') else
         'no: ' + text('; '.join(coverage.get('incomplete_reasons') or ['see Coverage']))],
        ['Input not understood', str((coverage.get('not_understood') or {}).get('count', 0))],
    ]))
    results = report.get('expectations') or []
    if results:
        lines += ['', '## Expectations', '']
        rows = []
        for result in sorted(results, key=lambda r: (r['verdict'] != exp.FAIL, r['name'])):
            rows.append([f"**{ICON[result['verdict']]}** {text(result['category'])}", code(result['name']), _traffic(result),
                         text(result['expect']), ', '.join(code(c) for c in result.get('controls') or []) or '-',
                         rich(result['explanation']) + _prediction(result)])
        lines.extend(_table(['Result', 'Expectation', 'Traffic', 'Expect', 'Controls', 'Explanation'], rows))
    items = report.get('violations') or []
    for title, wanted in (('Unexpected violations (unreviewed)', exp.UNREVIEWED), ('Outage risks (expected allow, dropped)', exp.OUTAGE_RISK),
                          ('Expected violations (controls working)', exp.EXPECTED)):
        chosen = [v for v in items if v.get('classification') == wanted]
        if not chosen:
            continue
        lines += ['', f'## {title}', '']
        rows = []
        for violation in chosen:
            attribution = violation.get('attribution') or {}
            rows.append([code(violation['id']), text(violation['summary']), str(violation.get('count')),
                         _policies(attribution), rich(attribution.get('explanation') or '-'),
                         text(violation.get('baseline') or '-')])
        lines.extend(_table(['ID', 'Traffic', 'Count', 'Responsible', 'Explanation', 'Baseline'], rows))
    lines.extend(_other_drops(report))
    baseline = report.get('baseline')
    if baseline:
        lines += ['', '## Since the baseline', '']
        lines.append(f"New: {len(baseline['new'])}, resolved: {len(baseline['resolved'])}, persisting: {len(baseline['persisting'])} "
                     f"(baseline generated {text(baseline.get('generated_at') or 'unknown')}).")
        for item in baseline.get('resolved_details') or []:
            lines.append(f"- resolved {code(item.get('id'))}: {text(item.get('summary') or item.get('key'))}")
        for change in baseline.get('expectation_changes') or []:
            lines.append(f"- expectation {code(change['name'])}: {text(change.get('before') or 'absent')} -> "
                         f"{text(change.get('after') or 'removed')}")
    lines += ['', '## Coverage: what this run could not see', '']
    for note in coverage.get('notes') or []:
        lines.append(f'- {text(note)}')
    nodes = coverage.get('nodes') or {}
    lost = coverage.get('lost_events') or {}
    lines.append(f"- Nodes seen: {len(nodes.get('seen') or [])}, expected: {len(nodes.get('expected') or [])}, "
                 f"unavailable: {len(nodes.get('unavailable') or [])}; Hubble lost events: {lost.get('total', 0)}.")
    lines.append(f"- Input not understood: {(coverage.get('not_understood') or {}).get('count', 0)}; flow lines skipped without "
                 f"decoding (other verdicts): {(coverage.get('not_decoded') or {}).get('count', 0)}.")
    lines.append('')
    return ('\n'.join(lines) + '\n').encode('utf-8')


def render_rollup(rollup: Mapping) -> bytes:
    lines = ['# Network-policy compliance: fleet roll-up', '', f'<!-- {marker_text(rollup)} -->', '']
    summary = rollup.get('summary') or {}
    lines.append(f"{text(rollup_headline(rollup))}, "
                 f"{summary.get('unexpected', 0)} unexpected finding(s). Generated {text(rollup.get('generated_at'))}.")
    lines.append('')
    rows = []
    for entry in rollup.get('clusters') or []:
        if entry.get('error'):
            rows.append([code(entry['cluster']), f"**{ICON[exp.FAIL]}**"] + ['-'] * 6 + [f"**did not report**: {text(entry['error'])}"])
            continue
        expectations = entry.get('expectations') or {}
        violations = entry.get('violations') or {}
        rows.append([code(entry['cluster']), f"**{ICON.get(entry.get('verdict'), text(entry.get('verdict')))}**",
                     str(expectations.get('passed', 0)), str(expectations.get(exp.CONTROL_UNPROVEN, 0)),
                     str(expectations.get(exp.OUTAGE_RISK, 0)), str(expectations.get(exp.UNEXPECTED_ALLOW, 0)),
                     str(violations.get(exp.UNREVIEWED, 0)), 'yes' if entry.get('coverage_complete') else 'no',
                     text(entry.get('generated_at'))])
    lines.extend(_table(['Cluster', 'Verdict', 'Passed', 'Unproven', 'Outage risk', 'Unexpected allow', 'Unreviewed',
                         'Coverage complete', 'Generated'], rows))
    clusters = [entry['cluster'] for entry in rollup.get('clusters') or []]
    if rollup.get('expectations'):
        lines += ['', '## Expectations by cluster', '']
        rows = []
        for item in rollup['expectations']:
            cells = [code(item['name'])]
            for cluster in clusters:
                result = item['results'].get(cluster)
                cells.append(f"{ICON[result['verdict']]} {text(result['category'])}" if result else '-')
            rows.append(cells)
        lines.extend(_table(['Expectation'] + [code(c) for c in clusters], rows))
    lines.append('')
    return ('\n'.join(lines) + '\n').encode('utf-8')
