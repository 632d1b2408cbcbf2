# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo``: the compliance playbook over the shipped reference-experiment capture, no cluster needed.

Runs ``ansible-playbook playbooks/compliance.yml -i examples/reference-experiment/inventory.yml``, which
writes the JSON, JUnit, Markdown and HTML reports under ``reports/<cluster>/``; takes a PNG screenshot of
the HTML report with headless Chromium (``reports/<cluster>/compliance.png``); and prints what the report
shows: the netshot -> nginx TCP/80 drop and the policy it is attributed to, the control client that stayed
allowed, and the coverage notes.

The screenshot is optional: without Chromium (or when it fails) the demo still succeeds after writing the
reports and prints a note that the screenshot was skipped. ``--screenshot PATH`` asks for it explicitly
(``make demo-screenshot`` refreshes the README image ``docs/images/demo-report.png`` that way): then a
missing Chromium is an error (exit 3). Nothing under ``docs/`` is written otherwise.

Usage: demo.py [--report-dir DIR] [--screenshot PATH | --no-screenshot] [--inventory PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
DEFAULT_INVENTORY = os.path.join(REPO, 'examples', 'reference-experiment', 'inventory.yml')
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--mute-audio')
INSTALL_HINT = 'install it with: sudo apt-get install -y chromium   (Debian/Ubuntu; the package is named chromium)'
WINDOW = '1280,1700'


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH (``NETOBS_CHROMIUM`` overrides)."""
    override = os.environ.get('NETOBS_CHROMIUM')
    if override:
        return override if os.path.exists(override) else shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_argv(binary: str, profile: str, *extra: str) -> list[str]:
    return [binary, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *extra]


def screenshot(html_path: str, png_path: str, window: str = WINDOW, timeout: float = 60.0) -> None:
    """Render ``html_path`` with headless Chromium into ``png_path`` (fresh profile, no network features)."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError('headless Chromium is needed for the screenshot but was not found on PATH; ' + INSTALL_HINT)
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='netobs-chromium-') as profile:
        partial = os.path.join(profile, 'shot.png')
        argv = chromium_argv(binary, os.path.join(profile, 'profile'), f'--screenshot={partial}', f'--window-size={window}',
                             'file://' + os.path.abspath(html_path))
        proc = subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        if proc.returncode != 0 or not os.path.exists(partial):
            raise RuntimeError(f'chromium failed (exit {proc.returncode}): {proc.stdout.decode("utf-8", "replace")[-2000:]}')
        shutil.move(partial, png_path)


def run_playbook(inventory: str, report_dir: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.cache', 'collections'))
    env.setdefault('ANSIBLE_NOCOLOR', '1')
    env.setdefault('ANSIBLE_STDOUT_CALLBACK', 'default')
    env.setdefault('ANSIBLE_PIPELINING', '1')
    env['ANSIBLE_RETRY_FILES_ENABLED'] = '0'
    argv = [os.path.join(BIN, 'ansible-playbook'), os.path.join(REPO, 'playbooks', 'compliance.yml'), '-i', inventory,
            '-e', 'compliance_report_dir=' + report_dir]
    return subprocess.run(argv, cwd=REPO, env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _show(path: str) -> str:
    """A path relative to the repository when it is inside it."""
    relative = os.path.relpath(path, REPO)
    return path if relative.startswith('..') else relative


def _ref(hit: dict) -> str:
    ref = f"{hit.get('namespace')}/{hit.get('name')}" if hit.get('namespace') else str(hit.get('name'))
    return f"{hit.get('kind')} {ref} (rule {hit.get('rule') or '-'}, {hit.get('effect')})"


def summarize(report: dict) -> list[str]:
    """The lines the demo prints: verdict, the netshot -> nginx drop, the control, coverage notes."""
    run, summary = report['run'], report['summary']
    lines = [f"Cluster {run['cluster']}: {summary['verdict'].upper()} ({summary['failing']} failing, {summary['unexpected']} unexpected)", '']
    for violation in report['violations']:
        attribution = violation['attribution']
        lines.append(f"Drop {violation['id']}: {violation['summary']} x{violation['count']} "
                     f"(events {violation['count_by_kind']['event']}, flows {violation['count_by_kind']['flow']})")
        lines.append(f"  attributed to: {', '.join(_ref(h) for h in attribution['responsible']) or 'nothing'} "
                     f"[source: {attribution['source']}]")
        lines.append(f"  why: {attribution['explanation']}")
        lines.append(f"  expectation: {violation.get('expectation') or '-'} ({violation['classification']})")
    lines.append('')
    for result in report['expectations']:
        lines.append(f"Expectation {result['name']} [{', '.join(result['controls'])}]: {result['verdict'].upper()} "
                     f"({result['category']})")
        lines.append(f"  {result['explanation']}")
    lines.append('')
    lines.append('Coverage notes (what this run could not see):')
    lines.extend(f'  - {note}' for note in report['coverage']['notes'])
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--report-dir', default=os.path.join(REPO, 'reports'))
    parser.add_argument('--inventory', default=DEFAULT_INVENTORY)
    parser.add_argument('--screenshot', default=None,
                        help='write the screenshot here and fail when it cannot be taken (default: optional, next to the HTML report)')
    parser.add_argument('--no-screenshot', action='store_true')
    args = parser.parse_args(argv)
    report_dir = os.path.abspath(args.report_dir)
    started = time.monotonic()
    proc = run_playbook(os.path.abspath(args.inventory), report_dir)
    output = proc.stdout.decode('utf-8', 'replace')
    if proc.returncode != 0:
        sys.stdout.write(output)
        sys.stderr.write(f'demo: ansible-playbook failed with exit status {proc.returncode}\n')
        return proc.returncode
    reports = sorted(os.path.join(report_dir, name, 'compliance.json') for name in os.listdir(report_dir)
                     if os.path.isfile(os.path.join(report_dir, name, 'compliance.json')))
    if not reports:
        sys.stderr.write(f'demo: no report was written under {report_dir}\n')
        return 1
    with open(reports[0], encoding='utf-8') as handle:
        report = json.load(handle)
    html_path = reports[0][:-len('.json')] + '.html'
    print(f'netobs.cilium demo: compliance playbook over {_show(os.path.abspath(args.inventory))}')
    print('Reports: ' + ', '.join(_show(reports[0][:-len('.json')] + suffix)
                                  for suffix in ('.json', '.junit.xml', '.md', '.html')))
    if not args.no_screenshot:
        png_path = args.screenshot or html_path[:-len('.html')] + '.png'
        try:
            screenshot(html_path, png_path)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            if args.screenshot:  # asked for explicitly (make demo-screenshot): an error
                sys.stderr.write(f'demo: {exc}\n')
                return 3
            print(f'Screenshot skipped (optional; the reports above are complete): {exc}')
        else:
            print(f'Screenshot: {_show(os.path.abspath(png_path))}')
    print('')
    print('\n'.join(summarize(report)))
    print('')
    print(f'Done in {time.monotonic() - started:.1f}s.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
