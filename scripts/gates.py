# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the quality gates of netobs.cilium and print one summary line per gate.

Usage: gates.py [--jobs N] GATE [GATE ...]     (GATE: sanity, lint, pytest, syntax, yamllint, or ``all``)

Each gate's full output goes to ``.cache/gates/<gate>.log`` and is printed when the gate
ends; the summary at the end has one line per gate and the exit status is non-zero when
any gate failed. Gates are independent, so ``--jobs 2`` runs two at a time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
LOG_DIR = os.path.join(REPO, '.cache', 'gates')
# Tools started by the gates (molecule -> ansible-config, ansible-test -> ansible-doc) come from the venv.
os.environ['PATH'] = BIN + os.pathsep + os.environ.get('PATH', '')
# kubernetes.core and this checkout (symlinked as netobs.cilium), laid out by `make deps`.
os.environ.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.cache', 'collections'))
PYTEST_NO_TESTS_COLLECTED = 5
PASSING_GATE_TAIL = 25


@dataclass
class GateResult:
    """Outcome of one gate."""

    name: str
    ok: bool
    summary: str
    seconds: float
    log: str


def run(command: list[str], log: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command, appending its combined output to ``log``; return the exit status."""
    log.append('$ ' + ' '.join(command) + '\n')
    process = subprocess.run(command, cwd=REPO, env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log.append(process.stdout.decode('utf-8', 'replace'))
    return process.returncode


def gate_sanity(log: list[str]) -> tuple[bool, str]:
    """ansible-test sanity, every test, no ignore file."""
    status = run([sys.executable, 'scripts/sanity_tree.py'], log)
    text = ''.join(log)
    tests = re.findall(r'^Running sanity test "([^"]+)"', text, re.M)
    failed = sorted(set(re.findall(r'^ERROR: Found \d+ ([\w-]+) issue', text, re.M)))
    if status == 0:
        return True, f'{len(tests)} sanity tests passed (Python {sys.version_info.major}.{sys.version_info.minor}, no ignore file)'
    detail = f'failing: {", ".join(failed)}' if failed else f'exit status {status}'
    return False, f'{len(tests)} sanity tests run, {detail}'


def gate_lint(log: list[str]) -> tuple[bool, str]:
    """ansible-lint, production profile, offline."""
    status = run([os.path.join(BIN, 'ansible-lint'), '--profile', 'production', '--offline', '--nocolor'], log)
    text = ''.join(log)
    summary = re.findall(r'^(?:Passed|Failed): .*$', text, re.M)
    line = summary[-1] if summary else f'exit status {status}'
    return status == 0, f'profile production: {line}'


def gate_pytest(log: list[str]) -> tuple[bool, str]:
    """pytest over tests/ (unit + integration), hypothesis CI profile."""
    env = dict(os.environ, HYPOTHESIS_PROFILE=os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
    jobs = os.environ.get('PYTEST_JOBS', '2')
    command = [os.path.join(BIN, 'pytest'), 'tests', '-p', 'no:cacheprovider', '-q', '--durations=10']
    if jobs not in ('0', '1'):
        command += ['-n', jobs]
    status = run(command, log, env=env)
    text = ''.join(log)
    lines = re.findall(r'^=*\s*(\d+ (?:passed|failed|error).*?)\s*=*$', text, re.M)
    line = lines[-1] if lines else f'exit status {status}'
    if status == PYTEST_NO_TESTS_COLLECTED:
        return False, 'no tests collected: the suite must not be empty'
    return status == 0, line


def playbooks() -> list[str]:
    """Every playbook the collection ships."""
    return sorted(glob.glob(os.path.join(REPO, 'playbooks', '*.yml')))


def scenarios() -> list[str]:
    """Every Molecule scenario."""
    return sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(os.path.join(REPO, 'molecule', '*', 'molecule.yml')))


def gate_syntax(log: list[str]) -> tuple[bool, str]:
    """ansible-playbook --syntax-check on every playbook, molecule syntax on every scenario."""
    failures = []
    books = playbooks()
    for book in books:
        if run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,', book], log) != 0:
            failures.append(os.path.relpath(book, REPO))
    names = scenarios()
    for name in names:
        if run([os.path.join(BIN, 'molecule'), 'syntax', '-s', name], log) != 0:
            failures.append(f'molecule/{name}')
    counted = f'{len(books)} playbooks, {len(names)} molecule scenarios'
    if failures:
        return False, f'{counted}; failing: {", ".join(failures)}'
    return True, f'{counted}: syntax OK'


def gate_yamllint(log: list[str]) -> tuple[bool, str]:
    """yamllint on the repository's YAML."""
    status = run([os.path.join(BIN, 'yamllint'), '--strict', '-f', 'parsable', '.'], log)
    problems = [line for line in ''.join(log).splitlines() if re.match(r'^\S+:\d+:\d+: \[', line)]
    if status == 0:
        return True, 'no problems'
    return False, f'{len(problems)} problems'


GATES = {
    'sanity': gate_sanity,
    'lint': gate_lint,
    'pytest': gate_pytest,
    'syntax': gate_syntax,
    'yamllint': gate_yamllint,
}


def execute(name: str) -> GateResult:
    """Run one gate and capture its log."""
    started = time.monotonic()
    log: list[str] = []
    try:
        ok, summary = GATES[name](log)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        ok, summary = False, f'gate crashed: {exc!r}'
    seconds = time.monotonic() - started
    os.makedirs(LOG_DIR, exist_ok=True)
    text = ''.join(log)
    with open(os.path.join(LOG_DIR, f'{name}.log'), 'w', encoding='utf-8') as handle:
        handle.write(text)
    return GateResult(name, ok, summary, seconds, text)


def main(argv: list[str]) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('gates', nargs='+', choices=[*GATES, 'all'])
    args = parser.parse_args(argv)
    names = list(GATES) if 'all' in args.gates else list(dict.fromkeys(args.gates))
    results: dict[str, GateResult] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(execute, name): name for name in names}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[result.name] = result
            print(f'\n===== gate {result.name}: {"PASS" if result.ok else "FAIL"} ({result.seconds:.0f}s) =====', flush=True)
            # A passing gate shows its tail, a failing one everything; full logs stay in .cache/gates/.
            lines = result.log.splitlines()
            shown = lines if not result.ok else lines[-PASSING_GATE_TAIL:]
            if len(shown) < len(lines):
                print(f'[... {len(lines) - len(shown)} lines in .cache/gates/{result.name}.log ...]')
            print('\n'.join(shown), flush=True)
    print('\n===== summary =====')
    for name in names:
        result = results[name]
        print(f'{"PASS" if result.ok else "FAIL"}  {name:<9} {result.seconds:6.1f}s  {result.summary}')
    failed = [name for name in names if not results[name].ok]
    print(f'\n{len(names) - len(failed)}/{len(names)} gates passed' + (f'; failed: {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
