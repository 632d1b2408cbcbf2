# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: hubble_flows_info end to end from two checkouts, with jq and Ansible alone, in the same rounds.

Usage (from the repository root; a script, not a pytest test)::

    git worktree add /tmp/before <commit>
    .venv/bin/python tests/perf/bench_e2e_ab.py --before /tmp/before --input capture.jsonl [--runs 5]

Each round runs, one after the other, ``ansible localhost -m netobs.cilium.hubble_flows_info -a 'transport=file
src=<input>'`` with the collection taken from ``--before`` and from this checkout, the jq pipeline of bench_flows.py,
and ``ansible localhost -m ansible.builtin.ping`` (what any module costs). The machine's speed drifts from minute to
minute, so only numbers from the same rounds are compared: medians after one warm-up round, and ratios to jq.
Both checkouts use this checkout's Python environment and kubernetes.core. A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JQ_FILTER = 'select(.flow.verdict=="DROPPED") | [.flow.source.pod_name, .flow.destination.pod_name, .flow.drop_reason_desc]'


def collections_for(checkout, scratch, name):
    """An ANSIBLE_COLLECTIONS_PATH where netobs.cilium is ``checkout`` and kubernetes.core is this checkout's copy."""
    root = os.path.join(scratch, name, 'ansible_collections')
    os.makedirs(os.path.join(root, 'netobs'))
    os.symlink(os.path.abspath(checkout), os.path.join(root, 'netobs', 'cilium'))
    kubernetes = os.path.join(REPO, '.cache', 'collections', 'ansible_collections', 'kubernetes')
    if not os.path.isdir(kubernetes):
        raise SystemExit('kubernetes.core is missing from .cache/collections: run make deps first')
    os.symlink(kubernetes, os.path.join(root, 'kubernetes'))
    return os.path.dirname(root)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--before', required=True, help='checkout of the collection to compare with (e.g. a git worktree)')
    parser.add_argument('--input', required=True, help='a hubble observe -o json capture (make bench-flows writes one)')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--jq', default=shutil.which('jq') or '/usr/bin/jq')
    args = parser.parse_args(argv)
    bindir = os.path.dirname(sys.executable)
    with tempfile.TemporaryDirectory(prefix='bench-ab-') as scratch:
        paths = {'before': collections_for(args.before, scratch, 'before'), 'after': collections_for(REPO, scratch, 'after')}

        def env(name):
            return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=paths[name], ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
                        ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable)

        module = [os.path.join(bindir, 'ansible'), 'localhost', '-m', 'netobs.cilium.hubble_flows_info',
                  '-a', f'transport=file src={args.input}']
        commands = {
            'before': (module, env('before')),
            'after': (module, env('after')),
            'jq': (['sh', '-c', '"$0" -c "$1" "$2" | sort | uniq -c', args.jq, JQ_FILTER, args.input], None),
            'ping': ([os.path.join(bindir, 'ansible'), 'localhost', '-m', 'ansible.builtin.ping'], env('after')),
        }
        walls = {name: [] for name in commands}
        for run in range(max(1, args.runs) + 1):
            for name, (argv_, environment) in commands.items():
                started = time.perf_counter()
                proc = subprocess.run(argv_, env=environment, capture_output=True, check=False)
                wall = time.perf_counter() - started
                if proc.returncode:
                    raise SystemExit(f'{name} failed (rc {proc.returncode}): {proc.stdout[-300:]!r} {proc.stderr[-300:]!r}')
                if run:  # the first round warms the page cache
                    walls[name].append(wall)
    medians = {name: statistics.median(values) for name, values in walls.items()}
    for name, values in walls.items():
        ratio = '' if name == 'jq' else f'  jq / this = {medians["jq"] / medians[name]:.1f}x'
        print(f'{name:7s} median {medians[name]:.2f}s  runs {" ".join("%.2f" % v for v in sorted(values))}{ratio}')
    print(f'module time beyond Ansible alone: before {medians["before"] - medians["ping"]:.2f}s, '
          f'after {medians["after"] - medians["ping"]:.2f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
