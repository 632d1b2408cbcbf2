# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 10 (h): cilium_config_info fails on HTTP 401 and on an unreachable API server.

Before, every read error was recorded per object and the task returned ``ok`` with all checks ``unknown``.
The module runs in-process against the session's real kube-apiserver (TLS, its CA in the kubeconfig), whose token
authenticator rejects the wrong bearer token with 401.
"""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.modules import cilium_config_info

pytestmark = pytest.mark.integration

CONFIGMAP = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'cilium-config', 'namespace': 'kube-system'},
             'data': {'enable-hubble': 'true'}}


def run(capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        cilium_config_info.main()
    return json.loads(capsys.readouterr().out)


def test_rejected_credentials_fail_the_task(real_kube, tmp_path, capsys, monkeypatch):
    real_kube.apply(CONFIGMAP)
    kubeconfig = real_kube.write_kubeconfig(direct=True)
    config = yaml.safe_load(open(kubeconfig, encoding='utf-8'))
    config['users'][0]['user']['token'] = 'an-expired-token'
    (tmp_path / 'kubeconfig').write_text(yaml.safe_dump(config))
    result = run(capsys, monkeypatch, kubeconfig=str(tmp_path / 'kubeconfig'))
    good = run(capsys, monkeypatch, kubeconfig=kubeconfig)
    assert result.get('failed') is True, result
    assert result['status'] == 401 and 'Unauthorized (HTTP 401)' in result['msg'] and 'credentials were rejected' in result['msg']
    assert result['msg'].startswith('cannot check the Cilium configuration: ')
    assert 'checks' not in result
    # the right token still works (the failure is the credentials, not the server)
    assert not good.get('failed') and {c['name']: c['status'] for c in good['checks']}['hubble_enabled'] == 'pass'


def test_unreachable_api_server_fails_the_task(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = run(capsys, monkeypatch, host=f'http://admin:hunter2@127.0.0.1:{port}', api_key='x')
    assert result.get('failed') is True, result
    assert 'Cannot reach the Kubernetes API' in result['msg'] and str(port) in result['msg']
    # the message does not echo the password (Ansible's own "invocation" echo of module_args is not ours to change)
    assert 'hunter2' not in result['msg'] and 'http://***@127.0.0.1' in result['msg']
