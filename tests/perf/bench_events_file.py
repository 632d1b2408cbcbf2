#!/usr/bin/env python
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: peak memory of reading an offline Events file (``drop_events_info src=...``), streamed vs whole.

Not a pytest test. Writes ``kubectl get events -A -o json`` output (an EventList, 4-space indent like kubectl) of
``--events`` Events (``--drops`` of them Cilium PacketDrop, the generator of ``bench_drop_events.py``), then runs, each
in a fresh child process, the pipeline the module runs with its defaults (``report.collect.drop_events(src=...)``):

* streamed: the default (the file is read item by item, ``sources.events.collector.STREAM_MIN_BYTES``);
* whole: ``STREAM_MIN_BYTES`` raised above the file size, i.e. the file read and decoded at once (the old path);

and prints wall time, peak RSS (the child's ``VmHWM``) and peak RSS / file size for both, and checks both results are
equal (the child prints a digest of the result).

    .venv/bin/python tests/perf/bench_events_file.py [--events 200000] [--drops 50000] [--keep DIR]
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_drop_events import make_events  # noqa: E402  pylint: disable=wrong-import-position

CHILD = """
import hashlib, json, os, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], '.cache', 'collections'))
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector
if sys.argv[3] == 'whole':
    collector.STREAM_MIN_BYTES = 1 << 62
with open('/proc/self/status', encoding='ascii') as status:
    before = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))
started = time.perf_counter()
result, _collector = pipeline.drop_events(src=sys.argv[2])  # the module defaults (max_drops 100)
elapsed = time.perf_counter() - started
with open('/proc/self/status', encoding='ascii') as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))
digest = hashlib.sha256(json.dumps(result, sort_keys=True, default=str).encode()).hexdigest()
print(json.dumps({'elapsed': elapsed, 'hwm_kb': hwm, 'import_hwm_kb': before, 'events_total': result['events_total'],
                  'violations_total': result['violations_total'], 'digest': digest}))
"""


def run(path, mode):
    proc = subprocess.run([sys.executable, '-c', CHILD, REPO, path, mode], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--events', type=int, default=200000)
    parser.add_argument('--drops', type=int, default=50000)
    parser.add_argument('--keep', help='write the Events file into this directory and keep it')
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix='bench-events-file-')
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, f'events-{args.events}.json')
    try:
        started = time.perf_counter()
        _namespaces, events = make_events(args.events, args.drops)
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump({'apiVersion': 'v1', 'items': events, 'kind': 'List', 'metadata': {'resourceVersion': ''}}, handle, indent=4)
        del events
        size = os.path.getsize(path)
        print(f'wrote {args.events:,} Events ({args.drops:,} PacketDrop), {size / 2 ** 20:.1f} MiB in {time.perf_counter() - started:.1f}s')
        results = {}
        for mode in ('streamed', 'whole'):
            res = results[mode] = run(path, mode)
            print(f"{mode:8}: {res['elapsed']:.2f}s, peak RSS {res['hwm_kb'] / 1024:.1f} MiB (after imports {res['import_hwm_kb'] / 1024:.1f} MiB), "
                  f"peak RSS / file size {res['hwm_kb'] * 1024 / size:.2f}x, events_total {res['events_total']:,}, "
                  f"violations {res['violations_total']:,}")
        same = results['streamed']['digest'] == results['whole']['digest']
        print('results identical: %s' % ('yes' if same else 'NO'))
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
