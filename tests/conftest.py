# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: a fresh loopback Kubernetes API server per test and a kubeconfig for it.

``kube_apiserver``  a started ``servers.kube_apiserver.KubeAPIServer`` (plain HTTP, no token); parametrize it
                    indirectly with a dict of constructor arguments, e.g.
                    ``@pytest.mark.parametrize('kube_apiserver', [{'tls': True, 'token': 't0k3n'}], indirect=True)``.
``kubeconfig``      path of a kubeconfig for that server (context ``test``, namespace ``default``).
``kube_env``        environment for child processes (kubectl, ansible-playbook): ``KUBECONFIG``, ``K8S_AUTH_KUBECONFIG``
                    and a private ``KUBECACHEDIR`` so kubectl never reuses discovery cached for another server.
``kubeconfig_env``  the same variables exported into ``os.environ`` for the duration of the test.

A real etcd + kube-apiserver (``servers.real_apiserver``, the pinned upstream release) serves the collector tests that only
need an API server:

``real_apiserver``  started once per session (per xdist worker); skipped, with the command to run, when its binaries are
                    missing and cannot be built. The startup time is printed in the terminal summary.
``real_kube``       per test: a fault-injecting proxy (``servers.fault_proxy``) in front of it, admin and restricted
                    kubeconfigs, and cleanup of everything the test created. Parametrize it indirectly with
                    ``{'tls': True}`` for a proxy that speaks HTTPS with the apiserver's certificate.
"""

from __future__ import annotations

import os
import time

import pytest


@pytest.fixture
def kube_apiserver(request):
    from servers.kube_apiserver import KubeAPIServer  # pylint: disable=import-outside-toplevel
    options = getattr(request, 'param', None) or {}
    server = KubeAPIServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    if server.errors:
        pytest.fail('the test apiserver hit a bug (answered 500):\n' + '\n'.join(server.errors), pytrace=False)


@pytest.fixture
def kubeconfig(kube_apiserver, tmp_path):
    return kube_apiserver.write_kubeconfig(tmp_path / 'kubeconfig')


@pytest.fixture
def kube_env(kubeconfig, tmp_path):
    env = dict(os.environ)
    env.update({'KUBECONFIG': str(kubeconfig), 'K8S_AUTH_KUBECONFIG': str(kubeconfig), 'KUBECACHEDIR': str(tmp_path / 'kube-cache')})
    return env


@pytest.fixture
def kubeconfig_env(kubeconfig, tmp_path, monkeypatch):
    monkeypatch.setenv('KUBECONFIG', str(kubeconfig))
    monkeypatch.setenv('K8S_AUTH_KUBECONFIG', str(kubeconfig))
    monkeypatch.setenv('KUBECACHEDIR', str(tmp_path / 'kube-cache'))
    return str(kubeconfig)


# ------------------------------------------------------------------------------------------------ the real apiserver

REAL_API_TIMINGS = []  # (what, seconds) for the terminal summary


class RealKube:
    """One test's view of the session's real apiserver: objects are written straight to it (as admin), clients go
    through ``proxy`` (faults, request log) with the kubeconfigs from ``write_kubeconfig``."""

    def __init__(self, api, proxy, directory):
        self.api = api
        self.proxy = proxy
        self.directory = directory
        self.kubeconfig = self.write_kubeconfig()

    def write_kubeconfig(self, user='admin', direct=False, token=None):
        """Kubeconfig for ``user`` (admin, test, other; any name with ``token``) through the proxy, or ``direct`` to the
        apiserver (TLS with its CA: WebSocket exec/port-forward do not pass the proxy)."""
        path = os.path.join(self.directory, 'kubeconfig-%s%s' % (user, '-direct' if direct else ''))
        return self.api.write_kubeconfig(path, user=user, server=None if direct else self.proxy.url, token=token)

    def __getattr__(self, name):
        if name in ('add_fault', 'clear_faults', 'requests', 'request_count'):
            return getattr(self.proxy, name)
        if name in ('apply', 'get', 'list', 'delete', 'grant', 'compact', 'request', 'url', 'ca_file'):
            return getattr(self.api, name)
        raise AttributeError(name)


@pytest.fixture(scope='session')
def real_apiserver(request):
    # pylint: disable=import-outside-toplevel
    from servers.real_apiserver import RealAPIServer, RealAPIServerUnavailable, find_binaries
    try:
        binaries = find_binaries()
    except RealAPIServerUnavailable as exc:
        pytest.skip('real kube-apiserver unavailable: %s' % exc)
    server = RealAPIServer(binaries=binaries)
    server.start()
    REAL_API_TIMINGS.append(('startup', server.startup_seconds, server.phases))
    try:
        yield server
    finally:
        started = time.monotonic()
        server.stop()
        REAL_API_TIMINGS.append(('stop', time.monotonic() - started, {}))
        if hasattr(request.config, 'workeroutput'):  # pytest-xdist worker: hand the timings to the controller
            request.config.workeroutput['netobs_real_api'] = list(REAL_API_TIMINGS)


@pytest.fixture
def real_kube(real_apiserver, tmp_path, request):
    from servers.fault_proxy import FaultProxy  # pylint: disable=import-outside-toplevel
    options = getattr(request, 'param', None) or {}
    proxy = FaultProxy(real_apiserver, **options).start()
    try:
        yield RealKube(real_apiserver, proxy, str(tmp_path))
    finally:
        proxy.stop()
        real_apiserver.reset()
    if proxy.errors:
        pytest.fail('the fault proxy failed:\n' + '\n'.join(proxy.errors), pytrace=False)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # pylint: disable=unused-argument
    REAL_API_TIMINGS.extend(tuple(t) for t in getattr(node, 'workeroutput', {}).get('netobs_real_api', ()))


def pytest_terminal_summary(terminalreporter):
    for what, seconds, phases in REAL_API_TIMINGS:
        detail = ', '.join('%s %.1fs' % item for item in phases.items())
        terminalreporter.write_line('real kube-apiserver %s: %.1fs%s' % (what, seconds, ' (%s)' % detail if detail else ''))
