# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 9: hubble_flows_info with ``src`` and no ``transport`` reads the file (it used to try Relay).

``src`` with an explicit ``transport: relay`` or ``exec`` is a clear error instead of silently ignoring one of them.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.modules import hubble_flows_info

FLOWS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium', 'flows.jsonl')


def run(capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        hubble_flows_info.main()
    return json.loads(capsys.readouterr().out)


def test_src_without_transport_reads_the_file(capsys, monkeypatch):
    # kubeconfig points nowhere: any attempt to reach a cluster would fail the task
    result = run(capsys, monkeypatch, src=FLOWS, kubeconfig='/nonexistent/kubeconfig')
    assert not result.get('failed'), result.get('msg')
    assert result['transport'] == 'file'
    assert len(result['drops']) > 0 and result['coverage']['lines_read'] == 13
    assert result.get('api_requests', 0) == 0


def test_src_and_explicit_file_transport_still_work(capsys, monkeypatch):
    result = run(capsys, monkeypatch, src=FLOWS, transport='file')
    assert not result.get('failed') and result['transport'] == 'file' and len(result['drops']) > 0


@pytest.mark.parametrize('transport', ['relay', 'exec'])
def test_src_with_a_live_transport_is_a_clear_error(capsys, monkeypatch, transport):
    result = run(capsys, monkeypatch, src=FLOWS, transport=transport, kubeconfig='/nonexistent/kubeconfig')
    assert result['failed'] is True
    assert result['msg'] == ('src is a saved capture and is only read with transport: file, but transport is %s; remove src to read '
                             'flows live, or remove transport (src implies file)' % transport)


def test_file_transport_without_src_is_still_refused(capsys, monkeypatch):
    result = run(capsys, monkeypatch, transport='file')
    assert result['failed'] is True and 'src' in result['msg']


def test_reading_a_file_imports_no_live_client():
    """Issue 12: a capture file is read without importing the Kubernetes client, the Events source or grpc.

    Inside AnsiballZ every imported file is compiled from source on each run (no bytecode cache), so each of these
    costs the user tens of milliseconds per task. Run in a fresh interpreter so earlier tests' imports do not count.
    """
    import subprocess
    import sys
    code = '''
import io, contextlib, json, sys
from ansible.module_utils import _internal
from ansible.module_utils.testing import patch_module_args
from ansible_collections.netobs.cilium.plugins.modules import hubble_flows_info
_internal.is_controller = False
out = io.StringIO()
with patch_module_args({'src': sys.argv[1]}), contextlib.redirect_stdout(out):
    try:
        hubble_flows_info.main()
    except SystemExit:
        pass
result = json.loads(out.getvalue())
assert not result.get('failed'), result
print(json.dumps(sorted(sys.modules)))
'''
    proc = subprocess.run([sys.executable, '-c', code, FLOWS], capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    prefix = 'ansible_collections.netobs.cilium.plugins.module_utils.'
    for name in (prefix + 'k8s.client', prefix + 'sources.events.collector', prefix + 'sources.events.parser',
                 'kubernetes', 'urllib3', 'grpc', 'websocket', 'yaml'):
        assert name not in loaded, '%s was imported to read a capture file' % name
    assert prefix + 'sources.hubble.capture' in loaded  # the check would be empty if the module had not run
