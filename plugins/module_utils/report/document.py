# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report document itself: identity constants, content hashing, the marker line and the text helpers
the renderers share.

Everything here is read by the format writers (``report.html``, ``report.junit``, ``report.markdown``) and by
``report.build``; it imports nothing from the writers or from ``report.build``, so the pipeline can import
the writers without an import cycle.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp

SCHEMA_VERSION = '1.1'
REPORT_KIND = 'netobs.cilium/compliance-report'
FLEET_KIND = 'netobs.cilium/fleet-rollup'
COLLECTION_NAME = 'netobs.cilium'
COLLECTION_VERSION = '0.1.0'
VOLATILE_PATHS = (('run', 'generated_at'), ('snapshot', 'taken_at'), ('baseline', 'generated_at'))
VERDICT_INCOMPLETE = 'incomplete'
VERDICT_LABELS = {exp.PASS: 'PASS', exp.FAIL: 'FAIL', VERDICT_INCOMPLETE: 'PASS (incomplete evidence)'}
MARKER = re.compile(r'netobs-report content_hash=([0-9a-f]{64}) generated_at=([0-9TZ:.+-]+)')


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False, default=str)


def _strip_volatile(report: Mapping) -> dict:
    data = {k: v for k, v in report.items() if k not in ('content_hash', 'evidence_hash')}
    for section, key in VOLATILE_PATHS:
        if isinstance(data.get(section), Mapping):
            data[section] = {k: v for k, v in data[section].items() if k != key}
    return data


def content_hash(report: Mapping) -> str:
    """sha256 over the report without ``content_hash``/``evidence_hash`` and ``VOLATILE_PATHS``."""
    return hashlib.sha256(canonical_json(_strip_volatile(report)).encode('utf-8')).hexdigest()


def evidence_hash(report: Mapping) -> str:
    """sha256 over what was judged: the report without hashes, volatile fields and the baseline comparison."""
    data = _strip_volatile(report)
    data.pop('baseline', None)
    if isinstance(data.get('summary'), Mapping):
        data['summary'] = {k: v for k, v in data['summary'].items() if k != 'baseline'}
    data['violations'] = [{k: v for k, v in item.items() if k != 'baseline'} for item in data.get('violations') or []]
    if isinstance(data.get('other_drops'), Mapping):
        data['other_drops'] = dict(data['other_drops'], items=[
            {k: v for k, v in item.items() if k != 'baseline'} for item in data['other_drops'].get('items') or []])
    return hashlib.sha256(canonical_json(data).encode('utf-8')).hexdigest()


# Bidirectional-text controls (embeddings, overrides, isolates, marks) reorder what a reader sees ("Trojan Source"):
# in the human-readable formats every one of them from cluster data is shown as a visible ``<U+202E>`` instead.
BIDI_CONTROLS = re.compile('[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]')
CODE_SPAN = re.compile(r'`([^`\n]+)`')


def neutralise_bidi(text: str) -> str:
    """``text`` with each bidi control character replaced by a visible ``<U+XXXX>``."""
    return BIDI_CONTROLS.sub(lambda match: f'<U+{ord(match.group()):04X}>', text)


def split_code_spans(text: str) -> list[tuple[bool, str]]:
    """Explanations mark names as `code`: ``[(is_code, part), ...]`` for each format to render its own way."""
    parts = CODE_SPAN.split(text)
    return [(bool(index % 2), part) for index, part in enumerate(parts) if part]


def marker_text(report: Mapping) -> str:
    """The line every rendered format carries so a later run can recognise unchanged content."""
    generated = (report.get('run') or {}).get('generated_at') or report.get('generated_at') or ''
    return f'netobs-report content_hash={report.get("content_hash", "")} generated_at={generated}'


def read_marker(path: str) -> tuple[str, str] | None:
    """(content_hash, generated_at) of a previously written report file, ``None`` if absent/unknown."""
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            head = handle.read(1 << 20)
    except OSError:
        return None
    found = MARKER.search(head)
    if found:
        return found.group(1), found.group(2)
    if path.endswith('.json'):
        try:
            data = json.loads(head)
        except ValueError:
            return None
        if isinstance(data, Mapping) and isinstance(data.get('content_hash'), str):
            run = data.get('run') if isinstance(data.get('run'), Mapping) else data
            return data['content_hash'], str(run.get('generated_at') or '')
    return None


def rollup_headline(rollup: Mapping) -> str:
    """``3 cluster(s): 2 passed, 1 failed (did not report: prod: <error>)`` - one line for every format."""
    summary = rollup.get('summary') or {}
    missing = [c for c in rollup.get('clusters') or [] if c.get('error')]
    # summary.failed counts every cluster that did not pass; the headline names the incomplete ones apart
    incomplete = sum(1 for c in rollup.get('clusters') or [] if c.get('verdict') == VERDICT_INCOMPLETE)
    text = f"{summary.get('clusters', 0)} cluster(s): {summary.get('passed', 0)} passed"
    if incomplete:
        text += f", {incomplete} passed with incomplete evidence"
    text += f", {summary.get('failed', 0) - incomplete} failed"
    if missing:
        text += ' (did not report: ' + '; '.join(f"{c['cluster']}: {c['error']}" for c in missing) + ')'
    return text
