# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real clients (kubectl, the kubernetes Python client, kubernetes.core via ansible-playbook) against the fake apiserver.

Each test states what a client sees against a real cluster and checks it sees the same here, for what the tests still
running on the fake use (see tests/servers/README.md): selectors and paging, watch, exec/port-forward, kubernetes.core
CRUD, TLS with a bearer token. Faults, RBAC, 410 Gone, events.k8s.io and server-side apply are the real apiserver's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS = os.path.join(os.path.dirname(HERE), 'fixtures', 'kube_apiserver', 'events.json')
PLAYBOOK = os.path.join(HERE, 'playbooks', 'kube_apiserver_k8s.yml')
KUBECTL = shutil.which('kubectl')
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason='kubectl is not on PATH')


def kubectl(env, *args, stdin=None, check=True, timeout=60):
    proc = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('kubectl %s failed (%d): %s' % (' '.join(args), proc.returncode, proc.stderr))
    return proc


def load_events():
    with open(EVENTS, encoding='utf-8') as handle:
        return json.load(handle)['items']


def event(name, namespace, reason, pod='p', component='cilium', etype='Warning'):
    return {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': name, 'namespace': namespace},
            'involvedObject': {'kind': 'Pod', 'namespace': namespace, 'name': pod, 'apiVersion': 'v1'},
            'reason': reason, 'message': 'msg %s' % name, 'source': {'component': component}, 'type': etype, 'count': 1}


def pod(name, namespace, labels=None, phase='Running', node='kind-control-plane', containers=('app',)):
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': namespace, 'labels': labels or {}},
            'spec': {'nodeName': node, 'containers': [{'name': c, 'image': 'registry.example/%s:1' % c} for c in containers]},
            'status': {'phase': phase, 'podIP': '10.0.0.%d' % (len(name) + 10)}}


def api_client(kubeconfig):
    from kubernetes import config  # pylint: disable=import-outside-toplevel
    return config.new_client_from_config(config_file=str(kubeconfig))


# ---------------------------------------------------------------------------------------------------------------------
# kubectl
# ---------------------------------------------------------------------------------------------------------------------

@needs_kubectl
def test_kubectl_get_events_all_namespaces_by_reason_is_a_paged_list(kube_apiserver, kube_env):
    kube_apiserver.apply(load_events() + [event('other-%d' % i, 'ns-%d' % (i % 3), 'PacketDrop' if i % 2 else 'Pulled')
                                          for i in range(10)])
    out = kubectl(kube_env, 'get', 'events', '-A', '--field-selector', 'reason=PacketDrop', '-o', 'json', '--chunk-size=4').stdout
    doc = json.loads(out)
    assert doc['kind'] == 'List' and doc['apiVersion'] == 'v1'
    names = [(i['metadata']['namespace'], i['metadata']['name']) for i in doc['items']]
    assert len(names) == 6 + 5
    assert {i['reason'] for i in doc['items']} == {'PacketDrop'}
    assert names == sorted(names, key=lambda n: '%s/%s' % n)          # etcd key order
    assert ('payments', 'payments-api-5f6b9c7d8-r4k2j.1844854c4cacd940') in names
    fixture = next(i for i in doc['items'] if i['metadata']['name'] == 'netshot.1844854550892d40')
    assert fixture['message'].startswith('Outgoing packet dropped (policy_denied)') and fixture['count'] == 7
    pages = [q for m, p, q, s in kube_apiserver.requests if p == '/api/v1/events' and m == 'GET']
    assert len(pages) == 3 and 'continue' not in pages[0] and all('continue' in q for q in pages[1:])
    assert all(q['fieldSelector'] == 'reason=PacketDrop' and q['limit'] == '4' for q in pages)


@needs_kubectl
def test_kubectl_label_and_field_selectors(kube_apiserver, kube_env):
    kube_apiserver.apply([pod('nginx-1', 'x', {'app': 'nginx', 'tier': 'web'}), pod('nginx-2', 'x', {'app': 'nginx'}, phase='Pending'),
                          pod('db-1', 'x', {'app': 'db', 'tier': 'db'}), pod('nginx-9', 'y', {'app': 'nginx'})])
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-n', 'x', '-l', 'app=nginx', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-1', 'nginx-2']
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-A', '-l', 'app in (nginx,db),tier,tier!=db', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-1']
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-A', '-l', '!tier', '--field-selector', 'status.phase=Running', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-9']
    bad = kubectl(kube_env, 'get', 'pods', '--field-selector', 'spec.bogus=1', check=False)
    assert bad.returncode == 1 and 'field label not supported: spec.bogus' in bad.stderr
    none = kubectl(kube_env, 'get', 'pods', '-n', 'empty-ns')
    assert 'No resources found in empty-ns namespace.' in none.stderr


@needs_kubectl
def test_kubectl_exec_streams_exit_codes_and_apiserver_errors(kube_apiserver, kube_env):
    kube_apiserver.apply([pod('cilium-x1', 'kube-system', {'k8s-app': 'cilium'}, containers=('cilium-agent', 'config')),
                          pod('cilium-pending', 'kube-system', phase='Pending', containers=('cilium-agent',)),
                          pod('unscheduled', 'kube-system', phase='Pending', node='', containers=('cilium-agent',))])
    seen = []

    def handler(argv):
        seen.append(argv)
        if argv[:2] == ['cilium-dbg', 'status']:
            return b'KVStore: Ok\nCilium: Ok   1.17.4\n', b'', 0
        return b'', b'unknown command\n', 2

    kube_apiserver.set_exec_handler('kube-system', 'cilium-*', 'cilium-agent', handler)
    ok = kubectl(kube_env, 'exec', '-n', 'kube-system', 'cilium-x1', '-c', 'cilium-agent', '--', 'cilium-dbg', 'status', '--brief')
    assert ok.stdout == 'KVStore: Ok\nCilium: Ok   1.17.4\n' and ok.stderr == ''
    assert seen == [['cilium-dbg', 'status', '--brief']]
    bad = kubectl(kube_env, 'exec', '-n', 'kube-system', 'cilium-x1', '-c', 'cilium-agent', '--', 'cilium-dbg', 'nope', check=False)
    assert bad.returncode == 2 and bad.stderr == 'unknown command\ncommand terminated with exit code 2\n'
    wrong = kubectl(kube_env, 'exec', '-n', 'kube-system', 'cilium-x1', '-c', 'agent', '--', 'ls', check=False)
    assert wrong.returncode == 1 and wrong.stderr.strip() == 'Error from server (BadRequest): container agent is not valid for pod cilium-x1'
    pending = kubectl(kube_env, 'exec', '-n', 'kube-system', 'cilium-pending', '--', 'ls', check=False)
    assert pending.returncode == 1 and 'unable to upgrade connection: container not found ("cilium-agent")' in pending.stderr
    nohost = kubectl(kube_env, 'exec', '-n', 'kube-system', 'unscheduled', '--', 'ls', check=False)
    assert 'pod unscheduled does not have a host assigned' in nohost.stderr
    missing = kubectl(kube_env, 'exec', '-n', 'kube-system', 'gone', '--', 'ls', check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "gone" not found'
    ws = [r for r in kube_apiserver.requests if r[1].endswith('/exec') and r[3] == 101]
    assert ws and ws[0][2]['command'] == ['cilium-dbg', 'status', '--brief'] and ws[0][2]['container'] == 'cilium-agent'


@needs_kubectl
def test_kubectl_watch_only_sees_only_new_matching_events(kube_apiserver, kube_env):
    kube_apiserver.apply(event('before', 'default', 'PacketDrop'))
    proc = subprocess.Popen([KUBECTL, 'get', 'events', '-A', '--watch-only', '--field-selector', 'reason=PacketDrop', '-o', 'name',
                             '--request-timeout=3s'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kube_env)
    try:
        deadline = time.monotonic() + 10
        while not any(q.get('watch') == 'true' for _m, _p, q, _s in list(kube_apiserver.requests)):
            assert time.monotonic() < deadline, 'kubectl never started watching'
            time.sleep(0.02)
        kube_apiserver.apply([event('noise', 'default', 'Pulled'), event('drop-1', 'kube-system', 'PacketDrop')])
        kube_apiserver.apply(dict(event('before', 'default', 'Created')))       # leaves the selection -> DELETED, not printed by -o name
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines() == ['event/drop-1', 'event/before']


# ---------------------------------------------------------------------------------------------------------------------
# kubernetes Python client
# ---------------------------------------------------------------------------------------------------------------------

def test_python_client_pages_events_with_field_selector_limit_and_continue(kube_apiserver, kubeconfig):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    kube_apiserver.apply([event('e-%03d' % i, 'ns-%d' % (i % 4), 'PacketDrop' if i % 3 == 0 else 'Pulled') for i in range(120)])
    v1 = client.CoreV1Api(api_client(kubeconfig))
    names, token, pages = [], None, 0
    while True:
        page = v1.list_event_for_all_namespaces(field_selector='reason=PacketDrop', limit=7, _continue=token)
        pages += 1
        names += [e.metadata.name for e in page.items]
        assert page.metadata.resource_version
        token = page.metadata._continue  # pylint: disable=protected-access
        if not token:
            break
    assert len(names) == 40 and len(set(names)) == 40 and pages == 6
    assert all(int(n.split('-')[1]) % 3 == 0 for n in names)
    unfiltered = v1.list_namespaced_event('ns-1', limit=5)
    assert unfiltered.metadata.remaining_item_count == 25        # only without selectors, like the apiserver
    with pytest.raises(client.ApiException) as err:
        v1.list_event_for_all_namespaces(field_selector='involvedObject.color=red')
    assert err.value.status == 400 and json.loads(err.value.body)['message'] == 'field label not supported: involvedObject.color'


def test_python_client_watch_resumes_from_a_resource_version(kube_apiserver, kubeconfig):
    from kubernetes import client, watch  # pylint: disable=import-outside-toplevel
    v1 = client.CoreV1Api(api_client(kubeconfig))
    kube_apiserver.apply([event('a', 'w', 'PacketDrop'), event('b', 'w', 'Pulled')])
    listed = v1.list_namespaced_event('w')
    rv = listed.metadata.resource_version

    def later():
        time.sleep(0.2)
        kube_apiserver.apply([event('c', 'w', 'PacketDrop'), event('d', 'other', 'PacketDrop')])
        kube_apiserver.delete('v1', 'Event', 'w', 'a')

    threading.Thread(target=later, daemon=True).start()
    seen = [(e['type'], e['object'].metadata.name) for e in
            watch.Watch().stream(v1.list_namespaced_event, 'w', resource_version=rv, field_selector='reason=PacketDrop', timeout_seconds=1)]
    assert seen == [('ADDED', 'c'), ('DELETED', 'a')]
    relist = v1.list_namespaced_event('w')
    assert sorted(e.metadata.name for e in relist.items) == ['b', 'c']
    fresh = [(e['type'], e['object'].metadata.name) for e in
             watch.Watch().stream(v1.list_namespaced_event, 'w', resource_version=relist.metadata.resource_version, timeout_seconds=1)]
    assert not fresh
    # no resourceVersion: synthetic ADDED for the current state first
    initial = [(e['type'], e['object'].metadata.name) for e in watch.Watch().stream(v1.list_namespaced_event, 'w', timeout_seconds=1)]
    assert initial == [('ADDED', 'b'), ('ADDED', 'c')]


def test_python_client_exec_stream_and_portforward(kube_apiserver, kubeconfig):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    from kubernetes.stream import portforward, stream  # pylint: disable=import-outside-toplevel
    kube_apiserver.apply(pod('hubble-relay-0', 'kube-system', containers=('hubble-relay',)))
    kube_apiserver.set_exec_handler('kube-system', 'hubble-relay-*', None,
                                    lambda argv: (b'flows\n' * 3, b'note\n', 0 if argv == ['hubble', 'observe'] else 7))
    v1 = client.CoreV1Api(api_client(kubeconfig))
    resp = stream(v1.connect_get_namespaced_pod_exec, 'hubble-relay-0', 'kube-system', command=['hubble', 'observe'],
                  stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=5)
    assert resp.subprotocol == 'v5.channel.k8s.io'
    assert resp.read_stdout() == 'flows\n' * 3 and resp.read_stderr() == 'note\n' and resp.returncode == 0
    resp = stream(v1.connect_get_namespaced_pod_exec, 'hubble-relay-0', 'kube-system', command=['false'],
                  stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=5)
    assert resp.returncode == 7

    # a loopback echo server stands in for the pod's port
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def echo():
        conn, _addr = listener.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(b'echo:' + data)
    threading.Thread(target=echo, daemon=True).start()
    kube_apiserver.set_port_forward('kube-system', 'hubble-relay-0', 4245, '127.0.0.1', listener.getsockname()[1])
    pf = portforward(v1.connect_get_namespaced_pod_portforward, 'hubble-relay-0', 'kube-system', ports='4245')
    sock = pf.socket(4245)
    sock.settimeout(5)
    sock.sendall(b'ping')
    assert sock.recv(1024) == b'echo:ping'
    sock.close()
    listener.close()
    assert pf.error(4245) is None
    # nothing listening behind the port: the kubelet's error arrives on the error channel
    pf = portforward(v1.connect_get_namespaced_pod_portforward, 'hubble-relay-0', 'kube-system', ports='9999')
    deadline = time.monotonic() + 5
    while pf.error(9999) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 'error forwarding port 9999' in (pf.error(9999) or '')
    pf.close()


# ---------------------------------------------------------------------------------------------------------------------
# kubernetes.core through ansible-playbook
# ---------------------------------------------------------------------------------------------------------------------

def test_kubernetes_core_k8s_and_k8s_info_through_ansible_playbook(kube_apiserver, kube_env, tmp_path):
    kube_apiserver.set_auto_status('apps/v1', 'Deployment')          # plays the deployment controller
    kube_apiserver.set_exec_handler('kube-system', 'cilium-*', 'cilium-agent',
                                    lambda argv: (b'OK\n', b'', 0) if argv == ['cilium-dbg', 'status', '--brief'] else (b'', b'?', 1))
    kube_apiserver.apply([pod('cilium-a', 'kube-system', {'k8s-app': 'cilium'}, containers=('cilium-agent',)),
                          pod('cilium-b', 'kube-system', {'k8s-app': 'cilium'}, phase='Pending'),
                          pod('coredns-1', 'kube-system', {'k8s-app': 'kube-dns'})] + load_events())
    env = dict(kube_env, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), ANSIBLE_HOME=str(tmp_path / 'ansible-home'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), PLAYBOOK, '-i', 'localhost,',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert 'failed=0' in proc.stdout
    dep = kube_apiserver.get('apps/v1', 'Deployment', 'demo', 'web')
    assert dep['spec']['replicas'] == 2 and dep['status']['availableReplicas'] == 2
    cm = kube_apiserver.get('v1', 'ConfigMap', 'demo', 'settings')
    assert cm['data'] == {'mode': 'strict', 'level': 'debug'}
    assert kube_apiserver.get('v1', 'ConfigMap', 'demo', 'applied')['metadata']['annotations'][
        'kubectl.kubernetes.io/last-applied-configuration']
    methods = [m for m, p, _q, _s in kube_apiserver.requests if '/namespaces/demo/' in p and m in ('POST', 'PATCH', 'PUT')]
    assert methods.count("POST") == 3              # configmap, deployment, applied configmap: each created once; re-runs change nothing


# ---------------------------------------------------------------------------------------------------------------------
# TLS and a bearer token (what test_kube_api_streams.py runs exec over)
# ---------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('kube_apiserver', [{'tls': True, 'token': 's3cr3t-token'}], indirect=True)
def test_tls_with_a_verified_ca_and_bearer_token(kube_apiserver, kubeconfig, kube_env, tmp_path):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    assert kube_apiserver.url.startswith('https://127.0.0.1:')
    v1 = client.CoreV1Api(api_client(kubeconfig))
    assert [n.metadata.name for n in v1.list_namespace().items][:1] == ['default']
    if KUBECTL:
        assert kubectl(kube_env, 'get', 'ns', 'default', '-o', 'name').stdout == 'namespace/default\n'
    # wrong token -> 401 Status
    bad = client.Configuration()
    bad.host = kube_apiserver.url
    bad.ssl_ca_cert = kube_apiserver.ca_file
    bad.api_key = {'authorization': 'Bearer wrong'}
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(client.ApiClient(bad)).list_namespace()
    assert err.value.status == 401 and json.loads(err.value.body)['reason'] == 'Unauthorized'
    # no CA -> certificate verification fails, as against any cluster with a private CA
    noca = tmp_path / 'noca.yaml'
    noca.write_text(open(kubeconfig, encoding='utf-8').read().replace('certificate-authority-data', 'x-unused'), encoding='utf-8')
    with pytest.raises(Exception) as err:                       # urllib3 MaxRetryError(SSLError)
        client.CoreV1Api(config.new_client_from_config(config_file=str(noca))).list_namespace()
    assert 'CERTIFICATE_VERIFY_FAILED' in str(err.value)
    if KUBECTL:
        unauth = kubectl(dict(kube_env, KUBECONFIG=str(noca)), 'get', 'ns', check=False)
        assert unauth.returncode == 1 and 'x509: certificate signed by unknown authority' in unauth.stderr
        notoken = tmp_path / 'notoken.yaml'
        notoken.write_text(open(kubeconfig, encoding='utf-8').read().replace('s3cr3t-token', 'nope'), encoding='utf-8')
        denied = kubectl(dict(kube_env, KUBECONFIG=str(notoken)), 'get', 'ns', check=False)
        assert denied.returncode == 1 and 'error: You must be logged in to the server (Unauthorized)' in denied.stderr
