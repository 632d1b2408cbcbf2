# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod ``exec`` and ``portforward`` (WebSocket) for the Kubernetes API test server.

exec: WebSocket with the ``v5.channel.k8s.io`` / ``v4.channel.k8s.io`` (and older ``channel.k8s.io``) subprotocols;
every binary frame starts with the channel byte: 0 stdin, 1 stdout, 2 stderr, 3 status (a ``Status`` JSON object for
v4+), 4 resize, 255 close signal (v5). Results come from handlers registered with ``set_exec_handler``.

portforward: WebSocket ``v4.channel.k8s.io`` (or no subprotocol) as the kubelet serves it: for the i-th requested port,
channel 2i carries data and 2i+1 errors, and the first frame on each channel is the port as 2 little-endian bytes.
Each WebSocket carries one TCP connection per port, proxied to the loopback target of ``set_port_forward``.
SPDY upgrades (``kubectl port-forward``'s fallback, the pre-1.30 protocol) are refused with 400 BadRequest.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect

import orjson
from aiohttp import WSMsgType, web

from servers.kube_store import ApiError

EXEC_PROTOCOLS = ('v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io')
PORTFORWARD_PROTOCOLS = ('v4.channel.k8s.io', 'channel.k8s.io')
CLOSE_SIGNAL = 255
FRAME = 32 * 1024


def _offered(request):
    header = request.headers.get('Sec-WebSocket-Protocol', '')
    return [p.strip() for p in header.split(',') if p.strip()]


def _is_websocket(request):
    return request.headers.get('Upgrade', '').lower() == 'websocket'


def _refuse_non_websocket(request, what):
    if request.headers.get('Upgrade'):
        raise ApiError(400, 'BadRequest', 'the test server only serves %s over WebSocket, not %s upgrades' % (what, request.headers['Upgrade']))
    raise ApiError(400, 'BadRequest', 'Upgrade request required')


def pick_container(pod, container, name):
    """Container name the request is for, with the apiserver's errors."""
    spec = pod.get('spec') or {}
    names = [c.get('name') for c in spec.get('containers') or []]
    init = [c.get('name') for c in spec.get('initContainers') or []]
    ephemeral = [c.get('name') for c in spec.get('ephemeralContainers') or []]
    if not container:
        if len(names) == 1:
            return names[0]
        msg = 'a container name must be specified for pod %s, choose one of: [%s]' % (name, ' '.join(names))
        if init:
            msg += ' or one of the init containers: [%s]' % ' '.join(init)
        raise ApiError(400, 'BadRequest', msg)
    if container not in names + init + ephemeral:
        raise ApiError(400, 'BadRequest', 'container %s is not valid for pod %s' % (container, name))
    return container


def _check_running(pod, name, container):
    """The errors a real cluster gives before the stream starts; returns an (http status, text) kubelet error or None."""
    if not (pod.get('spec') or {}).get('nodeName'):
        raise ApiError(400, 'BadRequest', 'pod %s does not have a host assigned' % name)
    phase = (pod.get('status') or {}).get('phase')
    if phase != 'Running':
        return 500, 'container not found ("%s")' % container
    return None


def _status_success():
    return {'metadata': {}, 'status': 'Success'}


def _status_exit(code, argv):
    return {'metadata': {}, 'status': 'Failure',
            'message': 'command terminated with non-zero exit code: error executing command %s, exit code %d'
                       % ('[' + ' '.join(argv) + ']', code),
            'reason': 'NonZeroExitCode', 'details': {'causes': [{'reason': 'ExitCode', 'message': str(code)}]}}


def _status_internal(message):
    return {'metadata': {}, 'status': 'Failure', 'message': 'Internal error occurred: %s' % message, 'reason': 'InternalError',
            'details': {'causes': [{'message': message}]}, 'code': 500}


def _handler_wants_stdin(handler):
    try:
        params = [p for p in inspect.signature(handler).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


async def serve_exec(server, request, pod, namespace, name):
    query = request.query
    argv = query.getall('command', [])
    if not argv:
        raise ApiError(400, 'BadRequest', 'you must specify at least 1 command')
    container = pick_container(pod, query.get('container'), name)
    kubelet_error = _check_running(pod, name, container)
    if kubelet_error:
        return web.Response(status=kubelet_error[0], text=kubelet_error[1], content_type='text/plain')
    if not _is_websocket(request):
        _refuse_non_websocket(request, 'exec')
    offered = _offered(request)
    chosen = next((p for p in offered if p in EXEC_PROTOCOLS), None)
    if offered and chosen is None:
        raise ApiError(400, 'BadRequest', 'requested protocol(s) are not supported: %s; supports %s' % (offered, list(EXEC_PROTOCOLS)))
    want = {k: query.get(k, '').lower() in ('1', 'true') for k in ('stdin', 'stdout', 'stderr', 'tty')}
    ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, compress=False, autoclose=False)
    await ws.prepare(request)
    handler = server.find_exec_handler(namespace, name, container)
    stdin = b''
    if want['stdin'] and handler is not None and _handler_wants_stdin(handler):
        chunks = []
        while True:
            msg = await ws.receive()
            if msg.type != WSMsgType.BINARY or not msg.data:
                break
            channel, payload = msg.data[0], msg.data[1:]
            if channel == 0:
                chunks.append(payload)
            elif channel == CLOSE_SIGNAL and payload[:1] == b'\x00':
                break
        stdin = b''.join(chunks)
    loop = asyncio.get_running_loop()
    if handler is None:
        status = _status_internal('error executing command in container: failed to exec in container: failed to start exec: '
                                  'OCI runtime exec failed: exec failed: unable to start container process: exec: "%s": '
                                  'executable file not found in $PATH: unknown' % argv[0])
        out, err = b'', b''
    else:
        args = (list(argv), stdin) if _handler_wants_stdin(handler) else (list(argv),)
        try:
            out, err, code = await loop.run_in_executor(None, lambda: handler(*args))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            out, err, code = b'', b'', None
            status = _status_internal('test exec handler raised %r' % (exc,))
        else:
            status = _status_success() if code == 0 else _status_exit(int(code), argv)
    out = out.encode() if isinstance(out, str) else (out or b'')
    err = err.encode() if isinstance(err, str) else (err or b'')
    try:
        for channel, data, wanted in ((1, out, want['stdout']), (2, err, want['stderr'] and not want['tty'])):
            if wanted:
                for start in range(0, len(data), FRAME):
                    await ws.send_bytes(bytes((channel,)) + data[start:start + FRAME])
        if ws.ws_protocol in ('v4.channel.k8s.io', 'v5.channel.k8s.io'):
            await ws.send_bytes(b'\x03' + orjson.dumps(status))
        elif status['status'] != 'Success':
            await ws.send_bytes(b'\x03' + status['message'].encode())
        await ws.close()
    except (ConnectionError, RuntimeError):
        pass
    return ws


async def serve_portforward(server, request, pod, namespace, name):
    ports = []
    for value in request.query.getall('ports', []):
        for part in value.split(','):
            try:
                ports.append(int(part))
            except ValueError as exc:
                raise ApiError(400, 'BadRequest', 'invalid port %r' % part) from exc
    if not _is_websocket(request):
        _refuse_non_websocket(request, 'portforward')
    if not ports:
        raise ApiError(400, 'BadRequest', 'query parameter "port" is required')
    if not (pod.get('spec') or {}).get('nodeName'):
        raise ApiError(400, 'BadRequest', 'pod %s does not have a host assigned' % name)
    offered = _offered(request)
    if offered and not any(p in PORTFORWARD_PROTOCOLS for p in offered):
        raise ApiError(400, 'BadRequest', 'requested protocol(s) are not supported: %s; supports %s' % (offered, list(PORTFORWARD_PROTOCOLS)))
    ws = web.WebSocketResponse(protocols=PORTFORWARD_PROTOCOLS, compress=False, autoclose=False)
    await ws.prepare(request)
    uid = (pod.get('metadata') or {}).get('uid', '')
    writers = {}
    tasks = []
    lock = asyncio.Lock()

    async def send(data):
        async with lock:
            if not ws.closed:
                await ws.send_bytes(data)

    for index, port in enumerate(ports):
        prefix = port.to_bytes(2, 'little')
        await send(bytes((2 * index,)) + prefix)
        await send(bytes((2 * index + 1,)) + prefix)
    for index, port in enumerate(ports):
        target = server.find_port_forward(namespace, name, port)
        try:
            if target is None:
                raise ConnectionRefusedError('connect: connection refused')
            reader, writer = await asyncio.open_connection(*target)
        except OSError as exc:
            await send(bytes((2 * index + 1,)) + (
                'an error occurred forwarding %d -> %d: error forwarding port %d to pod %s, uid : failed to connect to localhost:%d '
                'inside namespace "%s": %s' % (port, port, port, uid, port, namespace, exc)).encode())
            continue
        writers[index] = writer

        async def pump(index=index, reader=reader):
            try:
                while True:
                    data = await reader.read(FRAME)
                    if not data:
                        break
                    await send(bytes((2 * index,)) + data)
            except (ConnectionError, RuntimeError):
                pass
        tasks.append(asyncio.ensure_future(pump()))

    async def from_client():
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel = msg.data[0]
            writer = writers.get(channel // 2)
            if writer is not None and channel % 2 == 0 and len(msg.data) > 1:
                writer.write(msg.data[1:])
                await writer.drain()

    client_task = asyncio.ensure_future(from_client())
    try:
        if tasks:
            await asyncio.wait(tasks + [client_task], return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.wait([client_task], timeout=1.0)
    finally:
        for writer in writers.values():
            writer.close()
        for task in tasks + [client_task]:
            task.cancel()
        await ws.close()
    return ws


def find_glob(table, namespace, pod, container=None):
    """Most recent registration matching (namespace, pod glob[, container])."""
    for entry in reversed(table):
        ns, pod_glob, cont = entry[0], entry[1], entry[2]
        if ns not in (None, '*', namespace) or not fnmatch.fnmatchcase(pod, pod_glob):
            continue
        if container is not None and cont not in (None, '*', container):
            continue
        return entry
    return None
