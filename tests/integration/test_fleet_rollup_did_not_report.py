# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 3: playbooks/compliance.yml with three clusters, one of them unreachable.

Two "clusters" read the shipped reference capture; the third is live and its kubeconfig points at a closed
loopback port. The fleet roll-up must list all three: the unreachable one as a failed row with its error,
and the totals must count it (before the fix it said ``2 cluster(s): 2 passed``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import jsonschema
import pytest
import report_samples as samples
import yaml

pytestmark = pytest.mark.integration

REPO = samples.REPO
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
# The hand-made capture with the cases a short real run does not produce (2 lost Hubble events, ...); make demo
# replays the real one in examples/reference-experiment.
EXAMPLE = os.path.join(REPO, 'tests', 'fixtures', 'reference-experiment-synthetic')


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def capture_host():
    return {
        'compliance_capture': {
            'events': f'{EXAMPLE}/events.json', 'flows': f'{EXAMPLE}/flows.jsonl',
            'snapshot': [f'{EXAMPLE}/namespaces.yaml', f'{EXAMPLE}/pods.yaml', f'{EXAMPLE}/policies.yaml'],
            'probes': f'{EXAMPLE}/probes.json'},
        'compliance_expectations_file': f'{EXAMPLE}/expectations.yml',
        'compliance_emitter_interval': '5s',
        'compliance_fail_on': 'none',
    }


def test_unreachable_cluster_is_a_failed_row_of_the_rollup(tmp_path):
    port = closed_port()
    kubeconfig = tmp_path / 'unreachable.kubeconfig'
    kubeconfig.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'gone',
        'clusters': [{'name': 'gone', 'cluster': {'server': f'https://127.0.0.1:{port}', 'insecure-skip-tls-verify': True}}],
        'users': [{'name': 'gone', 'user': {'token': 'not-a-secret'}}],
        'contexts': [{'name': 'gone', 'context': {'cluster': 'gone', 'user': 'gone'}}]}))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {
        'vars': {'ansible_python_interpreter': sys.executable, 'compliance_report_dir': str(tmp_path / 'reports')},
        'children': {'clusters': {'hosts': {
            'alpha': capture_host(),
            'bravo': capture_host(),
            'charlie': {'netobs_kubeconfig': str(kubeconfig), 'compliance_since': '5m', 'compliance_fail_on': 'none'},
        }}}}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_FORKS='3',
               K8S_AUTH_KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))
    proc = subprocess.run([PLAYBOOK_BIN, '-i', str(inventory), os.path.join(REPO, 'playbooks', 'compliance.yml')],
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300, check=False)
    out = proc.stdout
    # The unreachable cluster fails the run, and the other two still file their reports and the roll-up.
    assert proc.returncode != 0, out
    assert 'Write the fleet roll-up' in out, out
    fleet = json.loads((tmp_path / 'reports' / 'fleet.json').read_text())
    jsonschema.Draft202012Validator(samples.schema('fleet')).validate(fleet)
    rows = {row['cluster']: row for row in fleet['clusters']}
    assert sorted(rows) == ['alpha', 'bravo', 'charlie'], out
    # alpha and bravo read the shipped capture, which lost 2 Hubble events: 'incomplete', never a plain pass (issue 10 item 2)
    assert fleet['summary'] == {'clusters': 3, 'passed': 0, 'failed': 3, 'unexpected': 0}
    assert rows['charlie']['verdict'] == 'fail'
    error = rows['charlie']['error']
    assert error.startswith('Collect PacketDrop Events failed: ') and str(port) in error, error
    assert 'error' not in rows['alpha'] and rows['alpha']['verdict'] == 'incomplete'

    markdown = (tmp_path / 'reports' / 'fleet.md').read_text().replace('\\', '')  # as rendered (Markdown escapes removed)
    assert '3 cluster(s): 0 passed, 2 passed with incomplete evidence, 1 failed (did not report: charlie: Collect PacketDrop Events failed: ' in markdown
    assert '`charlie` | **FAIL**' in markdown and '**did not report**' in markdown
    page = (tmp_path / 'reports' / 'fleet.html').read_text()
    assert '3 cluster(s): 0 passed, 2 passed with incomplete evidence, 1 failed (did not report: charlie: Collect PacketDrop Events failed: ' in page
    assert '<b>did not report:</b>' in page
