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
