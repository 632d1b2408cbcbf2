# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netobs.cilium.drop_events_info through ansible-playbook, and KubeAPI reliability, against the loopback API server.

Playbook runs are batched (one ``ansible-playbook`` per scenario, several tasks each) to keep the suite fast;
every task's registered result is written to a JSON file that the assertions read.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI, KubeAPIError
from manifests import load_objects

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures', 'drop_events')
CACHE_COLLECTIONS = os.path.join(REPO, '.cache', 'collections')
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def fixture_events(name='events.json'):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return json.load(handle)


def packet_drop(name, pod, message, namespace='cni-test', count=1, stamp='2025-05-31T05:30:00Z'):
    return {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': name, 'namespace': namespace},
            'involvedObject': {'kind': 'Pod', 'apiVersion': 'v1', 'namespace': namespace, 'name': pod},
            'reason': 'PacketDrop', 'message': message, 'source': {'component': 'cilium'}, 'type': 'Warning',
            'firstTimestamp': stamp, 'lastTimestamp': stamp, 'count': count, 'reportingComponent': '', 'reportingInstance': ''}


def run_playbook(tmp_path, tasks, extra_env=None, wait=True):
    """Run tasks on localhost; every task registers ``r<i>``; returns (proc, results list) ."""
    out = tmp_path / 'results.json'
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        task.setdefault('register', 'r%d' % index)
        play_tasks.append(task)
    names = ', '.join("'r%d': r%d" % (i, i) for i in range(len(tasks)))
    play_tasks.append({'name': 'Save results', 'ansible.builtin.copy': {'content': '{{ {%s} | to_json }}' % names, 'dest': str(out)}})
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': play_tasks}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=CACHE_COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.pop('K8S_AUTH_KUBECONFIG', None)
    env.update(extra_env or {})
    cmd = [PLAYBOOK_BIN, '-i', 'localhost,', '-c', 'local', str(tmp_path / 'play.yml')]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # pylint: disable=consider-using-with
    if not wait:
        return proc, out
    stdout, _stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout
    with open(out, encoding='utf-8') as handle:
        data = json.load(handle)
    return stdout, [data['r%d' % i] for i in range(len(tasks))]


def test_playbook_list_scope_since_apis_src_defaults_and_errors(kube_apiserver, kubeconfig, tmp_path):
    srv = kube_apiserver
    srv.apply(fixture_events())
    srv.forbid('list', 'events', '', namespace='secret')
    srv.forbid('list', 'events', 'events.k8s.io', namespace='secret')
    capture_dir = tmp_path / 'captures' / 'day1'
    capture_dir.mkdir(parents=True)
    (capture_dir / 'events.yaml').write_text(yaml.safe_dump(fixture_events('events_v119.json')))
    shadow = tmp_path / 'shadow'
    (shadow / 'kubernetes').mkdir(parents=True)
    (shadow / 'kubernetes' / '__init__.py').write_text("raise ImportError(\"No module named 'kubernetes' (simulated)\")\n")
    module = 'netobs.cilium.drop_events_info'
    tasks = [
        {'name': 'All namespaces, small pages', module: {'kubeconfig': kubeconfig, 'page_size': 2}},
        {'name': 'Scoped, since and reasons', module: {'kubeconfig': kubeconfig, 'namespaces': ['cni-test', 'payments'],
                                                       'since': '2025-05-31T05:25:10Z', 'reasons': ['POLICY_DENIED']}},
        {'name': 'events.k8s.io', module: {'kubeconfig': kubeconfig, 'api': 'events.k8s.io/v1', 'namespaces': ['payments']}},
        {'name': 'Offline file', module: {'src': os.path.join(FIXTURES, 'events.json'), 'max_drops': 1}},
        {'name': 'Offline directory (YAML)', module: {'src': str(tmp_path / 'captures')}},
        {'name': 'Check mode', module: {'kubeconfig': kubeconfig}, 'check_mode': True},
        {'name': 'module_defaults group', 'module_defaults': {'group/netobs.cilium.cilium': {'kubeconfig': kubeconfig}},
         module: {'namespaces': ['payments']}},
        {'name': 'K8S_AUTH_KUBECONFIG', 'environment': {'K8S_AUTH_KUBECONFIG': kubeconfig}, module: {'namespaces': ['cni-test']}},
        {'name': 'Bad since', module: {'kubeconfig': kubeconfig, 'since': 'yesterday'}, 'ignore_errors': True},
        {'name': 'Forbidden namespace', module: {'kubeconfig': kubeconfig, 'namespaces': ['secret']}, 'ignore_errors': True},
        {'name': 'No kubernetes package', 'environment': {'PYTHONPATH': str(shadow)}, module: {'kubeconfig': kubeconfig},
         'ignore_errors': True},
        {'name': 'No kubernetes package, offline still works', 'environment': {'PYTHONPATH': str(shadow)},
         module: {'src': os.path.join(FIXTURES, 'events.json')}},
    ]
    _stdout, res = run_playbook(tmp_path, tasks)
    every, scoped, events_v1, offline, offline_dir, check, defaults, env_auth, bad_since, forbidden, no_lib, no_lib_src = res

    assert every['events_total'] == 6 and every['api_used'] == 'core/v1' and every['changed'] is False
    assert every['api_requests'] == 3  # 6 Events, limit=2
    assert every['coverage']['oldest_event'] == '2025-05-31T05:24:48Z' and 'no since given' in every['coverage']['ttl_warning']
    assert every['violations'][0]['source']['workload'] == 'netshot' and every['violations'][0]['count'] == 7
    assert every['partial'] is False and every['unparsed']['count'] == 0 and not every.get('skipped')

    # last seen >= 05:25:10 leaves 5 of 6; the payments Event is AUTH_REQUIRED
    assert scoped['events_total'] == 5 and scoped['excluded'] == {'before_since': 1, 'reasons': 1, 'namespaces': 0, 'other_reasons': 0}
    assert len(scoped['drops']) == 4 and {d['reason'] for d in scoped['drops']} == {'POLICY_DENIED'}
    assert events_v1['api_used'] == 'events.k8s.io/v1' and [d['reason'] for d in events_v1['drops']] == ['AUTH_REQUIRED']

    assert offline['events_total'] == 6 and len(offline['drops']) == 1 and offline['drops_truncated'] is True
    assert offline['api_requests'] == 0 and offline['api_used'] is None
    assert offline_dir['events_total'] == 3 and {p['name'] for d in offline_dir['drops'] for p in d['policies']} >= {'deny-egress-icmp'}

    assert check['events_total'] == 6 and check['changed'] is False
    assert defaults['events_total'] == 1 and env_auth['events_total'] == 5

    assert bad_since['failed'] and "invalid since 'yesterday'" in bad_since['msg']
    assert forbidden['failed'] and forbidden['status'] == 403
    assert 'may not list "events" (apiGroup "") in namespace "secret"' in forbidden['msg']
    assert forbidden['missing_permission'] == {'verb': 'list', 'resource': 'events', 'group': '', 'namespace': 'secret'}
    assert no_lib['failed'] and 'Failed to import the required Python library (kubernetes)' in no_lib['msg']
    assert no_lib_src['events_total'] == 6

    requests = [(m, p, q.get('fieldSelector')) for m, p, q, _s in srv.requests]
    assert ('GET', '/api/v1/namespaces/payments/events', 'reason=PacketDrop,involvedObject.namespace=payments') in requests
    assert ('GET', '/apis/events.k8s.io/v1/namespaces/payments/events', 'reason=PacketDrop,regarding.namespace=payments') in requests


def test_playbook_wait_for_watch_relist_and_timeout(kube_apiserver, kubeconfig, tmp_path):
    srv = kube_apiserver
    srv.apply(fixture_events())
    gone = srv.add_fault(method='GET', path=r'watch=true', status=410, times=1)  # first watch: resourceVersion too old
    module = 'netobs.cilium.drop_events_info'
    tasks = [
        {'name': 'Wait for the late drop', module: {
            'kubeconfig': kubeconfig, 'namespaces': ['cni-test'],
            'wait_for': {'direction': 'egress', 'pod': 'late-*', 'peer_pod': 'db-*', 'protocol': 'tcp', 'port': 5432,
                         'min_count': 2, 'timeout': 60}}},
        {'name': 'Wait that times out', 'ignore_errors': True,
         module: {'kubeconfig': kubeconfig, 'namespaces': ['cni-test'], 'wait_for': {'pod': 'never', 'timeout': 2}}},
    ]
    proc, out = run_playbook(tmp_path, tasks, wait=False)
    try:
        deadline = time.monotonic() + 60
        # wait until the module watches again after the 410 + relist
        while time.monotonic() < deadline:
            watches = [r for r in list(srv.requests) if r[2].get('watch') == 'true']
            if len(watches) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail('the module never re-watched after 410: %s' % srv.requests)
        time.sleep(0.3)
        srv.apply(packet_drop('late-1.abc', 'late-7d9f8', 'Outgoing packet dropped (policy_denied) to cni-test/db-0 (10.0.0.9) TCP/5432',
                              count=2))
        stdout, _stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout
    with open(out, encoding='utf-8') as handle:
        results = json.load(handle)
    satisfied, timed_out = results['r0'], results['r1']
    assert gone.hits == 1
    assert satisfied['wait']['satisfied'] is True and satisfied['wait']['matched'] == 2 and satisfied['wait']['matched_events'] == 1
    assert 0.2 < satisfied['wait']['waited_seconds'] < 60
    assert satisfied['events_total'] == 6 and satisfied['partial'] is False
    sequence = [('watch' if q.get('watch') else 'list', s) for m, p, q, s in srv.requests if p == '/api/v1/namespaces/cni-test/events']
    assert sequence[:4] == [('list', 200), ('watch', 410), ('list', 200), ('watch', sequence[3][1])]
    assert timed_out['failed'] is True and timed_out['wait']['satisfied'] is False
    assert timed_out['msg'].startswith('wait_for timed out after 2s: 0 of 1 required drop(s) matched [pod=never]')
    assert 'late-7d9f8 -> cni-test/db-0 TCP/5432 (policy_denied) x2' in timed_out['msg']
    assert 1.9 <= timed_out['wait']['waited_seconds'] < 10


# ---------------------------------------------------------------- reliability of the KubeAPI layer (in-process)


def api_for(kubeconfig, **kwargs):
    kwargs.setdefault('backoff', 0.01)
    return KubeAPI.from_kubeconfig(kubeconfig, **kwargs)


def test_429_retry_after_is_honoured(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'/api/v1/events', status=429, times=2, retry_after=3)
    sleeps = []
    api = api_for(kubeconfig, sleep=sleeps.append)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6
    assert sleeps == [3.0, 3.0]
    assert api.request_count == 3 and kube_apiserver.request_count(path=r'/api/v1/events') == 3


def test_5xx_retried_with_backoff(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'/api/v1/events', status=503, times=3)
    sleeps = []
    api = api_for(kubeconfig, sleep=sleeps.append, backoff=0.1)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6 and result['partial'] is False
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]
    assert [s for _m, _p, _q, s in kube_apiserver.requests] == [503, 503, 503, 200]


def test_connection_reset_retried(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'/api/v1/events', reset=True, times=2)
    api = api_for(kubeconfig)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6
    assert api.retry_count == 2 and all('reset' in r['cause'].lower() or 'aborted' in r['cause'].lower() for r in api.retry_log)


def test_403_names_missing_rbac(kube_apiserver, kubeconfig):
    kube_apiserver.forbid('list', 'events', '')
    with pytest.raises(KubeAPIError) as err:
        pipeline.drop_events(api=api_for(kubeconfig), api_version='core/v1')
    assert err.value.status == 403
    assert 'may not list "events" (apiGroup "") cluster-wide' in str(err.value)
    assert 'cannot list resource "events" in API group "" at the cluster scope' in str(err.value)  # server's own words


def test_page_failure_after_retries_is_partial(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'continue=', status=500, times=None)
    api = api_for(kubeconfig, max_retries=2)
    result, collector = pipeline.drop_events(api=api, page_size=2)
    assert result['partial'] is True and result['events_total'] == 2
    assert 'stopped after 1 page(s)' in result['partial_reasons'][0] and 'HTTP 500' in result['partial_reasons'][0]
    assert any('may be incomplete' in w for w in collector.warnings)
    assert api.request_count == 1 + 3


def test_expired_continue_token_relists_without_duplicates(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'continue=', status=410, times=1)
    api = api_for(kubeconfig)
    result, _collector = pipeline.drop_events(api=api, page_size=2)
    assert result['events_total'] == 6 and result['partial'] is False
    assert api.relist_count == 1
    assert len({d['evidence']['event']['uid'] for d in result['drops']}) == 6


def test_watch_connection_reset_resumes(kube_apiserver, kubeconfig):
    kube_apiserver.apply(fixture_events())
    kube_apiserver.add_fault(path=r'watch=true', reset=True, times=1)
    api = api_for(kubeconfig)
    collector = pipeline.AggregatedDropEvents(api=api, wait_for={'pod': 'late', 'timeout': 20})
    import threading  # pylint: disable=import-outside-toplevel
    timer = threading.Timer(0.3, lambda: kube_apiserver.apply(
        packet_drop('late.1', 'late', 'Incoming packet dropped (policy_denied) from world (1.2.3.4) TCP/443')))
    timer.start()
    try:
        result = collector.collect_live()
    finally:
        timer.cancel()
    assert result['wait']['satisfied'] is True and result['partial'] is False
    assert kube_apiserver.request_count(path=r'/api/v1/events') >= 3  # list, reset watch, watch


# ---------------------------------------------------------------- least-privilege RBAC files


VERBS = ('get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection')


def rbac_rules(name):
    docs = load_objects(os.path.join(REPO, 'docs', 'rbac', name))
    kinds = {d['kind'] for d in docs}
    assert 'ServiceAccount' in kinds and kinds & {'Role', 'ClusterRole'} and kinds & {'RoleBinding', 'ClusterRoleBinding'}
    granted = set()
    for doc in docs:
        if doc['kind'] in ('Role', 'ClusterRole'):
            for rule in doc['rules']:
                for group in rule['apiGroups']:
                    for resource in rule['resources']:
                        for verb in rule['verbs']:
                            assert '*' not in (group, resource, verb), 'wildcards are not least privilege'
                            granted.add((group, resource, verb))
        if doc['kind'] in ('RoleBinding', 'ClusterRoleBinding'):
            role = next(d for d in docs if d['kind'] == doc['roleRef']['kind'] and d['metadata']['name'] == doc['roleRef']['name'])
            assert role is not None and doc['subjects'][0]['name'] == next(d for d in docs if d['kind'] == 'ServiceAccount')['metadata']['name']
    return granted


def forbid_all_but(srv, granted, skip=()):
    for (group, _version, plural), rt in list(srv.store.types.items()):
        resources = [plural] + ['%s/%s' % (plural, sub) for sub in rt.subresources]
        for resource in resources:
            for verb in VERBS:
                if (group, resource, verb) not in granted or (group, resource, verb) in skip:
                    srv.forbid(verb, resource, group)


def test_events_reader_rbac_is_exactly_what_the_module_needs(kube_apiserver, kubeconfig):
    granted = rbac_rules('events-reader.yml')
    assert granted == {('', 'events', 'list'), ('', 'events', 'watch'),
                       ('events.k8s.io', 'events', 'list'), ('events.k8s.io', 'events', 'watch')}
    srv = kube_apiserver
    srv.apply(fixture_events())
    forbid_all_but(srv, granted)
    for api_version in ('auto', 'core/v1', 'events.k8s.io/v1'):
        result, _collector = pipeline.drop_events(api=api_for(kubeconfig), api_version=api_version, namespaces=['payments'],
                                                  wait_for={'namespace': 'payments', 'timeout': 5})
        assert result['wait']['satisfied'] is True and result['events_total'] == 1
    result, _collector = pipeline.drop_events(api=api_for(kubeconfig))
    assert result['events_total'] == 6
    assert {s for _m, _p, _q, s in srv.requests} == {200}
    # every granted verb is needed by some mode
    srv.rules.clear()
    forbid_all_but(srv, granted, skip={('', 'events', 'watch')})
    srv.forbid('watch', 'events', '')
    with pytest.raises(KubeAPIError, match='may not watch "events"'):
        pipeline.drop_events(api=api_for(kubeconfig), api_version='core/v1', wait_for={'pod': 'never', 'timeout': 5})
    srv.forbid('list', 'events', 'events.k8s.io')
    with pytest.raises(KubeAPIError, match='may not list "events" \\(apiGroup "events.k8s.io"\\)'):
        pipeline.drop_events(api=api_for(kubeconfig), api_version='events.k8s.io/v1')


@pytest.mark.parametrize('name,expected', [
    ('hubble-relay-portforward.yml', {('', 'services', 'get'), ('', 'pods', 'list'), ('', 'pods/portforward', 'create'),
                                      ('', 'pods/portforward', 'get')}),
    ('hubble-exec.yml', {('', 'pods', 'list'), ('', 'pods/exec', 'create'), ('', 'pods/exec', 'get')}),
])
def test_hubble_rbac_files_parse_and_are_minimal(name, expected):
    assert rbac_rules(name) == expected


def test_port_forward_needs_only_the_relay_rbac(kube_apiserver, kubeconfig):
    """KubeAPI.resolve_service_target + port_forward work with hubble-relay-portforward.yml alone."""
    import socket  # pylint: disable=import-outside-toplevel
    import threading  # pylint: disable=import-outside-toplevel
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
    forbid_all_but(srv, rbac_rules('hubble-relay-portforward.yml'))
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


def test_exec_needs_only_the_exec_rbac(kube_apiserver, kubeconfig):
    srv = kube_apiserver
    srv.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-x1', 'namespace': 'kube-system', 'labels': {'k8s-app': 'cilium'}},
               'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent'}]}, 'status': {'phase': 'Running'}})
    srv.set_exec_handler('kube-system', 'cilium-*', 'cilium-agent',
                         lambda argv: (('\n'.join(argv) + '\n').encode() * 5000, b'warn\n', 3 if argv[-1] == 'fail' else 0))
    forbid_all_but(srv, rbac_rules('hubble-exec.yml'))
    api = api_for(kubeconfig)
    pods = api.get('/api/v1/namespaces/kube-system/pods', {'labelSelector': 'k8s-app=cilium'})
    assert [p['metadata']['name'] for p in pods['items']] == ['cilium-x1']
    result = api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['hubble', 'observe', '--since', '5m'], timeout=20)
    assert result.rc == 0 and result.stdout == b'hubble\nobserve\n--since\n5m\n' * 5000 and result.stderr == b'warn\n'
    assert api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['x', 'fail'], timeout=20).rc == 3
    srv.forbid('create', 'pods/exec', '', namespace='kube-system')
    with pytest.raises(KubeAPIError) as err:
        api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['hubble'], timeout=20)
    assert err.value.status == 403 and '"pods/exec"' in str(err.value) and 'in namespace "kube-system"' in str(err.value)


@pytest.mark.parametrize('kube_apiserver', [{'tls': True, 'token': 's3cr3t'}], indirect=True)
def test_tls_and_token_from_kubeconfig(kube_apiserver, kubeconfig):
    kube_apiserver.apply(copy.deepcopy(fixture_events()))
    api = KubeAPI.from_auth(kubeconfig=kubeconfig)
    result, _collector = pipeline.drop_events(api=api, namespaces=['payments'])
    assert result['events_total'] == 1
    kube_apiserver.apply({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-t', 'namespace': 'kube-system'},
                          'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent'}]}, 'status': {'phase': 'Running'}})
    kube_apiserver.set_exec_handler('kube-system', 'cilium-*', '*', lambda argv: (b'ok\n', b'', 0))
    assert api.exec_argv('kube-system', 'cilium-t', 'cilium-agent', ['hubble', 'version'], timeout=20) == (0, b'ok\n', b'', False)
