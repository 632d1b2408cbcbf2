# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real clients (kubectl 1.32, the kubernetes Python client, kubernetes.core via ansible-playbook) against the test apiserver.

Each test states what a client sees against a real cluster and checks it sees the same here.
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
def test_kubectl_label_selectors_and_table_output(kube_apiserver, kube_env):
    kube_apiserver.apply([pod('nginx-1', 'x', {'app': 'nginx', 'tier': 'web'}), pod('nginx-2', 'x', {'app': 'nginx'}, phase='Pending'),
                          pod('db-1', 'x', {'app': 'db', 'tier': 'db'}), pod('nginx-9', 'y', {'app': 'nginx'})])
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-n', 'x', '-l', 'app=nginx', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-1', 'nginx-2']
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-A', '-l', 'app in (nginx,db),tier,tier!=db', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-1']
    doc = json.loads(kubectl(kube_env, 'get', 'pods', '-A', '-l', '!tier', '--field-selector', 'status.phase=Running', '-o', 'json').stdout)
    assert [p['metadata']['name'] for p in doc['items']] == ['nginx-9']
    table = kubectl(kube_env, 'get', 'pods', '-n', 'x', '-o', 'wide').stdout.splitlines()
    assert table[0].split()[:5] == ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'] and 'NODE' in table[0]
    assert table[1].split()[0:3] == ['db-1', '0/1', 'Running'] and 'kind-control-plane' in table[1]
    kubectl(kube_env, 'create', 'namespace', 'team-a')
    rows = [line.split() for line in kubectl(kube_env, 'get', 'ns').stdout.splitlines()]
    assert rows[0] == ['NAME', 'STATUS', 'AGE']
    assert {r[0] for r in rows[1:]} == {'default', 'kube-node-lease', 'kube-public', 'kube-system', 'team-a', 'x', 'y'}
    assert all(r[1] == 'Active' for r in rows[1:])
    bad = kubectl(kube_env, 'get', 'pods', '--field-selector', 'spec.bogus=1', check=False)
    assert bad.returncode == 1 and 'field label not supported: spec.bogus' in bad.stderr
    none = kubectl(kube_env, 'get', 'pods', '-n', 'empty-ns')
    assert 'No resources found in empty-ns namespace.' in none.stderr


MANIFEST = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}], env: [{name: A, value: "1"}]}
      - {name: sidecar, image: "busybox:1.36"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: allow-client, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}], toPorts: [{ports: [{port: "80", protocol: TCP}]}]}]
'''


@needs_kubectl
def test_kubectl_apply_is_create_then_unchanged_then_configured(kube_apiserver, kube_env):
    kubectl(kube_env, 'create', 'namespace', 'shop')
    first = kubectl(kube_env, 'apply', '-f', '-', stdin=MANIFEST)
    assert first.stdout.split('\n')[:3] == ['deployment.apps/web created', 'networkpolicy.networking.k8s.io/default-deny created',
                                            'ciliumnetworkpolicy.cilium.io/allow-client created']
    assert first.stderr == ''                         # no discovery / OpenAPI warnings
    rv_before = kube_apiserver.store.rv
    again = kubectl(kube_env, 'apply', '-f', '-', stdin=MANIFEST)
    assert again.stdout.count('unchanged') == 3
    assert kube_apiserver.store.rv == rv_before       # a no-op patch writes nothing, like etcd
    changed = MANIFEST.replace('replicas: 2', 'replicas: 3').replace('app: client', 'app: frontend').replace(
        '      - {name: sidecar, image: "busybox:1.36"}\n', '')
    third = kubectl(kube_env, 'apply', '-f', '-', stdin=changed)
    assert third.stdout.split('\n')[:3] == ['deployment.apps/web configured', 'networkpolicy.networking.k8s.io/default-deny unchanged',
                                            'ciliumnetworkpolicy.cilium.io/allow-client configured']
    dep = kube_apiserver.get('apps/v1', 'Deployment', 'shop', 'web')
    assert dep['spec']['replicas'] == 3 and dep['metadata']['generation'] == 2
    assert [c['name'] for c in dep['spec']['template']['spec']['containers']] == ['nginx']       # SMP deleted the sidecar
    assert dep['spec']['template']['spec']['containers'][0]['env'] == [{'name': 'A', 'value': '1'}]
    cnp = kube_apiserver.get('cilium.io/v2', 'CiliumNetworkPolicy', 'shop', 'allow-client')
    assert cnp['spec']['ingress'][0]['fromEndpoints'] == [{'matchLabels': {'app': 'frontend'}}]
    patches = [(path, query) for method, path, query, _status in kube_apiserver.requests if method == 'PATCH']
    assert [path.rsplit('/', 1)[1] for path, _query in patches] == ['web', 'allow-client']
    assert all(query.get('fieldManager') == 'kubectl-client-side-apply' for _path, query in patches)
    out = kubectl(kube_env, 'get', 'cnp', '-n', 'shop', '-o', 'jsonpath={.items[*].metadata.name}').stdout
    assert out == 'allow-client'
    deleted = kubectl(kube_env, 'delete', 'namespace', 'shop')
    assert deleted.stdout.strip() == 'namespace "shop" deleted'
    assert kube_apiserver.get('apps/v1', 'Deployment', 'shop', 'web') is None
    assert kube_apiserver.get('cilium.io/v2', 'CiliumNetworkPolicy', 'shop', 'allow-client') is None


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
    # an expired continue token: 410 Expired with the apiserver's message
    first = v1.list_event_for_all_namespaces(limit=10)
    kube_apiserver.compact()
    with pytest.raises(client.ApiException) as err:
        v1.list_event_for_all_namespaces(limit=10, _continue=first.metadata._continue)  # pylint: disable=protected-access
    body = json.loads(err.value.body)
    assert err.value.status == 410 and body['reason'] == 'Expired' and body['message'].startswith('The provided continue parameter is too old')


def test_python_client_watch_resumes_and_relists_after_410(kube_apiserver, kubeconfig):
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
    # resume from an old resourceVersion after a compaction: ERROR 410 -> the client's one retry -> ApiException(410) -> relist
    kube_apiserver.compact()
    with pytest.raises(client.ApiException) as err:
        list(watch.Watch().stream(v1.list_namespaced_event, 'w', resource_version=rv, timeout_seconds=1))
    assert err.value.status == 410 and 'too old resource version' in err.value.reason
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
    kube_apiserver.set_log('kube-system', 'cilium-a', 'cilium-agent', 'level=info msg="Cilium started"\nlevel=info msg="ready"\n')
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
# events.k8s.io/v1 and core/v1 Events are one store
# ---------------------------------------------------------------------------------------------------------------------

def test_events_k8s_io_v1_is_the_same_store_converted_both_ways(kube_apiserver, kubeconfig):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    kube_apiserver.apply(load_events()[:1])
    api = api_client(kubeconfig)
    ev1 = client.EventsV1Api(api)
    # A core/v1 Event read as events.k8s.io/v1 has "eventTime": null, exactly like a real apiserver (Go MicroTime zero value);
    # the kubernetes 37 client's typed model rejects that, so callers must read raw JSON (_preload_content=False).
    resp = ev1.read_namespaced_event('netshot.1844854550892d40', 'cni-test', _preload_content=False)
    got = json.loads(resp.data)
    assert got['apiVersion'] == 'events.k8s.io/v1' and got['eventTime'] is None
    assert got['regarding']['name'] == 'netshot' and got['note'].startswith('Outgoing packet dropped')
    assert got['deprecatedSource'] == {'component': 'cilium'} and got['deprecatedCount'] == 7 and got['reason'] == 'PacketDrop'
    assert got['deprecatedFirstTimestamp'] == '2025-05-31T05:24:48Z' and 'reportingController' not in got
    created = ev1.create_namespaced_event('cni-test', {
        'apiVersion': 'events.k8s.io/v1', 'kind': 'Event', 'metadata': {'name': 'new.1'}, 'eventTime': '2025-06-01T10:00:00.000000Z',
        'reportingController': 'cilium.io/agent', 'reportingInstance': 'node-1', 'action': 'Drop', 'reason': 'PacketDrop',
        'regarding': {'kind': 'Pod', 'namespace': 'cni-test', 'name': 'netshot'}, 'note': 'dropped', 'type': 'Warning'})
    assert created.metadata.resource_version and created.regarding.name == 'netshot'
    core = client.CoreV1Api(api).read_namespaced_event('new.1', 'cni-test')
    assert core.involved_object.name == 'netshot' and core.message == 'dropped' and core.reporting_component == 'cilium.io/agent'
    assert core.source.component is None and core.first_timestamp is None and core.action == 'Drop'
    by_controller = ev1.list_namespaced_event('cni-test', field_selector='reportingController=cilium.io/agent,regarding.name=netshot')
    assert [e.metadata.name for e in by_controller.items] == ['new.1']
    with pytest.raises(client.ApiException) as err:
        ev1.list_namespaced_event('cni-test', field_selector='source=cilium')        # a core-only field label
    assert err.value.status == 400 and 'field label not supported: source' in err.value.body
