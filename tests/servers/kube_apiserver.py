# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback Kubernetes API server speaking the real REST protocol, for tests with real clients.

It plays what the real kube-apiserver of the test session (``servers.real_apiserver``) cannot: a cluster whose pods
answer exec and port-forward (there is no kubelet in the session), whose controllers roll Deployments out
(``set_auto_status``), and several whole clusters per test at no cost. ``kubectl``, the ``kubernetes`` Python client
and kubernetes.core modules use it unmodified for what the role tests need: discovery (legacy and aggregated), CRUD
with Status errors, list paging, label and field selectors, watch, merge and strategic merge patches, pod
exec/portforward over WebSocket, bearer tokens and TLS. See ``tests/servers/README.md``.

    with KubeAPIServer() as srv:
        srv.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p', 'namespace': 'x'}, 'spec': {...}})
        path = srv.write_kubeconfig(tmp_path / 'kubeconfig')
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import os
import socket
import tempfile
import threading
import time
import traceback
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from servers import kube_streams
from servers.kube_selectors import FieldSelector, LabelSelector, SelectorError
from servers.kube_store import ADDED, DELETED, MODIFIED, ApiError, Store, Watcher, status_failure
from servers.pki import make_ca

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is in the test virtualenv
    yaml = None

JSON = 'application/json'
DISCOVERY_CT = 'application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList'
SUBRESOURCE_KINDS = {
    'exec': ('PodExecOptions', ('create', 'get')),
    'portforward': ('PodPortForwardOptions', ('create', 'get')),
    'status': (None, ('get', 'patch', 'update')),
}
PATCH_TYPES = {'application/merge-patch+json': 'merge', 'application/strategic-merge-patch+json': 'strategic'}
VERSION = {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0', 'gitCommit': '70d3cc986aa8221cd1dfb1121852688902d3bf53',
           'gitTreeState': 'clean', 'buildDate': '2024-12-11T17:59:15Z', 'goVersion': 'go1.23.3', 'compiler': 'gc',
           'platform': 'linux/amd64'}


def _truthy(value):
    return str(value).lower() in ('1', 'true')


def _media_types(header):
    out = []
    for part in (header or '').split(','):
        bits = [b.strip() for b in part.split(';')]
        if not bits[0]:
            continue
        params = {}
        for bit in bits[1:]:
            if '=' in bit:
                key, value = bit.split('=', 1)
                params[key.strip()] = value.strip()
        out.append((bits[0].lower(), params))
    return out


def _json_response(obj, status=200, content_type=JSON, headers=None):
    body = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    resp = web.Response(body=body, status=status, headers=headers)
    resp.headers['Content-Type'] = content_type
    return resp


class KubeAPIServer:
    """See the module docstring and tests/servers/README.md."""

    def __init__(self, tls=False, token=None, crds=None, bookmark_interval=60.0):
        self.tls = tls
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.store = Store(crds=crds)
        self.store.notify = self._notify
        self.requests = []
        self.errors = []         # tracebacks of unexpected exceptions in the server (should stay empty)
        self.exec_handlers = []
        self.port_forwards = []
        self.host = '127.0.0.1'
        self.port = None
        self.ca_pem = None
        self._certdir = None
        self._loop = None
        self._thread = None
        self._runner = None
        self._watchers = set()
        self._closing = False
        self._req_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    @property
    def url(self):
        return '%s://%s:%d' % ('https' if self.tls else 'http', self.host, self.port)

    def start(self):
        ssl_ctx = self._make_tls() if self.tls else None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start_async(ssl_ctx))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name='kube-apiserver-%x' % id(self), daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start_async(self, ssl_ctx):
        app = web.Application(client_max_size=256 * 1024 * 1024, handler_args={'max_field_size': 65536, 'max_line_size': 65536})
        app.router.add_route('*', '/{tail:.*}', self._entry)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=ssl_ctx, backlog=256)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # pylint: disable=protected-access

    def stop(self):
        if self._loop is None:
            return
        self._closing = True

        async def shutdown():
            for watcher in list(self._watchers):
                watcher.wake.set()
            await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:  # pylint: disable=broad-exception-caught
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None
        if self._certdir is not None:
            self._certdir.cleanup()
            self._certdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- TLS -----------------------------------------------------------------------------------------------------------
    def _make_tls(self):
        import ssl  # pylint: disable=import-outside-toplevel
        ca_pem, cert_pem, key_pem = _tls_material()
        self.ca_pem = ca_pem
        self._certdir = tempfile.TemporaryDirectory(prefix='kube-apiserver-tls-')
        cert = os.path.join(self._certdir.name, 'tls.crt')
        key = os.path.join(self._certdir.name, 'tls.key')
        with open(cert, 'wb') as handle:
            handle.write(cert_pem + ca_pem)
        with open(key, 'wb') as handle:
            handle.write(key_pem)
        with open(os.path.join(self._certdir.name, 'ca.crt'), 'wb') as handle:
            handle.write(ca_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(['http/1.1'])
        return ctx

    @property
    def ca_file(self):
        """Path of the CA certificate (TLS mode)."""
        return os.path.join(self._certdir.name, 'ca.crt') if self._certdir else None

    def write_kubeconfig(self, path, context='test', namespace='default'):
        cluster = {'server': self.url}
        if self.tls:
            cluster['certificate-authority-data'] = base64.b64encode(self.ca_pem).decode()
        user = {'token': self.token} if self.token else {}
        config = {
            'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
            'clusters': [{'name': context, 'cluster': cluster}],
            'users': [{'name': context, 'user': user}],
            'contexts': [{'name': context, 'context': {'cluster': context, 'user': context, 'namespace': namespace}}],
            'current-context': context,
        }
        path = os.fspath(path)
        with open(path, 'w', encoding='utf-8') as handle:
            if yaml is not None:
                yaml.safe_dump(config, handle, default_flow_style=False)
            else:
                handle.write(orjson.dumps(config).decode())
        return path

    # -- test API ------------------------------------------------------------------------------------------------------
    def apply(self, obj_or_list):
        """Create-or-replace fixtures (dict, list of dicts or a ``*List``); returns the stored objects as dicts."""
        entries = self.store.apply(obj_or_list)
        if len(entries) > 1000:
            return len(entries)
        return [e.obj() for e in entries]

    def get(self, api_version, kind, namespace, name):
        rt = self.store.lookup(api_version, kind)
        entry = self.store.get_entry(rt, namespace or '', name)
        return None if entry is None else self.store.render_obj(rt, entry)

    def delete(self, api_version, kind, namespace, name):
        rt = self.store.lookup(api_version, kind)
        try:
            self.store.delete(rt, namespace or '', name)
        except ApiError:
            return False
        return True

    def list(self, api_version, kind, namespace=None):
        rt = self.store.lookup(api_version, kind)
        entries = self.store.list(rt, namespace or '', LabelSelector([]), FieldSelector([]))[0]
        return [self.store.render_obj(rt, e) for e in entries]

    def set_exec_handler(self, namespace, pod_glob, container, handler):
        """``handler(argv) -> (stdout, stderr, exit_code)``; ``handler(argv, stdin)`` receives stdin with ``exec -i``."""
        self.exec_handlers.append((namespace, pod_glob, container, handler))

    def find_exec_handler(self, namespace, pod, container):
        entry = kube_streams.find_glob(self.exec_handlers, namespace, pod, container)
        return entry[3] if entry else None

    def set_port_forward(self, namespace, pod, port, target_host, target_port):
        if not ipaddress.ip_address(socket.gethostbyname(target_host)).is_loopback:
            raise ValueError('port-forward targets must be loopback addresses, not %s' % target_host)
        self.port_forwards.append((namespace, pod, int(port), (target_host, int(target_port))))

    def find_port_forward(self, namespace, pod, port):
        for ns, name, p, target in reversed(self.port_forwards):
            if ns == namespace and name == pod and p == port:
                return target
        return None

    def set_auto_status(self, api_version, kind, fn='ready'):
        """Play a controller: after each API write of this kind, set ``status = fn(obj)`` (a separate write, like a controller).

        ``fn='ready'`` uses a built-in "everything is available" status for Deployment/DaemonSet/StatefulSet/ReplicaSet/Job/Pod;
        ``fn=None`` removes the hook.
        """
        if fn is None:
            self.store.auto_status.pop((api_version, kind), None)
            return
        self.store.auto_status[(api_version, kind)] = ready_status if fn == 'ready' else fn

    # -- watch fan-out -------------------------------------------------------------------------------------------------
    def _notify(self, events):
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, events)
        except RuntimeError:
            pass

    @staticmethod
    def _deliver(events):
        for storage, event in events:
            for watcher in list(storage.watchers):
                if event[0] > watcher.last_rv:
                    watcher.buffer.append(event)
                    watcher.wake.set()

    # -- HTTP entry point ----------------------------------------------------------------------------------------------
    def _log_request(self, request, status):
        query = {}
        for key, value in parse_qsl(request.query_string, keep_blank_values=True):
            if key in query:
                query[key] = query[key] + [value] if isinstance(query[key], list) else [query[key], value]
            else:
                query[key] = value
        with self._req_lock:
            self.requests.append((request.method, request.path, query, status))
            return len(self.requests) - 1

    def _set_status(self, index, status):
        with self._req_lock:
            method, path, query, _old = self.requests[index]
            self.requests[index] = (method, path, query, status)

    async def _entry(self, request):
        index = self._log_request(request, None)
        status = 0
        try:
            response = await self._entry_inner(request)
            status = response.status if response is not None else 0
            return response
        except ApiError as exc:
            status = exc.code
            return _json_response(exc.status(), exc.code, headers=exc.headers)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # a bug in the test server: answer like an apiserver panic and keep the traceback for the test to show
            self.errors.append(traceback.format_exc())
            status = 500
            return _json_response(status_failure(500, 'InternalError', 'Internal error occurred: test apiserver bug: %r' % (exc,)), 500)
        finally:
            self._set_status(index, status)

    async def _entry_inner(self, request):
        if self.token is not None:
            auth = request.headers.get('Authorization', '')
            if auth != 'Bearer %s' % self.token:
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
        return await self._route(request)

    # -- routing -------------------------------------------------------------------------------------------------------
    def _parse(self, path):
        """-> (group, version, rest) for /api/v1/... and /apis/g/v/..., else None."""
        parts = [p for p in path.split('/') if p]
        if len(parts) >= 2 and parts[0] == 'api':
            return '', parts[1], parts[2:]
        if len(parts) >= 3 and parts[0] == 'apis':
            return parts[1], parts[2], parts[3:]
        return None

    def _describe(self, request):
        """(verb, resource-with-sub, namespace, name, group, rt) of a resource request, or None."""
        parsed = self._parse(request.path)
        if parsed is None:
            return None
        group, version, rest = parsed
        if not rest:
            return None
        watch_prefix = rest[0] == 'watch'
        if watch_prefix:
            rest = rest[1:]
        if not rest:
            return None
        namespace, name, sub = '', None, None
        if rest[0] == 'namespaces' and (len(rest) >= 4 or (len(rest) == 3 and rest[2] not in ('status', 'finalize'))):
            namespace, plural = rest[1], rest[2]
            name = rest[3] if len(rest) > 3 else None
            sub = rest[4] if len(rest) > 4 else None
            if len(rest) > 5:
                return None
        else:
            plural = rest[0]
            name = rest[1] if len(rest) > 1 else None
            sub = rest[2] if len(rest) > 2 else None
            if len(rest) > 3:
                return None
        rt = self.store.types.get((group, version, plural))
        if rt is None:
            return None
        method = request.method
        watch = watch_prefix or _truthy(request.query.get('watch', ''))
        if sub in ('exec', 'portforward', 'attach'):
            verb = 'create'
        elif method in ('GET', 'HEAD'):
            verb = 'watch' if watch else ('get' if name else 'list')
        else:
            verb = {'POST': 'create', 'PUT': 'update', 'PATCH': 'patch'}.get(method)
            if method == 'DELETE':
                verb = 'delete' if name else 'deletecollection'
        resource = plural + ('/' + sub if sub else '')
        return verb, resource, namespace, name, sub, rt, watch

    async def _route(self, request):
        path = request.path.rstrip('/') or '/'
        if request.method == 'GET':
            if path == '/version':
                return _json_response(VERSION)
            if path in ('/healthz', '/livez', '/readyz'):
                return web.Response(text='ok', content_type='text/plain')
            if path in ('/api', '/apis'):
                return self._discovery_root(request, path)
            parts = [p for p in path.split('/') if p]
            if (len(parts) == 2 and parts[0] == 'api') or (len(parts) == 3 and parts[0] == 'apis'):
                return self._resource_list(*(('', parts[1]) if parts[0] == 'api' else (parts[1], parts[2])))
        parsed = self._parse(path)
        if parsed is None or parsed[1] not in self.store.groups().get(parsed[0], []):
            return web.Response(status=404, text='404 page not found\n', content_type='text/plain')
        target = self._describe(request)
        if target is None:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
        verb, _resource, namespace, name, sub, rt, watch = target
        if rt.namespaced is False and namespace:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
        if sub is not None and (sub not in rt.subresources or sub not in SUBRESOURCE_KINDS):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
        if verb is None or verb not in rt.verbs and sub is None:
            raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})
        method = request.method
        if sub in ('exec', 'portforward'):
            if method not in ('GET', 'POST'):
                raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})
            pod = self.store.render_obj(rt, self.store.get(rt, namespace, name))
            serve = {'exec': kube_streams.serve_exec, 'portforward': kube_streams.serve_portforward}[sub]
            return await serve(self, request, pod, namespace, name)
        if method == 'GET':
            if name is None or watch:
                return await self._get_collection(request, rt, namespace, name, watch)
            entry = self.store.get(rt, namespace, name)
            return self._render_single(request, rt, entry)
        dry_run = self._dry_run(request)
        if method == 'POST':
            if name is not None:
                raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})
            body = await self._body(request)
            return _json_response(self.store.create(rt, namespace, body, dry_run=dry_run), 201)
        if method == 'PUT':
            body = await self._body(request)
            return _json_response(self.store.replace(rt, namespace, name, body, subresource=sub, dry_run=dry_run))
        if method == 'PATCH':
            ctype = request.content_type.lower()
            patch_type = PATCH_TYPES.get(ctype)
            if patch_type is None:
                raise ApiError(415, 'UnsupportedMediaType', 'the test apiserver speaks only application/merge-patch+json and '
                               'application/strategic-merge-patch+json (JSON patch and server-side apply are for the real '
                               'apiserver: servers/real_apiserver.py)')
            body = await self._body(request, yaml_ok=False)
            return _json_response(self.store.patch(rt, namespace, name, patch_type, body, subresource=sub, dry_run=dry_run))
        if method == 'DELETE':
            options = await self._body(request, allow_empty=True) or {}
            if options.get('dryRun') == ['All']:
                dry_run = True
            if name is None:
                return await self._delete_collection(request, rt, namespace, dry_run)
            return _json_response(self.store.delete(rt, namespace, name, dry_run=dry_run, preconditions=options.get('preconditions')))
        raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})

    @staticmethod
    def _dry_run(request):
        values = request.query.getall('dryRun', [])
        for value in values:
            if value != 'All':
                raise ApiError(400, 'BadRequest', 'Invalid dry run option: "%s", supported values: All' % value)
        return bool(values)

    @staticmethod
    async def _body(request, yaml_ok=True, allow_empty=False):
        raw = await request.read()
        if not raw.strip():
            if allow_empty:
                return None
            raise ApiError(400, 'BadRequest', 'the body of the request was empty')
        if request.content_type == 'application/vnd.kubernetes.protobuf':  # kubectl create namespace|configmap|...
            raise ApiError(415, 'UnsupportedMediaType', 'the test apiserver does not decode protobuf request bodies: send JSON '
                           '(kubectl create -f / apply -f)')
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if yaml_ok and yaml is not None:
                try:
                    return yaml.safe_load(raw)
                except yaml.YAMLError:
                    pass
            raise ApiError(400, 'BadRequest', "couldn't get version/kind; json parse error: %s" % exc) from exc

    # -- reads ---------------------------------------------------------------------------------------------------------
    def _negotiate(self, request):
        """-> ('json'|'yaml'|'partial', version) from the Accept header (no Table: kubectl then prints on its own)."""
        accept = request.headers.get('Accept', '')
        if not accept:
            return 'json', None
        for mtype, params in _media_types(accept):
            as_ = params.get('as')
            if mtype == 'application/json' and as_ in ('PartialObjectMetadata', 'PartialObjectMetadataList') and params.get('g') == 'meta.k8s.io':
                return 'partial', params.get('v', 'v1')
            if as_:
                continue
            if mtype in ('application/json', '*/*', 'application/*'):
                return 'json', None
            if mtype == 'application/yaml' and yaml is not None:
                return 'yaml', None
        raise ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml')

    def _render_single(self, request, rt, entry):
        mode, version = self._negotiate(request)
        if mode == 'partial':
            obj = self.store.render_obj(rt, entry)
            return _json_response({'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/%s' % version, 'metadata': obj['metadata']})
        raw = self.store.render(rt, entry)
        if mode == 'yaml':
            return web.Response(text=yaml.safe_dump(orjson.loads(raw), sort_keys=False), content_type='application/yaml')
        return _json_response(raw)

    def _selectors(self, request, rt):
        try:
            label_sel = LabelSelector.parse(request.query.get('labelSelector'))
            field_sel = FieldSelector.parse(request.query.get('fieldSelector'))
        except SelectorError as exc:
            raise ApiError(400, 'BadRequest', str(exc)) from exc
        labels = rt.selectable()
        for field in field_sel.fields():
            if field not in labels:
                raise ApiError(400, 'BadRequest', 'field label not supported: %s' % field)
        return label_sel, field_sel

    async def _get_collection(self, request, rt, namespace, name, watch):
        label_sel, field_sel = self._selectors(request, rt)
        if name is not None:  # /watch/namespaces/x/pods/name
            field_sel = FieldSelector(field_sel.terms + [('metadata.name', '=', name)])
        if watch:
            return await self._watch(request, rt, namespace, label_sel, field_sel)
        try:
            limit = int(request.query.get('limit', '0') or 0)
        except ValueError as exc:
            raise ApiError(400, 'BadRequest', 'invalid limit: %s' % exc) from exc
        cont = request.query.get('continue') or None
        rv_match = request.query.get('resourceVersionMatch')
        if rv_match and not request.query.get('resourceVersion'):
            raise ApiError(400, 'BadRequest', 'resourceVersionMatch is forbidden unless resourceVersion is provided')
        entries, list_rv, token, remaining = self.store.list(rt, namespace, label_sel, field_sel, limit, cont)
        mode, version = self._negotiate(request)
        meta = {'resourceVersion': str(list_rv)}
        if token:
            meta['continue'] = token
        if remaining is not None:
            meta['remainingItemCount'] = remaining
        if mode == 'partial':
            items = [{'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/%s' % version,
                      'metadata': self.store.render_obj(rt, e)['metadata']} for e in entries]
            return _json_response({'kind': 'PartialObjectMetadataList', 'apiVersion': 'meta.k8s.io/%s' % version,
                                   'metadata': meta, 'items': items})
        render = self.store.render
        body = b''.join((b'{"kind":', orjson.dumps(rt.kind + 'List'), b',"apiVersion":', orjson.dumps(rt.api_version),
                         b',"metadata":', orjson.dumps(meta), b',"items":[', b','.join(render(rt, e) for e in entries), b']}'))
        if mode == 'yaml':
            return web.Response(text=yaml.safe_dump(orjson.loads(body), sort_keys=False), content_type='application/yaml')
        return _json_response(body)

    async def _delete_collection(self, request, rt, namespace, dry_run):
        label_sel, field_sel = self._selectors(request, rt)
        entries = self.store.list(rt, namespace, label_sel, field_sel)[0]
        items = []
        for entry in entries:
            try:
                self.store.delete(rt, entry.namespace, entry.name, dry_run=dry_run)
            except ApiError:
                continue
            items.append(self.store.render_obj(rt, entry))
        return _json_response({'kind': rt.kind + 'List', 'apiVersion': rt.api_version,
                               'metadata': {'resourceVersion': str(self.store.rv)}, 'items': items})

    # -- watch ---------------------------------------------------------------------------------------------------------
    async def _watch(self, request, rt, namespace, label_sel, field_sel):
        query = request.query
        store = self.store
        st = store.storage(rt)
        rv_param = query.get('resourceVersion', '')
        initial_events = _truthy(query.get('sendInitialEvents', ''))
        bookmarks = _truthy(query.get('allowWatchBookmarks', ''))
        try:
            timeout = float(query.get('timeoutSeconds') or 1800)
        except ValueError as exc:
            raise ApiError(400, 'BadRequest', 'invalid timeoutSeconds: %s' % exc) from exc
        if initial_events and (not bookmarks or query.get('resourceVersionMatch') != 'NotOlderThan'):
            raise ApiError(422, 'Invalid', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is '
                                           'forbidden for watch unless the WatchList feature gate is enabled and allowWatchBookmarks is '
                                           'true and resourceVersionMatch is NotOlderThan')

        def matches(entry):
            if entry is None:
                return False
            if namespace and entry.namespace != namespace:
                return False
            return field_sel.matches(entry.fields) and label_sel.matches(entry.labels)

        pending = []
        watcher = Watcher(0, asyncio.Event())
        with store.lock:
            current = store.rv
            if rv_param not in ('', '0') and not initial_events:
                try:
                    start_rv = int(rv_param)
                except ValueError as exc:
                    raise ApiError(400, 'BadRequest', 'invalid resource version: %s' % rv_param) from exc
                pending = list(st.since(start_rv))
            else:
                entries = store.list(rt, namespace, label_sel, field_sel)[0]
                pending = [(e.rv, ADDED, e, None) for e in entries]
            watcher.last_rv = current
            st.watchers.add(watcher)
            self._watchers.add(watcher)
        resp = web.StreamResponse(status=200)
        resp.headers['Content-Type'] = JSON
        resp.headers['Cache-Control'] = 'no-cache, private'
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + self.bookmark_interval if bookmarks and self.bookmark_interval else None

        def encode(etype, entry):
            return b'{"type":"' + etype.encode() + b'","object":' + store.render(rt, entry) + b'}\n'

        def bookmark(rv, annotations=None):
            md = {'resourceVersion': str(rv), 'creationTimestamp': None}
            if annotations:
                md['annotations'] = annotations
            return orjson.dumps({'type': 'BOOKMARK', 'object': {'kind': rt.kind, 'apiVersion': rt.api_version, 'metadata': md}}) + b'\n'

        async def emit(chunks):
            for chunk in chunks:
                await resp.write(chunk)

        try:
            chunks = []
            for rv, etype, entry, old in pending:
                out = self._transition(etype, entry, old, matches)
                if out:
                    chunks.append(encode(out, entry))
            await emit(chunks)
            if initial_events:
                await resp.write(bookmark(current, {'k8s.io/initial-events-end': 'true'}))
            while not self._closing:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline - now, 1.0)
                if next_bookmark is not None:
                    wait = max(0.0, min(wait, next_bookmark - now))
                try:
                    await asyncio.wait_for(watcher.wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                watcher.wake.clear()
                if request.transport is None or request.transport.is_closing():
                    break
                events, watcher.buffer = watcher.buffer, []
                chunks = []
                for rv, etype, entry, old in events:
                    if rv <= watcher.last_rv:
                        continue
                    watcher.last_rv = rv
                    out = self._transition(etype, entry, old, matches)
                    if out:
                        chunks.append(encode(out, entry))
                await emit(chunks)
                if next_bookmark is not None and time.monotonic() >= next_bookmark:
                    await resp.write(bookmark(max(watcher.last_rv, current)))
                    next_bookmark = time.monotonic() + self.bookmark_interval
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            st.watchers.discard(watcher)
            self._watchers.discard(watcher)
        return resp

    @staticmethod
    def _transition(etype, entry, old, matches):
        """The event a filtered watch sends (objects entering/leaving the selection become ADDED/DELETED)."""
        if etype == ADDED:
            return ADDED if matches(entry) else None
        if etype == DELETED:
            return DELETED if matches(old) or matches(entry) else None
        new_ok, old_ok = matches(entry), matches(old)
        if new_ok and old_ok:
            return MODIFIED
        if new_ok:
            return ADDED
        if old_ok:
            return DELETED
        return None

    # -- discovery -----------------------------------------------------------------------------------------------------
    def _types_in(self, group, version):
        return [rt for rt in self.store.types.values() if rt.group == group and rt.version == version]

    def _subresources(self, rt):
        return [s for s in rt.subresources if s in SUBRESOURCE_KINDS]

    def _resource_list(self, group, version):
        types = self._types_in(group, version)
        if not types:
            return web.Response(status=404, text='404 page not found\n', content_type='text/plain')
        resources = []
        for rt in types:
            entry = {'name': rt.plural, 'singularName': rt.singular, 'namespaced': rt.namespaced, 'kind': rt.kind,
                     'verbs': list(rt.verbs)}
            if rt.short_names:
                entry['shortNames'] = list(rt.short_names)
            if rt.categories:
                entry['categories'] = list(rt.categories)
            entry['storageVersionHash'] = base64.b64encode(hashlib.sha256(rt.qualified.encode()).digest()[:8]).decode()
            resources.append(entry)
            for sub in self._subresources(rt):
                kind, verbs = SUBRESOURCE_KINDS[sub]
                resources.append({'name': '%s/%s' % (rt.plural, sub), 'singularName': '', 'namespaced': rt.namespaced,
                                  'kind': kind or rt.kind, 'verbs': list(verbs)})
        return _json_response({'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': '%s/%s' % (group, version) if group else version,
                               'resources': resources})

    @staticmethod
    def _group_doc(group, versions):
        vs = [{'groupVersion': '%s/%s' % (group, v), 'version': v} for v in versions]
        return {'kind': 'APIGroup', 'apiVersion': 'v1', 'name': group, 'versions': vs, 'preferredVersion': vs[0]}

    def _discovery_root(self, request, path):
        aggregated = None
        for mtype, params in _media_types(request.headers.get('Accept', '')):
            if mtype == 'application/json' and params.get('as') == 'APIGroupDiscoveryList' and params.get('g') == 'apidiscovery.k8s.io':
                if params.get('v') in ('v2', 'v2beta1'):
                    aggregated = params['v']
                    break
        groups = self.store.groups()
        if aggregated:
            items = []
            for group, versions in groups.items():
                if (path == '/api') != (group == ''):
                    continue
                items.append({'metadata': {'name': group, 'creationTimestamp': None},
                              'versions': [{'version': v, 'resources': [self._aggregated_resource(rt) for rt in self._types_in(group, v)],
                                            'freshness': 'Current'} for v in versions]})
            return _json_response({'kind': 'APIGroupDiscoveryList', 'apiVersion': 'apidiscovery.k8s.io/%s' % aggregated,
                                   'metadata': {}, 'items': items}, content_type=DISCOVERY_CT % aggregated)
        if path == '/api':
            return _json_response({'kind': 'APIVersions', 'versions': groups.get('', ['v1']),
                                   'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': '%s:%d' % (self.host, self.port)}]})
        return _json_response({'kind': 'APIGroupList', 'apiVersion': 'v1',
                               'groups': [self._group_doc(g, v) for g, v in groups.items() if g]})

    def _aggregated_resource(self, rt):
        out = {'resource': rt.plural, 'responseKind': {'group': rt.group, 'version': rt.version, 'kind': rt.kind},
               'scope': 'Namespaced' if rt.namespaced else 'Cluster', 'singularResource': rt.singular, 'verbs': list(rt.verbs)}
        if rt.short_names:
            out['shortNames'] = list(rt.short_names)
        if rt.categories:
            out['categories'] = list(rt.categories)
        subs = []
        for sub in self._subresources(rt):
            kind, verbs = SUBRESOURCE_KINDS[sub]
            response_kind = {'group': rt.group, 'version': rt.version, 'kind': rt.kind} if kind is None else {
                'group': '', 'version': 'v1', 'kind': kind}
            subs.append({'subresource': sub, 'responseKind': response_kind, 'verbs': list(verbs)})
        if subs:
            out['subresources'] = subs
        return out


def ready_status(obj):
    """A status a healthy controller would report for Deployment/DaemonSet/StatefulSet/ReplicaSet/Job/Pod."""
    kind = obj.get('kind')
    spec = obj.get('spec') or {}
    gen = (obj.get('metadata') or {}).get('generation', 1)
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    if kind in ('Deployment', 'StatefulSet', 'ReplicaSet'):
        n = spec.get('replicas', 1)
        status = {'observedGeneration': gen, 'replicas': n, 'readyReplicas': n, 'availableReplicas': n, 'updatedReplicas': n}
        if kind == 'Deployment':
            status['conditions'] = [
                {'type': 'Available', 'status': 'True', 'reason': 'MinimumReplicasAvailable',
                 'message': 'Deployment has minimum availability.', 'lastUpdateTime': now, 'lastTransitionTime': now},
                {'type': 'Progressing', 'status': 'True', 'reason': 'NewReplicaSetAvailable',
                 'message': 'ReplicaSet "%s" has successfully progressed.' % obj['metadata']['name'], 'lastUpdateTime': now,
                 'lastTransitionTime': now}]
        if kind == 'StatefulSet':
            status['currentReplicas'] = n
        return status
    if kind == 'DaemonSet':
        n = 1
        return {'observedGeneration': gen, 'currentNumberScheduled': n, 'desiredNumberScheduled': n, 'numberAvailable': n,
                'numberMisscheduled': 0, 'numberReady': n, 'updatedNumberScheduled': n}
    if kind == 'Job':
        return {'succeeded': 1, 'startTime': now, 'completionTime': now,
                'conditions': [{'type': 'Complete', 'status': 'True', 'lastProbeTime': now, 'lastTransitionTime': now}]}
    if kind == 'Pod':
        containers = (spec.get('containers') or [])
        return {'phase': 'Running', 'podIP': '10.0.0.10', 'podIPs': [{'ip': '10.0.0.10'}], 'startTime': now,
                'conditions': [{'type': t, 'status': 'True', 'lastTransitionTime': now} for t in
                               ('PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled')],
                'containerStatuses': [{'name': c.get('name'), 'image': c.get('image', ''), 'ready': True, 'started': True,
                                       'restartCount': 0, 'state': {'running': {'startedAt': now}}} for c in containers]}
    return obj.get('status')


_TLS_CACHE = []


def _tls_material():
    """(ca_pem, cert_pem, key_pem): a throwaway CA and a server certificate for 127.0.0.1/::1/localhost (cached per process)."""
    if _TLS_CACHE:
        return _TLS_CACHE[0]
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca = make_ca('netobs-test-ca', now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'kube-apiserver')]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost'), x509.DNSName('kubernetes'),
                                                        x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                                                        x509.IPAddress(ipaddress.ip_address('::1'))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    material = (ca.public_bytes(pem), cert.public_bytes(pem),
                key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _TLS_CACHE.append(material)
    return material
