# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of every netobs.cilium module: requirements, the Kubernetes client, exceptions -> clean ``fail_json``.

In the spirit of kubernetes.core's ``AnsibleK8SModule``. A module builds a :class:`NetobsModule` (an ``AnsibleModule``
with ``supports_check_mode`` on by default) and hands its body to :meth:`NetobsModule.run`:

* :meth:`NetobsModule.require` fails with Ansible's ``missing_required_lib`` message when a Python package is missing;
* :meth:`NetobsModule.kube_api` builds the collection's Kubernetes client from kubernetes.core's auth options and
  ``K8S_AUTH_*`` variables (exactly what ``kubernetes.core.k8s`` reads; nothing else) and remembers it, so API request
  counts reach the result of a failure too;
* :meth:`NetobsModule.run` turns exceptions into ``fail_json``: the collection's own errors (the module names them,
  Kubernetes API errors always count) give their message and no traceback; anything else gives
  ``unexpected error while <what>: <Type>: <message>`` with the traceback in ``exception`` - never "MODULE FAILURE".

Only ``plugins/modules`` import this package (the layering test checks it).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netobs.cilium.plugins.module_utils.k8s.errors import KubeAPIError

# A handler turns one of the collection's exceptions into the keyword arguments of fail_json (or just the message).
Handler = Callable[[BaseException], 'dict | str']


class NetobsModule(AnsibleModule):
    """``AnsibleModule`` plus the plumbing every netobs.cilium module shares.

    ``doing`` names the work for messages about unexpected errors (V(collecting Hubble flows)); ``kube_error_prefix``
    is put before the message of a Kubernetes API error (V(cannot detect the CNI: )).
    """

    def __init__(self, argument_spec: dict, *, doing: str = 'running the module', kube_error_prefix: str = '',
                 supports_check_mode: bool = True, **kwargs) -> None:
        super().__init__(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
        self.doing = doing
        self.kube_error_prefix = kube_error_prefix
        self.api = None

    # -- requirements ------------------------------------------------------------------------------------------
    def require(self, library: str, available: bool, error: object = None, reason: str | None = None) -> None:
        """Fail with Ansible's standard message when ``library`` is not ``available``; ``error`` is the import error."""
        if not available:
            self.fail_json(msg=missing_required_lib(library, reason=reason),
                           exception=None if error is None else (error if isinstance(error, str) else repr(error)))

    def require_kubernetes(self):
        """The collection's Kubernetes client module, after checking the ``kubernetes`` package is installed.

        Imported here, not at the top: it takes ~0.4 s and offline runs do not need it."""
        from ansible_collections.netobs.cilium.plugins.module_utils.k8s import client as kube_client
        self.require('kubernetes', kube_client.HAS_KUBERNETES, kube_client.KUBERNETES_IMPORT_ERROR)
        return kube_client

    # -- the Kubernetes client ---------------------------------------------------------------------------------
    def kube_api(self, error_prefix: str | None = None):
        """A ``KubeAPI`` from the kubernetes.core auth options (``kubeconfig``, ``context``, ``host``, ``api_key``, ...)
        and ``K8S_AUTH_*``; the same client on every call. A configuration error fails the task with ``error_prefix``
        (default: ``kube_error_prefix``) before the message."""
        if self.api is None:
            kube_client = self.require_kubernetes()
            try:
                self.api = kube_client.KubeAPI.from_module(self)
            except kube_client.KubeAPIError as exc:
                prefix = self.kube_error_prefix if error_prefix is None else error_prefix
                self._fail_cleanly(exc.failure(prefix=prefix))
        return self.api

    # -- exceptions -> fail_json ---------------------------------------------------------------------------------
    def _kube_failure(self, exc: BaseException) -> dict | None:
        if isinstance(exc, KubeAPIError):
            return exc.failure(self.api, prefix=self.kube_error_prefix)
        return None

    def _fail_cleanly(self, failure: dict) -> None:
        """fail_json for a user error: an empty ``exception`` keeps Ansible from attaching the pending traceback
        even when tracebacks are captured (ANSIBLE_DISPLAY_TRACEBACK, -vvv)."""
        failure = dict(failure)
        failure.setdefault('exception', '')
        self.fail_json(**failure)

    def fail_from_exception(self, exc: BaseException, handlers: Iterable[tuple[type | tuple, Handler]] = ()) -> None:
        """``fail_json`` for ``exc``: the first handler whose class matches, then Kubernetes API errors, then the
        unexpected-error message with the exception type and the traceback in ``exception``."""
        for classes, handler in handlers:
            if isinstance(exc, classes):
                failure = handler(exc)
                self._fail_cleanly({'msg': failure} if isinstance(failure, str) else failure)
        failure = self._kube_failure(exc)
        if failure is not None:
            self._fail_cleanly(failure)
        self.fail_json(msg='unexpected error while %s: %s: %s' % (self.doing, type(exc).__name__, exc),
                       exception=''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def run(self, body: Callable[[], object], *handlers: tuple[type | tuple, Handler]) -> None:
        """Call ``body``; an exception fails the task cleanly (see :meth:`fail_from_exception`).

        ``handlers`` are ``(exception class or classes, function)`` pairs for the collection's own errors; the function
        returns the message or the keyword arguments of ``fail_json``. ``body`` ends with ``exit_json`` or
        ``fail_json`` (they exit); a body that returns a dict has it passed to ``exit_json``."""
        try:
            result = body()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.fail_from_exception(exc, handlers)
        else:
            if isinstance(result, dict):
                self.exit_json(**result)


def message(prefix: str = '') -> Handler:
    """A handler whose message is ``prefix`` + the exception's text (the common case)."""
    return lambda exc: prefix + str(exc)
