# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for kube_api: URL building, retries, error messages, paging and watch parsing.

The HTTP layer is replaced by a scripted fake urllib3 pool (no network); the end-to-end
behaviour against the loopback API server is covered in tests/integration.
"""

from __future__ import annotations

import json
import textwrap
import types
from urllib.parse import parse_qs, urlparse

import pytest
import urllib3.exceptions

from ansible_collections.netobs.cilium.plugins.module_utils.k8s import client as kube_api
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import (
    KubeAPI,
    KubeAPIConnectionError,
    KubeAPIError,
    ResourceVersionTooOld,
    error_from_response,
    parse_api_path,
    parse_retry_after,
)


class FakeResponse:
    def __init__(self, status=200, body=b'{}', headers=None, chunks=None, error_after=None):
        self.status = status
        self._body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.chunked = chunks is not None
        self._chunks = chunks or []
        self._error_after = error_after
        self.released = False

    def read(self):
        return self._body

    def drain_conn(self):
        pass

    def release_conn(self):
        self.released = True

    def close(self):
        pass

    def read_chunked(self, decode_content=True):
        del decode_content
        yield from self._chunks
        if self._error_after is not None:
            raise self._error_after


class FakePool:
    """Replays a script: each entry is a FakeResponse or an exception instance."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, body=None, headers=None, **kwargs):
        self.calls.append({'method': method, 'url': url, 'body': body, 'headers': dict(headers or {}), 'kwargs': kwargs})
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def clear(self):
        pass

    def query(self, index):
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(urlparse(self.calls[index]['url']).query).items()}


class FakeConfiguration:
    def __init__(self, token='secret-token', host='https://127.0.0.1:6443'):
        self.host = host
        self.token = token
        self.username = None
        self.password = None
        self.verify_ssl = True
        self.ssl_ca_cert = None
        self.cert_file = None
        self.key_file = None
        self.proxy = None
        self.no_proxy = None

    def auth_settings(self):
        if not self.token:
            return {}
        return {'BearerToken': {'type': 'api_key', 'in': 'header', 'key': 'authorization', 'value': 'Bearer ' + self.token}}


def make_api(script, **kwargs):
    pool = FakePool(script)
    sleeps = []
    conf = kwargs.pop('configuration', None) or FakeConfiguration()
    client = types.SimpleNamespace(configuration=conf, rest_client=types.SimpleNamespace(pool_manager=pool),
                                   default_headers=kwargs.pop('default_headers', {}))
    api = KubeAPI(client, sleep=sleeps.append, **kwargs)
    return api, pool, sleeps


def status_body(code, reason, message):
    return {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': reason, 'message': message, 'code': code}


# ---------------------------------------------------------------- requests


def test_get_sends_token_and_encodes_selector():
    api, pool, _sleeps = make_api([FakeResponse(body={'kind': 'EventList', 'items': []})])
    out = api.get('/api/v1/events', {'fieldSelector': 'reason=PacketDrop,involvedObject.namespace=a b', 'limit': 5})
    assert out == {'kind': 'EventList', 'items': []}
    call = pool.calls[0]
    assert call['url'].startswith('https://127.0.0.1:6443/api/v1/events?')
    assert pool.query(0) == {'fieldSelector': 'reason=PacketDrop,involvedObject.namespace=a b', 'limit': '5'}
    assert call['headers']['authorization'] == 'Bearer secret-token'
    assert call['headers']['User-Agent'].startswith('netobs.cilium/')
    assert call['kwargs']['retries'] is False
    assert api.request_count == 1


def test_gzip_only_for_remote_api_servers():
    api, pool, _sleeps = make_api([FakeResponse()], configuration=FakeConfiguration(host='https://api.example.com:6443'))
    api.get('/api/v1/events')
    assert pool.calls[0]['headers']['Accept-Encoding'] == 'gzip'
    for host in ('https://127.0.0.1:6443', 'http://localhost:8001', 'https://[::1]:6443'):
        api, pool, _sleeps = make_api([FakeResponse()], configuration=FakeConfiguration(host=host))
        api.get('/api/v1/events')
        assert 'Accept-Encoding' not in pool.calls[0]['headers'], host


def test_basic_auth_when_no_token():
    conf = FakeConfiguration(token=None)
    conf.username, conf.password = 'admin', 'pw'
    api, pool, _sleeps = make_api([FakeResponse()], configuration=conf)
    api.get('/version')
    assert pool.calls[0]['headers']['authorization'] == 'Basic YWRtaW46cHc='


def test_429_honours_retry_after_seconds():
    api, pool, sleeps = make_api([
        FakeResponse(429, status_body(429, 'TooManyRequests', 'slow down'), {'Retry-After': '3'}),
        FakeResponse(body={'ok': True}),
    ])
    assert api.get('/api/v1/events') == {'ok': True}
    assert sleeps == [3.0]
    assert api.request_count == 2 and api.retry_count == 1
    assert len(pool.calls) == 2


def test_retry_after_is_capped():
    api, _pool, sleeps = make_api([FakeResponse(429, b'', {'Retry-After': '3600'}), FakeResponse()], max_retry_after=7)
    api.get('/x')
    assert sleeps == [7]


def test_parse_retry_after_forms():
    assert parse_retry_after('2') == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after('soon') is None
    assert parse_retry_after('Wed, 21 Oct 2015 07:28:05 GMT', now=1445412480.0) == pytest.approx(5.0)


def test_5xx_retried_with_exponential_backoff_then_error():
    script = [FakeResponse(503, status_body(503, 'ServiceUnavailable', 'etcd down'))] * 4
    api, pool, sleeps = make_api(script, max_retries=3, backoff=0.5)
    with pytest.raises(KubeAPIError) as err:
        api.get('/api/v1/events')
    assert err.value.status == 503
    assert 'etcd down' in str(err.value)
    assert len(pool.calls) == 4
    assert len(sleeps) == 3
    # jittered exponential: ~0.5, ~1, ~2
    assert 0.4 <= sleeps[0] <= 0.6 and 0.8 <= sleeps[1] <= 1.2 and 1.6 <= sleeps[2] <= 2.4


def test_connection_reset_is_retried():
    reset = urllib3.exceptions.ProtocolError('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))
    api, _pool, sleeps = make_api([reset, FakeResponse(body={'items': [1]})])
    assert api.get('/api/v1/events') == {'items': [1]}
    assert len(sleeps) == 1
    assert 'reset' in api.retry_log[0]['cause'].lower()


def test_unreachable_server_names_host_after_retries():
    refused = urllib3.exceptions.NewConnectionError(None, 'Connection refused')
    api, pool, _sleeps = make_api([refused] * 3, max_retries=2)
    with pytest.raises(KubeAPIConnectionError) as err:
        api.get('/api/v1/events')
    assert 'https://127.0.0.1:6443' in str(err.value) and 'after 3 attempts' in str(err.value)
    assert len(pool.calls) == 3


def test_403_names_verb_resource_group_and_namespace():
    msg = 'events is forbidden: User "system:serviceaccount:ci:reader" cannot list resource "events" in API group "" in the namespace "cni-test"'
    api, pool, sleeps = make_api([FakeResponse(403, status_body(403, 'Forbidden', msg))])
    with pytest.raises(KubeAPIError) as err:
        api.get('/api/v1/namespaces/cni-test/events', {'fieldSelector': 'reason=PacketDrop'})
    text = str(err.value)
    assert err.value.status == 403
    assert err.value.rbac == {'verb': 'list', 'resource': 'events', 'group': '', 'namespace': 'cni-test'}
    assert 'may not list "events" (apiGroup "") in namespace "cni-test"' in text
    assert 'verbs: ["list"]' in text and msg in text
    assert len(pool.calls) == 1 and not sleeps  # 403 is not retried


@pytest.mark.parametrize('method,path,params,expected', [
    ('GET', '/api/v1/events', {'watch': 'true'}, ('watch', '', 'events', '')),
    ('GET', '/apis/events.k8s.io/v1/events', None, ('list', 'events.k8s.io', 'events', '')),
    ('GET', '/api/v1/namespaces/kube-system/pods/cilium-x/exec', None, ('create (and get)', '', 'pods/exec', 'kube-system')),
    ('GET', '/api/v1/namespaces/kube-system/pods/relay/portforward', None, ('create (and get)', '', 'pods/portforward', 'kube-system')),
    ('GET', '/api/v1/namespaces/kube-system/services/hubble-relay', None, ('get', '', 'services', 'kube-system')),
    ('GET', '/api/v1/namespaces/kube-system', None, ('get', '', 'namespaces', '')),
    ('POST', '/apis/cilium.io/v2/namespaces/a/ciliumnetworkpolicies', None, ('create', 'cilium.io', 'ciliumnetworkpolicies', 'a')),
])
def test_parse_api_path(method, path, params, expected):
    info = parse_api_path(path, method, params)
    res = info['resource'] + ('/' + info['subresource'] if info['subresource'] else '')
    assert (info['verb'], info['group'], res, info['namespace']) == expected


def test_403_for_exec_asks_for_create_and_get():
    err = error_from_response(403, b'{"message": "nope"}', 'GET', '/api/v1/namespaces/kube-system/pods/cilium-1/exec')
    assert 'verbs: ["create", "get"]' in str(err) and '"pods/exec"' in str(err)


def test_404_names_object_or_api():
    err = error_from_response(404, json.dumps(status_body(404, 'NotFound', 'pods "x" not found')).encode(), 'GET',
                              '/api/v1/namespaces/ns1/pods/x')
    assert 'pods "x" in namespace "ns1" does not exist' in str(err)
    err = error_from_response(404, b'404 page not found', 'GET', '/apis/events.k8s.io/v1/events')
    assert 'not served by this cluster' in str(err) and 'events.k8s.io' in str(err)


def test_404_on_exec_names_the_missing_object_not_the_pod():
    """A real apiserver answers pods/exec with 404 naming the pod's node when that node object is gone: the pod is
    there, so the message must not say it does not exist."""
    body = status_body(404, 'NotFound', 'pods "n1" not found')  # what kube-apiserver v1.34.5 answers (sic: "pods")
    body['details'] = {'name': 'n1', 'kind': 'pods'}
    err = error_from_response(404, json.dumps(body).encode(), 'GET', '/api/v1/namespaces/kube-system/pods/cilium-x1/exec')
    assert err.status == 404 and 'could not find "n1"' in str(err) and 'exec of pods "cilium-x1"' in str(err)
    assert 'does not exist' not in str(err)
    body['details'] = {'name': 'cilium-x1', 'kind': 'pods'}  # the pod itself is gone: the usual message
    err = error_from_response(404, json.dumps(body).encode(), 'GET', '/api/v1/namespaces/kube-system/pods/cilium-x1/exec')
    assert 'pods "cilium-x1" in namespace "kube-system" does not exist' in str(err)


def test_401_mentions_credentials():
    err = error_from_response(401, b'{"message":"Unauthorized"}', 'GET', '/api/v1/events', host='https://h')
    assert err.status == 401 and 'credentials were rejected' in str(err)


def test_invalid_json_is_a_clear_error():
    api, _pool, _sleeps = make_api([FakeResponse(body=b'<html>proxy error</html>')])
    with pytest.raises(KubeAPIError, match='invalid JSON'):
        api.get('/api/v1/events')


# ---------------------------------------------------------------- paging


def page(uids, cont=None, rv='100'):
    meta = {'resourceVersion': rv}
    if cont:
        meta['continue'] = cont
    return FakeResponse(body={'kind': 'EventList', 'metadata': meta, 'items': [{'metadata': {'uid': u}} for u in uids]})


def test_list_pages_follows_continue_tokens():
    api, pool, _sleeps = make_api([page(['a', 'b'], 't1'), page(['c', 'd'], 't2'), page(['e'])])
    uids = [i['metadata']['uid'] for p in api.list_pages('/api/v1/events', {'fieldSelector': 'reason=PacketDrop'}, page_size=2)
            for i in p['items']]
    assert uids == ['a', 'b', 'c', 'd', 'e']
    assert [pool.query(i).get('continue') for i in range(3)] == [None, 't1', 't2']
    assert all(pool.query(i)['limit'] == '2' and pool.query(i)['fieldSelector'] == 'reason=PacketDrop' for i in range(3))


def test_list_pages_prefetch_keeps_order_errors_and_stops_early():
    boom = FakeResponse(500, status_body(500, 'InternalError', 'boom'))
    api, pool, _sleeps = make_api([page(['a'], 't1'), page(['b'], 't2'), boom], max_retries=0)
    seen = []
    with pytest.raises(KubeAPIError, match='boom'):
        for item in api.list_pages('/api/v1/events', page_size=1):
            seen.append(item['items'][0]['metadata']['uid'])
    assert seen == ['a', 'b']
    api, pool, _sleeps = make_api([page(['a'], 't1'), page(['b'], 't2'), page(['c'], 't3'), page(['d'])])
    pages = api.list_pages('/api/v1/events', page_size=1)
    assert next(pages)['items'][0]['metadata']['uid'] == 'a'
    pages.close()  # the caller stops: the prefetch thread ends without reading everything
    assert len(pool.calls) <= 3


def test_list_pages_limit_from_params_or_default():
    api, pool, _sleeps = make_api([page(['a']), page(['b'])])
    list(api.list_pages('/api/v1/pods', {'limit': 50}))
    list(api.list_pages('/api/v1/pods'))
    assert [pool.query(0)['limit'], pool.query(1)['limit']] == ['50', '500']


def test_list_pages_relists_on_expired_continue_without_duplicates():
    gone = FakeResponse(410, status_body(410, 'Expired', 'The provided continue parameter is too old'))
    api, pool, _sleeps = make_api([page(['a', 'b'], 't1'), gone, page(['a', 'b'], 'n1', rv='200'), page(['c', 'x'])])
    uids = [i['metadata']['uid'] for p in api.list_pages('/api/v1/events', page_size=2) for i in p['items']]
    assert uids == ['a', 'b', 'c', 'x']
    assert api.relist_count == 1
    assert 'continue' not in pool.query(2)


def test_list_pages_410_on_first_page_propagates():
    api, _pool, _sleeps = make_api([FakeResponse(410, status_body(410, 'Expired', 'too old resource version'))])
    with pytest.raises(ResourceVersionTooOld):
        list(api.list_pages('/api/v1/events'))


# ---------------------------------------------------------------- watch


def watch_lines(*events):
    return [json.dumps(e).encode() + b'\n' for e in events]


def test_watch_yields_events_split_across_chunks():
    raw = b''.join(watch_lines({'type': 'ADDED', 'object': {'metadata': {'uid': 'a'}}},
                               {'type': 'BOOKMARK', 'object': {'metadata': {'resourceVersion': '9'}}}))
    chunks = [raw[:7], raw[7:30], raw[30:]]
    api, pool, _sleeps = make_api([FakeResponse(chunks=chunks)])
    got = list(api.watch('/api/v1/events', {'fieldSelector': 'reason=PacketDrop'}, resource_version='5', timeout_seconds=12))
    assert got == [('ADDED', {'metadata': {'uid': 'a'}}), ('BOOKMARK', {'metadata': {'resourceVersion': '9'}})]
    query = pool.query(0)
    assert query['watch'] == 'true' and query['resourceVersion'] == '5' and query['timeoutSeconds'] == '12'
    assert query['allowWatchBookmarks'] == 'true' and query['fieldSelector'] == 'reason=PacketDrop'


def test_watch_error_event_410_raises_too_old():
    chunks = watch_lines({'type': 'ERROR', 'object': status_body(410, 'Expired', 'too old resource version: 5 (80)')})
    api, _pool, _sleeps = make_api([FakeResponse(chunks=chunks)])
    with pytest.raises(ResourceVersionTooOld, match='too old'):
        list(api.watch('/api/v1/events', resource_version='5'))


def test_watch_http_410_raises_too_old():
    api, _pool, _sleeps = make_api([FakeResponse(410, status_body(410, 'Gone', 'too old'))])
    with pytest.raises(ResourceVersionTooOld):
        list(api.watch('/api/v1/events', resource_version='1'))


def test_watch_broken_stream_raises_connection_error_after_events():
    chunks = watch_lines({'type': 'ADDED', 'object': {'metadata': {'uid': 'a'}}})
    broken = urllib3.exceptions.ProtocolError('Connection broken: IncompleteRead')
    api, _pool, _sleeps = make_api([FakeResponse(chunks=chunks, error_after=broken)])
    seen = []
    with pytest.raises(KubeAPIConnectionError, match='interrupted'):
        for item in api.watch('/api/v1/events'):
            seen.append(item)
    assert seen == [('ADDED', {'metadata': {'uid': 'a'}})]


# ---------------------------------------------------------------- construction


def write_kubeconfig(path, server='http://127.0.0.1:9', token='tok-123', context='test'):
    path.write_text(textwrap.dedent('''\
        apiVersion: v1
        kind: Config
        clusters:
        - name: c
          cluster: {server: "%s"}
        users:
        - name: u
          user: {token: %s}
        contexts:
        - name: %s
          context: {cluster: c, user: u}
        current-context: %s
        ''' % (server, token, context, context)))
    return str(path)


def test_from_kubeconfig_uses_server_and_token(tmp_path):
    api = KubeAPI.from_kubeconfig(write_kubeconfig(tmp_path / 'kc'))
    assert api.host == 'http://127.0.0.1:9'
    assert api._auth_headers()['authorization'] == 'Bearer tok-123'  # pylint: disable=protected-access


def test_from_kubeconfig_missing_file_is_clear(tmp_path):
    with pytest.raises(KubeAPIError, match='Could not load kubeconfig'):
        KubeAPI.from_kubeconfig(str(tmp_path / 'missing'))


def test_from_auth_honours_k8s_auth_env(tmp_path, monkeypatch):
    path = write_kubeconfig(tmp_path / 'kc', server='http://127.0.0.1:8', token='env-tok', context='ctx')
    monkeypatch.setenv('K8S_AUTH_KUBECONFIG', path)
    monkeypatch.setenv('K8S_AUTH_IMPERSONATE_USER', 'auditor')
    api = KubeAPI.from_auth()
    assert api.host == 'http://127.0.0.1:8'
    headers = api._auth_headers()  # pylint: disable=protected-access
    assert headers['authorization'] == 'Bearer env-tok'
    assert headers['Impersonate-User'] == 'auditor'


def test_impersonate_groups_are_separate_header_lines(tmp_path, monkeypatch):
    path = write_kubeconfig(tmp_path / 'kc')
    monkeypatch.setenv('K8S_AUTH_IMPERSONATE_GROUPS', 'auditors,readers')
    api = KubeAPI.from_auth(kubeconfig=path)
    headers = api._auth_headers()  # pylint: disable=protected-access
    assert sorted(v for k, v in headers.items() if k.lower() == 'impersonate-group') == ['auditors', 'readers']


def test_from_auth_bad_context_is_clear(tmp_path):
    path = write_kubeconfig(tmp_path / 'kc')
    with pytest.raises(KubeAPIError, match='Could not build the Kubernetes client configuration'):
        KubeAPI.from_auth(kubeconfig=path, context='nope')


def test_exec_argv_rejects_shell_strings():
    api, _pool, _sleeps = make_api([])
    with pytest.raises(ValueError):
        api.exec_argv('kube-system', 'cilium-1', 'cilium-agent', 'hubble observe')


def test_json_helpers_roundtrip():
    data = {'a': [1, 'x'], 'b': None}
    assert kube_api.json_loads(kube_api.json_dumps(data)) == data


def test_failure_gives_fail_json_the_message_status_and_missing_permission():
    rbac = {'verb': 'list', 'resource': 'events', 'group': '', 'namespace': None}
    error = KubeAPIError('events is forbidden', status=403, reason='Forbidden', rbac=rbac)

    class Counted:
        request_count = 3

    assert error.failure(Counted(), prefix='cannot list: ') == {
        'msg': 'cannot list: events is forbidden', 'status': 403, 'reason': 'Forbidden', 'missing_permission': rbac, 'api_requests': 3}
    assert KubeAPIError('refused').failure() == {'msg': 'refused', 'status': 0, 'reason': ''}
