# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo`` and its screenshot (issue 10, item 11).

The screenshot is optional: without Chromium on PATH the demo still succeeds once the reports are written and says
that the screenshot was skipped. A plain ``make demo`` never rewrites the tracked README image
``docs/images/demo-report.png``; only ``make demo-screenshot`` (``--screenshot PATH``) does, and that one fails
without Chromium.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, 'scripts', 'demo.py')
DOCS_IMAGE = os.path.join(REPO, 'docs', 'images', 'demo-report.png')
BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
REPORTS = ['compliance.html', 'compliance.json', 'compliance.junit.xml', 'compliance.md']


def fingerprint(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mtime_ns


def path_without_browsers(tmp_path):
    """A PATH with every program of the current PATH except the browsers (symlinks in one directory)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for directory in os.environ.get('PATH', '').split(os.pathsep) + [os.path.dirname(sys.executable)]:
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = os.path.join(directory, name)
            if name in BROWSERS or (bin_dir / name).exists() or not os.access(target, os.X_OK) or os.path.isdir(target):
                continue
            os.symlink(target, bin_dir / name)
    return str(bin_dir)


def run_demo(tmp_path, *args, path=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_PIPELINING='1')
    env.pop('NETOBS_CHROMIUM', None)
    if path is not None:
        env['PATH'] = path
    return subprocess.run([sys.executable, DEMO, '--report-dir', str(tmp_path / 'reports'), *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=180, check=False)


def test_demo_without_chromium_writes_the_reports_and_notes_the_skipped_screenshot(tmp_path):
    before = fingerprint(DOCS_IMAGE)
    path = path_without_browsers(tmp_path)
    assert not any(shutil.which(name, path=path) for name in BROWSERS)
    proc = run_demo(tmp_path, path=path)
    assert proc.returncode == 0, proc.stdout
    directory = tmp_path / 'reports' / 'kind-reference'
    assert sorted(os.listdir(directory)) == REPORTS
    assert 'Screenshot skipped (optional; the reports above are complete): headless Chromium is needed' in proc.stdout
    assert 'apt-get install -y chromium' in proc.stdout
    assert 'attributed to: NetworkPolicy cni-test/deny-egress' in proc.stdout  # the summary is still printed
    assert fingerprint(DOCS_IMAGE) == before


def test_explicit_screenshot_without_chromium_is_an_error(tmp_path):
    proc = run_demo(tmp_path, '--screenshot', str(tmp_path / 'shot.png'), path=path_without_browsers(tmp_path))
    assert proc.returncode == 3, proc.stdout
    assert 'demo: headless Chromium is needed for the screenshot but was not found on PATH' in proc.stdout
    assert not (tmp_path / 'shot.png').exists()


def test_demo_never_rewrites_the_tracked_readme_image(tmp_path):
    if not any(shutil.which(name) for name in BROWSERS):
        if os.environ.get('NETOBS_SKIP_BROWSER_TESTS') == '1':
            pytest.skip('no headless Chromium (NETOBS_SKIP_BROWSER_TESTS=1)')
        pytest.fail('headless Chromium is needed: apt-get install -y chromium, or set NETOBS_SKIP_BROWSER_TESTS=1')
    before = fingerprint(DOCS_IMAGE)
    proc = run_demo(tmp_path)
    assert proc.returncode == 0, proc.stdout
    shot = tmp_path / 'reports' / 'kind-reference' / 'compliance.png'
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert f'Screenshot: {shot}' in proc.stdout
    assert fingerprint(DOCS_IMAGE) == before
