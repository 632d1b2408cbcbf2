# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PATCH semantics: JSON merge patch (RFC 7386) and an approximation of strategic merge patch.

Strategic merge patch approximation: a JSON merge patch in which lists whose field name has a known Kubernetes
patch merge key (``containers``/``initContainers``/``env``/``volumes``/... by ``name``, ``volumeMounts`` by
``mountPath``, container ``ports`` by ``containerPort``, Service ``ports`` by ``port``, ``conditions`` by ``type``,
``ownerReferences`` by ``uid``) are merged item by item, ``finalizers`` are merged as a set, and the directives
``$patch`` (``replace``/``delete``/``merge``), ``$retainKeys``, ``$setElementOrder/<list>`` and
``$deleteFromPrimitiveList/<list>`` are honoured. Merge keys are chosen by field name, not from the OpenAPI schema.
"""

from __future__ import annotations

import copy

MERGE_KEYS = {
    'containers': 'name', 'initContainers': 'name', 'ephemeralContainers': 'name', 'env': 'name', 'volumes': 'name',
    'imagePullSecrets': 'name', 'volumeMounts': 'mountPath', 'volumeDevices': 'devicePath', 'conditions': 'type',
    'ownerReferences': 'uid', 'hostAliases': 'ip', 'secrets': 'name', 'webhooks': 'name', 'envFrom': None,
}
SET_LISTS = ('finalizers',)


class PatchError(ValueError):
    """A patch the apiserver would reject (message shown to the client)."""


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _merge_key(field, items):
    if field == 'ports':
        sample = next((i for i in items if isinstance(i, dict)), {})
        return 'containerPort' if 'containerPort' in sample else 'port'
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch):
    """Approximate strategic merge patch (see module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != '$patch'}
    if patch.get('$patch') == 'delete':
        return None
    out = dict(target) if isinstance(target, dict) else {}
    orders = {}
    retain = patch.get('$retainKeys')
    for key, value in patch.items():
        if key in ('$patch', '$retainKeys'):
            continue
        if key.startswith('$setElementOrder/'):
            orders[key.split('/', 1)[1]] = value
            continue
        if key.startswith('$deleteFromPrimitiveList/'):
            name = key.split('/', 1)[1]
            drop = set(map(repr, value or []))
            out[name] = [v for v in out.get(name) or [] if repr(v) not in drop]
            continue
        if value is None:
            out.pop(key, None)
            continue
        current = out.get(key)
        if isinstance(value, dict):
            merged = strategic_merge(current, value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(key, current if isinstance(current, list) else [], value)
        else:
            out[key] = value
    for name, order in orders.items():
        if isinstance(out.get(name), list):
            out[name] = _reorder(name, out[name], order)
    if retain is not None:
        keep = set(retain)
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _merge_list(field, current, patch):
    if field in SET_LISTS:
        result = list(current)
        for item in patch:
            if item not in result:
                result.append(item)
        return result
    key = _merge_key(field, patch + current)
    if not key or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get('$patch') == 'replace' for i in patch):
            return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get('$patch'))]
        return copy.deepcopy(patch)
    if any(i.get('$patch') == 'replace' for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get('$patch') != 'replace']
    result = [copy.deepcopy(i) for i in current]
    index = {i.get(key): n for n, i in enumerate(result) if isinstance(i, dict)}
    deleted = set()
    for item in patch:
        ident = item.get(key)
        if item.get('$patch') == 'delete':
            deleted.add(ident)
            continue
        if ident in index:
            result[index[ident]] = strategic_merge(result[index[ident]], item)
        else:
            index[ident] = len(result)
            result.append(strategic_merge({}, item))
    return [i for i in result if not (isinstance(i, dict) and i.get(key) in deleted)]


def _reorder(field, items, order):
    key = _merge_key(field, items)
    if key is None:
        return items

    def ident(item):
        return item.get(key) if isinstance(item, dict) else item

    pos = {}
    for n, entry in enumerate(order):
        pos.setdefault(entry.get(key) if isinstance(entry, dict) else entry, n)
    ranked = sorted(enumerate(items), key=lambda p: (pos.get(ident(p[1]), len(order)), p[0]))
    return [item for _index, item in ranked]
