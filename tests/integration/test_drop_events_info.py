# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netobs.cilium.drop_events_info through ansible-playbook, and KubeAPI reliability, against a real kube-apiserver.

The session's etcd + kube-apiserver (``real_kube`` fixture) serve the Events; the clients go through the fault-injecting
proxy in front of it, which logs every request and injects 429/5xx/resets/delays. RBAC denials come from the apiserver's
own RBAC authorizer, 410 Gone from a real etcd compaction. Exec and port-forward need a kubelet: their tests stay on the
loopback fake (test_kube_api_streams.py).

Playbook runs are batched (one ``ansible-playbook`` per scenario, several tasks each) to keep the suite fast;
every task's registered result is written to a JSON file that the assertions read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI, KubeAPIError
from manifests import load_objects, rbac_rules

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


def test_playbook_list_scope_since_apis_src_defaults_and_errors(real_kube, tmp_path):
    kube = real_kube
    kubeconfig = kube.kubeconfig
    kube.apply(fixture_events())
    # "test" has no RBAC grant at all: the apiserver's RBAC authorizer denies its list in namespace "secret"
    restricted = kube.write_kubeconfig(user='test')
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
        {'name': 'Forbidden namespace', module: {'kubeconfig': restricted, 'namespaces': ['secret']}, 'ignore_errors': True},
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
    assert 'User "test" cannot list resource "events" in API group "" in the namespace "secret"' in forbidden['msg']  # the apiserver's words
    assert forbidden['missing_permission'] == {'verb': 'list', 'resource': 'events', 'group': '', 'namespace': 'secret'}
    assert no_lib['failed'] and 'Failed to import the required Python library (kubernetes)' in no_lib['msg']
    assert no_lib_src['events_total'] == 6

    requests = [(r.method, r.path, r.query.get('fieldSelector')) for r in kube.requests]
    assert ('GET', '/api/v1/namespaces/payments/events', 'reason=PacketDrop,involvedObject.namespace=payments') in requests
    assert ('GET', '/apis/events.k8s.io/v1/namespaces/payments/events', 'reason=PacketDrop,regarding.namespace=payments') in requests


def test_playbook_wait_for_watch_relist_and_timeout(real_kube, tmp_path):
    kube = real_kube
    kubeconfig = kube.kubeconfig
    kube.apply(fixture_events())
    # first watch: etcd is compacted past the list's resourceVersion, so the apiserver itself answers 410 Gone
    gone = kube.add_fault(method='GET', path=r'watch=true', expire=True, times=1)
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
            watches = [r for r in list(kube.requests) if r.query.get('watch') == 'true']
            if len(watches) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail('the module never re-watched after 410: %s' % kube.requests)
        time.sleep(0.3)
        kube.apply(packet_drop('late-1.abc', 'late-7d9f8', 'Outgoing packet dropped (policy_denied) to cni-test/db-0 (10.0.0.9) TCP/5432',
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
    # the apiserver says 410 on a watch as HTTP 200 with one ERROR event (code 410) in the stream
    sequence = [('watch' if r.query.get('watch') else 'list', r.status, r.stream_error) for r in kube.requests
                if r.path == '/api/v1/namespaces/cni-test/events']
    assert sequence[:4] == [('list', 200, None), ('watch', 200, 410), ('list', 200, None), ('watch', 200, None)]
    assert timed_out['failed'] is True and timed_out['wait']['satisfied'] is False
    assert timed_out['msg'].startswith('wait_for timed out after 2s: 0 of 1 required drop(s) matched [pod=never]')
    assert 'late-7d9f8 -> cni-test/db-0 TCP/5432 (policy_denied) x2' in timed_out['msg']
    assert 1.9 <= timed_out['wait']['waited_seconds'] < 10


# ---------------------------------------------------------------- reliability of the KubeAPI layer (in-process)


def api_for(kubeconfig, **kwargs):
    kwargs.setdefault('backoff', 0.01)
    return KubeAPI.from_kubeconfig(kubeconfig, **kwargs)


def test_429_retry_after_is_honoured(real_kube):
    real_kube.apply(fixture_events())
    real_kube.add_fault(path=r'/api/v1/events', status=429, times=2, retry_after=3)
    sleeps = []
    api = api_for(real_kube.kubeconfig, sleep=sleeps.append)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6
    assert sleeps == [3.0, 3.0]
    assert api.request_count == 3 and real_kube.request_count(path=r'/api/v1/events') == 3


def test_5xx_retried_with_backoff(real_kube):
    real_kube.apply(fixture_events())
    real_kube.add_fault(path=r'/api/v1/events', status=503, times=3)
    sleeps = []
    api = api_for(real_kube.kubeconfig, sleep=sleeps.append, backoff=0.1)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6 and result['partial'] is False
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]
    assert [r.status for r in real_kube.requests] == [503, 503, 503, 200]


def test_connection_reset_retried(real_kube):
    real_kube.apply(fixture_events())
    real_kube.add_fault(path=r'/api/v1/events', reset=True, times=2)
    api = api_for(real_kube.kubeconfig)
    result, _collector = pipeline.drop_events(api=api)
    assert result['events_total'] == 6
    assert api.retry_count == 2 and all('reset' in r['cause'].lower() or 'aborted' in r['cause'].lower() for r in api.retry_log)


def test_403_names_missing_rbac(real_kube):
    with pytest.raises(KubeAPIError) as err:  # "test" holds no RBAC grant
        pipeline.drop_events(api=api_for(real_kube.write_kubeconfig(user='test')), api_version='core/v1')
    assert err.value.status == 403
    assert 'may not list "events" (apiGroup "") cluster-wide' in str(err.value)
    assert 'cannot list resource "events" in API group "" at the cluster scope' in str(err.value)  # server's own words


def test_page_failure_after_retries_is_partial(real_kube):
    real_kube.apply(fixture_events())
    real_kube.add_fault(path=r'continue=', status=500, times=None)
    api = api_for(real_kube.kubeconfig, max_retries=2)
    result, collector = pipeline.drop_events(api=api, page_size=2)
    assert result['partial'] is True and result['events_total'] == 2
    assert 'stopped after 1 page(s)' in result['partial_reasons'][0] and 'HTTP 500' in result['partial_reasons'][0]
    assert any('may be incomplete' in w for w in collector.warnings)
    assert api.request_count == 1 + 3


def test_expired_continue_token_relists_without_duplicates(real_kube):
    real_kube.apply(fixture_events())
    expired = real_kube.add_fault(path=r'continue=', expire=True, times=1)  # etcd compacted: the apiserver's own 410
    api = api_for(real_kube.kubeconfig)
    result, _collector = pipeline.drop_events(api=api, page_size=2)
    assert result['events_total'] == 6 and result['partial'] is False
    assert api.relist_count == 1 and expired.hits == 1
    assert [r.status for r in real_kube.requests if 'continue' in r.query][0] == 410
    assert len({d['evidence']['event']['uid'] for d in result['drops']}) == 6


def test_watch_connection_reset_resumes(real_kube):
    real_kube.apply(fixture_events())
    real_kube.add_fault(path=r'watch=true', reset=True, times=1)
    api = api_for(real_kube.kubeconfig)
    collector = pipeline.AggregatedDropEvents(api=api, wait_for={'pod': 'late', 'timeout': 20})
    timer = threading.Timer(0.3, lambda: real_kube.apply(
        packet_drop('late.1', 'late', 'Incoming packet dropped (policy_denied) from world (1.2.3.4) TCP/443')))
    timer.start()
    try:
        result = collector.collect_live()
    finally:
        timer.cancel()
    assert result['wait']['satisfied'] is True and result['partial'] is False
    assert real_kube.request_count(path=r'/api/v1/events') >= 3  # list, reset watch, watch


def test_watch_cut_mid_stream_resumes_from_the_last_event(real_kube):
    real_kube.apply(fixture_events())
    cut = real_kube.add_fault(path=r'watch=true', watch_reset_after=1, times=1)  # the first watch dies after one event
    api = api_for(real_kube.kubeconfig)
    collector = pipeline.AggregatedDropEvents(api=api, wait_for={'pod': 'late', 'min_count': 2, 'timeout': 20})

    def late_drops():
        for index in (1, 2):
            real_kube.apply(packet_drop('late.%d' % index, 'late', 'Incoming packet dropped (policy_denied) from world (1.2.3.4) TCP/443'))
            time.sleep(0.3)
    timer = threading.Timer(0.3, late_drops)
    timer.start()
    try:
        result = collector.collect_live()
    finally:
        timer.cancel()
    assert cut.hits == 1
    assert result['wait']['satisfied'] is True and result['wait']['matched'] == 2 and result['partial'] is False
    watches = [r for r in real_kube.requests if r.query.get('watch') == 'true']
    assert watches[0].status == 0 and len(watches) >= 2
    # the second watch resumes after the event the first one delivered: no relist, no duplicate
    assert int(watches[1].query['resourceVersion']) > int(watches[0].query['resourceVersion'])


# ---------------------------------------------------------------- least-privilege RBAC files


def test_events_reader_rbac_is_exactly_what_the_module_needs(real_kube):
    """docs/rbac/events-reader.yml applied to the real apiserver; the module authenticates as its ServiceAccount."""
    granted = rbac_rules('events-reader.yml')
    assert granted == {('', 'events', 'list'), ('', 'events', 'watch'),
                       ('events.k8s.io', 'events', 'list'), ('events.k8s.io', 'events', 'watch')}
    kube = real_kube
    kube.apply(fixture_events())
    objects = load_objects(os.path.join(REPO, 'docs', 'rbac', 'events-reader.yml'))
    user, token = kube.api.act_as(objects)
    kubeconfig = kube.write_kubeconfig(user='events-reader', token=token)
    for api_version in ('auto', 'core/v1', 'events.k8s.io/v1'):
        result, _collector = pipeline.drop_events(api=api_for(kubeconfig), api_version=api_version, namespaces=['payments'],
                                                  wait_for={'namespace': 'payments', 'timeout': 5})
        assert result['wait']['satisfied'] is True and result['events_total'] == 1
    result, _collector = pipeline.drop_events(api=api_for(kubeconfig))
    assert result['events_total'] == 6
    assert {r.status for r in kube.requests} == {200}
    # every granted verb is needed by some mode
    role = next(o for o in objects if o['kind'] == 'ClusterRole')
    role['rules'] = [{'apiGroups': [''], 'resources': ['events'], 'verbs': ['list']}, role['rules'][1]]
    kube.apply(role)
    kube.api.wait_rbac(user, 'watch', 'events', '', allowed=False)
    with pytest.raises(KubeAPIError, match='may not watch "events"'):
        pipeline.drop_events(api=api_for(kubeconfig), api_version='core/v1', wait_for={'pod': 'never', 'timeout': 5})
    role['rules'] = role['rules'][:1]
    kube.apply(role)
    kube.api.wait_rbac(user, 'list', 'events', 'events.k8s.io', allowed=False)
    with pytest.raises(KubeAPIError, match='may not list "events" \\(apiGroup "events.k8s.io"\\)'):
        pipeline.drop_events(api=api_for(kubeconfig), api_version='events.k8s.io/v1')


@pytest.mark.parametrize('name,expected', [
    ('hubble-relay-portforward.yml', {('', 'services', 'get'), ('', 'pods', 'list'), ('', 'pods/portforward', 'create'),
                                      ('', 'pods/portforward', 'get')}),
    ('hubble-exec.yml', {('', 'pods', 'list'), ('', 'pods/exec', 'create'), ('', 'pods/exec', 'get')}),
])
def test_hubble_rbac_files_parse_and_are_minimal(name, expected):
    assert rbac_rules(name) == expected


RELAY = [
    {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'hubble-relay', 'namespace': 'kube-system'},
     'spec': {'selector': {'k8s-app': 'hubble-relay'}, 'ports': [{'name': 'grpc', 'port': 80, 'targetPort': 'grpc'}]}},
    {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'hubble-relay-abc', 'namespace': 'kube-system', 'labels': {'k8s-app': 'hubble-relay'}},
     'spec': {'nodeName': 'n1', 'containers': [{'name': 'relay', 'image': 'quay.io/cilium/hubble-relay:v1.19.6',
                                                'ports': [{'name': 'grpc', 'containerPort': 4245}]}]},
     'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}},
]
AGENT = {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'cilium-x1', 'namespace': 'kube-system', 'labels': {'k8s-app': 'cilium'}},
         'spec': {'nodeName': 'n1', 'containers': [{'name': 'cilium-agent', 'image': 'quay.io/cilium/cilium:v1.19.6'}]},
         'status': {'phase': 'Running'}}


def past_authorization(call):
    """Run an exec/port-forward call that needs a kubelet: with the RBAC in place the apiserver authorizes it and only
    then fails on the node that does not exist (404), so the error shows authorization passed."""
    with pytest.raises(KubeAPIError) as err:
        call()
    assert err.value.status == 404 and 'n1' in str(err.value), err.value
    assert 'does not exist' not in str(err.value), err.value  # the pod is there; its node is what is missing
    return err.value


def remove_rule(kube, objects, user, resource):
    role = next(o for o in objects if o['kind'] == 'Role')
    role['rules'] = [r for r in role['rules'] if resource not in r['resources']]
    kube.apply(role)
    kube.api.wait_rbac(user, 'get', resource, namespace='kube-system', allowed=False)


def test_port_forward_needs_only_the_relay_rbac(real_kube):
    """docs/rbac/hubble-relay-portforward.yml on the real apiserver: resolve_service_target works with it, the
    apiserver authorizes the port-forward (no kubelet here: the data path is tested on the fake, test_kube_api_streams.py),
    and without its pods/portforward rule the apiserver refuses."""
    kube = real_kube
    kube.apply(RELAY)
    objects = load_objects(os.path.join(REPO, 'docs', 'rbac', 'hubble-relay-portforward.yml'))
    user, token = kube.api.act_as(objects)
    api = api_for(kube.write_kubeconfig(user='relay-reader', token=token, direct=True), max_retries=0)
    pod, port = api.resolve_service_target('kube-system', 'hubble-relay', 80)
    assert (pod, port) == ('hubble-relay-abc', 4245)

    def forward():
        with api.port_forward('kube-system', pod, port):
            pass
    past_authorization(forward)
    remove_rule(kube, objects, user, 'pods/portforward')
    with pytest.raises(KubeAPIError) as err:
        forward()
    assert err.value.status == 403 and '"pods/portforward"' in str(err.value) and 'in namespace "kube-system"' in str(err.value)
    assert 'cannot get resource "pods/portforward"' in str(err.value)  # a WebSocket upgrade is a GET: RBAC checks "get"


def test_exec_needs_only_the_exec_rbac(real_kube):
    """docs/rbac/hubble-exec.yml on the real apiserver: listing the agents and the exec are authorized with it (the
    streams themselves need a kubelet: test_kube_api_streams.py), and without its pods/exec rule the apiserver refuses."""
    kube = real_kube
    kube.apply(AGENT)
    objects = load_objects(os.path.join(REPO, 'docs', 'rbac', 'hubble-exec.yml'))
    user, token = kube.api.act_as(objects)
    api = api_for(kube.write_kubeconfig(user='hubble-exec', token=token, direct=True), max_retries=0)
    pods = api.get('/api/v1/namespaces/kube-system/pods', {'labelSelector': 'k8s-app=cilium'})
    assert [p['metadata']['name'] for p in pods['items']] == ['cilium-x1']
    past_authorization(lambda: api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['hubble', 'observe'], timeout=20))
    remove_rule(kube, objects, user, 'pods/exec')
    with pytest.raises(KubeAPIError) as err:
        api.exec_argv('kube-system', 'cilium-x1', 'cilium-agent', ['hubble'], timeout=20)
    assert err.value.status == 403 and '"pods/exec"' in str(err.value) and 'in namespace "kube-system"' in str(err.value)


# ---------------------------------------------------------------- TLS and bearer token, straight to the apiserver


def test_tls_and_token_from_kubeconfig(real_kube, tmp_path):
    """The kubeconfig carries the cluster CA and a bearer token; certificate verification is on by default."""
    real_kube.apply(fixture_events())
    kubeconfig = real_kube.write_kubeconfig(direct=True)
    assert real_kube.url.startswith('https://')
    api = KubeAPI.from_auth(kubeconfig=kubeconfig)
    result, _collector = pipeline.drop_events(api=api, namespaces=['payments'])
    assert result['events_total'] == 1
    # without the CA the server certificate does not verify: the call fails instead of trusting it
    config = yaml.safe_load(open(kubeconfig, encoding='utf-8'))
    del config['clusters'][0]['cluster']['certificate-authority-data']
    (tmp_path / 'no-ca').write_text(yaml.safe_dump(config))
    with pytest.raises(KubeAPIError, match='CERTIFICATE_VERIFY_FAILED'):
        pipeline.drop_events(api=KubeAPI.from_auth(kubeconfig=str(tmp_path / 'no-ca'), max_retries=0), namespaces=['payments'])
