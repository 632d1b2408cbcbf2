# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make e2e-local: molecule/local on the real cluster of make cluster, with a run record.

Runs the scenario step by step (syntax, create, converge, idempotence, verify; destroy with --destroy),
times each step and writes reports/e2e-local/summary.json: versions, per-step seconds and exit status,
overall pass/fail. Exit status 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_cluster():
    spec = importlib.util.spec_from_file_location('netobs_cluster', os.path.join(ROOT, 'tests', 'cluster', 'cluster.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--destroy', action='store_true', help='also run molecule destroy (make cluster-down) at the end')
    parser.add_argument('--summary', default=os.path.join(ROOT, 'reports', 'e2e-local', 'summary.json'))
    args = parser.parse_args(argv)

    cluster = load_cluster()
    lay = cluster.Layout()
    if not lay.ready_marker().exists():
        print('error: the cluster cache for %s is not built (%s missing): run make cluster first' % (lay.key, lay.ready_marker()),
              file=sys.stderr)
        return 2
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ)
    env.update({
        'PATH': '%s:%s:%s' % (lay.bin, venv_bin, env.get('PATH', '')),
        'NETOBS_CLUSTER_BIN': str(lay.bin),
        'NETOBS_CLUSTER_KUBECONFIG': str(lay.kubeconfig),
        'NETOBS_CLUSTER_STATE': str(lay.state),
        'NETOBS_CLUSTER_CHART': str(cluster.chart_dir(lay)),
        'ANSIBLE_NOCOLOR': '1',
    })
    env.pop('K8S_AUTH_KUBECONFIG', None)
    steps = ['syntax', 'create', 'converge', 'idempotence', 'verify'] + (['destroy'] if args.destroy else [])
    record = {'scenario': 'local', 'cluster': lay.key, 'versions': lay.versions,
              'started': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), 'steps': []}
    passed = True
    started = time.monotonic()
    os.makedirs(os.path.dirname(args.summary), exist_ok=True)
    log_dir = os.path.dirname(args.summary)
    # Molecule keeps 'created: true' in ~/.ansible/tmp between runs: a cluster stopped outside Molecule (make
    # cluster-down, a reboot, a fresh machine restored from a snapshot) would make 'molecule create' a no-op and
    # converge would meet no cluster. Reset that state first, so create always runs 'cluster.py up' (which
    # reuses a running cluster).
    for step in ['reset'] + steps:
        t0 = time.monotonic()
        log = os.path.join(log_dir, 'molecule-%s.log' % step)
        print('==> molecule %s -s local (log: %s)' % (step, log), flush=True)
        with open(log, 'w', encoding='utf-8') as out:
            rc = subprocess.run([os.path.join(venv_bin, 'molecule'), step, '-s', 'local'], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        seconds = round(time.monotonic() - t0, 1)
        record['steps'].append({'step': step, 'seconds': seconds, 'rc': rc, 'passed': rc == 0, 'log': os.path.relpath(log, ROOT)})
        print('    %s: %s in %.1fs' % (step, 'passed' if rc == 0 else 'FAILED (rc %d)' % rc, seconds), flush=True)
        if rc != 0:
            passed = False
            with open(log, encoding='utf-8', errors='replace') as handle:
                print(''.join(handle.readlines()[-40:]), file=sys.stderr)
            break
    record['seconds'] = round(time.monotonic() - started, 1)
    record['passed'] = passed
    with open(args.summary, 'w', encoding='utf-8') as handle:
        json.dump(record, handle, indent=2)
        handle.write('\n')
    print('e2e-local %s in %.1fs; run record: %s' % ('PASSED' if passed else 'FAILED', record['seconds'], args.summary))
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
