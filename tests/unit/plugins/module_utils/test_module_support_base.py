# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base: what a user sees when a module fails - a clean message, never a traceback in it, never "MODULE FAILURE"."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils._internal import _traceback
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.module_utils.k8s import client as kube_client
from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule, message
from ansible_collections.netobs.cilium.plugins.modules import cilium_config_info, drop_events_info


class OurError(Exception):
    """Stands for one of the collection's errors."""


@pytest.fixture
def tracebacks(monkeypatch):
    """Error tracebacks captured, as with ANSIBLE_DISPLAY_TRACEBACK=error (Ansible drops ``exception`` otherwise)."""
    monkeypatch.setattr(_traceback, 'is_traceback_enabled', lambda _event: True)


def outcome(capsys, monkeypatch, args, act):
    """Build a NetobsModule from ``args``, call ``act(module)``, return the JSON the module printed."""
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        act(NetobsModule(arg_specs.build(('since',)), doing='testing the base', kube_error_prefix='cannot test: '))
    return json.loads(capsys.readouterr().out)


def raising(exc):
    def body():
        raise exc
    return body


def test_our_error_gives_its_message_without_traceback(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(OurError('since: 5x is not a duration')), (OurError, message('bad: '))))
    assert result['failed'] is True and result['msg'] == 'bad: since: 5x is not a duration'
    assert 'exception' not in result


@pytest.mark.usefixtures('tracebacks')
def test_our_error_has_no_traceback_even_when_tracebacks_are_captured(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(OurError('no such file')), (OurError, message())))
    assert result['msg'] == 'no such file' and 'Traceback' not in json.dumps(result)


def test_unexpected_exception_without_traceback_capture(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(RuntimeError('boom'))))
    assert result['failed'] is True and result['msg'] == 'unexpected error while testing the base: RuntimeError: boom'
    assert 'Traceback' not in json.dumps(result) and 'MODULE FAILURE' not in json.dumps(result)


def test_a_handler_may_add_result_keys(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(OurError('gone')), (OurError, lambda exc: {'msg': str(exc), 'partial': True})))
    assert result['msg'] == 'gone' and result['partial'] is True and 'exception' not in result


def test_kubernetes_api_error_gives_status_reason_and_missing_permission(capsys, monkeypatch):
    error = kube_client.KubeAPIError('cannot list: events is forbidden', status=403, reason='Forbidden',
                                     rbac={'verb': 'list', 'resource': 'events', 'group': '', 'namespace': 'x'})
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(error)))
    assert result['msg'] == 'cannot test: cannot list: events is forbidden'
    assert result['status'] == 403 and result['reason'] == 'Forbidden' and result['missing_permission']['resource'] == 'events'
    assert 'exception' not in result


@pytest.mark.usefixtures('tracebacks')
def test_unexpected_exception_names_type_and_message_and_keeps_the_traceback_out_of_msg(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.run(raising(KeyError('verdict')), (OurError, message())))
    assert result['failed'] is True
    assert result['msg'] == "unexpected error while testing the base: KeyError: 'verdict'"
    assert 'Traceback' not in result['msg'] and 'Traceback' in result['exception'] and 'KeyError' in result['exception']
    assert 'MODULE FAILURE' not in json.dumps(result)


@pytest.mark.usefixtures('tracebacks')
def test_missing_library_gives_ansibles_standard_message(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {}, lambda m: m.require('grpcio and protobuf', False, "No module named 'grpc'"))
    assert result['failed'] is True
    assert result['msg'].startswith('Failed to import the required Python library (grpcio and protobuf)')
    assert result['exception'] == "No module named 'grpc'"


@pytest.mark.usefixtures('tracebacks')
def test_missing_kubernetes_package(capsys, monkeypatch):
    monkeypatch.setattr(kube_client, 'HAS_KUBERNETES', False)
    monkeypatch.setattr(kube_client, 'KUBERNETES_IMPORT_ERROR', ImportError("No module named 'kubernetes'"))
    result = outcome(capsys, monkeypatch, {}, lambda m: m.kube_api())
    assert result['msg'].startswith('Failed to import the required Python library (kubernetes)')
    assert 'kubernetes' in result['exception']


def test_a_body_returning_a_dict_exits_with_it(capsys, monkeypatch):
    result = outcome(capsys, monkeypatch, {'since': '5m'}, lambda m: m.run(lambda: {'changed': False, 'since': m.params['since']}))
    assert not result.get('failed') and result['since'] == '5m' and result['changed'] is False


def test_client_comes_from_the_k8s_auth_environment(capsys, monkeypatch, kube_apiserver, kubeconfig_env):
    kube_apiserver.apply({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'netobs'}})

    def act(module):
        api = module.kube_api()
        assert module.kube_api() is api  # one client per run
        names = [item['metadata']['name'] for item in api.get('/api/v1/namespaces')['items']]
        module.exit_json(changed=False, names=names, api_requests=api.request_count)

    result = outcome(capsys, monkeypatch, {}, act)
    assert 'netobs' in result['names'] and result['api_requests'] == 1


def test_unusable_kubeconfig_is_a_clean_failure(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv('K8S_AUTH_KUBECONFIG', raising=False)
    result = outcome(capsys, monkeypatch, {'kubeconfig': str(tmp_path / 'missing')}, lambda m: m.kube_api())
    assert result['failed'] is True and result['msg'].startswith('cannot test: Could not build the Kubernetes client configuration')
    assert 'exception' not in result and 'Traceback' not in result['msg']


# -- the shipped modules use it -----------------------------------------------------------------------------------
def run_module(capsys, monkeypatch, module, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures('tracebacks')
def test_a_bug_in_a_module_is_a_clean_failure(capsys, monkeypatch, tmp_path):
    def broken(**_kwargs):
        raise ZeroDivisionError('division by zero')
    monkeypatch.setattr(drop_events_info.drop_events, 'collect', broken)
    capture = tmp_path / 'events.json'
    capture.write_text('{"kind": "EventList", "items": []}')
    result = run_module(capsys, monkeypatch, drop_events_info, src=str(capture))
    assert result['failed'] is True
    assert result['msg'] == 'unexpected error while collecting PacketDrop events: ZeroDivisionError: division by zero'
    assert 'Traceback' in result['exception']


def test_clusterrole_src_requires_src(capsys, monkeypatch, tmp_path):
    result = run_module(capsys, monkeypatch, cilium_config_info, clusterrole_src=str(tmp_path / 'role.yaml'))
    assert result['failed'] is True and result['msg'] == "missing parameter(s) required by 'clusterrole_src': src"


def test_unusable_src_names_the_option(capsys, monkeypatch, tmp_path):
    result = run_module(capsys, monkeypatch, cilium_config_info, src=str(tmp_path / 'missing.yaml'))
    assert result['failed'] is True and result['msg'].startswith('cannot use src: ') and 'exception' not in result
