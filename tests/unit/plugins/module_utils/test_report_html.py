# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTML writer: structure, CSP, no JavaScript, and escaping of hostile cluster data (text, attributes, SVG)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.report import html as report_html

ALLOWED_TAGS = {'html', 'head', 'meta', 'title', 'style', 'body', 'header', 'main', 'section', 'h1', 'h2', 'h3', 'p', 'span', 'div',
                'b', 'code', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'ul', 'li', 'a', 'br', 'svg', 'defs', 'marker', 'path', 'g',
                'circle', 'text'}
SECTION_IDS = {'summary', 'expectations', 'violations', 'graph', 'evidence', 'baseline', 'coverage'}


class Collector(HTMLParser):
    """Every start tag with its attributes, plus the text inside <title> and SVG <text>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.stack = []
        self.titles = []
        self.svg_texts = []
        self.comments = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ('br', 'meta', 'circle', 'path'):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == 'title':
            self.titles.append(data)
        if self.stack and self.stack[-1] == 'text':
            self.svg_texts.append(data)

    def handle_comment(self, data):
        self.comments.append(data)


def parse(document: bytes) -> Collector:
    collector = Collector()
    collector.feed(document.decode('utf-8'))
    collector.close()
    return collector


def test_escape_helpers():
    assert report_html.e('<a href="x">\'&') == '&lt;a href=&quot;x&quot;&gt;&#x27;&amp;'
    assert report_html.e(None) == '' and report_html.e('a\x00b\x1bc') == 'abc'
    assert report_html.anchor('v-1"><script>') == 'x-v-1___script_'


def test_reference_report_structure():
    document = report_html.render(samples.example_report())
    parsed = parse(document)
    metas = [attrs for tag, attrs in parsed.tags if tag == 'meta' and attrs.get('http-equiv') == 'Content-Security-Policy']
    assert metas == [{'http-equiv': 'Content-Security-Policy', 'content': "default-src 'none'; style-src 'unsafe-inline'; img-src data:"}]
    assert {tag for tag, _attrs in parsed.tags} <= ALLOWED_TAGS
    assert parsed.titles[0] == 'Compliance report: kind-reference'
    text = document.decode()
    assert 'NetworkPolicy cni-test/deny-egress egress' in text and 'control_proven' in text
    assert 'at most one PacketDrop Event per pod per emitter interval (5s)' in text
    assert {'cni-test/netshot', 'cni-test/nginx', 'cni-test/netshot-control', 'kube-system/coredns'} <= set(parsed.svg_texts)
    assert any(c.strip().startswith('netobs-report content_hash=') for c in parsed.comments)
    # deterministic: same report, same bytes
    assert document == report_html.render(samples.example_report())


def test_hostile_cluster_data_is_escaped_everywhere():
    report = samples.hostile_report()
    document = report_html.render(report)
    parsed = parse(document)
    tags = {tag for tag, _attrs in parsed.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert 'script' not in tags and 'img' not in tags and 'foreignobject' not in tags
    for tag, attrs in parsed.tags:
        assert not any(name.startswith('on') for name in attrs), (tag, attrs)
        if 'href' in attrs:
            assert re.fullmatch(r'#x-[A-Za-z0-9_-]+', attrs['href']), attrs
        if 'id' in attrs:
            assert attrs['id'] in SECTION_IDS or re.fullmatch(r'(x|arrow)-[A-Za-z0-9_-]+', attrs['id']), attrs
        assert not any('javascript:' in (value or '') for value in attrs.values()), (tag, attrs)
    lowered = document.decode().lower()
    assert '<script' not in lowered and '<img' not in lowered and '<div id="pwned"' not in lowered
    # The data is still shown, as text: the title, SVG labels and table cells decode back to the hostile strings.
    assert parsed.titles[0] == f'Compliance report: {samples.SCRIPT}{samples.QUOTES}'
    assert any(samples.SCRIPT in label for label in parsed.svg_texts)
    assert any(samples.JS_URL in label for label in parsed.svg_texts)
    text = document.decode()
    for payload in samples.HOSTILE:
        assert html.escape(payload, quote=True) in text, payload
    # &amp;-tricks stay double-escaped: the text shows the entity, it is not decoded into markup.
    assert html.escape(samples.AMP, quote=True) in text and '&amp;amp;lt;b&amp;amp;gt;' in text


def test_rollup_page_escapes_cluster_names(tmp_path):
    from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model  # pylint: disable=import-outside-toplevel
    paths = []
    for cluster in (samples.SCRIPT, samples.IMG):
        path = tmp_path / f'{len(paths)}.json'
        report_model.write_atomic(str(path), report_model.render(samples.hostile_report(cluster=cluster), 'json'))
        paths.append(str(path))
    document = report_html.render_rollup(report_model.build_rollup(paths, now=samples.NOW))
    parsed = parse(document)
    assert {tag for tag, _attrs in parsed.tags} <= ALLOWED_TAGS
    assert b'<script' not in document.lower() and b'<img' not in document.lower()
    assert html.escape(samples.IMG, quote=True).encode() in document
