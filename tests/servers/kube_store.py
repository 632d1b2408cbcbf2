# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Object storage of the Kubernetes API test server.

Objects are kept pre-serialised (orjson bytes) together with their labels and selectable fields, sorted by the
etcd-style key ``<namespace>/<name>``; equality field selectors (including the namespace) use lazily built,
incrementally maintained indexes, so paging through 200 000 Events costs a bisect per page. Every write takes the
next value of one global resourceVersion counter and is appended to the per-storage history that watches resume from.
"""

from __future__ import annotations

import base64
import bisect
import copy
import datetime
import gc
import re
import threading
import uuid

import orjson

from servers import kube_patch
from servers.kube_resources import (BUILTIN, KNOWN_CRDS, crd_established_status, normalize_core_event, types_from_crd)

ADDED, MODIFIED, DELETED = 'ADDED', 'MODIFIED', 'DELETED'

DNS1123_SUBDOMAIN = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
                 "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an "
             "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
# Kinds whose DELETE answers with the object rather than a Status (graceful or finalized deletion in a real apiserver).
DELETE_RETURNS_OBJECT = {('', 'namespaces'), ('', 'pods'), ('apiextensions.k8s.io', 'customresourcedefinitions')}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def status_failure(code, reason, message, details=None):
    out = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure', 'message': message, 'reason': reason}
    if details is not None:
        out['details'] = details
    out['code'] = code
    return out


class ApiError(Exception):
    """An error answered as a ``Status`` object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        return status_failure(self.code, self.reason, self.message, self.details)


def _details(rt, name=None):
    out = {}
    if name is not None:
        out['name'] = name
    if rt.group:
        out['group'] = rt.group
    out['kind'] = rt.plural
    return out


def not_found(rt, name):
    return ApiError(404, 'NotFound', '%s "%s" not found' % (rt.qualified, name), _details(rt, name))


def invalid(rt, name, field, message, reason='FieldValueInvalid', detail=''):
    text = '%s: %s' % (field, message)
    return ApiError(422, 'Invalid', '%s "%s" is invalid: %s' % (rt.kind, name, text),
                    {'name': name, **({'group': rt.group} if rt.group else {}), 'kind': rt.kind,
                     'causes': [{'reason': reason, 'message': detail or message, 'field': field}]})


def encode_continue(rv, start):
    token = orjson.dumps({'v': 'meta.k8s.io/v1', 'rv': rv, 'start': start})
    return base64.urlsafe_b64encode(token).decode().rstrip('=')


def decode_continue(token):
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + '=' * (-len(token) % 4)))
        return int(data['rv']), str(data['start'])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, 'BadRequest', 'continue key is not valid: %s' % exc) from exc


class Entry:
    """One stored object version."""

    __slots__ = ('key', 'namespace', 'name', 'raw', 'rv', 'labels', 'fields')

    def __init__(self, key, namespace, name, raw, rv, labels, fields):
        self.key = key
        self.namespace = namespace
        self.name = name
        self.raw = raw
        self.rv = rv
        self.labels = labels
        self.fields = fields

    def obj(self):
        return orjson.loads(self.raw)


class Watcher:
    """A live watch: events are appended from any thread through the server loop."""

    def __init__(self, last_rv, wake):
        self.last_rv = last_rv
        self.buffer = []
        self.wake = wake        # asyncio.Event (set from the loop thread)


class Storage:
    """All versions of one resource share one Storage."""

    def __init__(self, key, api_version, kind, namespaced, field_fn):
        self.key = key
        self.api_version = api_version
        self.kind = kind
        self.namespaced = namespaced
        self.field_fn = field_fn
        self.objects = {}
        self._sorted = None
        self.indexes = {}
        self._sorted_idx = {}
        self.history = []
        self.history_rvs = []
        self.watchers = set()

    def put(self, entry):
        old = self.objects.get(entry.key)
        self.objects[entry.key] = entry
        if old is None:
            self._sorted = None
        for field, idx in self.indexes.items():
            new_value = entry.fields.get(field, '')
            if old is not None:
                old_value = old.fields.get(field, '')
                if old_value == new_value:
                    continue
                idx.get(old_value, set()).discard(entry.key)
                self._sorted_idx.pop((field, old_value), None)
            idx.setdefault(new_value, set()).add(entry.key)
            self._sorted_idx.pop((field, new_value), None)
        return old

    def remove(self, key):
        old = self.objects.pop(key, None)
        if old is None:
            return None
        self._sorted = None
        for field, idx in self.indexes.items():
            value = old.fields.get(field, '')
            idx.get(value, set()).discard(key)
            self._sorted_idx.pop((field, value), None)
        return old

    def sorted_keys(self):
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def index_keys(self, field, value):
        cached = self._sorted_idx.get((field, value))
        if cached is not None:
            return cached
        idx = self.indexes.get(field)
        if idx is None:
            idx = {}
            for key, entry in self.objects.items():
                idx.setdefault(entry.fields.get(field, ''), set()).add(key)
            self.indexes[field] = idx
        cached = sorted(idx.get(value, ()))
        self._sorted_idx[(field, value)] = cached
        return cached

    def candidates(self, equalities):
        """Sorted keys that can match: the smallest index among the equality terms, else every key."""
        best = None
        for field, value in equalities:
            keys = self.index_keys(field, value)
            if best is None or len(keys) < len(best):
                best = keys
        return self.sorted_keys() if best is None else best

    def record(self, rv, etype, entry, old):
        self.history.append((rv, etype, entry, old))
        self.history_rvs.append(rv)

    def since(self, rv):
        return self.history[bisect.bisect_right(self.history_rvs, rv):]


def _key(namespace, name):
    return '%s/%s' % (namespace, name) if namespace else name


def _spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ('metadata', 'status', 'kind', 'apiVersion')}


def _ordered(obj, api_version, kind):
    out = {'kind': kind, 'apiVersion': api_version, 'metadata': dict(obj.get('metadata') or {})}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


class Store:
    """The state of the test server: types, objects, history, watchers. Thread safe (one lock)."""

    def __init__(self, crds=None):
        self.lock = threading.RLock()
        self.rv = 1000
        self.types = {}          # (group, version, plural) -> ResourceType
        self.by_gvk = {}         # (apiVersion, kind) -> ResourceType
        self.storages = {}       # storage key -> Storage
        self.notify = None       # callable(list of (storage, events)) installed by the server
        self.auto_status = {}    # (apiVersion, kind) -> callable(obj) -> status
        for rt in BUILTIN:
            self.register(rt)
        self.boot_time = now_rfc3339()
        pending = []
        for name in ('default', 'kube-system', 'kube-public', 'kube-node-lease'):
            pending.append({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}})
        for crd in KNOWN_CRDS:
            if crds is None or crd['metadata']['name'] in crds or crd['spec']['group'] in crds:
                pending.append(copy.deepcopy(crd))
        self.apply(pending)

    # -- registry ------------------------------------------------------------------------------------------------------
    def register(self, rt):
        self.types[(rt.group, rt.version, rt.plural)] = rt
        self.by_gvk[(rt.api_version, rt.kind)] = rt
        skey = rt.storage_key
        if skey not in self.storages:
            self.storages[skey] = Storage(skey, rt.api_version, rt.kind, rt.namespaced, rt.fields)

    def unregister_crd(self, crd_name, events):
        for key, rt in list(self.types.items()):
            if rt.crd == crd_name:
                del self.types[key]
                self.by_gvk.pop((rt.api_version, rt.kind), None)
                st = self.storages.pop(rt.storage_key, None)
                if st is not None:
                    for entry in list(st.objects.values()):
                        self._delete_entry(st, entry, events)

    def groups(self):
        """{group: [versions]} in registration order."""
        out = {}
        for rt in self.types.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def lookup(self, api_version, kind):
        rt = self.by_gvk.get((api_version, kind))
        if rt is None:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource (kind %s in %s)' % (kind, api_version))
        return rt

    def storage(self, rt):
        return self.storages[rt.storage_key]

    # -- conversion ----------------------------------------------------------------------------------------------------
    def to_storage(self, rt, obj):
        st = self.storage(rt)
        obj = _ordered(obj, st.api_version, st.kind)
        if st.key == ('', 'events'):
            normalize_core_event(obj)
        return obj

    def render(self, rt, entry):
        """Bytes of ``entry`` as ``rt`` (apiVersion rewritten when the storage holds another version)."""
        st = self.storage(rt)
        if rt.api_version == st.api_version:
            return entry.raw
        obj = orjson.loads(entry.raw)
        obj['apiVersion'] = rt.api_version
        return orjson.dumps(obj)

    def render_obj(self, rt, entry):
        obj = orjson.loads(entry.raw)
        obj['apiVersion'] = rt.api_version
        return obj

    # -- low level writes (lock held) ----------------------------------------------------------------------------------
    def _commit(self, st, obj, etype, old_entry, events):
        self.rv += 1
        md = obj['metadata']
        md['resourceVersion'] = str(self.rv)
        namespace = md.get('namespace', '') if st.namespaced else ''
        # orjson's result keeps its 8 KiB growth buffer allocated: store an exact-size copy (8x less memory at 200k objects)
        entry = Entry(_key(namespace, md['name']), namespace, md['name'], bytes(memoryview(orjson.dumps(obj))), self.rv,
                      md.get('labels') or {}, st.field_fn(obj))
        if etype == DELETED:
            st.remove(entry.key)
        else:
            st.put(entry)
        ev = (self.rv, etype, entry, old_entry)
        st.record(*ev)
        if st.watchers:
            events.append((st, ev))
        return entry

    def _delete_entry(self, st, entry, events, obj=None):
        obj = obj or entry.obj()
        return self._commit(st, obj, DELETED, entry, events)

    def _after_write(self, rt, obj):
        """Side effects of a write: CRD registration."""
        if rt.storage_key == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            name = obj['metadata']['name']
            for old in [t for t in self.types.values() if t.crd == name]:
                self.types.pop((old.group, old.version, old.plural), None)
                self.by_gvk.pop((old.api_version, old.kind), None)
            for new in types_from_crd(obj):
                self.register(new)

    def _flush(self, events):
        if events and self.notify is not None:
            self.notify(events)

    # -- fixtures (srv.apply) ------------------------------------------------------------------------------------------
    def apply(self, objs):
        """Create-or-replace fixture objects fast; namespaces are created on demand. Returns the stored objects."""
        if isinstance(objs, dict):
            objs = objs.get('items', []) if str(objs.get('kind', '')).endswith('List') and 'items' in objs else [objs]
        events = []
        out = []
        now = now_rfc3339()
        cache = {}
        gc_was_enabled = gc.isenabled()
        gc.disable()    # bulk loads allocate millions of small containers; the cyclic GC would make this quadratic
        try:
            self._apply_locked(objs, now, cache, events, out)
        finally:
            if gc_was_enabled:
                gc.enable()
        return out

    def _apply_locked(self, objs, now, cache, events, out):
        with self.lock:
            for obj in objs:
                gvk = (obj.get('apiVersion'), obj.get('kind'))
                rt = cache.get(gvk)
                if rt is None:
                    rt = cache[gvk] = self.lookup(*gvk)
                md = obj.get('metadata') or {}
                if not md.get('name'):
                    raise ValueError('apply(): metadata.name is required: %r' % (obj,))
                namespace = md.get('namespace') or ('default' if rt.namespaced else '')
                if rt.namespaced and namespace not in self.storages[('', 'namespaces')].objects:
                    self._fixture_namespace(namespace, now, events)
                stored = self.to_storage(rt, obj)
                md = stored['metadata']
                if rt.namespaced:
                    md['namespace'] = namespace
                else:
                    md.pop('namespace', None)
                st = self.storage(rt)
                old = st.objects.get(_key(namespace, md['name']))
                if old is not None:
                    prev = old.obj()
                    md.setdefault('uid', prev['metadata'].get('uid'))
                    md.setdefault('creationTimestamp', prev['metadata'].get('creationTimestamp'))
                    if rt.generation:
                        gen = prev['metadata'].get('generation', 1)
                        md['generation'] = gen + 1 if _spec_part(prev) != _spec_part(stored) else gen
                else:
                    if 'uid' not in md:
                        md['uid'] = str(uuid.uuid4())
                    if 'creationTimestamp' not in md:
                        md['creationTimestamp'] = now
                    if rt.generation and 'generation' not in md:
                        md['generation'] = 1
                if rt.plural == 'namespaces' and not rt.group:
                    stored.setdefault('spec', {'finalizers': ['kubernetes']})
                    stored.setdefault('status', {'phase': 'Active'})
                if rt.plural == 'customresourcedefinitions':
                    stored.setdefault('status', crd_established_status(stored))
                entry = self._commit(st, stored, MODIFIED if old else ADDED, old, events)
                self._after_write(rt, stored)
                out.append(entry)
            self._flush(events)

    def _fixture_namespace(self, namespace, now, events):
        st = self.storages[('', 'namespaces')]
        obj = {'kind': 'Namespace', 'apiVersion': 'v1',
               'metadata': {'name': namespace, 'uid': str(uuid.uuid4()), 'creationTimestamp': now,
                            'labels': {'kubernetes.io/metadata.name': namespace}},
               'spec': {'finalizers': ['kubernetes']}, 'status': {'phase': 'Active'}}
        self._commit(st, obj, ADDED, None, events)

    # -- reads -----------------------------------------------------------------------------------------------------
    def get_entry(self, rt, namespace, name):
        with self.lock:
            return self.storage(rt).objects.get(_key(namespace if rt.namespaced else '', name))

    def get(self, rt, namespace, name):
        entry = self.get_entry(rt, namespace, name)
        if entry is None:
            raise not_found(rt, name)
        return entry

    def list(self, rt, namespace, label_sel, field_sel, limit=0, cont=None):
        """Return (entries, list_rv, continue_token, remaining_count) for one page."""
        st = self.storage(rt)
        equalities = field_sel.equalities()
        if namespace:
            equalities = [('metadata.namespace', namespace)] + equalities
        with self.lock:
            list_rv = self.rv
            start = ''
            if cont:
                list_rv, start = decode_continue(cont)
            keys = st.candidates(equalities)
            pos = bisect.bisect_left(keys, start) if start else 0
            objects = st.objects
            out = []
            n = len(keys)
            check_labels = bool(label_sel)
            check_fields = bool(field_sel) or bool(namespace)
            ns_field = ('metadata.namespace', namespace)
            while pos < n:
                entry = objects.get(keys[pos])
                pos += 1
                if entry is None:
                    continue
                if check_fields:
                    if namespace and entry.namespace != ns_field[1]:
                        continue
                    if field_sel and not field_sel.matches(entry.fields):
                        continue
                if check_labels and not label_sel.matches(entry.labels):
                    continue
                out.append(entry)
                if limit and len(out) >= limit:
                    break
            token = None
            remaining = None
            if limit and len(out) >= limit and pos < n:
                # more may follow: real apiservers answer a token even if the rest does not match
                token = encode_continue(list_rv, out[-1].key + '\x00')
                if not label_sel and not field_sel:
                    remaining = n - pos
            return out, list_rv, token, remaining

    # -- API writes ----------------------------------------------------------------------------------------------------
    def _check_namespace(self, rt, namespace):
        if rt.namespaced and namespace not in self.storages[('', 'namespaces')].objects:
            ns_rt = self.by_gvk[('v1', 'Namespace')]
            raise not_found(ns_rt, namespace)

    def _validate_name(self, rt, name):
        if not name:
            raise invalid(rt, '', 'metadata.name', 'Required value: name or generateName is required',
                          reason='FieldValueRequired', detail='name or generateName is required')
        pattern, msg = (DNS1123_LABEL, LABEL_MSG) if (rt.plural == 'namespaces' and not rt.group) else (DNS1123_SUBDOMAIN, SUBDOMAIN_MSG)
        if len(name) > 253 or not pattern.match(name):
            raise invalid(rt, name, 'metadata.name', 'Invalid value: "%s": %s' % (name, msg), detail=msg)

    def _prepare_create(self, rt, namespace, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, 'BadRequest', 'the object provided is unrecognized (must be of type %s)' % rt.kind)
        obj = copy.deepcopy(obj)
        obj.setdefault('apiVersion', rt.api_version)
        obj.setdefault('kind', rt.kind)
        if obj['kind'] != rt.kind or obj['apiVersion'] != rt.api_version:
            raise ApiError(400, 'BadRequest', 'the API version in the data (%s) does not match the expected API version (%s)'
                           % (obj['apiVersion'], rt.api_version) if obj['kind'] == rt.kind else
                           'the kind in the data (%s) does not match the expected kind (%s)' % (obj['kind'], rt.kind))
        md = obj.setdefault('metadata', {})
        if rt.namespaced:
            if md.get('namespace') and namespace and md['namespace'] != namespace:
                raise ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
            md['namespace'] = namespace or md.get('namespace') or 'default'
        else:
            md.pop('namespace', None)
        if not md.get('name') and md.get('generateName'):
            md['name'] = md['generateName'] + uuid.uuid4().hex[:5]
        self._validate_name(rt, md.get('name'))
        for drop in ('resourceVersion', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds',
                     'managedFields', 'generation', 'selfLink'):
            md.pop(drop, None)
        md['uid'] = str(uuid.uuid4())
        md['creationTimestamp'] = now_rfc3339()
        if rt.generation:
            md['generation'] = 1
        if rt.has_status:
            obj['status'] = {}
        if rt.plural == 'namespaces' and not rt.group:
            obj['spec'] = dict(obj.get('spec') or {})
            obj['spec'].setdefault('finalizers', ['kubernetes'])
            obj['status'] = {'phase': 'Active'}
            md.setdefault('labels', {})['kubernetes.io/metadata.name'] = md['name']
        elif rt.plural == 'pods' and not rt.group:
            obj['status'] = {'phase': 'Pending', 'qosClass': 'BestEffort'}
        elif rt.plural == 'customresourcedefinitions':
            obj['status'] = crd_established_status(obj)
        return obj

    def create(self, rt, namespace, obj, dry_run=False):
        events = []
        with self.lock:
            obj = self._prepare_create(rt, namespace, obj)
            md = obj['metadata']
            self._check_namespace(rt, md.get('namespace'))
            st = self.storage(rt)
            stored = self.to_storage(rt, obj)
            if _key(md.get('namespace') if rt.namespaced else '', md['name']) in st.objects:
                raise ApiError(409, 'AlreadyExists', '%s "%s" already exists' % (rt.qualified, md['name']), _details(rt, md['name']))
            if dry_run:
                return self._render_dict(rt, stored)
            entry = self._commit(st, stored, ADDED, None, events)
            self._after_write(rt, stored)
            entry = self._run_auto_status(rt, st, entry, events)
            self._flush(events)
        return self.render_obj(rt, entry)

    @staticmethod
    def _render_dict(rt, stored):
        out = dict(stored)
        out['apiVersion'] = rt.api_version
        return out

    def _run_auto_status(self, rt, st, entry, events):
        hook = self.auto_status.get((rt.api_version, rt.kind))
        if hook is None:
            return entry
        obj = entry.obj()
        status = hook(copy.deepcopy(obj))
        if status is None or status == obj.get('status'):
            return entry
        obj['status'] = status
        return self._commit(st, obj, MODIFIED, entry, events)

    def replace(self, rt, namespace, name, obj, subresource=None, dry_run=False, _events=None):
        """PUT (update) semantics; also the second half of PATCH."""
        events = [] if _events is None else _events
        with self.lock:
            if not isinstance(obj, dict):
                raise ApiError(400, 'BadRequest', 'the object provided is unrecognized (must be of type %s)' % rt.kind)
            md = obj.get('metadata') or {}
            if md.get('name') and md['name'] != name:
                raise ApiError(400, 'BadRequest', 'the name of the object (%s) does not match the name on the URL (%s)' % (md['name'], name))
            if rt.namespaced and md.get('namespace') and md['namespace'] != namespace:
                raise ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
            st = self.storage(rt)
            key = _key(namespace if rt.namespaced else '', name)
            old = st.objects.get(key)
            if old is None:
                if rt.allow_create_on_update and subresource is None:
                    obj = dict(obj)
                    obj['metadata'] = dict(md, name=name)
                    return self.create(rt, namespace, obj, dry_run=dry_run)
                raise not_found(rt, name)
            current = self.render_obj(rt, old)
            want_rv = md.get('resourceVersion')
            if want_rv and str(want_rv) != current['metadata'].get('resourceVersion'):
                raise ApiError(409, 'Conflict', 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your '
                               'changes to the latest version and try again' % (rt.qualified, name), _details(rt, name))
            if not want_rv and rt.crd:
                raise invalid(rt, name, 'metadata.resourceVersion', 'Invalid value: 0x0: must be specified for an update',
                              detail='must be specified for an update')
            new = copy.deepcopy(obj)
            new['apiVersion'] = rt.api_version
            new['kind'] = rt.kind
            if subresource == 'status':
                merged = copy.deepcopy(current)
                if 'status' in new:
                    merged['status'] = new['status']
                else:
                    merged.pop('status', None)
                new = merged
            else:
                nmd = new.setdefault('metadata', {})
                for keep in ('uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'namespace', 'name'):
                    if keep in current['metadata']:
                        nmd[keep] = current['metadata'][keep]
                    else:
                        nmd.pop(keep, None)
                nmd.pop('managedFields', None)
                if rt.has_status:
                    if 'status' in current:
                        new['status'] = current['status']
                    else:
                        new.pop('status', None)
                if rt.generation and _spec_part(new) != _spec_part(current):
                    nmd['generation'] = current['metadata'].get('generation', 1) + 1
            if not rt.namespaced:
                new['metadata'].pop('namespace', None)
            stored = self.to_storage(rt, new)
            stored['metadata']['resourceVersion'] = old.obj()['metadata'].get('resourceVersion')
            if stored == old.obj():
                return current               # no-op: no new resourceVersion, no watch event
            if dry_run:
                return self._render_dict(rt, stored)
            entry = self._commit(st, stored, MODIFIED, old, events)
            self._after_write(rt, stored)
            if subresource is None:
                entry = self._run_auto_status(rt, st, entry, events)
            if _events is None:
                self._flush(events)
        return self.render_obj(rt, entry)

    def patch(self, rt, namespace, name, patch_type, body, subresource=None, dry_run=False):
        """Merge patch or strategic merge patch (``patch_type`` 'merge'/'strategic') of an existing object."""
        with self.lock:
            entry = self.get_entry(rt, namespace, name)
            if entry is None:
                raise not_found(rt, name)
            current = self.render_obj(rt, entry)
            try:
                if patch_type == 'merge':
                    if not isinstance(body, dict):
                        raise kube_patch.PatchError('json: cannot unmarshal into Go value of type map[string]interface {}')
                    new = kube_patch.merge_patch(current, body)
                elif patch_type == 'strategic':
                    if rt.crd:
                        raise ApiError(415, 'UnsupportedMediaType',
                                       'the body of the request was in an unknown format - accepted media types include: '
                                       'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
                    if not isinstance(body, dict):
                        raise kube_patch.PatchError('json: cannot unmarshal into Go value of type map[string]interface {}')
                    new = kube_patch.strategic_merge(current, body)
            except kube_patch.PatchError as exc:
                raise ApiError(422, 'Invalid', str(exc)) from exc
            if not isinstance(new, dict):
                raise ApiError(422, 'Invalid', 'the patched object is not an object')
            nmd = new.setdefault('metadata', {})
            if not body or not isinstance(body, dict) or 'resourceVersion' not in (body.get('metadata') or {}):
                nmd['resourceVersion'] = current['metadata'].get('resourceVersion')
            if nmd.get('name') != name:
                raise ApiError(400, 'BadRequest', 'the name of the object (%s) does not match the name on the URL (%s)' % (nmd.get('name'), name))
            return self.replace(rt, namespace, name, new, subresource=subresource, dry_run=dry_run)

    def delete(self, rt, namespace, name, dry_run=False, preconditions=None):
        events = []
        with self.lock:
            entry = self.get(rt, namespace, name)
            obj = self.render_obj(rt, entry)
            pre = preconditions or {}
            if pre.get('uid') and pre['uid'] != obj['metadata'].get('uid'):
                raise ApiError(409, 'Conflict', 'Operation cannot be fulfilled on %s "%s": Precondition failed: UID in precondition: %s, '
                               'UID in object meta: %s' % (rt.qualified, name, pre['uid'], obj['metadata'].get('uid')), _details(rt, name))
            if pre.get('resourceVersion') and str(pre['resourceVersion']) != obj['metadata'].get('resourceVersion'):
                raise ApiError(409, 'Conflict', 'Operation cannot be fulfilled on %s "%s": Precondition failed: ResourceVersion in '
                               'precondition: %s, ResourceVersion in object meta: %s'
                               % (rt.qualified, name, pre['resourceVersion'], obj['metadata'].get('resourceVersion')), _details(rt, name))
            result = self._deleted_response(rt, obj)
            if dry_run:
                return result
            st = self.storage(rt)
            if rt.plural == 'namespaces' and not rt.group:
                for other in self.storages.values():
                    if other.namespaced:
                        for key in [k for k, e in other.objects.items() if e.namespace == name]:
                            self._delete_entry(other, other.objects[key], events)
            if rt.plural == 'customresourcedefinitions':
                self.unregister_crd(name, events)
            self._delete_entry(st, entry, events)
            self._flush(events)
        return result

    def _deleted_response(self, rt, obj):
        if rt.storage_key in DELETE_RETURNS_OBJECT:
            out = copy.deepcopy(obj)
            if rt.plural == 'namespaces':
                out['metadata']['deletionTimestamp'] = now_rfc3339()
                out['status'] = {'phase': 'Terminating'}
            elif rt.plural == 'pods':
                out['metadata']['deletionTimestamp'] = now_rfc3339()
                out['metadata']['deletionGracePeriodSeconds'] = 30
            return out
        details = {'name': obj['metadata']['name']}
        if rt.group:
            details['group'] = rt.group
        details['kind'] = rt.plural
        details['uid'] = obj['metadata'].get('uid')
        return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Success', 'details': details}
