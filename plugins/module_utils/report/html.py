# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-contained HTML writer: summary, expectation and violation tables, evidence, coverage, and an
inline SVG graph of workloads with drop edges.

Security rules (tested with hostile cluster data):

* no JavaScript at all, and a strict Content-Security-Policy meta tag (``CSP`` below) so that even an
  injected script or external resource would not run or load;
* every value that comes from a cluster or a file goes through ``e()`` = ``html.escape(..., quote=True)``,
  in element text, attributes, SVG ``<text>``/``<title>`` alike;
* the only ``href`` values are in-page fragments built from report ids (``#v-<hex>``), escaped too;
  no URL from a cluster ever becomes a link.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.report.document import (
    VERDICT_INCOMPLETE, VERDICT_LABELS, marker_text, neutralise_bidi, rollup_headline, split_code_spans)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
MAX_GRAPH_NODES = 40
MAX_GRAPH_EDGES = 80
MAX_ROWS = 500
MAX_LABEL_CHARS = 160       # longer node names are shortened with an ellipsis; the <title> tooltip has the full name
LABEL_CHAR_WIDTH = 7.5      # generous width (px) of one character at font-size 12 (system-ui averages ~6.5)
_ID_SAFE = re.compile(r'[^A-Za-z0-9_-]')
_CONTROL = re.compile('[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]')

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:0;color:#c9cfdb;font-size:13px}
main{padding:18px 28px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:14px 18px;margin:0 0 16px 0}
h2{font-size:17px;margin:0 0 10px 0}
h3{font-size:15px;margin:14px 0 6px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6e9ef;text-align:left;padding:6px 8px;vertical-align:top}
th{background:#f0f2f6}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#f0f2f6;color:#1d2330;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
code.id{white-space:nowrap;overflow-wrap:normal}
header code.hash{font-size:13px;background:#2e3750;color:#ffffff;border:1px solid #6b7794;padding:1px 6px;white-space:nowrap;letter-spacing:0.02em}
section{overflow-x:auto}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.pass{background:#1f8a4c}.fail{background:#c62828}.warn{background:#d9822b}.info{background:#5c6b80}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e8;border-radius:6px;padding:8px 14px;min-width:130px;background:#fafbfc}
.card b{display:block;font-size:22px}
.muted{color:#5c6b80;font-size:12px}
ul.notes li{margin:3px 0}
svg text{font-family:system-ui,sans-serif}
"""

_CLASS_BADGE = {exp.EXPECTED: 'pass', exp.OUTAGE_RISK: 'fail', exp.UNREVIEWED: 'warn'}
ALLOWED = 'allowed'
_EDGE_COLOR = {exp.EXPECTED: '#1f8a4c', exp.OUTAGE_RISK: '#c62828', exp.UNREVIEWED: '#d9822b', ALLOWED: '#5c6b80'}


def e(value) -> str:
    """Escape any value for HTML text or a quoted attribute (control characters removed, bidi controls made visible)."""
    return html.escape(neutralise_bidi(_CONTROL.sub('', '' if value is None else str(value))), quote=True)


def rich(value) -> str:
    """An explanation: its Markdown-style `name` spans become ``<code>``, everything escaped."""
    return ''.join(f'<code>{e(part)}</code>' if is_code else e(part)
                   for is_code, part in split_code_spans('' if value is None else str(value)))


def id_code(value) -> str:
    """A report id (``v-<hex>``): never broken across lines."""
    return f'<code class="id">{e(value)}</code>'


def anchor(identifier) -> str:
    """A fragment id derived from a report id (only ``[A-Za-z0-9_-]`` kept, then escaped)."""
    return e('x-' + _ID_SAFE.sub('_', str(identifier)))


def badge(label, css: str) -> str:
    return f'<span class="badge {e(css)}">{e(label)}</span>'


def _verdict_badge(verdict) -> str:
    if verdict == VERDICT_INCOMPLETE:
        return badge(VERDICT_LABELS[VERDICT_INCOMPLETE], 'warn')
    return badge(str(verdict).upper(), 'pass' if verdict == exp.PASS else 'fail')


def _l4(protocol, port) -> str:
    protocol = protocol or 'ANY'
    return f'{protocol}/{port}' if port not in (None, '') else str(protocol)


def _policy_refs(hits) -> str:
    if not hits:
        return '<span class="muted">-</span>'
    items = []
    for hit in hits:
        ref = f"{hit.get('namespace')}/{hit.get('name')}" if hit.get('namespace') else str(hit.get('name'))
        rule = f" {hit.get('rule')}" if hit.get('rule') else ''
        items.append(f"<code>{e(hit.get('kind'))} {e(ref)}{e(rule)}</code> <span class=\"muted\">{e(hit.get('effect'))}</span>")
    return '<br>'.join(items)


# -- graph ------------------------------------------------------------------------------------------------
def _allowed_edges(results) -> list:
    """Dashed edges for allow expectations whose traffic was observed allowed (workload selectors only)."""
    edges = []
    for result in results or []:
        if result.get('category') != exp.ALLOW_OBSERVED:
            continue
        ends = (result.get('from') or {}, result.get('to') or {})
        if any(end.get('kind') != 'workload' or any(ch in str(end.get('text')) for ch in '*?[ ') for end in ends):
            continue
        edges.append((str(ends[0]['text']), str(ends[1]['text']), {
            'classification': ALLOWED, 'protocol': result.get('protocol'), 'port': result.get('port'), 'count': None,
            'summary': f"{result.get('name')}: allowed as expected"}))
    return edges


def graph_label(name: str) -> str:
    """The text of a graph node: the full name, or its first characters and an ellipsis beyond ``MAX_LABEL_CHARS``."""
    return name if len(name) <= MAX_LABEL_CHARS else name[:MAX_LABEL_CHARS - 1] + '\u2026'


def label_width(label: str) -> float:
    """Estimated rendered width in px (generous, so that boxes sized from it hold the text)."""
    return len(neutralise_bidi(label)) * LABEL_CHAR_WIDTH


def _graph(violations, results=()) -> str:
    """Inline SVG: workloads on a circle (sorted by name), one arrow per violation (deterministic)."""
    edges = []
    for violation in violations[:MAX_GRAPH_EDGES]:
        src = (violation.get('source') or {}).get('display') or 'unknown'
        dst = (violation.get('destination') or {}).get('display') or 'unknown'
        edges.append((src, dst, violation))
    edges.extend(_allowed_edges(results)[:MAX_GRAPH_EDGES])
    names = sorted({n for src, dst, _v in edges for n in (src, dst)})[:MAX_GRAPH_NODES]
    if not names:
        return '<p class="muted">No policy drops were observed, so there is nothing to draw.</p>'
    count = len(names)
    labels = {name: graph_label(name) for name in names}
    radius = max(110.0, 36.0 * count / math.pi)
    # Labels sit left/right of the circle: leave room for the longest one on both sides so none is cut off.
    margin = max(180, int(max(label_width(label) for label in labels.values())) + 40)
    width = int(2 * radius + 2 * margin)
    height = int(2 * radius + 120)
    cx, cy = width / 2.0, height / 2.0
    position = {}
    for index, name in enumerate(names):
        angle = 2 * math.pi * index / count - math.pi / 2
        position[name] = (round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="drop graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             '<defs>']
    for css, color in sorted(_EDGE_COLOR.items()):
        parts.append(f'<marker id="arrow-{e(css)}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
                     f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{e(color)}"/></marker>')
    parts.append('</defs>')
    pair_seen: dict = {}
    for src, dst, violation in edges:
        if src not in position or dst not in position:
            continue
        klass = violation.get('classification') or exp.UNREVIEWED
        color = _EDGE_COLOR.get(klass, '#5c6b80')
        (x1, y1), (x2, y2) = position[src], position[dst]
        label = _l4(violation.get('protocol'), violation.get('port'))
        if violation.get('count') is not None:
            label += f" x{violation.get('count')}"
        dash = ' stroke-dasharray="6 4"' if klass == ALLOWED else ''
        title = f"{violation.get('summary')} [{klass}]"
        offset = pair_seen.get((src, dst), 0)
        pair_seen[(src, dst)] = offset + 1
        if src == dst:
            path = f'M {x1} {y1 - 14} c -40 -50 40 -50 0 -2'
            lx, ly = x1, y1 - 52 - 12 * offset
        else:
            dx, dy = x2 - x1, y2 - y1
            length = math.hypot(dx, dy) or 1.0
            ux, uy = dx / length, dy / length
            sx, sy = round(x1 + ux * 14, 1), round(y1 + uy * 14, 1)
            ex, ey = round(x2 - ux * 16, 1), round(y2 - uy * 16, 1)
            bend = 30 + 18 * offset
            mx, my = round((sx + ex) / 2 - uy * bend, 1), round((sy + ey) / 2 + ux * bend, 1)
            path = f'M {sx} {sy} Q {mx} {my} {ex} {ey}'
            lx, ly = mx, my
        parts.append(f'<g><title>{e(title)}</title><path d="{e(path)}" fill="none" stroke="{e(color)}" stroke-width="2"{dash} '
                     f'marker-end="url(#arrow-{e(klass)})"/>'
                     f'<text x="{lx}" y="{ly}" font-size="11" text-anchor="middle" fill="{e(color)}" stroke="#ffffff" stroke-width="3" '
                     f'paint-order="stroke">{e(label)}</text></g>')
    for name in names:
        x, y = position[name]
        anchor_side = 'start' if x >= cx + 1 else ('end' if x <= cx - 1 else 'middle')
        tx = x + 16 if anchor_side == 'start' else (x - 16 if anchor_side == 'end' else x)
        ty = y + 4 if anchor_side != 'middle' else (y - 18 if y < cy else y + 28)
        parts.append(f'<g><title>{e(name)}</title><circle cx="{x}" cy="{y}" r="12" fill="#e8edf5" stroke="#1d2330" stroke-width="1.5"/>'
                     f'<text x="{tx}" y="{ty}" font-size="12" text-anchor="{anchor_side}" fill="#1d2330">{e(labels[name])}</text></g>')
    parts.append('</svg>')
    legend = ' '.join(f'{badge(k.replace("_", " "), _CLASS_BADGE[k])}' for k in exp.VIOLATION_CLASSES)
    legend += ' ' + badge('allowed as expected (dashed)', 'info')
    more = ''
    if len(violations) > MAX_GRAPH_EDGES:
        more = f'<p class="muted">The graph shows the first {MAX_GRAPH_EDGES} of {len(violations)} violations.</p>'
    return f'<p class="muted">Edges: {legend}</p>' + ''.join(parts) + more


# -- sections ---------------------------------------------------------------------------------------------
def _summary(report: Mapping) -> str:
    summary = report.get('summary') or {}
    expectations = summary.get('expectations') or {}
    violations = summary.get('violations') or {}
    coverage = report.get('coverage') or {}
    cards = [
        ('Verdict', _verdict_badge(summary.get('verdict'))),
        ('Failing findings', e(summary.get('failing', 0))),
        ('Unexpected', e(summary.get('unexpected', 0))),
        ('Expectations passed', f"{e(expectations.get('passed', 0))} / {e(expectations.get('total', 0))}"),
        ('Controls unproven', e(expectations.get(exp.CONTROL_UNPROVEN, 0))),
        ('Outage risks', e(expectations.get(exp.OUTAGE_RISK, 0))),
        ('Unexpected allows', e(expectations.get(exp.UNEXPECTED_ALLOW, 0))),
        ('Violations', e(violations.get('total', 0))),
        ('Unreviewed', e(violations.get(exp.UNREVIEWED, 0))),
        ('Other drops (not policy)', e((summary.get('other_drops') or {}).get('total', 0))),
        ('Coverage', badge('complete', 'pass') if coverage.get('complete') else badge('incomplete', 'warn')),
    ]
    body = ''.join(f'<div class="card"><span class="muted">{e(label)}</span><b>{value}</b></div>' for label, value in cards)
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{body}</div></section>'


def _expectations(report: Mapping) -> str:
    results = report.get('expectations') or []
    if not results:
        return ('<section id="expectations"><h2>Expectations</h2><p class="muted">No expectations were given: every violation '
                'is unreviewed. Add an expectations file to judge drops.</p></section>')
    rows = []
    for result in sorted(results, key=lambda r: (r['verdict'] != exp.FAIL, r['name']))[:MAX_ROWS]:
        links = ' '.join(f'<a href="#{anchor(vid)}">{id_code(vid)}</a>' for vid in result.get('violations') or [])
        controls = ' '.join(f'<code>{e(c)}</code>' for c in result.get('controls') or []) or '<span class="muted">-</span>'
        traffic = (f"<code>{e(result['from']['text'])}</code> &rarr; <code>{e(result['to']['text'])}</code> "
                   f"<code>{e(_l4(result.get('protocol'), result.get('port')))}</code>")
        prediction = result.get('prediction') or {}
        predicted = (f'<br><span class="muted">policy evaluation: {e(prediction.get("verdict"))} - '
                     f'{rich(prediction.get("explanation") or "no reason given")}</span>' if prediction else '')
        notes = ''.join(f'<br><span class="muted">{rich(n)}</span>' for n in result.get('notes') or [])
        rows.append(f"<tr><td>{_verdict_badge(result['verdict'])}<br><span class=\"muted\">{e(result['category'])}</span></td>"
                    f"<td><b>{e(result['name'])}</b><br><span class=\"muted\">{e(result.get('description'))}</span></td>"
                    f"<td>{traffic}</td><td>{e(result['expect'])}</td><td>{controls}</td>"
                    f"<td>{rich(result['explanation'])}{predicted}{notes}</td><td>{links}</td></tr>")
    return ('<section id="expectations"><h2>Expectations</h2><table><thead><tr><th>Result</th><th>Expectation</th><th>Traffic</th>'
            '<th>Expect</th><th>Controls</th><th>Explanation</th><th>Violations</th></tr></thead><tbody>'
            + ''.join(rows) + '</tbody></table></section>')


def _violations(report: Mapping) -> str:
    items = report.get('violations') or []
    if not items:
        other = (report.get('other_drops') or {}).get('total')
        seen = f' ({e(other)} other drop(s) that are not policy verdicts are listed below)' if other else ''
        return f'<section id="violations"><h2>Violations</h2><p class="muted">No policy drops were observed{seen}.</p></section>'
    rows = []
    for violation in items[:MAX_ROWS]:
        klass = violation.get('classification') or exp.UNREVIEWED
        attribution = violation.get('attribution') or {}
        rows.append(_row_start(violation, klass.replace('_', ' '), _CLASS_BADGE.get(klass, 'info'))
                    + f"<td><a href=\"#{anchor(violation['id'])}\">{id_code(violation['id'])}</a></td>"
                    f"{_traffic_cells(violation)}"
                    f"<td>{_policy_refs(attribution.get('responsible'))}</td><td>{e(violation.get('expectation') or '-')}</td></tr>")
    more = f'<p class="muted">{e(len(items) - MAX_ROWS)} more in the JSON report.</p>' if len(items) > MAX_ROWS else ''
    return ('<section id="violations"><h2>Violations</h2><table><thead><tr><th>Class</th><th>ID</th><th>Traffic</th><th>L4</th>'
            '<th>Direction</th><th>Reason</th><th>Count</th><th>Responsible policy / rule</th><th>Expectation</th></tr></thead><tbody>'
            + ''.join(rows) + '</tbody></table>' + more + '</section>')


def _row_start(item: Mapping, label: str, css: str, attributes: str = '') -> str:
    """``<tr>`` and its first cell: the class badge, plus the baseline badge when the item has one."""
    baseline = f"<br>{badge(item['baseline'], 'info')}" if item.get('baseline') else ''
    return f"<tr{attributes}><td>{badge(label, css)}{baseline}</td>"


def _traffic_cells(item: Mapping) -> str:
    """Traffic, L4, direction, reason and count cells of a violation or an other-drop row."""
    return (f"<td><code>{e(item['source'].get('display'))}</code> &rarr; <code>{e(item['destination'].get('display'))}</code></td>"
            f"<td>{e(_l4(item.get('protocol'), item.get('port')))}</td><td>{e(item.get('direction'))}</td>"
            f"<td>{e(item.get('reason'))}</td><td>{e(item.get('count'))}</td>")


def _other_drops(report: Mapping) -> str:
    """Drops that are not policy verdicts: per reason, then per peer (never in the graph, never judged)."""
    other = report.get('other_drops') or {}
    items = other.get('items') or []
    if not items:
        return ''
    reasons = ''.join(f"<tr><td><code>{e(row.get('reason'))}</code></td><td>{e(row.get('count'))}</td><td>{e(row.get('entries'))}</td>"
                      f"<td>{rich(row.get('explanation'))}</td></tr>" for row in other.get('by_reason') or [])
    css = 'fail' if other.get('fail') else 'info'
    rows = []
    for item in items[:MAX_ROWS]:
        samples = '<br>'.join(e(s.get('text')) for s in (item.get('evidence') or [])[:3])
        rows.append(_row_start(item, 'fails' if other.get('fail') else 'not judged', css, f" id=\"{anchor(item['id'])}\"")
                    + f"<td>{id_code(item['id'])}</td>"
                    f"{_traffic_cells(item)}"
                    f"<td>{e(', '.join(item.get('nodes') or []) or '-')}</td><td class=\"muted\">{samples}</td></tr>")
    more = f'<p class="muted">{e(len(items) - MAX_ROWS)} more in the JSON report.</p>' if len(items) > MAX_ROWS else ''
    return ('<section id="other-drops"><h2>Other drops (not policy verdicts)</h2>'
            f"<p>{e(other.get('note'))}</p>"
            '<table><thead><tr><th>Reason</th><th>Drops</th><th>Entries</th><th>Meaning</th></tr></thead><tbody>'
            + reasons + '</tbody></table><h3>Per peer</h3><table><thead><tr><th>Status</th><th>ID</th><th>Traffic</th><th>L4</th>'
            '<th>Direction</th><th>Reason</th><th>Count</th><th>Nodes</th><th>Samples</th></tr></thead><tbody>'
            + ''.join(rows) + '</tbody></table>' + more + '</section>')


def _evidence(report: Mapping) -> str:
    items = report.get('violations') or []
    if not items:
        return ''
    blocks = []
    for violation in items[:MAX_ROWS]:
        attribution = violation.get('attribution') or {}
        samples = violation.get('evidence') or []
        sample_rows = ''.join(
            f"<tr><td>{e(s.get('time'))}</td><td>{e(s.get('node'))}</td><td>{e(s.get('kind'))}</td><td>{e(s.get('text'))}</td>"
            f"<td><code>{e(s.get('ref'))}</code></td><td>{e(s.get('count'))}</td></tr>" for s in samples)
        disagreement = (f"<p><b>Disagreement:</b> {rich(attribution['disagreement'])}</p>" if attribution.get('disagreement') else '')
        notes = ''.join(f'<li>{rich(n)}</li>' for n in attribution.get('notes') or [])
        blocks.append(
            f"<div id=\"{anchor(violation['id'])}\"><h3>{id_code(violation['id'])} {e(violation.get('summary'))}</h3>"
            f"<p class=\"muted\">First seen {e(violation.get('first_seen') or '-')}, last seen {e(violation.get('last_seen') or '-')}; "
            f"nodes: {e(', '.join(violation.get('nodes') or []) or '-')}; evidence: {e(', '.join(violation.get('evidence_kinds') or []))}; "
            f"counts: events {e((violation.get('count_by_kind') or {}).get('event'))}, flows {e((violation.get('count_by_kind') or {}).get('flow'))}</p>"
            f"<p><b>Attribution</b> ({e(attribution.get('source') or 'none')}, verdict {e(attribution.get('verdict') or 'unknown')}): "
            f"{rich(attribution.get('explanation') or '-')}</p>"
            f"<p><b>Responsible:</b> {_policy_refs(attribution.get('responsible'))}</p>{disagreement}"
            + (f'<ul class="notes">{notes}</ul>' if notes else '')
            + ('<table><thead><tr><th>Time</th><th>Node</th><th>Kind</th><th>Record</th><th>Reference</th><th>Count</th></tr></thead>'
               f'<tbody>{sample_rows}</tbody></table>' if samples else '<p class="muted">No evidence samples.</p>')
            + '</div>')
    return '<section id="evidence"><h2>Evidence per violation</h2>' + ''.join(blocks) + '</section>'


def _coverage(report: Mapping) -> str:
    coverage = report.get('coverage') or {}
    notes = ''.join(f'<li>{e(n)}</li>' for n in coverage.get('notes') or [])
    nodes = coverage.get('nodes') or {}
    lost = coverage.get('lost_events') or {}
    events = coverage.get('events') or {}
    rows = [
        ('Nodes seen', ', '.join(nodes.get('seen') or []) or '-'),
        ('Nodes expected', ', '.join(nodes.get('expected') or []) or '-'),
        ('Nodes unavailable', ', '.join(f"{u.get('name')} ({u.get('reason')})" for u in nodes.get('unavailable') or []) or '-'),
        ('Hubble lost events', f"{lost.get('total', 0)} " + ', '.join(f'{k}: {v}' for k, v in (lost.get('by_source') or {}).items())),
        ('Event TTL / oldest event', f"{events.get('ttl') or '-'} / {events.get('oldest_event') or '-'}" if events else 'Events not collected'),
        ('Emitter interval', events.get('emitter_interval') or 'unknown' if events else '-'),
        ('Incomplete because', '; '.join(coverage.get('incomplete_reasons') or []) or '-'),
        ('Input not understood', (coverage.get('not_understood') or {}).get('count', 0)),
        ('Flow lines skipped without decoding (other verdicts)', (coverage.get('not_decoded') or {}).get('count', 0)),
        ('Malformed flow lines', (coverage.get('malformed') or {}).get('count', 0)),
        ('Partial', '; '.join((coverage.get('partial') or {}).get('reasons') or []) or 'no'),
    ]
    table = ''.join(f'<tr><th>{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows)
    return (f'<section id="coverage"><h2>Coverage: what this run could not see</h2><ul class="notes">{notes}</ul>'
            f'<table>{table}</table></section>')


def _baseline(report: Mapping) -> str:
    baseline = report.get('baseline')
    if not baseline:
        return ''
    resolved = ''.join(f"<li>{id_code(i.get('id'))} {e(i.get('summary') or i.get('key'))}</li>" for i in baseline.get('resolved_details') or [])
    changes = ''.join(f"<li><code>{e(c.get('name'))}</code>: {e(c.get('before') or 'absent')} &rarr; {e(c.get('after') or 'removed')}</li>"
                      for c in baseline.get('expectation_changes') or [])
    return (f"<section id=\"baseline\"><h2>Since the baseline</h2><p>New {e(len(baseline.get('new') or []))}, resolved "
            f"{e(len(baseline.get('resolved') or []))}, persisting {e(len(baseline.get('persisting') or []))} "
            f"<span class=\"muted\">(baseline generated {e(baseline.get('generated_at') or 'unknown')})</span></p>"
            + (f'<h3>Resolved</h3><ul>{resolved}</ul>' if resolved else '')
            + (f'<h3>Expectation changes</h3><ul>{changes}</ul>' if changes else '') + '</section>')


def _page(title: str, marker: str, header: str, body: str) -> bytes:
    document = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">\n'
                '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                '<meta name="referrer" content="no-referrer">\n'
                f'<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n'
                f'<!-- {marker} -->\n<header>{header}</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n')
    return document.encode('utf-8')


def render(report: Mapping) -> bytes:
    run = report['run']
    cluster = run.get('cluster') or 'unknown'
    summary = report.get('summary') or {}
    header = (f"<h1>Network-policy compliance: {e(cluster)} {_verdict_badge(summary.get('verdict'))}</h1>"
              f"<p>Generated {e(run.get('generated_at'))} by {e(run['collection']['name'])} {e(run['collection']['version'])}, "
              f"report schema {e(report.get('schema_version'))}, content hash <code class=\"hash\" title=\"{e(report.get('content_hash'))}\">"
              f"{e(str(report.get('content_hash'))[:16])}</code></p>")
    graph = f'<section id="graph"><h2>Workloads and drops</h2>{_graph(report.get("violations") or [], report.get("expectations") or [])}</section>'
    body = '\n'.join([_summary(report), _expectations(report), _violations(report), _other_drops(report), graph, _evidence(report),
                      _baseline(report), _coverage(report)])
    return _page(f'Compliance report: {cluster}', marker_text(report), header, body)


def render_rollup(rollup: Mapping) -> bytes:
    summary = rollup.get('summary') or {}
    header = (f"<h1>Network-policy compliance: fleet roll-up {_verdict_badge(exp.FAIL if summary.get('failed') else exp.PASS)}</h1>"
              f"<p>{e(rollup_headline(rollup))}; generated {e(rollup.get('generated_at'))}</p>")
    rows = []
    for entry in rollup.get('clusters') or []:
        if entry.get('error'):
            rows.append(f"<tr><td><code>{e(entry['cluster'])}</code></td><td>{_verdict_badge(exp.FAIL)}</td>"
                        f"<td colspan=\"8\"><b>did not report:</b> {e(entry['error'])}</td></tr>")
            continue
        expectations = entry.get('expectations') or {}
        violations = entry.get('violations') or {}
        rows.append(f"<tr><td><code>{e(entry['cluster'])}</code></td><td>{_verdict_badge(entry.get('verdict'))}</td>"
                    f"<td>{e(expectations.get('passed', 0))} / {e(expectations.get('total', 0))}</td>"
                    f"<td>{e(expectations.get(exp.CONTROL_UNPROVEN, 0))}</td><td>{e(expectations.get(exp.OUTAGE_RISK, 0))}</td>"
                    f"<td>{e(expectations.get(exp.UNEXPECTED_ALLOW, 0))}</td><td>{e(violations.get(exp.UNREVIEWED, 0))}</td>"
                    f"<td>{badge('complete', 'pass') if entry.get('coverage_complete') else badge('incomplete', 'warn')}</td>"
                    f"<td>{e(entry.get('generated_at'))}</td><td><code>{e(entry.get('report'))}</code></td></tr>")
    clusters = [entry['cluster'] for entry in rollup.get('clusters') or []]
    table = ('<section><h2>Clusters</h2><table><thead><tr><th>Cluster</th><th>Verdict</th><th>Passed</th><th>Unproven</th>'
             '<th>Outage risk</th><th>Unexpected allow</th><th>Unreviewed</th><th>Coverage</th><th>Generated</th><th>Report</th>'
             '</tr></thead><tbody>' + ''.join(rows) + '</tbody></table></section>')
    matrix = ''
    if rollup.get('expectations'):
        head = ''.join(f'<th><code>{e(c)}</code></th>' for c in clusters)
        body_rows = []
        for item in rollup['expectations']:
            cells = []
            for cluster in clusters:
                result = item['results'].get(cluster)
                cells.append(f"<td>{_verdict_badge(result['verdict'])} <span class=\"muted\">{e(result['category'])}</span></td>"
                             if result else '<td class="muted">-</td>')
            body_rows.append(f"<tr><td><code>{e(item['name'])}</code></td>{''.join(cells)}</tr>")
        matrix = (f'<section><h2>Expectations by cluster</h2><table><thead><tr><th>Expectation</th>{head}</tr></thead><tbody>'
                  + ''.join(body_rows) + '</tbody></table></section>')
    return _page('Compliance fleet roll-up', marker_text(rollup), header, table + matrix)
