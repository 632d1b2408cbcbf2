# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation of strategic merge patch.

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


def strategic_merge(target, patch, for_apply=False):
    """Approximate strategic merge patch (see module docstring). ``for_apply`` keeps nulls out (server-side apply)."""
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
            merged = strategic_merge(current, value, for_apply)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(key, current if isinstance(current, list) else [], value, for_apply)
        else:
            out[key] = value
    for name, order in orders.items():
        if isinstance(out.get(name), list):
            out[name] = _reorder(name, out[name], order)
    if retain is not None:
        keep = set(retain)
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _merge_list(field, current, patch, for_apply):
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
            result[index[ident]] = strategic_merge(result[index[ident]], item, for_apply)
        else:
            index[ident] = len(result)
            result.append(strategic_merge({}, item, for_apply))
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


# ---------------------------------------------------------------------------------------------------------------------
# RFC 6902
# ---------------------------------------------------------------------------------------------------------------------

def _pointer(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise PatchError('invalid JSON pointer %r' % path)
    return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def _walk(doc, parts, path):
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                raise PatchError("doc is missing path: \"%s\": missing value" % path)
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError) as exc:
                raise PatchError("doc is missing path: \"%s\": missing value" % path) from exc
        else:
            raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return cur


def _add(doc, parts, value, path, replace=False):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError("doc is missing key: %s: missing value" % path)
        parent[last] = value
    elif isinstance(parent, list):
        if last == '-':
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError as exc:
                raise PatchError('invalid index %r' % last) from exc
            if replace:
                if not 0 <= idx < len(parent):
                    raise PatchError("doc is missing path: \"%s\": missing value" % path)
                parent[idx] = value
            else:
                if not 0 <= idx <= len(parent):
                    raise PatchError('add operation does not apply: doc is missing path: "%s": missing value' % path)
                parent.insert(idx, value)
    else:
        raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return doc


def _remove(doc, parts, path):
    if not parts:
        raise PatchError('cannot remove the document root')
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError) as exc:
        raise PatchError('remove operation does not apply: doc is missing path: "%s": missing value' % path) from exc
    raise PatchError('remove operation does not apply: doc is missing path: "%s": missing value' % path)


def json_patch(doc, ops):
    """RFC 6902 on a deep copy of ``doc``."""
    if not isinstance(ops, list):
        raise PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch')
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or 'op' not in op:
            raise PatchError('Unexpected kind: missing op')
        kind = op['op']
        path = op.get('path', '')
        parts = _pointer(path)
        if kind == 'add':
            doc = _add(doc, parts, copy.deepcopy(op.get('value')), path)
        elif kind == 'remove':
            _remove(doc, parts, path)
        elif kind == 'replace':
            doc = _add(doc, parts, copy.deepcopy(op.get('value')), path, replace=True)
        elif kind in ('move', 'copy'):
            src = op.get('from', '')
            value = _walk(doc, _pointer(src), src)
            if kind == 'move':
                _remove(doc, _pointer(src), src)
            doc = _add(doc, parts, copy.deepcopy(value), path)
        elif kind == 'test':
            if _walk(doc, parts, path) != op.get('value'):
                raise PatchError('testing value %s failed: test failed' % path)
        else:
            raise PatchError('Unexpected kind: %s' % kind)
    return doc
