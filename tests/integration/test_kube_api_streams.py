# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeAPI exec and port-forward data paths against the loopback fake API server.

A real kube-apiserver hands exec and port-forward streams to the kubelet of the pod's node, and the test session runs
none: these streams are the fake's (``servers.kube_apiserver``) to play. The RBAC side of the same calls (which rules
the apiserver authorizes) runs against the real apiserver in test_drop_events_info.py.
"""

from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI

pytestmark = pytest.mark.integration


def api_for(kubeconfig, **kwargs):
    kwargs.setdefault('backoff', 0.01)
    return KubeAPI.from_kubeconfig(kubeconfig, **kwargs)


def test_port_forward_to_the_relay_behind_its_service(kube_apiserver, kubeconfig):
    """KubeAPI.resolve_service_target + port_forward carry bytes both ways to the pod behind the Service."""
    srv = kube_apiserver
    echo = socket.socket()
    echo.bind(('127.0.0.1', 0))
    echo.listen(4)

    def serve():
        conn, _peer = echo.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(b'echo:' + data)
    threading.Thread(target=serve, daemon=True).start()
    srv.apply([
        {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'hubble-relay', 'namespace': 'kube-system'},
         'spec': {'selector': {'k8s-app': 'hubble-relay'}, 'ports': [{'name': 'grpc', 'port': 80, 'targetPort': 'grpc'}]}},
        {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'hubble-relay-abc', 'namespace': 'kube-system', 'labels': {'k8s-app': 'hubble-relay'}},
         'spec': {'nodeName': 'n1', 'containers': [{'name': 'relay', 'ports': [{'name': 'grpc', 'containerPort': 4245}]}]},
         'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}},
    ])
    srv.set_port_forward('kube-system', 'hubble-relay-abc', 4245, '127.0.0.1', echo.getsockname()[1])
    api = api_for(kubeconfig)
    pod, port = api.resolve_service_target('kube-system', 'hubble-relay', 80)
    assert (pod, port) == ('hubble-relay-abc', 4245)
    with api.port_forward('kube-system', pod, port) as address:
        host, local_port = address.split(':')
        with socket.create_connection((host, int(local_port)), timeout=5) as conn:
            conn.sendall(b'ping')
            assert conn.recv(1024) == b'echo:ping'
    echo.close()
    assert {s for _m, _p, _q, s in srv.requests if s is not None} <= {200, 101}


def test_exec_streams_stdout_stderr_and_the_exit_code(kube_apiserver, kubeconfig):
    srv = kube_apiserver
    srv.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-x1', 'namespace': 'kube-system', 'labels': {'k8s-app': 'cilium'}},
               'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent'}]}, 'status': {'phase': 'Running'}})
    srv.set_exec_handler('kube-system', 'cilium-*', 'cilium-agent',
                         lambda argv: (('\n'.join(argv) + '\n').encode() * 5000, b'warn\n', 3 if argv[-1] == 'fail' else 0))
    api = api_for(kubeconfig)
    pods = api.get('/api/v1/namespaces/kube-system/pods', {'labelSelector': 'k8s-app=cilium'})
    assert [p['metadata']['name'] for p in pods['items']] == ['cilium-x1']
    result = api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['hubble', 'observe', '--since', '5m'], timeout=20)
    assert result.rc == 0 and result.stdout == b'hubble\nobserve\n--since\n5m\n' * 5000 and result.stderr == b'warn\n'
    assert api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['x', 'fail'], timeout=20).rc == 3


@pytest.mark.parametrize('kube_apiserver', [{'tls': True, 'token': 's3cr3t'}], indirect=True)
def test_exec_over_tls_with_the_kubeconfig_token(kube_apiserver, kubeconfig):
    """The WebSocket verifies the server with the kubeconfig's CA and sends its bearer token."""
    kube_apiserver.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-t', 'namespace': 'kube-system'},
                          'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent'}]}, 'status': {'phase': 'Running'}})
    kube_apiserver.set_exec_handler('kube-system', 'cilium-*', '*', lambda argv: (b'ok\n', b'', 0))
    api = KubeAPI.from_auth(kubeconfig=kubeconfig)
    assert api.exec_argv('kube-system', 'cilium-t', 'cilium-agent', ['hubble', 'version'], timeout=20) == (0, b'ok\n', b'', False)
