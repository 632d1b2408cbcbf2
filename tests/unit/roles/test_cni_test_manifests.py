# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render every manifest of the cni_test role and check what a user would rely on.

The templates are rendered with Ansible's own templar from the role defaults and
vars (exactly what ``kubernetes.core.k8s template:`` does), validated offline
against the Kubernetes JSON schemas (kubernetes-validate, strict, 1.30 and the
newest shipped version), and the NetworkPolicies are evaluated with the
collection's policy engine (netpol_engine through attribution.evaluate):
netshot -> nginx:80 is denied, DNS and the control are allowed, and nothing of
another run is affected.
"""

from __future__ import annotations

import copy
import functools
import os
import shlex

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

import kubernetes_validate

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.attribute import evaluate
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import parse_event
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.parser import parse_flow
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'roles', 'cni_test')
RUN_ID = 'rabc1234'
OTHER_RUN = 'rzzz9999'
NGINX_IP = '10.0.0.226'
K8S_VERSIONS = ('1.30.0', kubernetes_validate.latest_version())

LOADER = DataLoader()


def _load(relpath):
    return LOADER.load_from_file(os.path.join(ROLE, relpath), trusted_as_template=True)


def role_vars(**overrides):
    """Role defaults + vars/main.yml + the facts the tasks set before rendering."""
    variables = dict(_load('defaults/main.yml'))
    variables.update(_load('vars/main.yml'))
    variables.update({'cni_test__run_id': RUN_ID, 'cni_test__target_ip': NGINX_IP})
    variables.update(overrides)
    return variables


def render_value(expression, **overrides):
    return Templar(loader=LOADER, variables=role_vars(**overrides)).template(trust_as_template(expression))


def render_template(name, **overrides):
    with open(os.path.join(ROLE, 'templates', name), encoding='utf-8') as handle:
        text = handle.read()
    rendered = Templar(loader=LOADER, variables=role_vars(**overrides)).template(trust_as_template(text))
    return [doc for doc in yaml.safe_load_all(rendered) if doc is not None]


def client_vars(run):
    name = 'netshot-' + RUN_ID if run == 'netshot' else 'netshot-control-' + RUN_ID
    return {'cni_test__pod_name': name, 'cni_test__pod_run': run}


def all_manifests(mode='egress', method='exec'):
    """Every object one run applies (fresh copies: tests may modify them)."""
    return copy.deepcopy(_all_manifests(mode, method))


@functools.lru_cache(maxsize=None)
def _all_manifests(mode, method):
    docs = render_template('namespace.yaml.j2', cni_test_mode=mode)
    docs += render_template('policy_%s.yaml.j2' % mode, cni_test_mode=mode)
    docs += render_template('nginx.yaml.j2', cni_test_mode=mode)
    template = 'client_pod.yaml.j2' if method == 'exec' else 'probe_job.yaml.j2'
    for run in ('netshot', 'netshot-control'):
        docs += render_template(template, cni_test_mode=mode, cni_test_probe_method=method, **client_vars(run))
    return docs


def by_kind(docs, kind):
    return [doc for doc in docs if doc['kind'] == kind]


def pod_labels(doc):
    """Labels of the pods an object runs (Pod itself, or a workload's template)."""
    if doc['kind'] == 'Pod':
        return doc['metadata']['labels']
    return doc['spec']['template']['metadata']['labels']


# --- selectors and the policy engine ----------------------------------------------------------

def selector_matches(selector, labels):
    """matchLabels only (all the role's own selectors use)."""
    assert not selector.get('matchExpressions')
    return all(labels.get(key) == value for key, value in (selector.get('matchLabels') or {}).items())


def as_pod(doc, name=None, ip='10.0.0.1'):
    """The Pod a Pod/Deployment/Job manifest runs (what the policy engine needs: labels, ports, IP)."""
    spec = doc['spec'] if doc['kind'] == 'Pod' else doc['spec']['template']['spec']
    return {'apiVersion': 'v1', 'kind': 'Pod',
            'metadata': {'name': name or doc['metadata']['name'], 'namespace': doc['metadata']['namespace'], 'labels': dict(pod_labels(doc))},
            'spec': spec, 'status': {'phase': 'Running', 'podIP': ip}}


def snapshot_for(docs):
    """A policy snapshot of one run: its policy and pods, kube-dns, and the same clients and nginx of another run."""
    objects = [{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name, 'labels': {'kubernetes.io/metadata.name': name}}}
               for name in ('cni-test', 'kube-system', 'default')]
    objects += by_kind(docs, 'NetworkPolicy')
    for index, doc in enumerate(d for d in docs if d['kind'] in ('Pod', 'Deployment', 'Job')):
        labels = pod_labels(doc)
        role = labels.get('run', labels.get('app'))
        this = as_pod(doc, name=role + '-this', ip='10.0.1.%d' % (index + 1))
        other = as_pod(doc, name=role + '-other', ip='10.0.2.%d' % (index + 1))
        other['metadata']['labels']['netobs.cilium/run-id'] = OTHER_RUN
        objects += [this, other]
    for namespace, ip in (('kube-system', '10.0.3.1'), ('default', '10.0.3.2')):
        objects.append({'apiVersion': 'v1', 'kind': 'Pod',
                        'metadata': {'name': 'coredns', 'namespace': namespace, 'labels': {'k8s-app': 'kube-dns'}},
                        'spec': {'containers': [{'name': 'coredns'}]}, 'status': {'phase': 'Running', 'podIP': ip}})
    return PolicySnapshot.from_objects(objects)


def verdict(snapshot, src, dst, port, protocol='TCP'):
    return evaluate(snapshot, src, dst, port, protocol).allowed


# --- schema validation ---------------------------------------------------------------------------

@pytest.mark.parametrize('version', K8S_VERSIONS)
@pytest.mark.parametrize('mode', ['egress', 'ingress'])
@pytest.mark.parametrize('method', ['exec', 'job'])
def test_every_manifest_is_valid_for_kubernetes(version, mode, method):
    docs = all_manifests(mode, method)
    assert sorted(doc['kind'] for doc in docs) == sorted(
        ['Namespace', 'NetworkPolicy', 'Deployment', 'Service'] + ['Pod' if method == 'exec' else 'Job'] * 2)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_really_rejects_a_broken_manifest():
    pod = by_kind(all_manifests(), 'Pod')[0]
    pod['spec']['containers'][0]['imagePullPolicy'] = 'Sometimes'
    pod['spec']['restartPolicy'] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSIONS[0], strict=True)


def test_kubernetes_validate_ships_1_30_or_newer_offline():
    assert tuple(int(x) for x in kubernetes_validate.latest_version().split('.')[:2]) >= (1, 30)
    assert '1.30.0' in kubernetes_validate.utils.all_versions()


# --- labels, names and selectors ----------------------------------------------------------------

@pytest.mark.parametrize('method', ['exec', 'job'])
def test_every_object_of_a_run_carries_the_run_id_label(method):
    for doc in all_manifests('egress', method) + render_template('policy_ingress.yaml.j2', cni_test_mode='ingress'):
        if doc['kind'] == 'Namespace':
            assert 'netobs.cilium/run-id' not in doc['metadata']['labels']  # kept across runs
            continue
        assert doc['metadata']['labels']['netobs.cilium/run-id'] == RUN_ID, doc['metadata']['name']
        if doc['kind'] in ('Deployment', 'Job'):
            assert pod_labels(doc)['netobs.cilium/run-id'] == RUN_ID


def test_names_labels_and_images_match_the_reference_experiment():
    docs = all_manifests()
    deployment = by_kind(docs, 'Deployment')[0]
    assert deployment['metadata']['name'] == 'nginx-' + RUN_ID
    assert pod_labels(deployment)['app'] == 'nginx'
    assert deployment['spec']['template']['spec']['containers'][0]['image'] == 'nginx:1.27.3-alpine'
    assert deployment['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort'] == 80
    pods = {pod['metadata']['name']: pod for pod in by_kind(docs, 'Pod')}
    assert set(pods) == {'netshot-' + RUN_ID, 'netshot-control-' + RUN_ID}
    assert pods['netshot-' + RUN_ID]['metadata']['labels']['run'] == 'netshot'
    assert pods['netshot-control-' + RUN_ID]['metadata']['labels']['run'] == 'netshot-control'
    for pod in pods.values():
        container = pod['spec']['containers'][0]
        assert container['image'] == 'nicolaka/netshoot:v0.13'
        assert container['name'] == 'netshoot'  # the container k8s_exec targets
        assert container['command'] == ['sleep', '900']
    assert by_kind(docs, 'Namespace')[0]['metadata']['name'] == 'cni-test'


def test_deployment_and_service_selectors_select_the_nginx_pods_of_this_run_only():
    docs = all_manifests()
    deployment = by_kind(docs, 'Deployment')[0]
    service = by_kind(docs, 'Service')[0]
    labels = pod_labels(deployment)
    assert selector_matches(deployment['spec']['selector'], labels)
    assert selector_matches({'matchLabels': service['spec']['selector']}, labels)
    assert not selector_matches({'matchLabels': service['spec']['selector']}, dict(labels, **{'netobs.cilium/run-id': OTHER_RUN}))
    assert service['spec']['ports'][0]['port'] == 80
    assert service['spec']['ports'][0]['targetPort'] == deployment['spec']['template']['spec']['containers'][0]['ports'][0]['name']


def test_job_pods_carry_the_client_labels():
    docs = all_manifests(method='job')
    jobs = {job['metadata']['name']: job for job in by_kind(docs, 'Job')}
    assert pod_labels(jobs['netshot-' + RUN_ID])['run'] == 'netshot'
    assert pod_labels(jobs['netshot-control-' + RUN_ID])['run'] == 'netshot-control'
    for job in jobs.values():
        assert job['spec']['backoffLimit'] == 0
        assert job['spec']['template']['spec']['restartPolicy'] == 'Never'


# --- what the policies allow and deny ----------------------------------------------------------

NETSHOT, CONTROL, NGINX = 'cni-test/netshot-this', 'cni-test/netshot-control-this', 'cni-test/nginx-this'
DNS, OTHER_DNS = 'kube-system/coredns', 'default/coredns'


@pytest.mark.parametrize('method', ['exec', 'job'])
def test_egress_policy_denies_netshot_to_nginx_and_allows_dns_and_the_control(method):
    snapshot = snapshot_for(all_manifests('egress', method))
    decision = evaluate(snapshot, NETSHOT, NGINX, 80, 'TCP')
    assert decision.allowed is False
    assert [d.direction for d in decision.denied_by] == ['egress']  # dropped on netshot's EGRESS
    assert verdict(snapshot, NETSHOT, NGINX, 443) is False
    assert verdict(snapshot, NETSHOT, DNS, 53, 'UDP') is True
    assert verdict(snapshot, NETSHOT, DNS, 53, 'TCP') is True
    assert verdict(snapshot, NETSHOT, DNS, 80) is False
    assert verdict(snapshot, NETSHOT, OTHER_DNS, 53, 'UDP') is False  # only kube-dns in kube-system
    assert verdict(snapshot, CONTROL, NGINX, 80) is True
    # the policy is netshot's own: nginx's ingress and the clients of another run are untouched
    assert verdict(snapshot, 'cni-test/netshot-other', NGINX, 80) is True
    assert by_kind(all_manifests('egress', method), 'NetworkPolicy')[0]['spec']['policyTypes'] == ['Egress']


@pytest.mark.parametrize('method', ['exec', 'job'])
def test_ingress_policy_denies_netshot_and_allows_only_the_control_of_this_run(method):
    snapshot = snapshot_for(all_manifests('ingress', method))
    decision = evaluate(snapshot, NETSHOT, NGINX, 80, 'TCP')
    assert decision.allowed is False
    assert [d.direction for d in decision.denied_by] == ['ingress']  # dropped on nginx's INGRESS
    assert verdict(snapshot, CONTROL, NGINX, 80) is True
    assert verdict(snapshot, CONTROL, NGINX, 8080) is False
    assert verdict(snapshot, 'cni-test/netshot-control-other', NGINX, 80) is False
    # the denied client's own egress is not restricted, and nginx of another run is not selected
    assert verdict(snapshot, NETSHOT, DNS, 53, 'UDP') is True
    assert verdict(snapshot, NETSHOT, 'cni-test/nginx-other', 80) is True
    assert by_kind(all_manifests('ingress', method), 'NetworkPolicy')[0]['spec']['policyTypes'] == ['Ingress']


def test_the_engine_sees_an_allow_all_rule_as_allowing():
    """Guard for the checks above: they would notice a policy that lets netshot through."""
    docs = all_manifests('egress')
    by_kind(docs, 'NetworkPolicy')[0]['spec']['egress'].append({})
    assert verdict(snapshot_for(docs), NETSHOT, NGINX, 80) is True


# --- the probe: argv, exec command and what is validated ------------------------------------------

def test_exec_command_splits_back_to_exactly_the_probe_argv():
    argv = render_value('{{ cni_test__probe_argv }}')
    command = render_value('{{ cni_test__probe_command }}')
    assert shlex.split(command) == argv
    assert argv == ['curl', '--silent', '--show-error', '--fail', '--output', '/dev/null', '--write-out', '%{http_code}',
                    '--connect-timeout', '3', '--max-time', '5', '--retry', '1', 'http://10.0.0.226:80/']
    assert all(isinstance(item, str) for item in argv)


def test_ipv6_target_is_bracketed_in_the_url():
    argv = render_value('{{ cni_test__probe_argv }}', cni_test__target_ip='fd00:10:244::1a')
    assert argv[-1] == 'http://[fd00:10:244::1a]:80/'


def test_job_runs_the_same_argv_without_a_shell():
    argv = render_value('{{ cni_test__probe_argv }}')
    for job in by_kind(all_manifests(method='job'), 'Job'):
        container = job['spec']['template']['spec']['containers'][0]
        assert container['command'] == argv
        assert 'args' not in container


def _assert_conditions(task_file, task_name):
    tasks = _load('tasks/' + task_file)
    task = next(t for t in tasks if t['name'] == task_name)
    return task['ansible.builtin.assert']['that'], task.get('vars', {})


def _conditions_hold(task_file, task_name, **overrides):
    conditions, task_vars = _assert_conditions(task_file, task_name)
    merged = dict(task_vars, **overrides)
    return all(render_value('{{ %s }}' % condition, **merged) is True for condition in conditions)


@pytest.mark.parametrize('ip, ok', [
    ('10.0.0.226', True),
    ('fd00:10:244::1a', True),
    ('::1', True),
    ('10.0.0.256', False),
    ('10.0.0.1; reboot', False),
    ('10.0.0.1 --output /etc/passwd', False),
    ("10.0.0.1'", False),
    ('nginx.cni-test', False),
    ('', False),
])
def test_only_an_ip_address_read_from_the_api_reaches_the_probe(ip, ok):
    assert _conditions_hold('deploy.yml', 'Check that the nginx pod IP is an IP address',
                            cni_test__target_ip=ip, cni_test__nginx_pod='nginx-x') is ok


@pytest.mark.parametrize('overrides, ok', [
    ({}, True),
    ({'cni_test_namespace': 'Bad_NS'}, False),
    ({'cni_test_namespace': 'cni-test; kubectl delete ns kube-system'}, False),
    ({'cni_test__run_id': 'run with space'}, False),
    ({'cni_test__run_id': 'x' * 21}, False),
    ({'cni_test_nginx_image': 'nginx'}, False),
    ({'cni_test_nginx_image': 'nginx:latest'}, False),
    ({'cni_test_nginx_image': 'registry.local:5000/mirror/nginx:1.27.3-alpine'}, True),
    ({'cni_test_client_image': 'nicolaka/netshoot:v0.13 --privileged'}, False),
    ({'cni_test_connect_timeout': 0}, False),
    ({'cni_test_connect_timeout': 10, 'cni_test_max_time': 5}, False),
    ({'cni_test_probe_retries': 9}, False),
    ({'cni_test_evidence_since': '30 minutes'}, False),
    ({'cni_test_evidence_since': '1h30m'}, True),
    ({'cni_test_client_lifetime': 10}, False),
])
def test_inputs_are_validated_before_anything_is_created(overrides, ok):
    assert _conditions_hold('validate.yml', 'Check names, images and limits', **overrides) is ok


def test_generated_run_ids_are_valid_and_fresh():
    tasks = _load('tasks/validate.yml')
    expression = tasks[0]['ansible.builtin.set_fact']['cni_test__run_id']
    ids = {render_value(expression, cni_test_run_id='') for _attempt in range(5)}
    assert len(ids) == 5
    for run_id in ids:
        assert _conditions_hold('validate.yml', 'Check names, images and limits', cni_test__run_id=run_id)
    assert render_value(expression, cni_test_run_id='my-run') == 'my-run'


@pytest.mark.parametrize('mode, method, pod, peer', [
    ('egress', 'exec', 'netshot-' + RUN_ID, 'nginx-' + RUN_ID + '-*'),
    ('egress', 'job', 'netshot-' + RUN_ID + '-*', 'nginx-' + RUN_ID + '-*'),
    ('ingress', 'exec', 'nginx-' + RUN_ID + '-*', 'netshot-' + RUN_ID),
    ('ingress', 'job', 'nginx-' + RUN_ID + '-*', 'netshot-' + RUN_ID + '-*'),
])
def test_the_expected_event_is_on_the_right_pod_for_each_mode(mode, method, pod, peer):
    got = render_value('{{ [cni_test__event_pod_glob, cni_test__event_peer_glob] }}', cni_test_mode=mode, cni_test_probe_method=method)
    assert got == [pod, peer]


def test_only_a_timeout_counts_as_a_policy_drop():
    variables = role_vars()
    assert variables['cni_test__denied_exit_codes'] == [28]
    assert 'dropped' in variables['cni_test__exit_meanings'][28]
    assert 'not dropped' in variables['cni_test__exit_meanings'][7]


# --- picking this run's drops out of the collectors' results -------------------------------------

NGINX_POD = 'nginx-%s-5c754d96b-6r7x2' % RUN_ID


def event(pod, message):
    return {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': pod + '.1844', 'namespace': 'cni-test'},
            'involvedObject': {'kind': 'Pod', 'apiVersion': 'v1', 'namespace': 'cni-test', 'name': pod},
            'reason': 'PacketDrop', 'type': 'Warning', 'source': {'component': 'cilium'}, 'message': message,
            'count': 1, 'firstTimestamp': '2025-05-31T05:24:48Z', 'lastTimestamp': '2025-05-31T05:24:48Z'}


def flow(src_pod, dst_pod, port, direction, namespace='cni-test'):
    def endpoint(pod, labels):
        return {'namespace': namespace, 'pod_name': pod, 'labels': labels}
    return {'time': '2025-05-31T05:24:48.077Z', 'verdict': 'DROPPED', 'drop_reason': 133, 'drop_reason_desc': 'POLICY_DENIED',
            'IP': {'source': '10.0.0.12', 'destination': '10.0.0.226', 'ipVersion': 'IPv4'},
            'l4': {'TCP': {'source_port': 47302, 'destination_port': port, 'flags': {'SYN': True}}},
            'source': endpoint(src_pod, ['k8s:run=netshot']), 'destination': endpoint(dst_pod, ['k8s:app=nginx']),
            'Type': 'L3_L4', 'event_type': {'type': 1, 'sub_type': 133}, 'traffic_direction': direction,
            'node_name': 'kind-worker', 'Summary': 'TCP Flags: SYN'}


def event_drops(mode, client):
    other = 'netshot-' + OTHER_RUN
    if mode == 'egress':
        raw = [
            event(client, 'Outgoing packet dropped (policy_denied) to cni-test/%s (10.0.0.226) TCP/80.' % NGINX_POD),
            event(other, 'Outgoing packet dropped (policy_denied) to cni-test/nginx-%s-7c5d-8xkqz (10.0.0.9) TCP/80' % OTHER_RUN),
            event(client, 'Outgoing packet dropped (policy_denied) to cni-test/%s (10.0.0.226) TCP/443' % NGINX_POD),
            event(client, 'Outgoing packet dropped (policy_denied) to kube-system/coredns-76f75df574-7wq9z (10.0.0.31) UDP/53'),
        ]
    else:
        raw = [
            event(NGINX_POD, 'Incoming packet dropped (policy_denied) from cni-test/%s (10.0.0.12) TCP/80' % client),
            event(NGINX_POD, 'Incoming packet dropped (policy_denied) from cni-test/%s (10.0.0.13) TCP/80' % other),
            event(NGINX_POD, 'Incoming packet dropped (policy_denied) from cni-test/netshot-control-%s (10.0.0.14) TCP/80' % RUN_ID),
        ]
    return [parse_event(obj).to_dict() for obj in raw]


@pytest.mark.parametrize('mode', ['egress', 'ingress'])
@pytest.mark.parametrize('method, client', [('exec', 'netshot-' + RUN_ID), ('job', 'netshot-%s-x7k2p' % RUN_ID)])
def test_only_the_drop_of_this_run_counts_as_its_event(mode, method, client):
    drops = event_drops(mode, client)
    picked = render_value('{{ cni_test__event_drops_of_run }}', cni_test_mode=mode, cni_test_probe_method=method,
                          cni_test__events={'drops': drops})
    assert picked == [drops[0]]
    assert picked[0]['source']['pod'] == client and picked[0]['destination']['pod'] == NGINX_POD


@pytest.mark.parametrize('mode, direction', [('egress', 'EGRESS'), ('ingress', 'INGRESS')])
def test_only_the_drop_of_this_run_counts_as_its_flow(mode, direction):
    client = 'netshot-' + RUN_ID
    raw = [
        flow(client, NGINX_POD, 80, direction),
        flow(client, NGINX_POD, 443, direction),
        flow(client, NGINX_POD, 80, 'INGRESS' if direction == 'EGRESS' else 'EGRESS'),
        flow('netshot-control-' + RUN_ID, NGINX_POD, 80, direction),
        flow(client + 'x', NGINX_POD, 80, direction),
        flow(client, 'nginx-%s-7c5d-8xkqz' % OTHER_RUN, 80, direction),
        flow(client, NGINX_POD, 80, direction, namespace='cni-test-2'),  # same names, another namespace
    ]
    drops = [parse_flow(item).to_dict() for item in raw]
    picked = render_value('{{ cni_test__flow_drops_of_run }}', cni_test_mode=mode, cni_test__flows={'drops': drops})
    assert picked == [drops[0]]
    assert render_value('{{ cni_test__flow_drops_of_run }}', cni_test_mode=mode, cni_test__flows={'drops': drops[1:]}) == []


# --- the role's interface ---------------------------------------------------------------------------

def test_argument_specs_document_every_default_with_the_same_value():
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    with open(os.path.join(ROLE, 'defaults', 'main.yml'), encoding='utf-8') as handle:
        defaults = yaml.safe_load(handle)
    assert all(name.startswith('cni_test_') and not name.startswith('cni_test__') for name in options)
    assert set(defaults) <= set(options)
    for name, value in defaults.items():
        assert options[name].get('default') == value, name
    assert set(options) - set(defaults) == {'cni_test_kubeconfig', 'cni_test_context'}  # optional, no default
    for name in ('cni_test_mode', 'cni_test_probe_method', 'cni_test_hubble_transport'):
        assert defaults[name] in options[name]['choices']
    with open(os.path.join(ROLE, 'vars', 'main.yml'), encoding='utf-8') as handle:
        internal = yaml.safe_load(handle)
    assert all(name.startswith('cni_test__') for name in internal)  # never mistaken for a user option
