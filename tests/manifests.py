# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the Kubernetes manifests the collection ships (docs/rbac, docs/scheduled) as a flat list of objects."""

from __future__ import annotations

import yaml


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
