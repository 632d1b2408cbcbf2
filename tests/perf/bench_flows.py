# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: parse + aggregate a synthetic Hubble capture, compared with a jq pipeline.

Usage (from the repository root; a script, not a pytest test)::

    .venv/bin/python tests/perf/bench_flows.py --lines 1000000 [--drop-ratio 0.01] [--out DIR] [--keep]
    .venv/bin/python tests/perf/bench_flows.py --input capture.jsonl      # measure an existing capture

It writes ``--lines`` lines of ``hubble observe -o json`` output (the Cilium 1.17/1.18 field set, ~1.5-2 KB per line,
``--drop-ratio`` of them DROPPED, half policy-verdict and half drop events), then measures in child processes:

* ours: ``CaptureReader`` + ``Aggregator`` in a minimal child pinned to one CPU: wall time, lines/s, CPU time (``os.wait4``
  rusage), peak RSS (the child's ``VmHWM`` from ``/proc``: ``ru_maxrss`` would include the parent it was spawned from);
* baseline: ``jq -c 'select(.flow.verdict=="DROPPED") | [src pod, dst pod, reason]' | sort | uniq -c`` (argv lists, pipes);

prints both, the ratio, and checks that both found the same number of drops. The generated file is deleted
unless ``--keep`` is given.

End to end (``--e2e``, what a user runs), in the same run on the same file, each under a wrapper process that reports
its wall time and the peak RSS of its descendants (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest
single process, i.e. the module process for ours, jq for the pipeline):

* ours: ``ansible localhost -m netobs.cilium.hubble_flows_info -a 'transport=file src=<file>'`` (controller start-up,
  AnsiballZ, module import, parse + aggregation, the JSON result printed by the callback: everything);
* baseline: ``sh -c "jq -c '<filter>' <file> | sort | uniq -c"``;
* for the breakdown, in the same rounds: ``ansible localhost -m ansible.builtin.ping`` (Ansible's own cost: a module
  that does nothing) and our module on the first 100 lines of the file (its fixed cost).

``--e2e-runs N`` repeats both (median reported, after one warm-up of each). Target: >= 15x (``TARGET_E2E_RATIO``).
A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JQ_FILTER = 'select(.flow.verdict=="DROPPED") | [.flow.source.pod_name, .flow.destination.pod_name, .flow.drop_reason_desc]'
TARGET_RATIO = 25.0
TARGET_LINES_PER_S = 1_000_000
TARGET_RSS_MB = 150.0
TARGET_E2E_RATIO = 15.0

NODES = ['kind-worker', 'kind-worker2', 'kind-worker3', 'kind-control-plane']
NODE_LABELS = ('"node_labels":["beta.kubernetes.io/arch=amd64","beta.kubernetes.io/os=linux","kubernetes.io/arch=amd64",'
               '"kubernetes.io/hostname=%(node)s","kubernetes.io/os=linux","node-role.kubernetes.io/worker=",'
               '"topology.kubernetes.io/zone=zone-a"]')
WORKLOADS = [
    # namespace, workload, pod, identity, ip, app label
    ('shop', 'frontend', 'frontend-7c5ddbdf54-8xkqz', 31877, '10.0.1.%d', 'frontend'),
    ('shop', 'cart', 'cart-5f6b9c7d8-r4k2j', 22901, '10.0.2.%d', 'cart'),
    ('shop', 'payments-api', 'payments-api-76f75df574-7wq9z', 48812, '10.0.3.%d', 'payments-api'),
    ('cni-test', 'nginx', 'nginx-7c5ddbdf54-tq2mv', 2290, '10.0.4.%d', 'nginx'),
    ('kube-system', 'coredns', 'coredns-76f75df574-7wq9z', 20934, '10.0.5.%d', 'kube-dns'),
    ('monitoring', 'prometheus', 'prometheus-server-5c754d96b-6r7x2', 51234, '10.0.6.%d', 'prometheus'),
]


def _labels(namespace, app):
    return ('["k8s:app=%s","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=%s",'
            '"k8s:io.cilium.k8s.policy.cluster=default","k8s:io.cilium.k8s.policy.serviceaccount=%s",'
            '"k8s:io.kubernetes.pod.namespace=%s"]' % (app, namespace, app, namespace))


def _endpoint(work, index, local):
    namespace, workload, pod, identity, ip_pattern, app = work
    text = '{%s"identity":%d,"cluster_name":"default","namespace":"%s","labels":%s,"pod_name":"%s"' % (
        '"ID":%d,' % (100 + index) if local else '', identity, namespace, _labels(namespace, app), pod)
    if local:
        text += ',"workloads":[{"name":"%s","kind":"Deployment"}]' % workload
    return text + '}', ip_pattern % (10 + index)


def _policy(name, namespace):
    return ('{"name":"%s","namespace":"%s","labels":["k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy",'
            '"k8s:io.cilium.k8s.policy.name=%s","k8s:io.cilium.k8s.policy.namespace=%s",'
            '"k8s:io.cilium.k8s.policy.uid=5f183d6a-8d27-5de4-8a56-2992b8c72993"],"revision":"7","kind":"CiliumNetworkPolicy"}'
            % (name, namespace, name, namespace))


def _flow_line(rng, stamp, kind):
    """One ``hubble observe -o json`` line; kind: trace | verdict | drop-verdict | drop."""
    node = rng.choice(NODES)
    src_index, dst_index = rng.randrange(len(WORKLOADS)), rng.randrange(len(WORKLOADS))
    src, src_ip = _endpoint(WORKLOADS[src_index], src_index, True)
    dst, dst_ip = _endpoint(WORKLOADS[dst_index], dst_index, kind == 'trace')
    sport, dport = rng.randrange(32768, 61000), rng.choice((80, 443, 8080, 5432, 9090))
    uuid = '%08x-%04x-%04x-%04x-%012x' % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
                                          rng.getrandbits(16), rng.getrandbits(48))
    seconds, nanos = divmod(stamp, 1_000_000_000)
    when = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds)) + '.%09dZ' % nanos
    head = '{"flow":{"time":"%s","uuid":"%s","verdict":"%s",' % (
        when, uuid, 'DROPPED' if kind.startswith('drop') else 'FORWARDED')
    if kind.startswith('drop'):
        head += '"drop_reason":133,'
    body = ('"ethernet":{"source":"52:8e:2a:11:90:0c","destination":"b2:4c:91:0a:6e:33"},'
            '"IP":{"source":"%s","destination":"%s","ipVersion":"IPv4"},'
            '"l4":{"TCP":{"source_port":%d,"destination_port":%d,"flags":{"SYN":true}}},'
            '"source":%s,"destination":%s,"Type":"L3_L4","node_name":"%s",%s,'
            % (src_ip, dst_ip, sport, dport, src, dst, node, NODE_LABELS % {'node': node}))
    if kind == 'trace':
        tail = ('"event_type":{"type":4},"traffic_direction":"INGRESS","trace_observation_point":"TO_ENDPOINT",'
                '"trace_reason":"NEW","is_reply":false,"interface":{"index":9,"name":"lxc6c1f0b3d2a9e"},"Summary":"TCP Flags: SYN"}')
    elif kind == 'verdict':
        tail = ('"event_type":{"type":5},"traffic_direction":"EGRESS","policy_match_type":2,"is_reply":false,'
                '"Summary":"TCP Flags: SYN","egress_allowed_by":[%s]}' % _policy('allow-' + WORKLOADS[src_index][1], WORKLOADS[src_index][0]))
    elif kind == 'drop-verdict':
        tail = '"event_type":{"type":5},"traffic_direction":"EGRESS","drop_reason_desc":"POLICY_DENIED","Summary":"TCP Flags: SYN"}'
    else:
        tail = ('"event_type":{"type":1,"sub_type":133},"traffic_direction":"EGRESS","file":{"name":"bpf_lxc.c","line":1372},'
                '"drop_reason_desc":"POLICY_DENIED","Summary":"TCP Flags: SYN"}')
    return head + body + tail + ',"node_name":"%s","time":"%s"}\n' % (node, when)


def generate(path, lines, drop_ratio, seed=1):
    """Write the synthetic capture; returns (bytes written, DROPPED lines)."""
    rng = random.Random(seed)
    every = max(2, int(round(1 / drop_ratio))) if drop_ratio > 0 else 0
    stamp = 1_748_668_800_000_000_000
    dropped = 0
    written = 0
    batch = []
    with open(path, 'w', encoding='utf-8') as handle:
        for number in range(lines):
            stamp += rng.randrange(50_000, 200_000)
            if every and number % every == 0:
                kind = 'drop-verdict' if (number // every) % 2 == 0 else 'drop'
                dropped += 1
            else:
                kind = 'trace' if number % 3 else 'verdict'
            batch.append(_flow_line(rng, stamp, kind))
            if len(batch) >= 20_000:
                text = ''.join(batch)
                written += len(text)
                handle.write(text)
                batch = []
        text = ''.join(batch)
        written += len(text)
        handle.write(text)
    return written, dropped


# The measured child: only the imports the parse needs (no argparse/subprocess/... from this script).
CHILD_CODE = """
import json, os, sys, time
started = time.perf_counter()
if sys.argv[3] != '-1':
    os.sched_setaffinity(0, {int(sys.argv[3])})
sys.path.insert(0, os.path.join(sys.argv[1], '.cache', 'collections'))
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import Aggregator
imported = time.perf_counter()
reader = CaptureReader()
aggregator = Aggregator()
for drop in reader.drops(sys.argv[2]):
    aggregator.add(drop)
result = aggregator.result(reader.coverage)
done = time.perf_counter()
hwm = None
try:
    with open('/proc/self/status', encoding='ascii') as status:
        hwm = next(int(line.split()[1]) / 1024.0 for line in status if line.startswith('VmHWM:'))
except (OSError, StopIteration):
    pass
print(json.dumps({'vm_hwm_mb': hwm, 'elapsed': done - imported, 'imports': imported - started, 'lines': reader.coverage.lines_read,
                  'drops': reader.coverage.drops, 'violations': len(result.violations),
                  'packets': sum(item.count for item in result.violations), 'backend': reader.backend}))
"""


def _wait(proc):
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage


def run_ours(path, cpu):
    # No preexec_fn: the child is spawned without a copy of this (large) process, so its peak RSS is its own.
    argv = [sys.executable, '-c', CHILD_CODE, REPO, path, str(-1 if cpu is None else cpu)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    output = proc.stdout.read()
    proc.stdout.close()
    usage = _wait(proc)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f'parse child failed with {proc.returncode}')
    summary = json.loads(output)
    # ru_maxrss of a child also counts the parent's pages it was spawned from (Linux accounts the pre-exec image);
    # the child's own VmHWM from /proc is the real peak of the parse.
    rusage_mb = usage.ru_maxrss / 1024.0
    summary.update(wall=wall, rusage_max_rss_mb=rusage_mb, max_rss_mb=summary['vm_hwm_mb'] or rusage_mb,
                   cpu_s=usage.ru_utime + usage.ru_stime)
    return summary


def run_jq(path, jq):
    started = time.perf_counter()
    with open(path, 'rb') as capture:
        jq_proc = subprocess.Popen([jq, '-c', JQ_FILTER], stdin=capture, stdout=subprocess.PIPE)
        sort_proc = subprocess.Popen(['sort'], stdin=jq_proc.stdout, stdout=subprocess.PIPE)
        jq_proc.stdout.close()
        uniq_proc = subprocess.Popen(['uniq', '-c'], stdin=sort_proc.stdout, stdout=subprocess.PIPE)
        sort_proc.stdout.close()
        output = uniq_proc.communicate()[0]
        jq_usage = _wait(jq_proc)
        sort_proc.wait()
    wall = time.perf_counter() - started
    if jq_proc.returncode or sort_proc.returncode or uniq_proc.returncode:
        raise SystemExit('jq pipeline failed')
    groups = [line.split(None, 1) for line in output.decode().splitlines() if line.strip()]
    drops = sum(int(count) for count, _rest in groups)
    return {'wall': wall, 'drops': drops, 'groups': len(groups), 'jq_cpu_s': jq_usage.ru_utime + jq_usage.ru_stime}


_WRAPPER = ('import json, resource, subprocess, sys, time\n'
            't = time.perf_counter()\n'
            'p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)\n'
            'wall = time.perf_counter() - t\n'
            'ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n'
            'print(json.dumps({"wall": wall, "rss_kb": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime, "rc": p.returncode,'
            ' "out_bytes": len(p.stdout), "tail": p.stdout.decode(errors="replace")[-400:] + p.stderr.decode(errors="replace")[-400:]}))\n')


def _measured(argv, env=None):
    """Run ``argv`` under a wrapper process: wall seconds, peak RSS (KiB) of its largest descendant, CPU, return code."""
    proc = subprocess.run([sys.executable, '-c', _WRAPPER] + argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def run_e2e(path, jq, runs):
    """``ansible localhost -m netobs.cilium.hubble_flows_info`` vs the jq pipeline on ``path``: medians of ``runs``."""
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    ours_cmd = [os.path.join(bindir, 'ansible'), 'localhost', '-m', 'netobs.cilium.hubble_flows_info',
                '-a', f'transport=file src={path}']
    jq_cmd = ['sh', '-c', '"$0" -c "$1" "$2" | sort | uniq -c', jq, JQ_FILTER, path]
    # Where the seconds go: Ansible alone (a module that does nothing) and our module on the first 100 lines.
    with tempfile.TemporaryDirectory(prefix='bench-flows-') as scratch:
        tiny = os.path.join(scratch, 'first-100-lines.jsonl')
        with open(path, 'rb') as source, open(tiny, 'wb') as target:
            for _number, line in zip(range(100), source):
                target.write(line)
        ping_cmd = [os.path.join(bindir, 'ansible'), 'localhost', '-m', 'ansible.builtin.ping']
        tiny_cmd = ours_cmd[:-1] + [f'transport=file src={tiny}']
        samples = {'ours': [], 'jq': [], 'ping': [], 'tiny': []}
        for run in range(runs + 1):
            for name, cmd in (('ours', ours_cmd), ('jq', jq_cmd), ('ping', ping_cmd), ('tiny', tiny_cmd)):
                res = _measured(cmd, env)
                if res['rc'] != 0:
                    raise SystemExit(f"{name} failed (rc {res['rc']}): {res['tail']}")
                if run:  # the first round warms the page cache and the .pyc files
                    samples[name].append(res)
    summary = {}
    for name, items in samples.items():
        walls = sorted(item['wall'] for item in items)
        summary[name] = {'wall': walls[len(walls) // 2], 'walls': walls, 'rss_mb': max(item['rss_kb'] for item in items) / 1024.0,
                         'cpu': sorted(item['cpu'] for item in items)[len(items) // 2], 'out_bytes': items[-1]['out_bytes']}
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--lines', type=int, default=1_000_000)
    parser.add_argument('--drop-ratio', type=float, default=0.01)
    parser.add_argument('--out', help='directory for the generated capture (default: a temporary directory)')
    parser.add_argument('--input', help='measure this existing capture instead of generating one')
    parser.add_argument('--keep', action='store_true', help='keep the generated capture')
    parser.add_argument('--cpu', type=int, default=0, help='pin our parse child to this CPU (-1: no pinning)')
    parser.add_argument('--jq', default=shutil.which('jq') or '/usr/bin/jq')
    parser.add_argument('--skip-jq', action='store_true')
    parser.add_argument('--e2e', action='store_true', help='also time the shipped module end to end (ansible localhost -m) vs jq')
    parser.add_argument('--e2e-runs', type=int, default=3)
    args = parser.parse_args(argv)
    workdir = None
    if args.input:
        path = args.input
        size = os.path.getsize(path)
        expected = None
    else:
        workdir = args.out or tempfile.mkdtemp(prefix='netobs-bench-')
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, f'flows-{args.lines}.jsonl')
        started = time.perf_counter()
        size, expected = generate(path, args.lines, args.drop_ratio)
        print(f'generated {args.lines:,} lines, {size / 1e9:.2f} GB ({size / max(args.lines, 1):.0f} B/line), '
              f'{expected:,} DROPPED in {time.perf_counter() - started:.1f}s -> {path}')
    try:
        ours = run_ours(path, None if args.cpu < 0 else args.cpu)
        rate = ours['lines'] / ours['wall']
        print(f"ours : {ours['wall']:.2f}s wall ({ours['imports']:.2f}s imports, {ours['elapsed']:.2f}s parse loop, {ours['cpu_s']:.2f}s CPU), "
              f"{rate:,.0f} lines/s, {size / ours['wall'] / 1e9:.2f} GB/s, peak RSS {ours['max_rss_mb']:.1f} MB (VmHWM), "
              f"drops {ours['drops']:,}, violations {ours['violations']}, packets {ours['packets']:,}, backend {ours['backend']}")
        failures = []
        if rate < TARGET_LINES_PER_S:
            failures.append(f'lines/s {rate:,.0f} < {TARGET_LINES_PER_S:,}')
        if ours['max_rss_mb'] > TARGET_RSS_MB:
            failures.append(f"peak RSS {ours['max_rss_mb']:.1f} MB > {TARGET_RSS_MB} MB")
        if expected is not None and ours['drops'] != expected:
            failures.append(f"ours found {ours['drops']} drops, generator wrote {expected}")
        if not args.skip_jq:
            base = run_jq(path, args.jq)
            ratio = base['wall'] / ours['wall']
            print(f"jq   : {base['wall']:.2f}s wall, {ours['lines'] / base['wall']:,.0f} lines/s, drops {base['drops']:,} "
                  f"in {base['groups']} groups, jq CPU {base['jq_cpu_s']:.2f}s")
            print(f'ratio: {ratio:.1f}x faster than jq (target >= {TARGET_RATIO:.0f}x)')
            if base['drops'] != ours['drops']:
                failures.append(f"drop counts differ: ours {ours['drops']} vs jq {base['drops']}")
            if ratio < TARGET_RATIO:
                failures.append(f'ratio {ratio:.1f}x < {TARGET_RATIO:.0f}x')
        if args.e2e:
            e2e = run_e2e(path, args.jq, max(1, args.e2e_runs))
            ratio = e2e['jq']['wall'] / e2e['ours']['wall']
            for name, label in (('ours', 'e2e ours (ansible -m hubble_flows_info)'), ('jq', 'e2e jq | sort | uniq -c')):
                item = e2e[name]
                print(f"{label}: median {item['wall']:.2f}s wall (runs {' '.join('%.2f' % w for w in item['walls'])}), "
                      f"CPU {item['cpu']:.2f}s, peak RSS {item['rss_mb']:.1f} MB, stdout {item['out_bytes'] / 1024:.0f} KiB")
            print(f'e2e ratio: {ratio:.1f}x faster than jq (target >= {TARGET_E2E_RATIO:.0f}x)')
            ping, tiny = e2e['ping']['wall'], e2e['tiny']['wall']
            print(f"e2e where the time goes (medians, same rounds): Ansible alone (ansible -m ping) {ping:.2f}s; "
                  f"hubble_flows_info on 100 lines {tiny:.2f}s (+{tiny - ping:.2f}s: payload build, imports, result); "
                  f"the {args.lines if not args.input else 'input'} lines +{e2e['ours']['wall'] - tiny:.2f}s. "
                  f"A module costing nothing would be {e2e['jq']['wall'] / ping:.1f}x jq.")
            if ratio < TARGET_E2E_RATIO:
                failures.append(f'end-to-end ratio {ratio:.1f}x < {TARGET_E2E_RATIO:.0f}x')
        print('targets: ' + ('all met' if not failures else 'MISSED: ' + '; '.join(failures)))
        return 1 if failures else 0
    finally:
        if workdir and not args.keep:
            if args.out:
                os.unlink(path)
            else:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
