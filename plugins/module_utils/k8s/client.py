# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin, fast Kubernetes API client shared by the netobs.cilium modules.

``KubeAPI`` wraps the connection settings of the official ``kubernetes`` client (so every
kubernetes.core auth option and ``K8S_AUTH_*`` environment variable works) but never builds
model objects: responses are read as raw JSON (``orjson`` when available) and returned as
plain ``dict``.  Transient faults are retried with exponential backoff (HTTP 429 honouring
``Retry-After``, 5xx, connection reset/refused, read timeouts); everything else raises
``KubeAPIError`` whose message says what to do (on 403 it names the missing RBAC verb,
resource, API group and namespace; on 404 the missing object).

Public interface (stable, used by several modules)::

    api = KubeAPI.from_module(module)             # kubernetes.core auth options + K8S_AUTH_* env
    api = KubeAPI.from_kubeconfig(path, context)  # tests and scripts
    api.get(path, params=None) -> dict
    api.list_pages(path, params=None, page_size=500) -> Iterator[dict]   # limit/continue, relist on 410, prefetch
    api.watch(path, params, resource_version, timeout_seconds) -> Iterator[(type, obj)]
    api.exec_argv(namespace, pod, container, argv, timeout) -> ExecResult(rc, stdout, stderr, timed_out)
    with api.port_forward(namespace, pod, port) as address: ...       # "127.0.0.1:<local port>"
    api.resolve_service_target(namespace, service, port) -> (pod name, pod port)
    api.request_count                              # HTTP requests sent (retries included)
    api.deadline = time.monotonic() + seconds      # optional: bound every request, retry and watch (KubeAPITimeout)

Connection objects are built without API discovery round trips: the ``kubernetes``
``Configuration`` comes from kubernetes.core's own auth helpers, and only its connection
pool and credentials are used.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import queue
import random
import ssl
import threading
import time
from collections import namedtuple
from urllib.parse import quote, urlencode, urlparse

from ansible_collections.netobs.cilium.plugins.module_utils.k8s.errors import (  # pylint: disable=unused-import  # re-exported
    KubeAPIConnectionError, KubeAPIError, KubeAPITimeout, ResourceVersionTooOld, redact_userinfo)
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.loopback import LoopbackRelay

try:
    import orjson
    HAS_ORJSON = True
except ImportError:
    HAS_ORJSON = False

try:
    import urllib3
    import urllib3.exceptions
    HAS_URLLIB3 = True
except ImportError:
    HAS_URLLIB3 = False

# The kubernetes package is imported on first use: it costs ~0.2 s, and a module reading a saved capture (``src``)
# never talks to an API server. ``HAS_KUBERNETES`` and ``KUBERNETES_IMPORT_ERROR`` stay module attributes: reading
# either one (or calling ``_kubernetes()``) makes the import attempt, once.
_KUBERNETES: dict = {}


def _import_kubernetes() -> dict:
    if not _KUBERNETES:
        try:
            import kubernetes  # pylint: disable=import-outside-toplevel
            import kubernetes.client  # pylint: disable=import-outside-toplevel
            import kubernetes.config  # pylint: disable=import-outside-toplevel
            _KUBERNETES.update(module=kubernetes, HAS_KUBERNETES=True, KUBERNETES_IMPORT_ERROR=None)
        except ImportError as exc:  # pragma: no cover - depends on the environment
            _KUBERNETES.update(module=None, HAS_KUBERNETES=False, KUBERNETES_IMPORT_ERROR=exc)
    return _KUBERNETES


def _kubernetes():
    """The ``kubernetes`` package with its ``client`` and ``config`` sub-packages; KubeAPIError when it cannot be imported."""
    found = _import_kubernetes()
    if not found['HAS_KUBERNETES']:
        raise KubeAPIError('the Python "kubernetes" package is required: %s' % found['KUBERNETES_IMPORT_ERROR'])
    return found['module']


def __getattr__(name):
    if name in ('HAS_KUBERNETES', 'KUBERNETES_IMPORT_ERROR'):
        return _import_kubernetes()[name]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


try:
    import websocket
    HAS_WEBSOCKET = True
except ImportError:
    HAS_WEBSOCKET = False

USER_AGENT = 'netobs.cilium/0.1.0'
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
DEFAULT_PAGE_SIZE = 500
WS_CHANNEL_PROTOCOLS = ('v5.channel.k8s.io', 'v4.channel.k8s.io')
PORTFORWARD_PROTOCOLS = ('v4.channel.k8s.io',)
SUBRESOURCE_VERBS = {
    # WebSocket upgrades are GET requests; Kubernetes >= 1.31 also requires ``create``.
    'exec': 'create (and get)',
    'attach': 'create (and get)',
    'portforward': 'create (and get)',
    'proxy': 'get',
    'log': 'get',
}

ExecResult = namedtuple('ExecResult', 'rc stdout stderr timed_out', defaults=(False,))
ExecResult.__doc__ = """Result of ``KubeAPI.exec_argv``: exit code (``None`` if unknown), raw stdout/stderr bytes."""


def json_loads(data):
    """Parse JSON bytes/str fast (orjson when installed)."""
    if HAS_ORJSON:
        return orjson.loads(data)
    return json.loads(data)


def json_dumps(obj):
    """Serialise to compact JSON bytes."""
    if HAS_ORJSON:
        return orjson.dumps(obj)
    return json.dumps(obj, separators=(',', ':')).encode('utf-8')


class _RepeatedHeader(str):
    """A header name that may appear several times in one headers dict (hash by identity)."""

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other


def parse_api_path(path, method='GET', params=None):
    """Split an API path into its RBAC attributes.

    Returns a dict with ``verb``, ``group``, ``version``, ``resource``, ``subresource``,
    ``namespace`` and ``name`` (empty strings when absent).
    """
    parts = [p for p in path.split('?', 1)[0].split('/') if p]
    info = {'verb': '', 'group': '', 'version': '', 'resource': '', 'subresource': '', 'namespace': '', 'name': ''}
    if not parts:
        return info
    if parts[0] == 'api' and len(parts) >= 2:
        info['version'] = parts[1]
        rest = parts[2:]
    elif parts[0] == 'apis' and len(parts) >= 3:
        info['group'], info['version'] = parts[1], parts[2]
        rest = parts[3:]
    else:
        return info
    if len(rest) >= 3 and rest[0] == 'namespaces':
        info['namespace'] = rest[1]
        rest = rest[2:]
    if rest:
        info['resource'] = rest[0]
    if len(rest) >= 2:
        info['name'] = rest[1]
    if len(rest) >= 3:
        info['subresource'] = rest[2]
    params = params or {}
    method = method.upper()
    if info['subresource'] in SUBRESOURCE_VERBS:
        info['verb'] = SUBRESOURCE_VERBS[info['subresource']]
    elif method == 'GET':
        if str(params.get('watch', '')).lower() in ('1', 'true'):
            info['verb'] = 'watch'
        else:
            info['verb'] = 'get' if info['name'] else 'list'
    else:
        info['verb'] = {'POST': 'create', 'PUT': 'update', 'PATCH': 'patch',
                        'DELETE': 'delete' if info['name'] else 'deletecollection'}.get(method, method.lower())
    return info


def _status_message(status_obj, raw):
    if isinstance(status_obj, dict) and status_obj.get('message'):
        return str(status_obj['message'])
    text = raw.decode('utf-8', 'replace') if isinstance(raw, (bytes, bytearray)) else str(raw or '')
    return text.strip()[:500]


def error_from_response(status, body, method, path, params=None, host=''):
    """Build a ``KubeAPIError`` (with an actionable message) for an HTTP error response."""
    status_obj = {}
    if body:
        try:
            parsed = json_loads(body)
            if isinstance(parsed, dict):
                status_obj = parsed
        except ValueError:
            status_obj = {}
    server_msg = _status_message(status_obj, body)
    reason = status_obj.get('reason', '') if status_obj else ''
    info = parse_api_path(path, method, params)
    res = info['resource'] + ('/' + info['subresource'] if info['subresource'] else '')
    group = info['group']
    scope = ('in namespace "%s"' % info['namespace']) if info['namespace'] else 'cluster-wide'
    if status == 403:
        rbac = {'verb': info['verb'], 'resource': res, 'group': group, 'namespace': info['namespace']}
        msg = ('Forbidden (HTTP 403): the credentials in use may not %s "%s" (apiGroup "%s") %s. '
               'Grant a Role/ClusterRole rule {apiGroups: ["%s"], resources: ["%s"], verbs: [%s]}%s '
               '(see docs/rbac/ in the netobs.cilium collection). API server said: %s'
               % (info['verb'], res, group, scope, group, res,
                  ', '.join('"%s"' % v for v in info['verb'].replace('(and ', '').replace(')', '').split()),
                  ' bound in namespace "%s"' % info['namespace'] if info['namespace'] else ' with a ClusterRoleBinding',
                  server_msg))
        return KubeAPIError(msg, status=status, reason=reason or 'Forbidden', method=method, path=path,
                            status_obj=status_obj, rbac=rbac)
    if status == 401:
        msg = ('Unauthorized (HTTP 401) by %s: the credentials were rejected (expired token or certificate, '
               'wrong kubeconfig/context?). API server said: %s' % (host or 'the API server', server_msg))
        return KubeAPIError(msg, status=status, reason=reason or 'Unauthorized', method=method, path=path, status_obj=status_obj)
    if status == 404:
        details = status_obj.get('details') if isinstance(status_obj.get('details'), dict) else {}
        missing = details.get('name')
        if info['name'] and missing and missing != info['name']:
            # exec/attach/port-forward/proxy: the object named in the path exists, the server could not find another
            # one it needs on the way (a real apiserver answers pods/exec with 404 naming the pod's node when that
            # node object is gone).
            where = (' in namespace "%s"' % info['namespace']) if info['namespace'] else ''
            msg = ('Not found (HTTP 404) on %s of %s "%s"%s: the API server could not find "%s", which the call needs '
                   '(for exec or port-forward: the node of the pod and its kubelet). API server said: %s'
                   % (info['subresource'] or info['verb'], info['resource'], info['name'], where, missing, server_msg))
        elif info['name']:
            where = (' in namespace "%s"' % info['namespace']) if info['namespace'] else ''
            what = '%s "%s"%s' % (info['resource'], info['name'], where)
            msg = 'Not found (HTTP 404): %s does not exist. API server said: %s' % (what, server_msg)
        else:
            msg = ('Not found (HTTP 404): the API %s is not served by this cluster (resource "%s", apiGroup "%s", version "%s"). '
                   'API server said: %s' % (path, info['resource'], group, info['version'], server_msg))
        return KubeAPIError(msg, status=status, reason=reason or 'NotFound', method=method, path=path, status_obj=status_obj)
    if status == 410:
        msg = ('Gone (HTTP 410): the requested resourceVersion/continue token for %s is too old. API server said: %s'
               % (path, server_msg))
        return ResourceVersionTooOld(msg, status=status, reason=reason or 'Expired', method=method, path=path, status_obj=status_obj)
    msg = 'Kubernetes API error (HTTP %s %s) on %s %s: %s' % (status, reason or '', method, path, server_msg)
    return KubeAPIError(msg, status=status, reason=reason, method=method, path=path, status_obj=status_obj)


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header value (delta-seconds or HTTP-date); None if absent/invalid."""
    if value is None or value == '':
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def build_configuration_from_auth(module=None, **auth_params):
    """A ``kubernetes.client.Configuration`` from kubernetes.core auth options.

    Uses kubernetes.core's own helpers (``_create_auth_spec``/``_create_configuration``/
    ``_create_headers``) so every option and ``K8S_AUTH_*`` variable means the same thing as in
    ``kubernetes.core.k8s``, without its API discovery requests.  Falls back to the public
    ``get_api_client`` if those helpers move.  Returns ``(configuration, headers)``.
    """
    try:
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as k8s_client_mod
    except ImportError as exc:  # pragma: no cover - kubernetes.core is a declared dependency
        raise KubeAPIError('kubernetes.core (>=6.0.0) is required: %s' % exc) from exc
    try:
        create_auth = getattr(k8s_client_mod, '_create_auth_spec')
        create_conf = getattr(k8s_client_mod, '_create_configuration')
        create_headers = getattr(k8s_client_mod, '_create_headers')
    except AttributeError:
        create_auth = create_conf = create_headers = None
    try:
        if create_auth is not None:
            auth = create_auth(module, **auth_params)
            configuration = create_conf(auth)
            headers = create_headers(module, **auth_params)
            return configuration, headers
        params = dict(module.params) if module is not None else {}
        params.update(auth_params)
        k8s = k8s_client_mod.get_api_client(**params)
        api_client = k8s.client.client
        return api_client.configuration, dict(api_client.default_headers)
    except KubeAPIError:
        raise
    except Exception as exc:  # kubernetes.config.ConfigException, OSError, yaml errors ... pylint: disable=broad-exception-caught
        raise KubeAPIError('Could not build the Kubernetes client configuration: %s. Set kubeconfig/context '
                           '(or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT), or host + api_key.' % exc,
                           reason='ConfigError') from exc


class KubeAPI:
    """Raw-JSON Kubernetes API client with retries; see the module docstring."""

    def __init__(self, api_client, max_retries=5, backoff=0.25, max_backoff=8.0, max_retry_after=60.0,
                 connect_timeout=15.0, read_timeout=120.0, sleep=time.sleep, compress=None, extra_headers=None):
        self.api_client = api_client
        self.configuration = api_client.configuration
        self.host = (self.configuration.host or '').rstrip('/')
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # gzip saves a lot on real (remote) API servers; on loopback (kind, kubectl proxy, tunnels) it only costs CPU.
        self.compress = (not _is_loopback(self.host)) if compress is None else bool(compress)
        self._sleep = sleep
        self._pool = api_client.rest_client.pool_manager
        self._static_headers = {}
        for key, value in dict(getattr(api_client, 'default_headers', {}) or {}).items():
            self._static_headers[key] = value
        for key, value in (extra_headers or {}).items():
            self._static_headers[key] = value
        self._static_headers['User-Agent'] = USER_AGENT
        self.request_count = 0
        self.retry_count = 0
        self.relist_count = 0
        self.retry_log = []
        self.deadline = None  # time.monotonic() value after which no request is sent or waited for

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_configuration(cls, configuration, headers=None, **kwargs):
        """Build from a ``kubernetes.client.Configuration`` (plus extra default headers)."""
        api_client = _kubernetes().client.ApiClient(configuration)
        extra = {}
        for name, value in (headers or {}).items():
            if isinstance(value, (list, tuple)):
                # one header line per value (Impersonate-Group), like kubernetes.core does
                for item in value:
                    extra[_RepeatedHeader(name)] = str(item)
            else:
                extra[str(name)] = value
        return cls(api_client, extra_headers=extra, **kwargs)

    @classmethod
    def from_module(cls, module, **kwargs):
        """Build from an AnsibleModule whose argument_spec includes kubernetes.core's AUTH_ARG_SPEC."""
        configuration, headers = build_configuration_from_auth(module)
        return cls.from_configuration(configuration, headers, **kwargs)

    @classmethod
    def from_auth(cls, **auth_params):
        """Build from kubernetes.core auth option values given as keyword arguments (kubeconfig=..., context=...)."""
        kwargs = {k: auth_params.pop(k) for k in list(auth_params) if k in _KUBEAPI_KWARGS}
        configuration, headers = build_configuration_from_auth(None, **auth_params)
        return cls.from_configuration(configuration, headers, **kwargs)

    @classmethod
    def from_kubeconfig(cls, path, context=None, **kwargs):
        """Build from a kubeconfig file (for tests and scripts)."""
        kubernetes = _kubernetes()
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                               persist_config=False)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise KubeAPIError('Could not load kubeconfig %s: %s' % (path, exc), reason='ConfigError') from exc
        return cls.from_configuration(configuration, **kwargs)

    def close(self):
        """Release pooled connections."""
        with contextlib.suppress(Exception):
            self._pool.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _auth_headers(self):
        headers = dict(self._static_headers)
        settings = self.configuration.auth_settings() or {}
        for setting in settings.values():
            if setting.get('in') == 'header' and setting.get('value'):
                headers[setting['key']] = setting['value']
        if 'authorization' not in {k.lower() for k in headers} and self.configuration.username and self.configuration.password:
            headers.update(urllib3.util.make_headers(basic_auth='%s:%s' % (self.configuration.username, self.configuration.password)))
        return headers

    def url(self, path, params=None):
        """Absolute URL for an API path (``/api/v1/...``) and query parameters."""
        url = self.host + path
        if params:
            query = []
            for key, value in params.items():
                if value is None:
                    continue
                if isinstance(value, (list, tuple)):
                    query.extend((key, str(v)) for v in value)
                elif isinstance(value, bool):
                    query.append((key, 'true' if value else 'false'))
                else:
                    query.append((key, str(value)))
            if query:
                url += '?' + urlencode(query)
        return url

    def _delay(self, attempt):
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        return delay * (0.8 + 0.4 * random.random())  # nosec - jitter, not crypto

    def remaining(self):
        """Seconds left before ``deadline`` (None without a deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _check_deadline(self, method, path, what='sending'):
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise KubeAPITimeout('Time budget exhausted before %s %s %s' % (what, method, path), reason='Timeout', method=method, path=path)
        return remaining

    def _retry_wait(self, attempt, what, retry_after=None):
        delay = self._delay(attempt) if retry_after is None else min(self.max_retry_after, retry_after)
        remaining = self.remaining()
        if remaining is not None and delay >= remaining:
            raise KubeAPITimeout('Time budget exhausted while retrying (%s)' % what, reason='Timeout')
        self.retry_count += 1
        self.retry_log.append({'attempt': attempt + 1, 'cause': what, 'delay': round(delay, 3)})
        self._sleep(delay)

    def _send(self, method, path, params=None, body=None, read_timeout=None, stream=False, accept='application/json'):
        """Send one logical request with retries; return (status, headers, bytes|response)."""
        url = self.url(path, params)
        attempt = 0
        while True:
            remaining = self._check_deadline(method, path)
            connect, read = self.connect_timeout, read_timeout or self.read_timeout
            if remaining is not None:
                connect, read = min(connect, remaining), min(read, remaining)
            timeout = urllib3.Timeout(connect=connect, read=read)
            headers = self._auth_headers()
            headers['Accept'] = accept
            if self.compress and not stream:
                headers['Accept-Encoding'] = 'gzip'
            payload = None
            if body is not None:
                payload = json_dumps(body)
                headers['Content-Type'] = 'application/json'
            self.request_count += 1
            try:
                resp = self._pool.request(method, url, body=payload, headers=headers, preload_content=False,
                                          retries=False, timeout=timeout, redirect=False)
                status = resp.status
                if status in RETRY_STATUSES and attempt < self.max_retries:
                    retry_after = parse_retry_after(resp.headers.get('Retry-After'))
                    resp.drain_conn()
                    resp.release_conn()
                    self._retry_wait(attempt, 'HTTP %d' % status, retry_after)
                    attempt += 1
                    continue
                if status >= 400:
                    data = resp.read()
                    resp.release_conn()
                    raise error_from_response(status, data, method, path, params, self.host)
                if stream:
                    return status, resp.headers, resp
                data = resp.read()
                resp.release_conn()
                return status, resp.headers, data
            except KubeAPIError:
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt < self.max_retries:
                    self._retry_wait(attempt, '%s: %s' % (type(exc).__name__, exc))
                    attempt += 1
                    continue
                raise KubeAPIConnectionError(
                    'Cannot reach the Kubernetes API at %s (%s %s) after %d attempts: %s. Check the API server address, '
                    'network/proxy settings and that the cluster is up.' % (self.host, method, path, attempt + 1, exc),
                    status=0, reason=type(exc).__name__, method=method, path=path) from exc

    # ------------------------------------------------------------------ REST
    def request(self, method, path, params=None, body=None):
        """Any JSON request; returns the parsed response (dict) or ``{}`` for an empty body."""
        _status, _headers, data = self._send(method, path, params, body)
        if not data:
            return {}
        try:
            return json_loads(data)
        except ValueError as exc:
            raise KubeAPIError('The Kubernetes API returned invalid JSON for %s %s: %s' % (method, path, exc),
                               status=_status, reason='InvalidJSON', method=method, path=path) from exc

    def get(self, path, params=None):
        """GET a JSON document (object or list) as a dict."""
        return self.request('GET', path, params)

    def list_pages(self, path, params=None, page_size=None, max_relists=3, prefetch=True):
        """Iterate over the pages (raw ``*List`` dicts) of a collection using ``limit``/``continue``.

        ``page_size`` is the ``limit`` per request (default: ``params['limit']`` if given, else 500).

        When a continue token expires (HTTP 410) the list restarts from the beginning and items
        already yielded (same ``metadata.uid``) are dropped from later pages, so callers see every
        object once.  Use the ``metadata.resourceVersion`` of the *last* page to start a watch.

        With ``prefetch`` the next page is requested and decoded in a background thread while the
        caller processes the current one (at most two pages in memory); errors are raised in the
        caller at the position where they happened, after the pages read before them.
        """
        pages = self._pages(path, params, page_size, max_relists)
        if not prefetch:
            yield from pages
            return
        yield from _prefetched(pages)

    def _pages(self, path, params, page_size, max_relists):
        base = dict(params or {})
        if page_size is None:
            page_size = base.get('limit') or DEFAULT_PAGE_SIZE
        if page_size and int(page_size) > 0:
            base['limit'] = int(page_size)
        seen = set()
        relisted = False
        relists = 0
        token = None
        while True:
            query = dict(base)
            if token:
                query['continue'] = token
            try:
                page = self.get(path, query)
            except ResourceVersionTooOld:
                if not token or relists >= max_relists:
                    raise
                relists += 1
                self.relist_count += 1
                self.retry_log.append({'attempt': relists, 'cause': 'continue token expired (410), relisting', 'delay': 0})
                relisted = True
                token = None
                continue
            items = page.get('items') or []
            if relisted:
                items = [i for i in items if ((i.get('metadata') or {}).get('uid') or id(i)) not in seen]
                page['items'] = items
            for item in items:
                uid = (item.get('metadata') or {}).get('uid')
                if uid:
                    seen.add(uid)
            token = (page.get('metadata') or {}).get('continue')
            yield page
            if not token:
                return

    def watch(self, path, params=None, resource_version=None, timeout_seconds=60, on_open=None):
        """Watch a collection; yields ``(type, object)`` with type ADDED/MODIFIED/DELETED/BOOKMARK.

        The stream ends when the server closes it (``timeoutSeconds``).  Raises
        ``ResourceVersionTooOld`` on 410 Gone (relist, then watch again), ``KubeAPIConnectionError``
        when the stream breaks mid-way (watch again from the last seen resourceVersion).
        Stop early by closing the generator, or from another thread with the ``cancel`` callable
        passed to ``on_open(cancel)`` once the stream is open (the generator then simply ends).
        """
        query = dict(params or {})
        query['watch'] = 'true'
        query['allowWatchBookmarks'] = 'true'
        if resource_version:
            query['resourceVersion'] = str(resource_version)
        timeout_seconds = max(1, int(timeout_seconds))
        query['timeoutSeconds'] = timeout_seconds
        _status, _headers, resp = self._send('GET', path, query, read_timeout=timeout_seconds + 30, stream=True)
        cancelled = threading.Event()
        if on_open is not None:
            def cancel():
                cancelled.set()
                with contextlib.suppress(Exception):
                    if hasattr(resp, 'shutdown'):
                        resp.shutdown()
                    else:
                        resp.close()
            on_open(cancel)
        try:
            for line in _iter_lines(resp):
                if cancelled.is_set():
                    return
                try:
                    event = json_loads(line)
                except ValueError as exc:
                    raise KubeAPIError('Malformed watch event from %s: %s' % (path, exc), reason='InvalidJSON', path=path) from exc
                etype = event.get('type')
                obj = event.get('object') or {}
                if etype == 'ERROR':
                    code = obj.get('code', 500)
                    raise error_from_response(code, json_dumps(obj), 'GET', path, query, self.host)
                yield etype, obj
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if cancelled.is_set():
                return
            if isinstance(exc, ValueError) and not isinstance(exc, KubeAPIError):
                raise
            raise KubeAPIConnectionError('The watch on %s was interrupted: %s' % (path, exc), reason=type(exc).__name__,
                                         method='GET', path=path) from exc
        finally:
            with contextlib.suppress(Exception):
                resp.release_conn()
            with contextlib.suppress(Exception):
                resp.close()

    # ------------------------------------------------------------------ Services
    def resolve_service_target(self, namespace, service, port):
        """Resolve Service ``port`` (number or name) to ``(pod name, container port)`` of a Ready pod behind it.

        Like ``kubectl port-forward svc/NAME``: needs ``get`` on services and ``list`` on pods.
        """
        svc = self.get('/api/v1/namespaces/%s/services/%s' % (quote(namespace), quote(service)))
        spec = svc.get('spec') or {}
        selector = spec.get('selector') or {}
        if not selector:
            raise KubeAPIError('Service %s/%s has no pod selector; cannot port-forward to it.' % (namespace, service))
        chosen = None
        for sport in spec.get('ports') or []:
            if str(sport.get('port')) == str(port) or sport.get('name') == str(port):
                chosen = sport
                break
        if chosen is None:
            ports = ', '.join('%s(%s)' % (p.get('port'), p.get('name', '')) for p in spec.get('ports') or [])
            raise KubeAPIError('Service %s/%s has no port %s (ports: %s).' % (namespace, service, port, ports))
        target = chosen.get('targetPort', chosen.get('port'))
        label_selector = ','.join('%s=%s' % kv for kv in sorted(selector.items()))
        pods = self.get('/api/v1/namespaces/%s/pods' % quote(namespace), {'labelSelector': label_selector})
        ready = []
        for pod in pods.get('items') or []:
            status = pod.get('status') or {}
            if status.get('phase') != 'Running' or (pod.get('metadata') or {}).get('deletionTimestamp'):
                continue
            conds = {c.get('type'): c.get('status') for c in status.get('conditions') or []}
            ready.append((0 if conds.get('Ready') == 'True' else 1, pod['metadata']['name'], pod))
        if not ready:
            raise KubeAPIError('No running pod backs Service %s/%s (selector %s).' % (namespace, service, label_selector))
        ready.sort(key=lambda t: (t[0], t[1]))
        _rank, name, pod = ready[0]
        if isinstance(target, int) or str(target).isdigit():
            return name, int(target)
        for container in (pod.get('spec') or {}).get('containers') or []:
            for cport in container.get('ports') or []:
                if cport.get('name') == target:
                    return name, int(cport['containerPort'])
        raise KubeAPIError('Pod %s/%s has no container port named "%s" (targetPort of Service %s).' % (namespace, name, target, service))

    # ------------------------------------------------------------------ WebSocket (exec, port-forward)
    def _ws_url(self, path, query):
        url = self.url(path, None)
        if url.startswith('https://'):
            url = 'wss://' + url[len('https://'):]
        elif url.startswith('http://'):
            url = 'ws://' + url[len('http://'):]
        if query:
            url += '?' + urlencode(query)
        return url

    def _ws_options(self, subprotocols, timeout):
        conf = self.configuration
        headers = ['%s: %s' % (k, v) for k, v in self._auth_headers().items() if k.lower() not in ('accept-encoding',)]
        if conf.verify_ssl:
            sslopt = {'cert_reqs': ssl.CERT_REQUIRED}
            if conf.ssl_ca_cert:
                sslopt['ca_certs'] = conf.ssl_ca_cert
            if getattr(conf, 'assert_hostname', None) is not None:
                sslopt['check_hostname'] = bool(conf.assert_hostname)
        else:
            sslopt = {'cert_reqs': ssl.CERT_NONE, 'check_hostname': False}
        if conf.cert_file:
            sslopt['certfile'] = conf.cert_file
        if conf.key_file:
            sslopt['keyfile'] = conf.key_file
        if getattr(conf, 'tls_server_name', None):
            sslopt['server_hostname'] = conf.tls_server_name
        options = {'header': headers, 'subprotocols': list(subprotocols), 'sslopt': sslopt, 'timeout': timeout,
                   'skip_utf8_validation': True, 'enable_multithread': True}
        if conf.proxy:
            proxy = urlparse(conf.proxy)
            options['http_proxy_host'] = proxy.hostname
            options['http_proxy_port'] = proxy.port
            options['proxy_type'] = 'http'
            if conf.no_proxy:
                options['http_no_proxy'] = conf.no_proxy.split(',')
        return options

    def _ws_connect(self, path, query, subprotocols, timeout):
        if not HAS_WEBSOCKET:
            raise KubeAPIError('the Python "websocket-client" package is required for exec/port-forward')
        url = self._ws_url(path, query)
        params = {}
        for key, value in query:
            params.setdefault(key, value)
        attempt = 0
        while True:
            self.request_count += 1
            try:
                options = self._ws_options(subprotocols, timeout)
                sslopt = options.pop('sslopt')
                enable_mt = options.pop('enable_multithread')
                skip = options.pop('skip_utf8_validation')
                ws = websocket.WebSocket(sslopt=sslopt, enable_multithread=enable_mt, skip_utf8_validation=skip)
                ws.connect(url, **options)
                return ws
            except websocket.WebSocketBadStatusException as exc:
                status = exc.status_code
                if status in RETRY_STATUSES and attempt < self.max_retries:
                    hdrs = {str(k).lower(): v for k, v in (exc.resp_headers or {}).items()}
                    self._retry_wait(attempt, 'HTTP %d' % status, parse_retry_after(hdrs.get('retry-after')))
                    attempt += 1
                    continue
                raise error_from_response(status, exc.resp_body or b'', 'GET', path, params, self.host) from exc
            except (websocket.WebSocketException, OSError) as exc:
                if attempt < self.max_retries:
                    self._retry_wait(attempt, '%s: %s' % (type(exc).__name__, exc))
                    attempt += 1
                    continue
                raise KubeAPIConnectionError('Cannot open a WebSocket to %s%s after %d attempts: %s'
                                             % (self.host, path, attempt + 1, exc), reason=type(exc).__name__,
                                             method='GET', path=path) from exc

    def exec_argv(self, namespace, pod, container, argv, timeout=60.0):
        """Run ``argv`` (a list, never a shell string) in a container through the WebSocket exec API.

        Returns ``ExecResult(rc, stdout, stderr, timed_out)`` with raw bytes; ``rc`` is None when the
        command did not finish within ``timeout`` seconds (``timed_out`` True, output so far kept).
        Raises ``KubeAPIError`` when the exec cannot start (RBAC, missing pod/container, no such binary).
        """
        if isinstance(argv, (str, bytes)) or not argv:
            raise ValueError('argv must be a non-empty list of strings')
        path = '/api/v1/namespaces/%s/pods/%s/exec' % (quote(namespace), quote(pod))
        query = [('command', str(a)) for a in argv]
        if container:
            query.append(('container', container))
        query += [('stdin', 'false'), ('stdout', 'true'), ('stderr', 'true'), ('tty', 'false')]
        deadline = time.monotonic() + timeout
        ws = self._ws_connect(path, query, WS_CHANNEL_PROTOCOLS, timeout=max(1.0, timeout))
        stdout, stderr = [], []
        status_raw = []
        timed_out = False
        try:
            for channel, chunk in _channel_chunks(ws, remaining=lambda: deadline - time.monotonic()):
                if channel == TIMED_OUT_CHANNEL:
                    timed_out = True
                    break
                if channel == 1:
                    stdout.append(chunk)
                elif channel == 2:
                    stderr.append(chunk)
                elif channel == 3:
                    status_raw.append(chunk)
        finally:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)
        out, err = b''.join(stdout), b''.join(stderr)
        if timed_out:
            return ExecResult(None, out, err, True)
        rc = None
        if status_raw:
            try:
                status = json_loads(b''.join(status_raw))
            except ValueError:
                status = {'status': 'Failure', 'message': b''.join(status_raw).decode('utf-8', 'replace')}
            if status.get('status') == 'Success':
                rc = 0
            else:
                for cause in (status.get('details') or {}).get('causes') or []:
                    if cause.get('reason') == 'ExitCode':
                        with contextlib.suppress(TypeError, ValueError):
                            rc = int(cause.get('message'))
                if rc is None:
                    raise KubeAPIError('exec %s in %s/%s (container %s) failed: %s' % (argv[0], namespace, pod, container or '-',
                                                                                       status.get('message', status)),
                                       status=int(status.get('code') or 500), reason=status.get('reason', ''), path=path,
                                       status_obj=status)
        return ExecResult(rc, out, err, False)

    @contextlib.contextmanager
    def port_forward(self, namespace, pod, port, connect_timeout=15.0):
        """Forward a local loopback port to ``port`` of ``pod`` (WebSocket port-forward API).

        Yields ``"127.0.0.1:<local port>"`` (a ``str`` with an ``errors`` list attribute collecting
        errors reported by the API for individual connections).  Each local connection gets its own
        WebSocket stream.  Access is checked on entry: RBAC or missing-pod errors raise
        ``KubeAPIError`` immediately.
        """
        forwarder = _PortForwarder(self, namespace, pod, int(port), connect_timeout)
        forwarder.start()
        try:
            yield forwarder.address
        finally:
            forwarder.stop()


def _is_loopback(url):
    host = (urlparse(url).hostname or '').lower()
    if host == 'localhost' or host.endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_KUBEAPI_KWARGS = ('max_retries', 'backoff', 'max_backoff', 'max_retry_after', 'connect_timeout', 'read_timeout', 'sleep', 'compress')


def _prefetched(pages, depth=1):
    """Run the ``pages`` generator one page ahead in a daemon thread; re-raise its errors in order."""
    slots = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        slots.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = done
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            item = exc
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name='netobs-kube-prefetch', daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=1)


def _iter_lines(resp):
    """Yield complete lines (bytes) from a streaming urllib3 response as they arrive."""
    buf = b''
    if getattr(resp, 'chunked', False) and hasattr(resp, 'read_chunked'):
        chunks = resp.read_chunked(decode_content=True)
    else:
        def _reader():
            reader = getattr(resp, 'read1', None)
            while True:
                data = reader(65536) if reader else resp.read(1)
                if not data:
                    return
                yield data
        chunks = _reader()
    for chunk in chunks:
        if not chunk:
            continue
        buf += chunk
        while True:
            idx = buf.find(b'\n')
            if idx < 0:
                break
            line, buf = buf[:idx], buf[idx + 1:]
            if line.strip():
                yield line
    if buf.strip():
        yield buf


def _channel_frame(opcode, frame):
    """Decode one frame of the Kubernetes channel protocol (exec and port-forward WebSockets).

    Returns ``None`` for a close frame, ``()`` for an empty one, else ``(channel, data)``.
    """
    if getattr(opcode, 'value', opcode) == websocket.ABNF.OPCODE_CLOSE:
        return None
    payload = getattr(frame, 'data', frame)
    if isinstance(payload, str):
        payload = payload.encode('utf-8')
    if not payload:
        return ()
    return payload[0], payload[1:]


TIMED_OUT_CHANNEL = -1


def _channel_chunks(ws, remaining=None, running=None):
    """Yield ``(channel, data)`` of a channel-protocol WebSocket until it closes or breaks (empty frames skipped).

    ``remaining()`` (seconds left) bounds every receive: when it runs out, ``(TIMED_OUT_CHANNEL, b'')`` is yielded
    last. ``running()`` returning False stops before the next receive.
    """
    while running is None or running():
        if remaining is not None:
            left = remaining()
            if left <= 0:
                yield TIMED_OUT_CHANNEL, b''
                return
            ws.settimeout(left)
        try:
            opcode, data = ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            if remaining is not None:
                yield TIMED_OUT_CHANNEL, b''
            return
        except (websocket.WebSocketException, OSError):
            return
        frame = _channel_frame(opcode, data)
        if frame is None:
            return
        if frame:
            yield frame


class ForwardAddress(str):
    """``"host:port"`` of a running port-forward, with ``errors`` (list of str) seen so far."""

    errors = None


class _PortForwarder(LoopbackRelay):
    """Local listener that pipes every accepted TCP connection through its own port-forward WebSocket."""

    thread_name = 'netobs-portforward'

    def __init__(self, api, namespace, pod, port, connect_timeout):
        super().__init__()
        self.api = api
        self.path = '/api/v1/namespaces/%s/pods/%s/portforward' % (quote(namespace), quote(pod))
        self.query = [('ports', str(port))]
        self.port = port
        self.connect_timeout = connect_timeout
        self._spare = None

    def _connect(self):
        return self.api._ws_connect(self.path, self.query, PORTFORWARD_PROTOCOLS, timeout=self.connect_timeout)  # pylint: disable=protected-access

    def start(self, backlog=16):
        # Opening the first stream eagerly surfaces RBAC/404 errors at ``with`` entry.
        self._spare = self._connect()
        super().start(backlog)
        address = ForwardAddress(self.address)
        address.errors = self.errors
        self.address = address
        return address

    def open_upstream(self, conn):
        try:
            with self._lock:
                ws, self._spare = self._spare, None
            if ws is None or not ws.connected:
                ws = self._connect()
        except KubeAPIError as exc:
            self.errors.append(str(exc))
            return None
        return ws

    def pumps(self, conn, upstream):
        return (self._ws_to_sock, self._sock_to_ws)

    def close_upstream(self, upstream):
        upstream.close(timeout=0.5)

    def _ws_to_sock(self, conn, ws):
        first = {0: True, 1: True}
        try:
            ws.settimeout(None)
            for channel, data in _channel_chunks(ws, running=lambda: not self.stopping):
                if channel in first and first[channel]:
                    # the first frame of each channel starts with the port number (uint16 little endian)
                    first[channel] = False
                    data = data[2:]
                if not data:
                    continue
                if channel == 0:
                    conn.sendall(data)
                elif channel == 1:
                    self.errors.append(data.decode('utf-8', 'replace'))
                    break
        except OSError:
            pass
        finally:
            self.close_pair(conn, ws)

    def _sock_to_ws(self, conn, ws):
        try:
            while not self.stopping:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                ws.send(b'\x00' + data, opcode=websocket.ABNF.OPCODE_BINARY)
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.close_pair(conn, ws)

    def stop(self):
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(Exception):
                spare.close(timeout=0.5)
        super().stop()
