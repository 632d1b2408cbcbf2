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
"""

from __future__ import annotations

import os

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
