# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kinds the Kubernetes API test server serves: one table row per kind.

Adding a built-in kind is one ``_builtin(...)`` line in ``BUILTIN``; adding a CustomResourceDefinition
that every server installs by default is one ``_crd(...)`` line in ``KNOWN_CRDS``. Custom resources are
served from CRD objects, so creating or deleting a CRD through the API (or ``srv.apply``/``srv.delete``)
registers or removes its kinds, like a real apiserver.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

ALL_VERBS = ('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')
NS_VERBS = ('create', 'delete', 'get', 'list', 'patch', 'update', 'watch')


def _get(obj, path, default=''):
    cur = obj
    for part in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(part)
        if cur is None:
            return default
    return cur


def _s(value):
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    return '' if value is None else str(value)


def _fields_meta(obj):
    md = obj.get('metadata') or {}
    return {'metadata.name': md.get('name', ''), 'metadata.namespace': md.get('namespace', '')}


def _fields_event(obj):
    md = obj.get('metadata') or {}
    inv = obj.get('involvedObject') or {}
    src = obj.get('source') or {}
    return {
        'metadata.name': md.get('name', ''), 'metadata.namespace': md.get('namespace', ''),
        'involvedObject.kind': inv.get('kind', ''), 'involvedObject.namespace': inv.get('namespace', ''),
        'involvedObject.name': inv.get('name', ''), 'involvedObject.uid': inv.get('uid', ''),
        'involvedObject.apiVersion': inv.get('apiVersion', ''), 'involvedObject.resourceVersion': inv.get('resourceVersion', ''),
        'involvedObject.fieldPath': inv.get('fieldPath', ''), 'reason': obj.get('reason') or '',
        'reportingComponent': obj.get('reportingComponent') or '', 'source': src.get('component', '') or '',
        'type': obj.get('type') or '',
    }


def _fields_pod(obj):
    out = _fields_meta(obj)
    spec = obj.get('spec') or {}
    status = obj.get('status') or {}
    ips = status.get('podIPs') or []
    pod_ip = (ips[0] or {}).get('ip', '') if ips else status.get('podIP', '') or ''
    out.update({
        'spec.nodeName': spec.get('nodeName', '') or '', 'spec.restartPolicy': spec.get('restartPolicy', '') or '',
        'spec.schedulerName': spec.get('schedulerName', '') or '', 'spec.serviceAccountName': spec.get('serviceAccountName', '') or '',
        'spec.hostNetwork': _s(bool(spec.get('hostNetwork'))), 'status.phase': status.get('phase', '') or '',
        'status.podIP': pod_ip, 'status.nominatedNodeName': status.get('nominatedNodeName', '') or '',
    })
    return out


def _fields_extra(**paths):
    def extract(obj):
        out = _fields_meta(obj)
        for label, path in paths.items():
            out[label.replace('__', '.')] = _s(_get(obj, path, ''))
        return out
    return extract


def _fields_node(obj):
    out = _fields_meta(obj)
    out['spec.unschedulable'] = _s(bool(_get(obj, ('spec', 'unschedulable'), False)))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Server-side printing (Table) columns
# ---------------------------------------------------------------------------------------------------------------------

NAME_DESC = ('Name must be unique within a namespace. Is required when creating resources, although some resources may allow a '
             'client to request the generation of an appropriate name automatically.')
AGE_DESC = ('CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be '
            'set in happens-before order across separate operations.')


def parse_time(value):
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        return None


def human_duration(seconds):
    """apimachinery's duration.HumanDuration."""
    seconds = int(seconds)
    if seconds < -1:
        return '<invalid>'
    if seconds < 0:
        return '0s'
    if seconds < 60 * 2:
        return '%ds' % seconds
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return '%dm' % minutes if s == 0 else '%dm%ds' % (minutes, s)
    if minutes < 60 * 3:
        return '%dm' % minutes
    hours = seconds // 3600
    if hours < 8:
        m = (seconds // 60) % 60
        return '%dh' % hours if m == 0 else '%dh%dm' % (hours, m)
    if hours < 48:
        return '%dh' % hours
    if hours < 24 * 8:
        h = hours % 24
        return '%dd' % (hours // 24) if h == 0 else '%dd%dh' % (hours // 24, h)
    if hours < 24 * 365 * 2:
        return '%dd' % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return '%dy' % (hours // 24 // 365) if dy == 0 else '%dy%dd' % (hours // 24 // 365, dy)
    return '%dy' % (hours // 24 // 365)


def age(value):
    when = parse_time(value)
    if when is None:
        return '<unknown>'
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())


def _col(name, fn, typ='string', fmt='', desc='', priority=0):
    return (dict(name=name, type=typ, format=fmt, description=desc, priority=priority), fn)


COL_NAME = _col('Name', lambda o: _get(o, ('metadata', 'name')), fmt='name', desc=NAME_DESC)
COL_AGE = _col('Age', lambda o: age(_get(o, ('metadata', 'creationTimestamp'), None)), desc=AGE_DESC)


def _pod_ready(o):
    statuses = _get(o, ('status', 'containerStatuses'), []) or []
    total = len(_get(o, ('spec', 'containers'), []) or [])
    ready = sum(1 for s in statuses if s.get('ready'))
    return '%d/%d' % (ready, total)


def _pod_restarts(o):
    return sum(int(s.get('restartCount', 0) or 0) for s in _get(o, ('status', 'containerStatuses'), []) or [])


def _pod_status(o):
    if _get(o, ('metadata', 'deletionTimestamp'), None):
        return 'Terminating'
    for s in _get(o, ('status', 'containerStatuses'), []) or []:
        waiting = _get(s, ('state', 'waiting'), None)
        if waiting and waiting.get('reason'):
            return waiting['reason']
    return _get(o, ('status', 'reason'), '') or _get(o, ('status', 'phase'), '') or 'Unknown'


def _event_last_seen(o):
    ts = o.get('lastTimestamp') or o.get('eventTime') or _get(o, ('metadata', 'creationTimestamp'), None)
    return age(ts)


def _event_object(o):
    inv = o.get('involvedObject') or {}
    return '%s/%s' % (str(inv.get('kind', '')).lower(), inv.get('name', ''))


def _svc_ports(o):
    out = []
    for p in _get(o, ('spec', 'ports'), []) or []:
        text = '%s/%s' % (p.get('port'), p.get('protocol', 'TCP'))
        if p.get('nodePort'):
            text = '%s:%s/%s' % (p.get('port'), p['nodePort'], p.get('protocol', 'TCP'))
        out.append(text)
    return ','.join(out) or '<none>'


def _sel(o, path):
    sel = _get(o, path, {}) or {}
    labels = sel.get('matchLabels', sel) if isinstance(sel, dict) else {}
    if not isinstance(labels, dict) or not labels:
        return '<none>'
    return ','.join('%s=%s' % kv for kv in sorted(labels.items()))


def _node_status(o):
    for c in _get(o, ('status', 'conditions'), []) or []:
        if c.get('type') == 'Ready':
            return 'Ready' if c.get('status') == 'True' else 'NotReady'
    return 'Unknown'


def _node_roles(o):
    roles = sorted(k.split('/', 1)[1] for k in (_get(o, ('metadata', 'labels'), {}) or {})
                   if k.startswith('node-role.kubernetes.io/'))
    return ','.join(roles) or '<none>'


def _status_getter(key):
    return lambda o: _get(o, ('status', key), 0) or 0


TABLES = {
    ('', 'Pod'): [COL_NAME, _col('Ready', _pod_ready), _col('Status', _pod_status), _col('Restarts', _pod_restarts, typ='string'),
                  COL_AGE, _col('IP', lambda o: _get(o, ('status', 'podIP'), '<none>') or '<none>', priority=1),
                  _col('Node', lambda o: _get(o, ('spec', 'nodeName'), '<none>') or '<none>', priority=1),
                  _col('Nominated Node', lambda o: _get(o, ('status', 'nominatedNodeName'), '<none>') or '<none>', priority=1),
                  _col('Readiness Gates', lambda o: '<none>', priority=1)],
    ('', 'Namespace'): [COL_NAME, _col('Status', lambda o: _get(o, ('status', 'phase'), '')), COL_AGE],
    ('', 'Event'): [_col('Last Seen', _event_last_seen), _col('Type', lambda o: o.get('type', '')),
                    _col('Reason', lambda o: o.get('reason', '')), _col('Object', _event_object),
                    _col('Subobject', lambda o: _get(o, ('involvedObject', 'fieldPath')), priority=1),
                    _col('Source', lambda o: _get(o, ('source', 'component')), priority=1),
                    _col('Message', lambda o: o.get('message', '')),
                    _col('First Seen', lambda o: age(o.get('firstTimestamp') or o.get('eventTime')), priority=1),
                    _col('Count', lambda o: o.get('count', 1) or 1, typ='integer', priority=1),
                    _col('Name', lambda o: _get(o, ('metadata', 'name')), priority=1)],
    ('', 'Service'): [COL_NAME, _col('Type', lambda o: _get(o, ('spec', 'type'), 'ClusterIP') or 'ClusterIP'),
                      _col('Cluster-IP', lambda o: _get(o, ('spec', 'clusterIP'), '<none>') or '<none>'),
                      _col('External-IP', lambda o: '<none>'), _col('Port(s)', _svc_ports), COL_AGE,
                      _col('Selector', lambda o: _sel(o, ('spec', 'selector')), priority=1)],
    ('', 'ConfigMap'): [COL_NAME, _col('Data', lambda o: len(o.get('data') or {}) + len(o.get('binaryData') or {}), typ='integer'), COL_AGE],
    ('', 'Secret'): [COL_NAME, _col('Type', lambda o: o.get('type', 'Opaque')),
                     _col('Data', lambda o: len(o.get('data') or {}), typ='integer'), COL_AGE],
    ('', 'Node'): [COL_NAME, _col('Status', _node_status), _col('Roles', _node_roles), COL_AGE,
                   _col('Version', lambda o: _get(o, ('status', 'nodeInfo', 'kubeletVersion')))],
    ('apps', 'Deployment'): [COL_NAME,
                             _col('Ready', lambda o: '%s/%s' % (_get(o, ('status', 'readyReplicas'), 0) or 0, _get(o, ('spec', 'replicas'), 1))),
                             _col('Up-to-date', lambda o: _get(o, ('status', 'updatedReplicas'), 0) or 0, typ='integer'),
                             _col('Available', lambda o: _get(o, ('status', 'availableReplicas'), 0) or 0, typ='integer'), COL_AGE,
                             _col('Selector', lambda o: _sel(o, ('spec', 'selector')), priority=1)],
    ('apps', 'DaemonSet'): [COL_NAME] + [
        _col(title, _status_getter(key), typ='integer')
        for title, key in (('Desired', 'desiredNumberScheduled'), ('Current', 'currentNumberScheduled'), ('Ready', 'numberReady'),
                           ('Up-to-date', 'updatedNumberScheduled'), ('Available', 'numberAvailable'))] + [
        _col('Node Selector', lambda o: _sel(o, ('spec', 'template', 'spec', 'nodeSelector'))), COL_AGE],
    ('networking.k8s.io', 'NetworkPolicy'): [COL_NAME, _col('Pod-Selector', lambda o: _sel(o, ('spec', 'podSelector'))), COL_AGE],
}


def table_columns(group, kind):
    return TABLES.get((group, kind), [COL_NAME, COL_AGE])


# ---------------------------------------------------------------------------------------------------------------------
# events.k8s.io/v1 <-> core/v1 Event conversion (the storage format is core/v1)
# ---------------------------------------------------------------------------------------------------------------------

CORE_EVENT_DEFAULTS = (('source', dict), ('firstTimestamp', None), ('lastTimestamp', None), ('eventTime', None),
                       ('reportingComponent', ''), ('reportingInstance', ''))


def normalize_core_event(obj):
    """Fill the fields the real apiserver always serialises for core/v1 Events (Go structs without omitempty)."""
    for key, default in CORE_EVENT_DEFAULTS:
        if key not in obj:
            obj[key] = default() if callable(default) else default
    if 'involvedObject' not in obj:
        obj['involvedObject'] = {}
    return obj


def event_core_to_v1(obj):
    """core/v1 Event -> events.k8s.io/v1 Event (like pkg/apis/events/v1 conversion)."""
    out = {'kind': 'Event', 'apiVersion': 'events.k8s.io/v1', 'metadata': obj.get('metadata') or {},
           'eventTime': obj.get('eventTime')}
    if obj.get('series'):
        out['series'] = obj['series']
    for src, dst in (('reportingComponent', 'reportingController'), ('reportingInstance', 'reportingInstance'),
                     ('action', 'action'), ('reason', 'reason')):
        if obj.get(src):
            out[dst] = obj[src]
    out['regarding'] = obj.get('involvedObject') or {}
    if obj.get('related'):
        out['related'] = obj['related']
    if obj.get('message'):
        out['note'] = obj['message']
    if obj.get('type'):
        out['type'] = obj['type']
    out['deprecatedSource'] = obj.get('source') or {}
    out['deprecatedFirstTimestamp'] = obj.get('firstTimestamp')
    out['deprecatedLastTimestamp'] = obj.get('lastTimestamp')
    if obj.get('count'):
        out['deprecatedCount'] = obj['count']
    return out


def event_v1_to_core(obj):
    """events.k8s.io/v1 Event -> core/v1 Event."""
    out = {'kind': 'Event', 'apiVersion': 'v1', 'metadata': obj.get('metadata') or {},
           'involvedObject': obj.get('regarding') or {}}
    for src, dst in (('reason', 'reason'), ('note', 'message')):
        if obj.get(src):
            out[dst] = obj[src]
    out['source'] = obj.get('deprecatedSource') or {}
    out['firstTimestamp'] = obj.get('deprecatedFirstTimestamp')
    out['lastTimestamp'] = obj.get('deprecatedLastTimestamp')
    if obj.get('deprecatedCount'):
        out['count'] = obj['deprecatedCount']
    if obj.get('type'):
        out['type'] = obj['type']
    out['eventTime'] = obj.get('eventTime')
    for key in ('series', 'action', 'related'):
        if obj.get(key):
            out[key] = obj[key]
    out['reportingComponent'] = obj.get('reportingController') or ''
    out['reportingInstance'] = obj.get('reportingInstance') or ''
    return out


EVENTS_V1_FIELD_LABELS = {
    'reason': 'reason', 'regarding.kind': 'involvedObject.kind', 'regarding.namespace': 'involvedObject.namespace',
    'regarding.name': 'involvedObject.name', 'regarding.uid': 'involvedObject.uid', 'regarding.apiVersion': 'involvedObject.apiVersion',
    'regarding.resourceVersion': 'involvedObject.resourceVersion', 'regarding.fieldPath': 'involvedObject.fieldPath',
    'reportingController': 'reportingComponent', 'type': 'type', 'metadata.namespace': 'metadata.namespace', 'metadata.name': 'metadata.name',
}


# ---------------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class ResourceType:
    """One served kind (one row of the discovery documents)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()
    verbs: tuple = ALL_VERBS
    subresources: tuple = ()          # names: 'status', 'exec', 'portforward', 'log', 'scale', ...
    fields: object = None             # callable(obj) -> {field label: str} in storage terms
    field_labels: dict = None         # label accepted in fieldSelector -> storage field (None: the keys of fields(...))
    storage: tuple = None             # (group, plural) of the shared storage; default own
    to_storage: object = None         # callable(obj) -> storage-format obj
    from_storage: object = None       # callable(storage obj) -> obj of this kind/version
    generation: bool = True           # metadata.generation maintained
    crd: str = ''                     # name of the defining CustomResourceDefinition, '' for built-ins
    allow_create_on_update: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def api_version(self):
        return '%s/%s' % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """``pods`` / ``deployments.apps`` as in apiserver error messages."""
        return '%s.%s' % (self.plural, self.group) if self.group else self.plural

    @property
    def storage_key(self):
        return self.storage or (self.group, self.plural)

    @property
    def has_status(self):
        return 'status' in self.subresources

    def selectable(self):
        """Field label -> storage field name."""
        if self.field_labels is not None:
            return self.field_labels
        sample = (self.fields or _fields_meta)({})
        return {k: k for k in sample}


def _builtin(group, version, kind, plural, namespaced=True, short=(), cats=(), verbs=ALL_VERBS, sub=(), fields=None,
             generation=True, **kw):
    return ResourceType(group=group, version=version, kind=kind, plural=plural, singular=kind.lower(), namespaced=namespaced,
                        short_names=tuple(short), categories=tuple(cats), verbs=verbs, subresources=tuple(sub),
                        fields=fields or _fields_meta, generation=generation, **kw)


BUILTIN = [
    _builtin('', 'v1', 'Namespace', 'namespaces', namespaced=False, short=('ns',), verbs=NS_VERBS, sub=('status', 'finalize'),
             fields=_fields_extra(status__phase=('status', 'phase')), generation=False),
    _builtin('', 'v1', 'Pod', 'pods', short=('po',), cats=('all',), sub=('status', 'exec', 'portforward', 'log', 'attach', 'ephemeralcontainers'),
             fields=_fields_pod, generation=False),
    _builtin('', 'v1', 'Service', 'services', short=('svc',), cats=('all',), sub=('status', 'proxy'), generation=False),
    _builtin('', 'v1', 'Endpoints', 'endpoints', short=('ep',), generation=False, allow_create_on_update=True),
    _builtin('', 'v1', 'ConfigMap', 'configmaps', short=('cm',), generation=False),
    _builtin('', 'v1', 'Secret', 'secrets', fields=_fields_extra(type=('type',)), generation=False),
    _builtin('', 'v1', 'ServiceAccount', 'serviceaccounts', short=('sa',), sub=('token',), generation=False),
    _builtin('', 'v1', 'Event', 'events', short=('ev',), fields=_fields_event, generation=False, allow_create_on_update=True),
    _builtin('', 'v1', 'Node', 'nodes', namespaced=False, short=('no',), sub=('status', 'proxy'), fields=_fields_node, generation=False),
    _builtin('events.k8s.io', 'v1', 'Event', 'events', short=('ev',), fields=_fields_event, generation=False, allow_create_on_update=True,
             storage=('', 'events'), to_storage=event_v1_to_core, from_storage=event_core_to_v1, field_labels=EVENTS_V1_FIELD_LABELS),
    _builtin('apps', 'v1', 'Deployment', 'deployments', short=('deploy',), cats=('all',), sub=('status', 'scale')),
    _builtin('apps', 'v1', 'DaemonSet', 'daemonsets', short=('ds',), cats=('all',), sub=('status',)),
    _builtin('apps', 'v1', 'ReplicaSet', 'replicasets', short=('rs',), cats=('all',), sub=('status', 'scale'),
             fields=_fields_extra(status__replicas=('status', 'replicas'))),
    _builtin('apps', 'v1', 'StatefulSet', 'statefulsets', short=('sts',), cats=('all',), sub=('status', 'scale')),
    _builtin('batch', 'v1', 'Job', 'jobs', cats=('all',), sub=('status',), fields=_fields_extra(status__successful=('status', 'succeeded'))),
    _builtin('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', short=('netpol',)),
    _builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', namespaced=False, generation=False),
    _builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', namespaced=False, generation=False),
    _builtin('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', generation=False),
    _builtin('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', generation=False),
    _builtin('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', namespaced=False,
             short=('crd', 'crds'), cats=('api-extensions',), sub=('status',)),
]


def _crd(group, kind, plural, namespaced=True, short=(), cats=(), versions=('v1',), status=False):
    """A CustomResourceDefinition object (served as soon as it exists)."""
    crd_versions = [
        {'name': v, 'served': True, 'storage': i == 0,
         'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}},
         **({'subresources': {'status': {}}} if status else {})}
        for i, v in enumerate(versions)]
    names = {'plural': plural, 'singular': kind.lower(), 'kind': kind, 'listKind': kind + 'List'}
    if short:
        names['shortNames'] = list(short)
    if cats:
        names['categories'] = list(cats)
    return {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
        'metadata': {'name': '%s.%s' % (plural, group)},
        'spec': {'group': group, 'names': names, 'scope': 'Namespaced' if namespaced else 'Cluster', 'versions': crd_versions},
    }


KNOWN_CRDS = [
    _crd('cilium.io', 'CiliumNetworkPolicy', 'ciliumnetworkpolicies', short=('cnp', 'ciliumnp'), cats=('cilium', 'ciliumpolicy'),
         versions=('v2',), status=True),
    _crd('cilium.io', 'CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies', namespaced=False,
         short=('ccnp',), cats=('cilium', 'ciliumpolicy'), versions=('v2',), status=True),
    _crd('cilium.io', 'CiliumEndpoint', 'ciliumendpoints', short=('cep', 'ciliumep'), cats=('cilium',), versions=('v2',), status=True),
    _crd('cilium.io', 'CiliumIdentity', 'ciliumidentities', namespaced=False, short=('ciliumid',), cats=('cilium',), versions=('v2',)),
    _crd('operator.tigera.io', 'Installation', 'installations', namespaced=False, status=True),
    _crd('crd.projectcalico.org', 'NetworkPolicy', 'networkpolicies'),
    _crd('crd.projectcalico.org', 'GlobalNetworkPolicy', 'globalnetworkpolicies', namespaced=False),
    _crd('crd.projectcalico.org', 'IPPool', 'ippools', namespaced=False),
]


def crd_established_status(crd):
    names = dict((crd.get('spec') or {}).get('names') or {})
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return {
        'acceptedNames': names,
        'conditions': [
            {'type': 'NamesAccepted', 'status': 'True', 'lastTransitionTime': now, 'reason': 'NoConflicts',
             'message': 'no conflicts found'},
            {'type': 'Established', 'status': 'True', 'lastTransitionTime': now, 'reason': 'InitialNamesAccepted',
             'message': 'the initial names have been accepted'},
        ],
        'storedVersions': [v['name'] for v in (crd.get('spec') or {}).get('versions') or [] if v.get('storage')],
    }


def types_from_crd(crd):
    """ResourceTypes for the served versions of a CRD object."""
    spec = crd.get('spec') or {}
    names = spec.get('names') or {}
    out = []
    for ver in spec.get('versions') or []:
        if not ver.get('served', True):
            continue
        sub = ('status',) if 'status' in (ver.get('subresources') or {}) else ()
        if 'scale' in (ver.get('subresources') or {}):
            sub += ('scale',)
        out.append(ResourceType(
            group=spec.get('group', ''), version=ver.get('name', 'v1'), kind=names.get('kind', ''), plural=names.get('plural', ''),
            singular=names.get('singular') or names.get('kind', '').lower(), namespaced=spec.get('scope') != 'Cluster',
            short_names=tuple(names.get('shortNames') or ()), categories=tuple(names.get('categories') or ()),
            subresources=sub, fields=_fields_meta, crd=(crd.get('metadata') or {}).get('name', ''),
            extra={'printer_columns': ver.get('additionalPrinterColumns') or []}))
    return out
