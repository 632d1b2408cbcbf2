# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API errors, importable without the kubernetes/urllib3 packages (``k8s.client`` re-exports them).

A module can ``except KubeAPIError`` (or ``NetobsError``) even where the client libraries are missing.
"""

from __future__ import annotations

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError, redact_userinfo

__all__ = ('KubeAPIConnectionError', 'KubeAPIError', 'KubeAPITimeout', 'ResourceVersionTooOld', 'redact_userinfo')


class KubeAPIError(NetobsError):
    """A Kubernetes API call failed; ``str(err)`` is a message fit for ``fail_json``.

    Attributes: ``status`` (HTTP status, 0 for transport errors), ``reason`` (Status reason or
    exception name), ``method``, ``path``, ``status_obj`` (the Status dict returned by the API,
    if any), ``rbac`` (dict verb/resource/group/namespace for 403 errors).
    """

    def __init__(self, message, status=0, reason='', method=None, path=None, status_obj=None, rbac=None):
        message = redact_userinfo(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.method = method
        self.path = path
        self.status_obj = status_obj or {}
        self.rbac = rbac

    def failure(self, api=None, prefix=''):
        """Keyword arguments for ``module.fail_json``: the message, HTTP status and reason, the missing RBAC
        permission (on 403) and the number of API requests made so far (when ``api`` is given)."""
        result = {'msg': prefix + str(self), 'status': self.status, 'reason': self.reason}
        if self.rbac:
            result['missing_permission'] = self.rbac
        if api is not None:
            result['api_requests'] = api.request_count
        return result


class ResourceVersionTooOld(KubeAPIError):
    """HTTP 410 Gone: the resourceVersion (or continue token) has been compacted away; relist."""


class KubeAPIConnectionError(KubeAPIError):
    """The API server could not be reached or the connection broke (after retries)."""


class KubeAPITimeout(KubeAPIError):
    """The caller's overall time budget (``KubeAPI.deadline``) ran out before the request could complete."""
