# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injected faults, RBAC denials, bearer tokens and TLS, as real clients (kubectl, the kubernetes Python client) see them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.integration

KUBECTL = shutil.which('kubectl')
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason='kubectl is not on PATH')


def kubectl(env, *args, timeout=60):
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def core_v1(kubeconfig):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def cm(name, namespace='default'):
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name, 'namespace': namespace}, 'data': {'k': name}}


@needs_kubectl
def test_kubectl_honours_retry_after_on_429_and_retries_a_reset_connection(kube_apiserver, kube_env):
    kubectl(kube_env, 'get', 'ns')                               # warm the discovery cache
    throttle = kube_apiserver.add_fault('GET', r'^/api/v1/namespaces\?', status=429, retry_after=1, times=1)
    start = time.monotonic()
    ok = kubectl(kube_env, 'get', 'ns', '-o', 'name')
    assert ok.returncode == 0 and 'namespace/kube-system' in ok.stdout
    assert throttle.hits == 1 and time.monotonic() - start >= 1.0   # client-go waited Retry-After seconds
    statuses = [s for _m, p, _q, s in kube_apiserver.requests if p == '/api/v1/namespaces']
    assert statuses[-2:] == [429, 200]
    reset = kube_apiserver.add_fault('GET', r'^/api/v1/namespaces\?', status=None, reset=True, times=1)
    ok = kubectl(kube_env, 'get', 'ns', '-o', 'name')
    assert ok.returncode == 0 and reset.hits == 1
    kube_apiserver.add_fault('GET', r'^/api/v1/namespaces\?', status=None, reset=True, times=None)
    broken = kubectl(kube_env, 'get', 'ns', '--request-timeout=2s')
    assert broken.returncode == 1 and 'connection reset by peer' in broken.stderr


@needs_kubectl
def test_kubectl_shows_server_errors_and_rbac_denials_verbatim(kube_apiserver, kube_env):
    kube_apiserver.add_fault('GET', r'^/api/v1/namespaces\?', status=500, times=1)
    kube_apiserver.add_fault('GET', r'^/api/v1/nodes\?', status=503, times=1)
    assert kubectl(kube_env, 'get', 'ns').stderr == 'Error from server (InternalError): Internal error occurred: injected fault\n'
    assert kubectl(kube_env, 'get', 'nodes').stderr == 'Error from server (ServiceUnavailable): the server is currently unable to handle the request\n'
    kube_apiserver.forbid('list', 'events', namespace='')          # cluster-wide only: namespaced lists still work
    denied = kubectl(kube_env, 'get', 'events', '-A')
    assert denied.returncode == 1 and denied.stderr == (
        'Error from server (Forbidden): events is forbidden: User "test" cannot list resource "events" in API group "" at the cluster scope\n')
    assert kubectl(kube_env, 'get', 'events', '-n', 'kube-system').returncode == 0
    kube_apiserver.forbid('create', 'pods/exec', namespace='kube-system', user='system:serviceaccount:netobs:collector')
    kube_apiserver.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-1', 'namespace': 'kube-system'},
                          'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent'}]}, 'status': {'phase': 'Running'}})
    exec_denied = kubectl(kube_env, 'exec', '-n', 'kube-system', 'cilium-1', '--', 'true')
    assert exec_denied.returncode == 1
    assert ('pods "cilium-1" is forbidden: User "system:serviceaccount:netobs:collector" cannot create resource "pods/exec" '
            'in API group "" in the namespace "kube-system"') in exec_denied.stderr
    kube_apiserver.forbid('get', 'deployments', group='apps')
    dep = kubectl(kube_env, 'get', 'deployment', 'x', '-n', 'default')
    assert 'deployments.apps "x" is forbidden: User "test" cannot get resource "deployments" in API group "apps" in the namespace "default"' in dep.stderr


def test_python_client_sees_status_objects_for_403_404_429_500(kube_apiserver, kubeconfig):
    import urllib3  # pylint: disable=import-outside-toplevel
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    v1 = core_v1(kubeconfig)
    kube_apiserver.apply(cm('present'))
    kube_apiserver.add_fault('GET', r'/configmaps/present$', status=404, times=1)
    with pytest.raises(client.ApiException) as err:
        v1.read_namespaced_config_map('present', 'default')
    assert err.value.status == 404 and json.loads(err.value.body) == {
        'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure', 'message': 'configmaps "present" not found',
        'reason': 'NotFound', 'details': {'name': 'present', 'kind': 'configmaps'}, 'code': 404}
    assert v1.read_namespaced_config_map('present', 'default').data == {'k': 'present'}       # times=1: next call is served
    # urllib3 (under the kubernetes client) retries 429 + Retry-After by itself, sleeping as told...
    throttle = kube_apiserver.add_fault('GET', r'/configmaps', status=429, retry_after=1, times=1)
    start = time.monotonic()
    assert [c.metadata.name for c in v1.list_namespaced_config_map('default').items] == ['present']
    assert throttle.hits == 1 and time.monotonic() - start >= 1.0
    # ... and after its 3 retries hands the last 429 to the client: ApiException with the Status body and Retry-After
    throttle = kube_apiserver.add_fault('GET', r'/configmaps', status=429, retry_after=0, times=None)
    with pytest.raises(client.ApiException) as err:
        v1.list_namespaced_config_map('default')
    assert err.value.status == 429 and err.value.headers['Retry-After'] == '0' and throttle.hits == 4
    assert json.loads(err.value.body)['reason'] == 'TooManyRequests'
    kube_apiserver.clear_faults()
    kube_apiserver.add_fault('GET', r'/configmaps', status=429, retry_after=None, times=1)
    raw = urllib3.PoolManager(retries=False).request('GET', kube_apiserver.url + '/api/v1/namespaces/default/configmaps')
    assert raw.status == 429 and raw.headers['Retry-After'] == '1'
    assert json.loads(raw.data) == {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                                    'message': 'Too many requests, please try again later.', 'reason': 'TooManyRequests',
                                    'details': {'retryAfterSeconds': 1}, 'code': 429}
    kube_apiserver.add_fault('GET', r'/configmaps', status=500, times=1)
    with pytest.raises(client.ApiException) as err:
        v1.list_namespaced_config_map('default')
    assert err.value.status == 500 and json.loads(err.value.body)['reason'] == 'InternalError'
    kube_apiserver.add_fault('GET', r'/configmaps', status=403, times=1)
    with pytest.raises(client.ApiException) as err:
        v1.list_namespaced_config_map('default')
    assert json.loads(err.value.body)['message'] == (
        'configmaps is forbidden: User "test" cannot list resource "configmaps" in API group "" in the namespace "default"')
    kube_apiserver.forbid('watch', 'events')
    with pytest.raises(client.ApiException) as err:
        v1.list_event_for_all_namespaces(watch=True, _preload_content=False)
    assert err.value.status == 403 and json.loads(err.value.body)['message'] == (
        'events is forbidden: User "test" cannot watch resource "events" in API group "" at the cluster scope')


def test_python_client_retries_one_reset_and_gives_up_on_a_dead_server(kube_apiserver, kubeconfig):
    import urllib3  # pylint: disable=import-outside-toplevel
    v1 = core_v1(kubeconfig)
    once = kube_apiserver.add_fault('GET', r'/api/v1/namespaces$', status=None, reset=True, times=1)
    assert [n.metadata.name for n in v1.list_namespace().items][0] == 'default'
    assert once.hits == 1
    assert [s for m, p, _q, s in kube_apiserver.requests if p == '/api/v1/namespaces'] == [0, 200]   # 0: reset, no response
    always = kube_apiserver.add_fault('GET', r'/api/v1/namespaces$', status=None, reset=True, times=None)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as err:
        v1.list_namespace()
    assert 'Connection reset by peer' in str(err.value) or 'Connection aborted' in str(err.value)
    assert always.hits == 4                                                             # urllib3's default: 3 retries


def test_slow_responses_time_out_or_arrive_late(kube_apiserver, kubeconfig):
    import urllib3  # pylint: disable=import-outside-toplevel
    v1 = core_v1(kubeconfig)
    kube_apiserver.add_fault('GET', r'/api/v1/nodes$', status=None, delay=0.6, times=1)
    start = time.monotonic()
    v1.list_node()
    assert time.monotonic() - start >= 0.6
    slow = kube_apiserver.add_fault('GET', r'/api/v1/nodes$', status=None, delay=0.5, times=None)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as err:
        v1.list_node(_request_timeout=0.2)
    assert 'Read timed out' in str(err.value)
    assert slow.hits >= 1


def test_watch_reset_mid_stream_breaks_the_python_watch_after_n_events(kube_apiserver, kubeconfig):
    import urllib3  # pylint: disable=import-outside-toplevel
    from kubernetes import watch  # pylint: disable=import-outside-toplevel
    kube_apiserver.apply([cm('c%d' % i, 'w') for i in range(5)])
    fault = kube_apiserver.add_fault('GET', r'watch=(true|1)', status=None, watch_reset_after=2, times=1)
    got = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for ev in watch.Watch().stream(core_v1(kubeconfig).list_namespaced_config_map, 'w', timeout_seconds=5):
            got.append(ev['object'].metadata.name)
    assert got == ['c0', 'c1'] and fault.hits == 1
    # the next watch is served normally
    stream = watch.Watch().stream(core_v1(kubeconfig).list_namespaced_config_map, 'w', timeout_seconds=1)
    again = [ev['object'].metadata.name for ev in stream]
    assert again == ['c0', 'c1', 'c2', 'c3', 'c4']


@pytest.mark.parametrize('kube_apiserver', [{'tls': True, 'token': 's3cr3t-token'}], indirect=True)
def test_tls_with_a_verified_ca_and_bearer_token(kube_apiserver, kubeconfig, kube_env, tmp_path):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    assert kube_apiserver.url.startswith('https://127.0.0.1:')
    assert [n.metadata.name for n in core_v1(kubeconfig).list_namespace().items][:1] == ['default']
    if KUBECTL:
        assert kubectl(kube_env, 'get', 'ns', 'default', '-o', 'name').stdout == 'namespace/default\n'
    # wrong token -> 401 Status
    bad = client.Configuration()
    bad.host = kube_apiserver.url
    bad.ssl_ca_cert = kube_apiserver.ca_file
    bad.api_key = {'authorization': 'Bearer wrong'}
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(client.ApiClient(bad)).list_namespace()
    assert err.value.status == 401 and json.loads(err.value.body)['reason'] == 'Unauthorized'
    # no CA -> certificate verification fails, as against any cluster with a private CA
    noca = tmp_path / 'noca.yaml'
    noca.write_text(open(kubeconfig, encoding='utf-8').read().replace('certificate-authority-data', 'x-unused'), encoding='utf-8')
    with pytest.raises(Exception) as err:                       # urllib3 MaxRetryError(SSLError)
        client.CoreV1Api(config.new_client_from_config(config_file=str(noca))).list_namespace()
    assert 'CERTIFICATE_VERIFY_FAILED' in str(err.value)
    if KUBECTL:
        unauth = kubectl(dict(kube_env, KUBECONFIG=str(noca)), 'get', 'ns')
        assert unauth.returncode == 1 and 'x509: certificate signed by unknown authority' in unauth.stderr
        notoken = tmp_path / 'notoken.yaml'
        notoken.write_text(open(kubeconfig, encoding='utf-8').read().replace('s3cr3t-token', 'nope'), encoding='utf-8')
        denied = kubectl(dict(kube_env, KUBECONFIG=str(notoken)), 'get', 'ns')
        assert denied.returncode == 1 and 'error: You must be logged in to the server (Unauthorized)' in denied.stderr
