# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/scheduled/: the CronJob/RBAC manifests are valid Kubernetes objects and match what the code needs."""

from __future__ import annotations

import os

import kubernetes_validate
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import LIVE_RESOURCES
from manifests import load_objects

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEDULED = os.path.join(REPO, 'docs', 'scheduled')
KUBERNETES_VERSION = '1.32.0'


def documents(*parts):
    return load_objects(os.path.join(REPO, *parts))


def test_manifests_are_valid_kubernetes_objects():
    objects = documents('docs', 'scheduled', 'rbac.yml') + documents('docs', 'scheduled', 'cronjob.yml')
    assert {o['kind'] for o in objects} == {'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'RoleBinding',
                                            'ConfigMap', 'PersistentVolumeClaim', 'CronJob'}
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_snapshot_reader_grants_exactly_what_the_live_snapshot_lists():
    role = next(o for o in documents('docs', 'scheduled', 'rbac.yml') if o['kind'] == 'ClusterRole')
    granted = {(group, resource) for rule in role['rules'] for group in rule['apiGroups'] for resource in rule['resources']
               if rule['verbs'] == ['list']}
    needed = set()
    for _kind, path, _required in LIVE_RESOURCES:
        parts = path.strip('/').split('/')
        needed.add(('' if parts[0] == 'api' else parts[1], parts[-1]))
    assert granted == needed


def test_bindings_point_at_the_collector_roles_and_the_cronjob_uses_them():
    roles = {(o['kind'], o['metadata']['name']) for name in ('events-reader.yml', 'hubble-relay-portforward.yml')
             for o in documents('docs', 'rbac', name) if o['kind'] in ('Role', 'ClusterRole')}
    roles |= {(o['kind'], o['metadata']['name']) for o in documents('docs', 'scheduled', 'rbac.yml') if o['kind'] == 'ClusterRole'}
    bindings = [o for o in documents('docs', 'scheduled', 'rbac.yml') if o['kind'].endswith('Binding')]
    assert {(b['roleRef']['kind'], b['roleRef']['name']) for b in bindings} == roles
    assert {(s['namespace'], s['name']) for b in bindings for s in b['subjects']} == {('netobs', 'netobs-compliance')}
    objects = documents('docs', 'scheduled', 'cronjob.yml')
    cronjob = next(o for o in objects if o['kind'] == 'CronJob')
    pod = cronjob['spec']['jobTemplate']['spec']['template']['spec']
    assert pod['serviceAccountName'] == 'netobs-compliance'
    container = pod['containers'][0]
    assert container['command'][:3] == ['ansible-runner', 'run', '/runner'] and container['securityContext']['readOnlyRootFilesystem']
    config = next(o for o in objects if o['kind'] == 'ConfigMap')['data']
    assert yaml.safe_load(config['compliance.yml'])[0]['ansible.builtin.import_playbook'] == 'netobs.cilium.compliance'
    hosts = yaml.safe_load(config['hosts.yml'])['all']['children']['clusters']['hosts']
    assert list(hosts) == ['prod-eu'] and hosts['prod-eu']['compliance_expectations_file'] == '/etc/netobs/expectations.yml'
    assert [e.name for e in exp.load_expectations(yaml.safe_load(config['expectations.yml']))] == [
        'payments-isolated-from-world', 'frontend-reaches-payments-api']


def test_execution_environment_installs_the_collection_its_dependencies_and_helm():
    with open(os.path.join(REPO, 'galaxy.yml'), encoding='utf-8') as handle:
        version = yaml.safe_load(handle)['version']
    ee = documents('docs', 'scheduled', 'execution-environment.yml')[0]
    assert ee['version'] == 3
    collections = [c['name'] for c in ee['dependencies']['galaxy']['collections']]
    assert collections == ['kubernetes.core', f'/build/collections/netobs-cilium-{version}.tar.gz']
    assert ee['additional_build_files'][0]['src'] == f'netobs-cilium-{version}.tar.gz'
    with open(os.path.join(REPO, 'requirements.txt'), encoding='utf-8') as handle:
        required = {line.split('>=')[0].split('#')[0].strip().lower() for line in handle if line.strip() and not line.startswith('#')}
    installed = {line.split('>=')[0].strip().lower() for line in ee['dependencies']['python']}
    assert required <= installed
    assert any('helm' in step for step in ee['additional_build_steps']['append_final'])
