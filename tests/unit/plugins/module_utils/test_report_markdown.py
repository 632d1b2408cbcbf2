# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown writer: content for PR comments/tickets, and escaping of cluster-provided text."""

from __future__ import annotations

import re

import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.report import markdown as report_markdown
from ansible_collections.netobs.cilium.plugins.module_utils.report.markdown import code, text


def test_summary_tables_and_coverage():
    md = report_markdown.render(samples.example_report()).decode('utf-8')
    assert md.startswith('# Network-policy compliance: `kind-reference`\n')
    assert '**PASS (incomplete evidence)**: 0 failing finding(s), 0 unexpected.' in md  # Hubble lost 2 events
    assert '| Expectations passed | 3 |' in md
    row = next(line for line in md.splitlines() if '`netshot-cannot-reach-nginx`' in line)
    assert '**PASS** control\\_proven' in row and '`CIS-5.3.2`, `NETSEC-EGRESS-01`' in row
    violation = next(line for line in md.splitlines() if line.startswith('| `v-'))
    assert '`NetworkPolicy cni-test/deny-egress egress`' in violation
    assert '## Coverage: what this run could not see' in md
    assert 'emitter interval \\(5s\\)' in md and 'Hubble lost 2 event\\(s\\)' in md


def test_failing_report_lists_findings_first():
    md = report_markdown.render(samples.example_report(evidence=samples.example_evidence()[2:], probes=[])).decode()
    assert '**FAIL**: 1 failing finding(s), 0 unexpected.' in md
    rows = [line for line in md.splitlines() if line.startswith('| **')]
    assert rows[0].startswith('| **FAIL** control\\_unproven | `netshot-cannot-reach-nginx`')


def test_baseline_section():
    first = samples.example_report(evidence=samples.example_evidence()[:1])
    md = report_markdown.render(samples.example_report(baseline=first, baseline_source='prev.json')).decode()
    assert '## Since the baseline' in md and 'New: 0, resolved: 0, persisting: 1' in md


def test_escaping_helpers():
    assert code('a`b') == '`` a`b ``'
    assert code('`x') == '`` `x ``'
    assert code('a|b') == '`a\\|b`'
    assert code('line\nbreak') == '`line break`'
    assert text('<script>alert(1)</script>') == '&lt;script&gt;alert\\(1\\)&lt;/script&gt;'
    assert text('[click](http://evil.example)') == '\\[click\\]\\(`http://evil.example)`'
    assert text('javascript:alert(1)') == '`javascript:alert(1)`'
    assert text('a | b *c* _d_ `e`') == 'a \\| b \\*c\\* \\_d\\_ \\`e\\`'
    assert text('&amp;lt;') == '&amp;amp;lt;'
    assert text('2025-05-31T05:24:48Z') == '2025-05-31T05:24:48Z'


def test_hostile_report_has_no_live_html_links_or_broken_tables():
    md = report_markdown.render(samples.hostile_report()).decode('utf-8')
    outside_code = re.sub(r'(`+)(?:(?!\1).)*?\1', '', md)
    for raw in ('<script', '<img', '<div', '<svg', '](', '<a '):
        assert raw not in outside_code.lower(), raw
    assert 'javascript:' not in outside_code
    assert '&lt;script&gt;document.title=\'PWNED\'&lt;/script&gt;' in md or "`<script>document.title='PWNED'</script>" in md
    # Every table row keeps its column count: cluster data cannot add cells.
    for table in re.findall(r'((?:^\|.*\|$\n?)+)', md, re.M):
        widths = {len(re.findall(r'(?<!\\)\|', row)) for row in table.strip().splitlines()}
        assert len(widths) == 1, table
