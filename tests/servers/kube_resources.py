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
# core/v1 Events as the apiserver serialises them
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
    subresources: tuple = ()          # names: 'status', 'exec', 'portforward', 'scale', ...
    fields: object = None             # callable(obj) -> {field label: str}
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
        return (self.group, self.plural)

    @property
    def has_status(self):
        return 'status' in self.subresources

    def selectable(self):
        """Field label -> field name."""
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
    _builtin('', 'v1', 'Pod', 'pods', short=('po',), cats=('all',), sub=('status', 'exec', 'portforward', 'attach', 'ephemeralcontainers'),
             fields=_fields_pod, generation=False),
    _builtin('', 'v1', 'Service', 'services', short=('svc',), cats=('all',), sub=('status', 'proxy'), generation=False),
    _builtin('', 'v1', 'Endpoints', 'endpoints', short=('ep',), generation=False, allow_create_on_update=True),
    _builtin('', 'v1', 'ConfigMap', 'configmaps', short=('cm',), generation=False),
    _builtin('', 'v1', 'Secret', 'secrets', fields=_fields_extra(type=('type',)), generation=False),
    _builtin('', 'v1', 'ServiceAccount', 'serviceaccounts', short=('sa',), sub=('token',), generation=False),
    _builtin('', 'v1', 'Event', 'events', short=('ev',), fields=_fields_event, generation=False, allow_create_on_update=True),
    _builtin('', 'v1', 'Node', 'nodes', namespaced=False, short=('no',), sub=('status', 'proxy'), fields=_fields_node, generation=False),
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
