# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/e2e_local.py (make e2e-local, and CI when the cluster cache exists) drives Molecule in the right order."""

from __future__ import annotations

import json
import subprocess
import types

from script_files import load_file


def load_script():
    return load_file('e2e_local_script', 'scripts', 'e2e_local.py')


class FakeLayout:
    def __init__(self, tmp_path):
        self.key = 'k8s-test_cilium-test'
        self.versions = {'kubernetes': 'test'}
        self.bin = tmp_path / 'bin'
        self.kubeconfig = tmp_path / 'state' / 'kubeconfig'
        self.state = tmp_path / 'state'
        self.marker = tmp_path / 'READY'
        self.marker.write_text('{}')

    def ready_marker(self):
        return self.marker


def run_script(tmp_path, monkeypatch, failing_step=None):
    script = load_script()
    fake_cluster = types.SimpleNamespace(Layout=lambda: FakeLayout(tmp_path), chart_dir=lambda lay: tmp_path / 'chart')
    monkeypatch.setattr(script, 'load_cluster', lambda: fake_cluster)
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv[1])
        return subprocess.CompletedProcess(argv, 1 if argv[1] == failing_step else 0)

    monkeypatch.setattr(script.subprocess, 'run', fake_run)
    summary = tmp_path / 'summary.json'
    rc = script.main(['--destroy', '--summary', str(summary)])
    return rc, calls, json.loads(summary.read_text())


def test_stale_molecule_state_is_reset_before_create(tmp_path, monkeypatch):
    # Molecule remembers 'created: true' across runs; a cluster stopped outside Molecule (a machine restored from a
    # snapshot, make cluster-down) made 'molecule create' a no-op and converge met no cluster. Reset comes first.
    rc, calls, record = run_script(tmp_path, monkeypatch)
    assert rc == 0
    assert calls == ['reset', 'syntax', 'create', 'converge', 'idempotence', 'verify', 'destroy']
    assert record['passed'] is True
    assert [s['step'] for s in record['steps']][:3] == ['reset', 'syntax', 'create']


def test_a_failing_step_stops_the_run_and_fails_the_record(tmp_path, monkeypatch):
    rc, calls, record = run_script(tmp_path, monkeypatch, failing_step='converge')
    assert rc == 1
    assert calls == ['reset', 'syntax', 'create', 'converge']
    assert record['passed'] is False
    assert record['steps'][-1] == {'step': 'converge', 'seconds': record['steps'][-1]['seconds'], 'rc': 1, 'passed': False,
                                   'log': record['steps'][-1]['log']}
