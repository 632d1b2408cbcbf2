# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""REST semantics of the test apiserver as the kubernetes Python client and raw HTTP see them (no subprocesses)."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def api(kubeconfig):
    from kubernetes import config  # pylint: disable=import-outside-toplevel
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
def http(kube_apiserver):
    import urllib3  # pylint: disable=import-outside-toplevel
    pool = urllib3.PoolManager(retries=False)

    def call(method, path, body=None, content_type='application/json', headers=None):
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs['Content-Type'] = content_type
        resp = pool.request(method, kube_apiserver.url + path, body=data, headers=hdrs, preload_content=True)
        ctype = resp.headers.get('Content-Type', '')
        streaming = 'watch=' in path and resp.status == 200
        return resp.status, (json.loads(resp.data) if ctype.startswith('application/json') and not streaming else resp.data.decode()), resp.headers
    return call


def cm(name, namespace='default', **data):
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name, 'namespace': namespace}, 'data': data}


def test_create_get_replace_conflict_and_not_found_statuses(kube_apiserver, api):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    v1 = client.CoreV1Api(api)
    made = v1.create_namespaced_config_map('default', cm('a', x='1'))
    assert made.metadata.uid and made.metadata.creation_timestamp and int(made.metadata.resource_version) > 1000
    with pytest.raises(client.ApiException) as err:
        v1.create_namespaced_config_map('default', cm('a'))
    assert err.value.status == 409 and json.loads(err.value.body)['message'] == 'configmaps "a" already exists'
    made.data['x'] = '2'
    updated = v1.replace_namespaced_config_map('a', 'default', made)
    assert int(updated.metadata.resource_version) > int(made.metadata.resource_version)
    with pytest.raises(client.ApiException) as err:
        v1.replace_namespaced_config_map('a', 'default', made)             # stale resourceVersion
    assert err.value.status == 409 and json.loads(err.value.body)['message'] == (
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest '
        'version and try again')
    with pytest.raises(client.ApiException) as err:
        client.AppsV1Api(api).read_namespaced_deployment('nope', 'default')
    assert json.loads(err.value.body)['message'] == 'deployments.apps "nope" not found'
    assert json.loads(err.value.body)['details'] == {'name': 'nope', 'group': 'apps', 'kind': 'deployments'}
    with pytest.raises(client.ApiException) as err:
        v1.create_namespaced_config_map('missing-ns', cm('a', 'missing-ns'))
    assert err.value.status == 404 and json.loads(err.value.body)['message'] == 'namespaces "missing-ns" not found'
    with pytest.raises(client.ApiException) as err:
        v1.create_namespaced_config_map('default', cm('Bad_Name'))
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body['reason'] == 'Invalid' and body['message'].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    dry = v1.create_namespaced_config_map('default', cm('dry'), dry_run='All')
    assert dry.metadata.name == 'dry' and kube_apiserver.get('v1', 'ConfigMap', 'default', 'dry') is None
    status = v1.delete_namespaced_config_map('a', 'default', _preload_content=False)
    status = json.loads(status.data)
    assert status['status'] == 'Success' and status['details']['name'] == 'a' and status['details']['kind'] == 'configmaps'
    assert kube_apiserver.get('v1', 'ConfigMap', 'default', 'a') is None


def test_merge_patches_status_subresource_and_generation(kube_apiserver, api, http):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    apps = client.AppsV1Api(api)
    dep = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'd', 'namespace': 'default'},
           'spec': {'replicas': 1, 'selector': {'matchLabels': {'a': 'b'}}, 'template': {
               'metadata': {'labels': {'a': 'b'}}, 'spec': {'containers': [{'name': 'one', 'image': 'i:1'}, {'name': 'two', 'image': 'j:1'}]}}},
           'status': {'replicas': 99}}
    created = apps.create_namespaced_deployment('default', dep)
    assert created.metadata.generation == 1 and created.status.replicas is None        # status is reset on create
    # strategic merge: containers merge by name
    path = '/apis/apps/v1/namespaces/default/deployments/d'
    code, body, _hdrs = http('PATCH', path, {'spec': {'template': {'spec': {'containers': [{'name': 'two', 'image': 'j:2'}]}}}},
                             'application/strategic-merge-patch+json')
    assert code == 200 and [(c['name'], c['image']) for c in body['spec']['template']['spec']['containers']] == [('one', 'i:1'), ('two', 'j:2')]
    assert body['metadata']['generation'] == 2
    # strategic merge directive: delete one container
    code, body, _hdrs = http('PATCH', path, {'spec': {'template': {'spec': {'containers': [{'name': 'one', '$patch': 'delete'}]}}}},
                             'application/strategic-merge-patch+json')
    assert [c['name'] for c in body['spec']['template']['spec']['containers']] == ['two']
    # merge patch replaces lists
    code, body, _hdrs = http('PATCH', path, {'metadata': {'labels': {'x': 'y'}}, 'spec': {'replicas': 3}}, 'application/merge-patch+json')
    assert body['metadata']['labels'] == {'x': 'y'} and body['spec']['replicas'] == 3 and body['metadata']['generation'] == 4
    # status subresource changes only status, main resource ignores status
    code, body, _hdrs = http('PATCH', path + '/status', {'status': {'availableReplicas': 4}}, 'application/merge-patch+json')
    assert code == 200 and body['status'] == {'availableReplicas': 4} and body['metadata']['generation'] == 4
    code, body, _hdrs = http('PATCH', path, {'status': {'availableReplicas': 0}}, 'application/merge-patch+json')
    assert body['status'] == {'availableReplicas': 4}
    # JSON patch and server-side apply are not the fake's: 415 names the real apiserver harness
    code, body, _hdrs = http('PATCH', path, [{'op': 'replace', 'path': '/spec/replicas', 'value': 4}], 'application/json-patch+json')
    assert code == 415 and 'real_apiserver' in body['message']
    # strategic merge patch is refused for custom resources (clients fall back to merge patch)
    kube_apiserver.apply({'apiVersion': 'cilium.io/v2', 'kind': 'CiliumNetworkPolicy', 'metadata': {'name': 'p', 'namespace': 'default'},
                          'spec': {'endpointSelector': {}}})
    code, body, _hdrs = http('PATCH', '/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies/p', {'spec': {'x': 1}},
                             'application/strategic-merge-patch+json')
    assert code == 415 and body['reason'] == 'UnsupportedMediaType'
    code, body, _hdrs = http('PATCH', '/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies/p?dryRun=All', {'spec': {'x': 1}},
                             'application/merge-patch+json')
    assert code == 200 and body['spec']['x'] == 1
    assert 'x' not in kube_apiserver.get('cilium.io/v2', 'CiliumNetworkPolicy', 'default', 'p')['spec']


def test_namespace_deletion_cascades_and_watchers_see_it(kube_apiserver, api):
    from kubernetes import client, watch  # pylint: disable=import-outside-toplevel
    v1 = client.CoreV1Api(api)
    kube_apiserver.apply([cm('a', 'doomed'), cm('b', 'doomed'), cm('c', 'kept')])
    rv = v1.list_config_map_for_all_namespaces().metadata.resource_version
    threading.Timer(0.2, lambda: v1.delete_namespace('doomed')).start()
    events = [(e['type'], e['object'].metadata.name) for e in
              watch.Watch().stream(v1.list_config_map_for_all_namespaces, resource_version=rv, timeout_seconds=1)]
    assert events == [('DELETED', 'a'), ('DELETED', 'b')]
    assert [n.metadata.name for n in v1.list_namespace().items if n.metadata.name in ('doomed', 'kept')] == ['kept']
    assert kube_apiserver.get('v1', 'ConfigMap', 'kept', 'c') is not None


def test_watch_selection_transitions_bookmarks_and_initial_events(kube_apiserver, http):
    kube_apiserver.bookmark_interval = 0.2
    kube_apiserver.apply([dict(cm('a', 'w'), metadata={'name': 'a', 'namespace': 'w', 'labels': {'team': 'x'}})])
    _code, listed, _hdrs = http('GET', '/api/v1/namespaces/w/configmaps')
    rv = listed['metadata']['resourceVersion']

    def later():
        time.sleep(0.3)
        kube_apiserver.apply(dict(cm('b', 'w'), metadata={'name': 'b', 'namespace': 'w', 'labels': {'team': 'y'}}))
        kube_apiserver.apply(dict(cm('b', 'w'), metadata={'name': 'b', 'namespace': 'w', 'labels': {'team': 'x'}}))   # enters
        kube_apiserver.apply(dict(cm('a', 'w'), metadata={'name': 'a', 'namespace': 'w', 'labels': {'team': 'z'}}))   # leaves
    threading.Thread(target=later, daemon=True).start()
    code, text, headers = http('GET', '/api/v1/namespaces/w/configmaps?watch=1&labelSelector=team%%3Dx&allowWatchBookmarks=true'
                                      '&resourceVersion=%s&timeoutSeconds=1' % rv)
    assert code == 200 and headers['Transfer-Encoding'] == 'chunked'
    lines = [json.loads(line) for line in text.splitlines()]
    changes = [(ev['type'], ev['object']['metadata']['name']) for ev in lines if ev['type'] != 'BOOKMARK']
    assert changes == [('ADDED', 'b'), ('DELETED', 'a')]
    bookmarks = [ev for ev in lines if ev['type'] == 'BOOKMARK']
    assert bookmarks and bookmarks[0]['object']['kind'] == 'ConfigMap' and set(bookmarks[0]['object']['metadata']) == {
        'resourceVersion', 'creationTimestamp'}
    # watch-list (sendInitialEvents): current state, then the initial-events-end bookmark
    code, text, _hdrs = http('GET', '/api/v1/namespaces/w/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true'
                             '&resourceVersionMatch=NotOlderThan&timeoutSeconds=0.3')
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(ev['type'], ev['object']['metadata'].get('name')) for ev in lines[:3]] == [('ADDED', 'a'), ('ADDED', 'b'), ('BOOKMARK', None)]
    assert lines[2]['object']['metadata']['annotations'] == {'k8s.io/initial-events-end': 'true'}


def test_discovery_documents_and_content_negotiation(kube_apiserver, http):
    code, version, _hdrs = http('GET', '/version')
    assert code == 200 and version['major'] == '1' and version['minor'] == '32'
    _code, core, _hdrs = http('GET', '/api/v1')
    pods = next(r for r in core['resources'] if r['name'] == 'pods')
    assert pods['kind'] == 'Pod' and pods['namespaced'] and pods['shortNames'] == ['po'] and pods['singularName'] == 'pod'
    assert {'pods/exec', 'pods/portforward', 'pods/status'} <= {r['name'] for r in core['resources']}
    assert next(r for r in core['resources'] if r['name'] == 'namespaces')['namespaced'] is False
    _code, groups, _hdrs = http('GET', '/apis')
    assert {'apps', 'cilium.io', 'operator.tigera.io', 'crd.projectcalico.org'} <= {g['name'] for g in groups['groups']}
    code, agg, headers = http('GET', '/apis', headers={
        'Accept': 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json'})
    assert headers['Content-Type'] == 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
    cilium = next(i for i in agg['items'] if i['metadata']['name'] == 'cilium.io')
    cnp = next(r for r in cilium['versions'][0]['resources'] if r['resource'] == 'ciliumnetworkpolicies')
    assert cnp['responseKind'] == {'group': 'cilium.io', 'version': 'v2', 'kind': 'CiliumNetworkPolicy'} and cnp['scope'] == 'Namespaced'
    assert cnp['shortNames'] == ['cnp', 'ciliumnp'] and cnp['subresources'][0]['subresource'] == 'status'
    code, text, _hdrs = http('GET', '/apis/nonexistent.io/v1/things')
    assert code == 404 and text == '404 page not found\n'
    code, body, _hdrs = http('GET', '/api/v1/things')
    assert code == 404 and body['message'] == 'the server could not find the requested resource'
    # no server-side printing: a Table request falls back to the plain list, as the Accept header allows
    code, listed, headers = http('GET', '/api/v1/namespaces', headers={
        'Accept': 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'})
    assert code == 200 and listed['kind'] == 'NamespaceList' and headers['Content-Type'] == 'application/json'
    code, body, _hdrs = http('GET', '/api/v1/pods', headers={'Accept': 'application/vnd.kubernetes.protobuf'})
    assert code == 406 and body['reason'] == 'NotAcceptable'


def test_crds_created_or_deleted_through_the_api_change_what_is_served(kube_apiserver, api, http):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    ext = client.ApiextensionsV1Api(api)
    crd = {'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition', 'metadata': {'name': 'widgets.example.io'},
           'spec': {'group': 'example.io', 'scope': 'Namespaced',
                    'names': {'plural': 'widgets', 'singular': 'widget', 'kind': 'Widget', 'shortNames': ['wd']},
                    'versions': [{'name': 'v1', 'served': True, 'storage': True,
                                  'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}}]}}
    made = ext.create_custom_resource_definition(crd)
    assert {c.type: c.status for c in made.status.conditions}['Established'] == 'True'
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object('example.io', 'v1', 'default', 'widgets',
                                           {'apiVersion': 'example.io/v1', 'kind': 'Widget', 'metadata': {'name': 'w1'}, 'size': 3})
    assert custom.get_namespaced_custom_object('example.io', 'v1', 'default', 'widgets', 'w1')['size'] == 3
    with pytest.raises(client.ApiException) as err:       # custom resources need resourceVersion on update
        custom.replace_namespaced_custom_object('example.io', 'v1', 'default', 'widgets', 'w1',
                                                {'apiVersion': 'example.io/v1', 'kind': 'Widget', 'metadata': {'name': 'w1'}, 'size': 4})
    assert err.value.status == 422 and 'must be specified for an update' in json.loads(err.value.body)['message']
    ext.delete_custom_resource_definition('widgets.example.io')
    code, _body, _hdrs = http('GET', '/apis/example.io/v1/namespaces/default/widgets')
    assert code == 404
    # removing Cilium's CRD makes cilium.io disappear from discovery, as on a cluster without Cilium
    assert kube_apiserver.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', None, 'ciliumnetworkpolicies.cilium.io')
    _code, core, _hdrs = http('GET', '/apis/cilium.io/v2')
    assert 'ciliumnetworkpolicies' not in {r['name'] for r in core['resources']}


@pytest.mark.parametrize('kube_apiserver', [{'crds': ['operator.tigera.io']}], indirect=True)
def test_crds_option_installs_only_the_named_groups(kube_apiserver, http):
    _code, groups, _hdrs = http('GET', '/apis')
    names = {g['name'] for g in groups['groups']}
    assert 'operator.tigera.io' in names and 'cilium.io' not in names and 'crd.projectcalico.org' not in names


def test_bulk_load_and_paging_stay_fast(kube_apiserver, http):
    base = {'apiVersion': 'v1', 'kind': 'Event', 'involvedObject': {'kind': 'Pod', 'apiVersion': 'v1'}, 'type': 'Warning',
            'source': {'component': 'cilium'}, 'message': 'Outgoing packet dropped (policy_denied) to ns/x (10.0.0.1) TCP/80'}
    objs = [dict(base, metadata={'name': 'p%d.%x' % (i, i), 'namespace': 'ns-%d' % (i % 20)},
                 reason='PacketDrop' if i % 4 == 0 else 'Pulled') for i in range(40000)]
    start = time.monotonic()
    assert kube_apiserver.apply(objs) == 40000
    load = time.monotonic() - start
    start = time.monotonic()
    total, token, pages = 0, '', 0
    while True:
        _code, page, _hdrs = http('GET', '/api/v1/events?fieldSelector=reason%%3DPacketDrop&limit=500%s' % ('&continue=' + token if token else ''))
        total += len(page['items'])
        pages += 1
        token = page['metadata'].get('continue')
        if not token:
            break
    paging = time.monotonic() - start
    assert (total, pages) == (10000, 20)
    assert load < 10 and paging < 10, (load, paging)          # generous: measured ~0.5 s and ~0.2 s on an idle 2-core machine
