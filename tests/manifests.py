# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the Kubernetes manifests the collection ships (docs/rbac, docs/scheduled) as a flat list of objects."""

from __future__ import annotations

import os

import yaml

RBAC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs', 'rbac')


def load_objects(path: str) -> list[dict]:
    """Objects of a manifest file: every document, with ``kind: List`` documents expanded to their items."""
    with open(path, encoding='utf-8') as handle:
        documents = [document for document in yaml.safe_load_all(handle) if document]
    objects: list[dict] = []
    for document in documents:
        if document.get('kind') == 'List' or document.get('kind', '').endswith('List') and 'items' in document:
            objects.extend(item for item in document.get('items') or [] if item)
        else:
            objects.append(document)
    return objects


def rbac_rules(name: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) granted by docs/rbac/<name>; checks the file binds its Role to its ServiceAccount, no wildcards."""
    docs = load_objects(os.path.join(RBAC_DIR, name))
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
            account = next(d for d in docs if d['kind'] == 'ServiceAccount')['metadata']['name']
            assert role is not None and doc['subjects'][0]['name'] == account
    return granted
