# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One base for every error a user reads: ``except NetobsError`` catches them all, names and messages unchanged."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError, redact_userinfo
from ansible_collections.netobs.cilium.plugins.module_utils.k8s import client as kube_api
from ansible_collections.netobs.cilium.plugins.module_utils.k8s import errors as k8s_errors
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.relay import HubbleError
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsError
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts.expectations import ExpectationError

MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), *(['..'] * 4), 'plugins', 'module_utils')


def _error_classes():
    """(file, class name) of every public class in module_utils whose name ends in Error/Exception or that raises."""
    found = []
    for directory, _dirs, names in os.walk(MODULE_UTILS):
        for name in names:
            if not name.endswith('.py') or name.endswith('_pb2.py'):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding='utf-8') as handle:
                tree = ast.parse(handle.read())
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith('_'):
                    bases = {getattr(b, 'id', getattr(b, 'attr', '')) for b in node.bases}
                    if bases & {'Exception', 'ValueError', 'NetobsError', 'KubeAPIError', 'RuntimeError', 'OSError'}:
                        found.append((os.path.relpath(path, MODULE_UTILS), node.name, bases))
    return found


def test_every_public_exception_derives_from_netobs_error():
    classes = _error_classes()
    assert len(classes) >= 16
    stray = [(path, name) for path, name, bases in classes
             if name != 'NetobsError' and not bases & {'NetobsError', 'KubeAPIError'}]
    assert not stray, f'exception classes without the NetobsError base: {stray}'


def test_names_messages_and_value_error_kept():
    err = ExpectationError('bad file')
    assert isinstance(err, NetobsError) and isinstance(err, ValueError) and str(err) == 'bad file'
    assert isinstance(DropEventsError('x', result={'a': 1}), NetobsError)
    with pytest.raises(NetobsError, match='relay down'):
        raise HubbleError('relay down')


def test_kube_api_errors_are_the_same_classes_in_client_and_errors():
    assert kube_api.KubeAPIError is k8s_errors.KubeAPIError
    assert issubclass(kube_api.ResourceVersionTooOld, NetobsError)
    err = kube_api.KubeAPIError('GET https://u:secret@h/api failed', status=403, reason='Forbidden')
    assert 'secret' not in str(err) and err.failure()['status'] == 403
    assert redact_userinfo('https://a:b@h/x') == 'https://***@h/x'


def test_k8s_errors_import_without_third_party_packages():
    code = ('import sys\n'
            'for name in ("kubernetes", "urllib3", "orjson", "yaml", "grpc"): sys.modules[name] = None\n'
            'from ansible_collections.netobs.cilium.plugins.module_utils.k8s.errors import KubeAPIError\n'
            'print(KubeAPIError("boom", status=500).failure()["msg"])\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'boom'
