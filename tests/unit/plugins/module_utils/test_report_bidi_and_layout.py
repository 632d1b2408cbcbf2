# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 10 (a-f): what a reader sees in the HTML, Markdown and JUnit reports.

(a) bidi controls from cluster data are shown as ``<U+202E>``, never passed through; (b) the HTML renders its
own markup, not Markdown backticks; (c) the content-hash badge is readable; (d) report ids never wrap;
(e) graph labels are not cut off; (f) "policy evaluation: unknown" says why, in every format.
"""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pytest
import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.report import html as report_html
from ansible_collections.netobs.cilium.plugins.module_utils.report import junit as report_junit
from ansible_collections.netobs.cilium.plugins.module_utils.report import markdown as report_markdown

BIDI = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c']
BIDI_RE = re.compile('[' + ''.join(BIDI) + ']')
RENDERERS = {'html': report_html.render, 'markdown': report_markdown.render, 'junit': report_junit.render}


@pytest.fixture(scope='module')
def example():
    return samples.example_report()


def with_bidi(report):
    """Bidi controls in a workload name, the cluster name and an attribution explanation."""
    report = copy.deepcopy(report)
    report['run']['cluster'] = 'prod\u202eved'
    for violation in report['violations']:
        violation['source']['display'] = 'cni-test/net' + ''.join(BIDI) + 'shot'
        violation['summary'] = 'cni-test/net' + ''.join(BIDI) + 'shot -> cni-test/nginx TCP/80'
        violation['classification'] = 'unreviewed'
        violation['attribution']['explanation'] = 'policy `cni-test/deny\u2067-egress` selects it'
    for result in report['expectations']:
        result['explanation'] = 'observed \u202e' + result['explanation']
    return report


@pytest.mark.parametrize('fmt', sorted(RENDERERS))
def test_bidi_controls_are_made_visible_in_every_human_format(example, fmt):
    text = RENDERERS[fmt](with_bidi(example)).decode('utf-8')
    assert not BIDI_RE.search(text), [hex(ord(c)) for c in BIDI_RE.findall(text)][:5]
    visible = text.replace('&lt;', '<').replace('&gt;', '>').replace('\\', '')
    for char in BIDI:
        assert f'<U+{ord(char):04X}>' in visible, (fmt, hex(ord(char)))


def test_html_attribution_text_has_no_markdown_backticks(example):
    document = report_html.render(example).decode()
    assert '`' not in document
    # the names the explanation marks are code elements instead
    assert '<code>cni-test/deny-egress</code> selects <code>cni-test/netshot</code>' in document


def test_markdown_explanations_turn_names_into_code_spans(example):
    document = report_markdown.render(example).decode()
    assert '\\`' not in document                              # no escaped (literal) backticks
    assert '`cni-test/deny-egress` selects `cni-test/netshot`' in document


# -- (c) and (d): CSS ------------------------------------------------------------------------------------
def css_rules(style):
    rules = []
    for selectors, body in re.findall(r'([^{}]+)\{([^}]*)\}', style):
        declarations = dict(tuple(part.strip() for part in item.split(':', 1)) for item in body.split(';') if ':' in item)
        for selector in selectors.split(','):
            rules.append((selector.strip(), declarations))
    return rules


def matches(selector, ancestors, tag, classes):
    """Tiny matcher for the descendant selectors this stylesheet uses (``a b``, ``tag.class``, ``.class``)."""
    *outer, last = selector.split()
    name, *wanted = last.split('.')
    if (name and name != tag) or not set(wanted) <= set(classes):
        return False
    return all(part in ancestors for part in outer)


def specificity(selector):
    return (selector.count('.'), len(selector.split()))


def computed(style, ancestors, tag, classes, prop, inherited=True):
    for scope_tag, scope_classes, scope_ancestors in [(tag, classes, ancestors)] + (
            [(a, [], ancestors[:i]) for i, a in reversed(list(enumerate(ancestors)))] if inherited else []):
        found = [(specificity(sel), index, decl[prop]) for index, (sel, decl) in enumerate(css_rules(style))
                 if prop in decl and matches(sel, scope_ancestors, scope_tag, scope_classes)]
        if found:
            return max(found)[2]
    return None


def luminance(color):
    color = color.lstrip('#')
    if len(color) == 3:
        color = ''.join(c * 2 for c in color)
    channels = [int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class Finder(HTMLParser):
    """The tag, classes and ancestor tags of the element whose text starts with ``needle``."""

    def __init__(self, needle):
        super().__init__(convert_charrefs=True)
        self.needle, self.stack, self.found = needle, [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ('br', 'meta', 'circle', 'path'):
            self.stack.append((tag, (dict(attrs).get('class') or '').split()))

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and data.startswith(self.needle):
            self.found.append((self.stack[-1][0], self.stack[-1][1], [t for t, _c in self.stack[:-1]]))


def find(document, needle):
    finder = Finder(needle)
    finder.feed(document)
    assert finder.found, needle
    return finder.found


def test_content_hash_badge_is_readable(example):
    document = report_html.render(example).decode()
    tag, classes, ancestors = find(document, example['content_hash'][:16])[0]
    assert 'header' in ancestors
    color = computed(report_html.STYLE, ancestors, tag, classes, 'color')
    background = computed(report_html.STYLE, ancestors, tag, classes, 'background')
    assert contrast(color, background) >= 7.0, (color, background)      # WCAG AAA for small text
    size = computed(report_html.STYLE, ancestors, tag, classes, 'font-size')
    assert int(size.rstrip('px')) >= 12


def test_report_ids_never_wrap_mid_word(example):
    document = report_html.render(example).decode()
    for violation in example['violations']:
        for tag, classes, ancestors in find(document, violation['id']):
            if tag != 'code':
                continue
            assert computed(report_html.STYLE, ancestors, tag, classes, 'white-space') == 'nowrap', (tag, classes)
            assert computed(report_html.STYLE, ancestors, tag, classes, 'overflow-wrap') != 'anywhere'


# -- (e) graph labels --------------------------------------------------------------------------------------
LONG = 'payments-production-eu-west-1/checkout-frontend-canary-7c5ddbdf54-8xkqz'
HUGE = 'ns/' + 'x' * 300


def graph_of(report, names):
    report = copy.deepcopy(report)
    base = report['violations'][0]
    report['violations'] = []
    for index, name in enumerate(names):
        violation = copy.deepcopy(base)
        violation['id'] = f'v-{index:012x}'
        violation['source']['display'] = name
        report['violations'].append(violation)
    svg = re.search(r'<svg .*?</svg>', report_html.render(report).decode(), re.S).group(0)
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    nodes = re.findall(r'<g><title>([^<]*)</title><circle[^>]*/><text x="([\d.]+)" y="[\d.]+" font-size="12" '
                       r'text-anchor="(\w+)"[^>]*>([^<]*)</text></g>', svg)
    return width, nodes


def test_graph_labels_fit_inside_the_drawing(example):
    width, nodes = graph_of(example, [LONG, 'a/b', 'cni-test/x', 'kube-system/coredns', 'z/' + LONG])
    assert {label for _title, _x, _anchor, label in nodes} >= {LONG, 'z/' + LONG}
    for title, x, anchor, label in nodes:
        assert label == title                          # full text, no ellipsis under the limit
        extent = len(label) * 7.0                      # ~6.6 px per character at 12px; a little extra
        x = float(x)
        left, right = {'start': (x, x + extent), 'end': (x - extent, x), 'middle': (x - extent / 2, x + extent / 2)}[anchor]
        assert left >= 0 and right <= width, (label, left, right, width)


def test_graph_label_beyond_the_limit_has_an_ellipsis_and_the_full_name_in_its_tooltip(example):
    _width, nodes = graph_of(example, [HUGE, 'a/b'])
    title, _x, _anchor, label = next(node for node in nodes if node[0] == HUGE)
    assert label.endswith('\u2026') and HUGE.startswith(label[:-1]) and len(label) == report_html.MAX_LABEL_CHARS


# -- (f) unknown policy evaluation -------------------------------------------------------------------------
WHY = 'whether rule egress[0] of CiliumNetworkPolicy a/b matches cannot be decided (toFQDNs is not supported)'


def with_unknown_prediction(report):
    report = copy.deepcopy(report)
    report['expectations'][0]['prediction'] = {'verdict': 'unknown', 'explanation': WHY, 'responsible': [], 'allowing': []}
    return report


@pytest.mark.parametrize('fmt', sorted(RENDERERS))
def test_unknown_policy_evaluation_says_why(example, fmt):
    text = RENDERERS[fmt](with_unknown_prediction(example)).decode('utf-8').replace('\\', '')
    assert re.search(r'(?i)policy evaluation: unknown\W+' + re.escape(WHY), text), fmt
