# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A 127.0.0.1 listener that connects every accepted connection to an upstream and pumps bytes both ways.

Two transports need one: the Kubernetes port-forward (``kube_api``: each connection gets its own
port-forward WebSocket) and the unverified TLS pipe of the Hubble Relay client (``hubble_relay``: gRPC
Python cannot skip certificate verification, so it talks plaintext to the pipe and the pipe talks TLS).
Subclasses say how to open an upstream, which pumps to run and how to close it; this class owns the
listener, the accept loop, the threads and the shutdown.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class LoopbackRelay:
    """Listener on an ephemeral loopback port; ``address`` is ``"127.0.0.1:<port>"`` once started."""

    thread_name = 'netobs-loopback-relay'

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.listener: socket.socket | None = None
        self.address: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: list[tuple] = []
        self._threads: list[threading.Thread] = []

    # -- what subclasses provide ------------------------------------------------------------------------
    def open_upstream(self, conn: socket.socket):
        """Return the upstream for an accepted connection, or ``None`` after recording why in ``errors``."""
        raise NotImplementedError

    def pumps(self, conn: socket.socket, upstream) -> tuple:
        """Callables ``f(conn, upstream)`` that move bytes (one per direction); each ends by closing the pair."""
        raise NotImplementedError

    def close_upstream(self, upstream) -> None:
        """Close an upstream (errors are ignored by the caller)."""
        raise NotImplementedError

    # -- the listener -----------------------------------------------------------------------------------
    def start(self, backlog: int = 16) -> str:
        """Bind, listen and start accepting; return the address."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', 0))
        listener.listen(backlog)
        listener.settimeout(0.2)  # the accept loop notices stop() within this time
        self.listener = listener
        self.address = '127.0.0.1:%d' % listener.getsockname()[1]
        self._spawn(self._accept_loop, ())
        return self.address

    def _spawn(self, target, args) -> None:
        thread = threading.Thread(target=target, args=args, name=self.thread_name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = self.open_upstream(conn)
            if upstream is None:
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            with self._lock:
                self._open.append((conn, upstream))
            for pump in self.pumps(conn, upstream):
                self._spawn(pump, (conn, upstream))

    @property
    def stopping(self) -> bool:
        """True once stop() was called (pumps end their loops)."""
        return self._stop.is_set()

    def close_pair(self, conn: socket.socket, upstream) -> None:
        """Close both sides of one relayed connection."""
        with contextlib.suppress(Exception):
            conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            conn.close()
        with contextlib.suppress(Exception):
            self.close_upstream(upstream)

    def stop(self) -> None:
        """Stop accepting, close every relayed connection and wait briefly for the threads."""
        self._stop.set()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
        with self._lock:
            pairs, self._open = self._open, []
        for conn, upstream in pairs:
            self.close_pair(conn, upstream)
        for thread in self._threads:
            thread.join(timeout=2)
