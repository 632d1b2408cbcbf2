# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``scripts/demo.py`` (what ``make demo`` runs) end to end, into a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest
import report_samples as samples

pytestmark = pytest.mark.integration

DEMO = os.path.join(samples.REPO, 'scripts', 'demo.py')
CACHE_COLLECTIONS = os.path.join(samples.REPO, '.cache', 'collections')


def browser_available():
    if any(shutil.which(name) for name in ('chromium', 'chromium-browser', 'google-chrome')):
        return True
    if os.environ.get('NETOBS_SKIP_BROWSER_TESTS') == '1':
        return False
    pytest.fail('headless Chromium is needed (scripts/demo.py takes a screenshot): install it with apt-get install -y chromium, '
                'or set NETOBS_SKIP_BROWSER_TESTS=1 to skip the screenshot')
    return False


def test_demo_writes_reports_screenshot_and_summary(tmp_path):
    screenshot = tmp_path / 'demo-report.png'
    argv = [sys.executable, DEMO, '--report-dir', str(tmp_path / 'reports'), '--screenshot', str(screenshot)]
    if not browser_available():
        argv.append('--no-screenshot')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=CACHE_COLLECTIONS, ANSIBLE_PIPELINING='1')
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
    out = proc.stdout
    directory = tmp_path / 'reports' / 'kind-reference'
    assert sorted(os.listdir(directory)) == ['compliance.html', 'compliance.json', 'compliance.junit.xml', 'compliance.md']
    report = json.loads((directory / 'compliance.json').read_text())
    jsonschema.Draft202012Validator(samples.schema('report')).validate(report)

    violation = next(v for v in report['violations'] if v['source']['workload'] == 'netshot' and v['destination']['workload'] == 'nginx')
    assert (violation['protocol'], violation['port'], violation['direction']) == ('TCP', 80, 'egress')
    assert [(h['namespace'], h['name']) for h in violation['attribution']['responsible']] == [('cni-test', 'deny-egress')]
    control = next(r for r in report['expectations'] if r['name'] == 'control-reaches-nginx')
    assert (control['verdict'], control['category']) == ('pass', 'allow_observed')
    # The shipped capture is real (tests/cluster/capture_reference.py on make cluster, see its PROVENANCE.md): every
    # record decoded, nothing lost, the snapshot present, so this pass is earned.
    assert report['summary']['verdict'] == 'pass'
    assert report['coverage']['complete'] is True and report['coverage']['incomplete_reasons'] == []
    assert violation['count'] == 21  # the PacketDrop Event's count; Hubble saw 15 of the drops in its window
    notes = report['coverage']['notes']
    assert any('emitter interval (5s)' in n for n in notes) and any('ring buffer' in n for n in notes)

    # What the demo prints: the attributed drop, the control, the coverage notes.
    assert 'cni-test/netshot -> cni-test/nginx TCP/80 (EGRESS, POLICY_DENIED)' in out
    assert 'attributed to: NetworkPolicy cni-test/deny-egress (rule egress, default-deny)' in out
    assert 'Expectation control-reaches-nginx [AVAIL-WEB-01]: PASS (allow_observed)' in out
    assert 'Cluster kind-reference: PASS (0 failing, 0 unexpected)' in out
    assert 'Coverage notes (what this run could not see):' in out and '--event-ttl (1h)' in out
    if '--no-screenshot' not in argv:
        assert screenshot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and screenshot.stat().st_size > 20000
        assert 'Screenshot: ' in out
