#!/usr/bin/env python
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: PacketDrop message parsing time vs message size on hostile messages (linearity check).

Not a pytest test. For each size, builds messages of several hostile shapes (runs of section heads the old lazy
regex backtracked on, many valid sections, one section with many policies, long IPv6-like heads), times
``event_parser.parse_message`` (best of RUNS) and a linear baseline over the same text (a tokenising regex scan),
and prints seconds, the ratio to the baseline and the growth factor against the previous size (linear: the size
factor; quadratic: its square).

    .venv/bin/python tests/perf/bench_event_parser.py [--sizes 88K,176K,1M] [--runs 3]
    .venv/bin/python tests/perf/bench_event_parser.py --parser /tmp/old_event_parser.py   # compare another version
        (git show <commit>:plugins/module_utils/sources/events/parser.py > /tmp/old_event_parser.py; --skip-after stops a shape
        once one size took longer than that many seconds)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, '.cache', 'collections')
if os.path.isdir(COLLECTIONS):
    sys.path.insert(0, COLLECTIONS)

HEAD = 'Outgoing packet dropped (policy_denied) to world (1.1.1.1) TCP/80.'
PREFIX = 'Outgoing packet dropped (policy_denied) to '


def shapes(size):
    def repeat(unit):
        return unit * (size // len(unit))
    return {
        'section-heads-no-dot': HEAD + ' ' + repeat('Applied policies: '),
        'section-heads-dot-no-space': HEAD + ' ' + repeat('Denied by clusterwide policies: x. x'),
        'many-valid-sections': HEAD + repeat(' Applied policies: a/b.'),
        'one-section-many-policies': HEAD + ' Denied by policies: ' + ','.join('CiliumNetworkPolicy/p%d' % i for i in range(size // 26)) + '.',
        'ipv6-colons': PREFIX + ':' * size + 'x',
    }


def parse_size(text):
    text = text.strip().upper()
    factor = {'K': 1 << 10, 'M': 1 << 20}.get(text[-1:], 1)
    return int(float(text.rstrip('KM')) * factor)


def load_parser(path):
    if not path:
        from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import parser as event_parser  # pylint: disable=import-outside-toplevel
        return event_parser
    spec = importlib.util.spec_from_file_location('bench_event_parser_other', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def best(func, text, runs):
    result = None
    for _run in range(runs):
        start = time.perf_counter()
        func(text)
        elapsed = time.perf_counter() - start
        result = elapsed if result is None else min(result, elapsed)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='88K,176K,352K,1M')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--parser', help='path of another event_parser.py to time instead of the collection one')
    parser.add_argument('--skip-after', type=float, default=60.0, help='skip larger sizes of a shape after one took this long')
    args = parser.parse_args()
    module = load_parser(args.parser)
    sizes = [parse_size(part) for part in args.sizes.split(',')]
    print('parser: %s' % (args.parser or module.__file__))
    print('%-28s %9s %10s %10s %8s %8s' % ('shape', 'size', 'parse s', 'base s', 'ratio', 'growth'))
    for name in shapes(1024):
        previous, skipped = None, False
        for size in sizes:
            text = shapes(size)[name]
            if skipped:
                print('%-28s %9d %10s' % (name, len(text), 'skipped'))
                continue
            runs = args.runs if previous is None or previous < 5 else 1
            parse = best(module.parse_message, text, runs)
            base = best(lambda value: re.findall(r'[^ .,/]+', value), text, args.runs)
            growth = '%.1fx' % (parse / previous) if previous else '-'
            print('%-28s %9d %10.4f %10.4f %7.1fx %8s' % (name, len(text), parse, base, parse / max(base, 1e-9), growth))
            previous = parse
            skipped = parse > args.skip_after
    return 0


if __name__ == '__main__':
    sys.exit(main())
