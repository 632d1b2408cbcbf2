# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fault-injecting HTTP proxy in front of a real kube-apiserver (``servers.real_apiserver``).

Clients talk plain HTTP (or HTTPS with the apiserver's own certificate) to 127.0.0.1; every request is forwarded as it
came (its bearer token included, so RBAC sees the real user) and the response is streamed back chunk by chunk, so
watches behave as they do against the apiserver. Each request is logged; rules added with ``add_fault`` change what the
client gets for matching requests:

    proxy = FaultProxy(real_apiserver).start()
    proxy.url                                          # http://127.0.0.1:PORT
    proxy.add_fault(method='GET', path=r'regex', times=1,     # -> Fault (fault.hits)
                    status=None, retry_after=None,     # answer an apiserver-style Status (429 with Retry-After)
                    delay=0.0,                         # sleep first (alone: a slow but real response)
                    reset=False,                       # close the connection with a TCP RST, no response
                    watch_reset_after=None,            # forward the watch, cut it with an RST after N events
                    expire=False)                      # compact etcd first: the real apiserver answers 410 for old versions
    proxy.requests                                     # [Request(method, path, query, status, stream_error)]
    proxy.request_count(method=None, path=None)

``expire`` makes the 410 Gone real: two writes and an etcd compaction at the current revision before the request is
forwarded, so every resourceVersion and continue token handed out before is too old. The apiserver then answers as it
does in production: HTTP 410 ``Expired`` for a list ``continue`` token, and for a watch HTTP 200 with one in-stream
``ERROR`` event (code 410). Events have no watch cache, so their watches see the compaction at once; cached resources
only learn it within ~15 s (the watch cache polls etcd's compacted revision).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import struct
import threading
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl

import aiohttp
import orjson
from aiohttp import web

HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailers', 'transfer-encoding',
              'upgrade', 'host', 'content-length'}
REASONS = {401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 429: 'TooManyRequests',
           500: 'InternalError', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'Timeout'}
MESSAGES = {  # what kube-apiserver says for these statuses
    429: 'Too many requests, please try again later.',
    500: 'Internal error occurred: injected fault',
    503: 'the server is currently unable to handle the request',
    504: 'the server was unable to return a response in the time allotted, but may still be processing the request',
}


class Request(NamedTuple):
    """One request as the proxy saw it: ``status`` is the HTTP status (0: reset by a fault, None: no answer yet; a watch
    has its status while it streams); ``stream_error`` is the ``code`` of an in-stream watch ``ERROR`` event (the
    apiserver's way of saying 410 on a watch)."""

    method: str
    path: str
    query: dict
    status: int | None
    stream_error: int | None = None


@dataclass
class Fault:
    """What happens to the next ``times`` requests (None: every one) whose method and path+query match."""

    method: str | None
    path: re.Pattern
    times: int | None
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    reset: bool = False
    watch_reset_after: int | None = None
    expire: bool = False
    hits: int = 0

    def take(self, method, path_qs):
        if self.method not in (None, '*') and self.method != method:
            return False
        if not self.path.search(path_qs):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


def status_body(code, message, details=None):
    body = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure', 'message': message,
            'reason': REASONS.get(code, 'Unknown'), 'code': code}
    if details:
        body['details'] = details
    return body


class FaultProxy:
    """See the module docstring."""

    def __init__(self, upstream, tls=False):
        self.upstream = upstream          # a started RealAPIServer
        self.tls = tls
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.port = None
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._runner = None
        self._session = None

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.tls else 'http', self.port)

    # -- lifecycle -----------------------------------------------------------------------------------------------------------
    def start(self):
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except Exception as exc:  # pylint: disable=broad-exception-caught
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name='fault-proxy', daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start(self):
        client_ctx = ssl.create_default_context(cafile=self.upstream.ca_file)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ctx, limit=0), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), skip_auto_headers=('Accept-Encoding', 'User-Agent', 'Content-Type'))
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route('*', '/{tail:.*}', self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        server_ctx = None
        if self.tls:
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(self.upstream.pki['cert'], self.upstream.pki['key'])
        site = web.TCPSite(self._runner, '127.0.0.1', 0, ssl_context=server_ctx, backlog=256)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # pylint: disable=protected-access

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            await self._runner.cleanup()
            await self._session.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:  # pylint: disable=broad-exception-caught
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- rules and the log ---------------------------------------------------------------------------------------------------
    def add_fault(self, method='GET', path=r'.*', times=1, status=None, retry_after=None, delay=0.0, reset=False,
                  watch_reset_after=None, expire=False):
        fault = Fault(method=method, path=re.compile(path), times=times, status=status, retry_after=retry_after, delay=delay,
                      reset=reset, watch_reset_after=watch_reset_after, expire=expire)
        self.faults.append(fault)
        return fault

    def clear_faults(self):
        self.faults.clear()

    def request_count(self, method=None, path=None):
        pattern = re.compile(path) if path else None
        return sum(1 for r in list(self.requests)
                   if (method is None or r.method == method) and (pattern is None or pattern.search(r.path)))

    def _log(self, request):
        query = {}
        for key, value in parse_qsl(request.query_string, keep_blank_values=True):
            if key in query:
                query[key] = query[key] + [value] if isinstance(query[key], list) else [query[key], value]
            else:
                query[key] = value
        with self._lock:
            self.requests.append(Request(request.method, request.path, query, None))
            return len(self.requests) - 1

    def _update(self, index, **changes):
        with self._lock:
            self.requests[index] = self.requests[index]._replace(**changes)

    # -- forwarding ----------------------------------------------------------------------------------------------------------
    async def _handle(self, request):
        index = self._log(request)
        if request.method in ('POST', 'PUT', 'PATCH'):
            self.upstream.touch(request.path)   # what clients create is cleaned up after the test too
        cut_after = None
        for fault in list(self.faults):
            if not fault.take(request.method, request.path_qs):
                continue
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.expire:
                await self._loop.run_in_executor(None, self.upstream.compact)
            if fault.reset:
                self._update(index, status=0)
                return self._reset(request)
            if fault.status and fault.status >= 400:
                self._update(index, status=fault.status)
                return self._synthetic(fault)
            if fault.watch_reset_after is not None:
                cut_after = fault.watch_reset_after
            break
        try:
            return await self._forward(request, index, cut_after)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except aiohttp.ClientError as exc:  # the apiserver went away: answer like a gateway would
            self._update(index, status=502)
            return web.json_response(status_body(502, 'fault proxy: upstream failed: %s' % exc), status=502)

    @staticmethod
    def _synthetic(fault):
        headers = {}
        details = None
        if fault.status == 429:
            retry = fault.retry_after if fault.retry_after is not None else 1
            headers['Retry-After'] = str(retry)
            details = {'retryAfterSeconds': int(retry)}
        elif fault.retry_after is not None:
            headers['Retry-After'] = str(fault.retry_after)
        if fault.status == 500:
            details = {'causes': [{'message': 'injected fault'}]}
        body = status_body(fault.status, MESSAGES.get(fault.status, 'injected fault'), details)
        return web.Response(body=orjson.dumps(body), status=fault.status, content_type='application/json', headers=headers)

    @staticmethod
    def _reset(request):
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info('socket')
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                except OSError:
                    pass
            transport.abort()
        raise asyncio.CancelledError()

    async def _forward(self, request, index, cut_after):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read() if request.can_read_body else None
        watch = request.query.get('watch') in ('true', '1')
        async with self._session.request(request.method, self.upstream.url + request.path_qs, headers=headers, data=body,
                                         allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={k: v for k, v in upstream.headers.items()
                                                                           if k.lower() not in HOP_BY_HOP})
            if upstream.headers.get('Content-Length') is not None and not watch:
                response.content_length = int(upstream.headers['Content-Length'])
            await response.prepare(request)
            self._update(index, status=upstream.status)
            if not watch:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
            await self._stream_watch(request, upstream, response, index, cut_after)
            return response

    async def _stream_watch(self, request, upstream, response, index, cut_after):
        """Forward watch events as they come; note an in-stream ERROR; cut with an RST after ``cut_after`` events."""
        events = 0
        pending = b''
        stream_error = None
        try:
            async for chunk in upstream.content.iter_any():
                pending += chunk
                lines = pending.split(b'\n')
                pending = lines.pop()
                out = []
                for line in lines:
                    if not line.strip():
                        continue
                    out.append(line + b'\n')
                    events += 1
                    if line.startswith(b'{"type":"ERROR"'):
                        try:
                            stream_error = int(orjson.loads(line)['object'].get('code') or 0)
                        except (ValueError, KeyError, TypeError):
                            stream_error = -1
                        self._update(index, stream_error=stream_error)  # before the client sees it and moves on
                    if cut_after is not None and events >= cut_after:
                        break
                if out:
                    await response.write(b''.join(out))
                if cut_after is not None and events >= cut_after:
                    self._update(index, status=0, stream_error=stream_error)
                    self._reset(request)
            if pending:
                await response.write(pending)
            await response.write_eof()
        finally:
            if stream_error is not None:
                self._update(index, stream_error=stream_error)
