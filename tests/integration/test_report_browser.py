# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report in a real browser: hostile cluster data never runs as script or changes the page.

Headless Chromium loads the report and ``--dump-dom`` prints the DOM after the page (and any script)
ran. Every payload in the hostile report would change ``document.title`` to PWNED or add an element
with id ``pwned`` if it were ever interpreted. A positive control (the same payloads written raw into a
page) proves the harness notices script execution. Needs ``chromium``; set NETOBS_SKIP_BROWSER_TESTS=1
to skip where it cannot be installed.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

import pytest
import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.report import html as report_html

pytestmark = pytest.mark.integration

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic', '--mute-audio']


@pytest.fixture(name='chromium')
def chromium_fixture():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get('NETOBS_SKIP_BROWSER_TESTS') == '1':
        pytest.skip('NETOBS_SKIP_BROWSER_TESTS=1 and no Chromium installed')
    pytest.fail('headless Chromium is not installed: install it with `apt-get install -y chromium` (Debian/Ubuntu), '
                'or set NETOBS_SKIP_BROWSER_TESTS=1 to skip the browser tests')
    return None


def browse(chromium, tmp_path, page, *extra):
    profile = tmp_path / f'profile-{len(os.listdir(tmp_path))}'
    argv = [chromium, *FLAGS, f'--user-data-dir={profile}', *extra, f'file://{page}']
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode('utf-8', 'replace')[-2000:]
    return proc.stdout.decode('utf-8', 'replace')


def dom_title(dom):
    found = re.search(r'<title>(.*?)</title>', dom, re.S)
    return html.unescape(found.group(1)) if found else None


def test_harness_detects_script_execution(chromium, tmp_path):
    page = tmp_path / 'raw.html'
    page.write_text(f'<!DOCTYPE html><html><head><title>safe</title></head><body>{samples.SCRIPT}{samples.DIV}</body></html>')
    dom = browse(chromium, tmp_path, page, '--dump-dom', '--virtual-time-budget=2000')
    assert dom_title(dom) == 'PWNED' and '<div id="pwned">' in dom


@pytest.mark.parametrize('strip_csp', [False, True], ids=['with-csp', 'escaping-alone'])
def test_hostile_report_runs_no_script(chromium, tmp_path, strip_csp):
    report = samples.hostile_report()
    document = report_html.render(report).decode('utf-8')
    if strip_csp:
        document = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', '', document)
        assert 'Content-Security-Policy' not in document
    page = tmp_path / 'report.html'
    page.write_text(document, encoding='utf-8')
    dom = browse(chromium, tmp_path, page, '--dump-dom', '--virtual-time-budget=2000')
    assert dom_title(dom) == f'Compliance report: {report["run"]["cluster"]}'
    assert '<div id="pwned">' not in dom and '<img' not in dom and '<script' not in dom.lower()
    assert html.escape('<div id="pwned">', quote=False) in dom  # shown as text


def test_screenshot_of_the_reference_report(chromium, tmp_path):
    page = tmp_path / 'report.html'
    page.write_bytes(report_html.render(samples.example_report()))
    shot = tmp_path / 'shot.png'
    browse(chromium, tmp_path, page, f'--screenshot={shot}', '--window-size=1280,1600')
    data = shot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 20000
