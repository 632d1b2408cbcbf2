# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy snapshot: namespaces, pods, nodes and network policies of a cluster at one point in time.

A ``PolicySnapshot`` is what the policy engines evaluate. It is built from Kubernetes objects
(``kubectl get ... -o json|yaml`` output, ``List`` objects, multi-document YAML files, directories
of such files) or read live through any object with ``list_pages(path, params) -> Iterator[dict page]``
(``kube_api.KubeAPI`` in this collection; a fake in tests).

Kept per object:
* namespaces: name, labels;
* pods: namespace, name, labels, IPs, named container ports ``{name: (port, protocol)}``, owner
  workload (a ReplicaSet is resolved to its Deployment through the ReplicaSet's ownerReferences
  when ReplicaSets are in the snapshot, else by stripping the ``pod-template-hash`` suffix), node,
  host-network flag, service account;
* nodes: name, addresses (to recognise node IPs as ``host``/``remote-node``);
* NetworkPolicies, CiliumNetworkPolicies, CiliumClusterwideNetworkPolicies: uid, resourceVersion and a
  content hash (sha256 of the canonical JSON of ``spec``; for a CiliumNetworkPolicy that also has
  ``specs``, of ``{"spec": ..., "specs": [...]}``).

``resolve_endpoint`` turns "a namespace/pod", "an IP", "a reserved identity" or "labels of a pod that
no longer exists" into an ``Endpoint`` the engines understand.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils._common.documents import load_documents
from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import (  # pylint: disable=unused-import  # re-exported
    KIND_CCNP, KIND_CNP, KIND_NP, NODE_ENTITIES, POLICY_KINDS, RESERVED_NAMES, WORLD_ENTITIES)
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import split_pod_labels
from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import utc_now_text
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import (
    SOURCE_RESERVED,
    CiliumLabels,
    label_value,
)

SHORT_KINDS = {KIND_NP: 'NetworkPolicy', KIND_CNP: 'CNP', KIND_CCNP: 'CCNP'}

# Reserved identities that can be the peer of a drop.
RESERVED_ENTITIES = RESERVED_NAMES

FILE_EXTENSIONS = ('.json', '.yaml', '.yml')

# Live listing: (kind, path, required). Optional resources may be forbidden or absent
# (Cilium CRDs not installed, no RBAC on nodes/replicasets): that becomes a warning.
LIVE_RESOURCES = (
    ('Namespace', '/api/v1/namespaces', True),
    ('Pod', '/api/v1/pods', True),
    ('Node', '/api/v1/nodes', False),
    ('ReplicaSet', '/apis/apps/v1/replicasets', False),
    (KIND_NP, '/apis/networking.k8s.io/v1/networkpolicies', True),
    (KIND_CNP, '/apis/cilium.io/v2/ciliumnetworkpolicies', False),
    (KIND_CCNP, '/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies', False),
)
NAMESPACED_LIVE_KINDS = frozenset(('Pod', 'ReplicaSet', KIND_NP, KIND_CNP))


class SnapshotError(NetobsError):
    """The snapshot source cannot be read (bad file, unreadable YAML, API failure)."""


def canonical_hash(value) -> str:
    """sha256 hex digest of the canonical JSON of ``value`` (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    name: str
    labels: Mapping[str, str]
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ips: tuple[str, ...] = ()
    named_ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    owner_kind: str | None = None
    owner_name: str | None = None
    node: str | None = None
    host_network: bool = False
    service_account: str = 'default'
    phase: str | None = None
    uid: str | None = None

    @property
    def key(self) -> str:
        return f'{self.namespace}/{self.name}'

    @property
    def workload(self) -> dict:
        if self.owner_kind and self.owner_name:
            return {'kind': self.owner_kind, 'name': self.owner_name}
        return {'kind': 'Pod', 'name': self.name}

    @property
    def terminated(self) -> bool:
        return self.phase in ('Succeeded', 'Failed')


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    ips: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """One policy object: identity, version and its spec(s) as given."""

    kind: str
    namespace: str | None
    name: str
    uid: str | None
    resource_version: str | None
    content_hash: str
    spec: Mapping | None
    specs: tuple[Mapping, ...] = ()

    @property
    def clusterwide(self) -> bool:
        return self.kind == KIND_CCNP

    @property
    def ref(self) -> str:
        """``namespace/name`` (``name`` for clusterwide policies)."""
        return self.name if self.namespace is None else f'{self.namespace}/{self.name}'

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or '', self.name)

    def rule_sets(self) -> list[tuple[str, Mapping]]:
        """``(rule-name prefix, spec)`` pairs: ``("", spec)`` then ``("specs[i].", specs[i])``."""
        sets = []
        if self.spec is not None:
            sets.append(('', self.spec))
        for index, spec in enumerate(self.specs):
            sets.append((f'specs[{index}].', spec))
        return sets

    def to_dict(self) -> dict:
        return {'kind': self.kind, 'namespace': self.namespace, 'name': self.name, 'uid': self.uid,
                'resource_version': self.resource_version, 'hash': self.content_hash}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a connection as the engines see it (resolved against the snapshot: not ``evidence.model.Endpoint``,
    which is what a Drop said; this adds what the cluster says: Cilium labels, namespace labels, named ports).

    ``kind`` is ``pod`` (a Cilium-managed pod: policies can select it) or ``entity`` (a reserved
    identity: ``world``, ``host``, ``remote-node``, ``kube-apiserver``, ...). A host-network pod is an
    ``entity`` (``host``/``remote-node``) with ``pod`` set for display: Cilium does not manage it.
    ``named_ports`` is ``None`` when unknown (a pod reconstructed from drop labels).
    """

    kind: str
    cilium_labels: CiliumLabels
    entity: str | None = None
    pod: PodInfo | None = None
    ip: str | None = None
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    named_ports: Mapping[str, tuple[int, str]] | None = None
    node: str | None = None
    synthetic: bool = False
    note: str | None = None

    @property
    def name(self) -> str | None:
        return self.pod.name if self.pod is not None else None

    @property
    def cache_key(self) -> tuple:
        return (self.kind, self.entity, self.namespace, self.name, self.ip, self.synthetic,
                tuple(sorted(self.labels.items())) if self.synthetic else ())

    def display(self) -> str:
        """``ns/pod``, ``world (1.1.1.1)``, ``host``; host-network pods: ``ns/pod (host network)``."""
        if self.kind == 'pod':
            if self.pod is not None:
                return self.pod.key
            return f'{self.namespace}/<pod with labels {_labels_text(self.labels)}>'
        if self.pod is not None:
            return f'{self.pod.key} (host network)'
        if self.ip:
            return f'{self.entity} ({self.ip})'
        return str(self.entity)

    def to_dict(self) -> dict:
        return {'kind': self.kind, 'entity': self.entity, 'namespace': self.namespace, 'name': self.name,
                'ip': self.ip, 'synthetic': self.synthetic, 'display': self.display()}


def _labels_text(labels: Mapping[str, str]) -> str:
    return ','.join(f'{key}={value}' for key, value in sorted(labels.items())) or '{}'


class PolicySnapshot:
    """Indexed, read-only view of the objects that decide network-policy verdicts."""

    def __init__(self, *, namespaces: Iterable[NamespaceInfo] = (), pods: Iterable[PodInfo] = (),
                 nodes: Iterable[NodeInfo] = (), policies: Iterable[PolicyRecord] = (),
                 warnings: Iterable[str] = (), source: str = 'objects', taken_at: str | None = None,
                 cluster_name: str = 'default', ignored: Mapping[str, int] | None = None):
        self.namespaces: dict[str, NamespaceInfo] = {ns.name: ns for ns in namespaces}
        self.pods: dict[tuple[str, str], PodInfo] = {(pod.namespace, pod.name): pod for pod in pods}
        self.nodes: dict[str, NodeInfo] = {node.name: node for node in nodes}
        ordered = sorted(policies, key=lambda p: (POLICY_KINDS.index(p.kind), p.namespace or '', p.name))
        self.policies: tuple[PolicyRecord, ...] = tuple(ordered)
        self.warnings: list[str] = list(warnings)
        self.source = source
        self.taken_at = taken_at
        self.cluster_name = cluster_name
        self.ignored = dict(ignored or {})
        # Engines keep compiled policies here (see attribution.compile_snapshot).
        self.cache: dict = {}
        self._pod_ip: dict[str, PodInfo] = {}
        self._node_ip: dict[str, NodeInfo] = {}
        for pod in self.pods.values():
            if pod.host_network:
                continue
            for ip in pod.ips:
                current = self._pod_ip.get(ip)
                if current is None or (current.terminated and not pod.terminated):
                    self._pod_ip[ip] = pod
        for node in self.nodes.values():
            for ip in node.ips:
                self._node_ip[ip] = node

    # -- lookups -------------------------------------------------------------------------------
    @property
    def network_policies(self) -> tuple[PolicyRecord, ...]:
        return tuple(p for p in self.policies if p.kind == KIND_NP)

    @property
    def cilium_network_policies(self) -> tuple[PolicyRecord, ...]:
        return tuple(p for p in self.policies if p.kind == KIND_CNP)

    @property
    def clusterwide_policies(self) -> tuple[PolicyRecord, ...]:
        return tuple(p for p in self.policies if p.kind == KIND_CCNP)

    def pod(self, namespace: str, name: str) -> PodInfo | None:
        return self.pods.get((namespace, name))

    def pod_by_ip(self, ip: str) -> PodInfo | None:
        return self._pod_ip.get(_normalize_ip(ip))

    def node_by_ip(self, ip: str) -> NodeInfo | None:
        return self._node_ip.get(_normalize_ip(ip))

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """Labels of a namespace; an unknown namespace gets the label the apiserver always sets."""
        info = self.namespaces.get(namespace)
        if info is not None:
            return dict(info.labels)
        return {'kubernetes.io/metadata.name': namespace}

    def workload_pods(self, namespace: str | None, name: str, kind: str | None = None) -> list[PodInfo]:
        """Pods of a workload (owner name, or the pod itself for bare pods), sorted by name."""
        found = []
        for pod in self.pods.values():
            if namespace and pod.namespace != namespace:
                continue
            workload = pod.workload
            if workload['name'] == name and (kind is None or workload['kind'] == kind):
                found.append(pod)
        return sorted(found, key=lambda p: (p.terminated, p.namespace, p.name))

    @property
    def fingerprint(self) -> str:
        """Hash over every policy's kind/namespace/name/content hash: equal fingerprints, equal policies."""
        return canonical_hash([[p.kind, p.namespace, p.name, p.content_hash] for p in self.policies])

    def to_dict(self) -> dict:
        """Compact summary for reports: counts plus uid/resourceVersion/hash per policy."""
        return {
            'source': self.source,
            'taken_at': self.taken_at,
            'cluster_name': self.cluster_name,
            'fingerprint': self.fingerprint,
            'counts': {
                'namespaces': len(self.namespaces),
                'pods': len(self.pods),
                'nodes': len(self.nodes),
                'network_policies': len(self.network_policies),
                'cilium_network_policies': len(self.cilium_network_policies),
                'clusterwide_policies': len(self.clusterwide_policies),
            },
            'policies': [p.to_dict() for p in self.policies],
            'ignored_objects': dict(sorted(self.ignored.items())),
            'warnings': list(self.warnings),
        }

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_objects(cls, objects, *, source: str = 'objects', taken_at: str | None = None,
                     cluster_name: str = 'default') -> PolicySnapshot:
        """Build from Kubernetes object dicts (single objects, ``*List`` objects or lists of either)."""
        builder = _Builder()
        for obj in iter_objects(objects):
            builder.add(obj)
        return builder.build(source=source, taken_at=taken_at, cluster_name=cluster_name)

    @classmethod
    def from_files(cls, paths, *, cluster_name: str = 'default') -> PolicySnapshot:
        """Build from JSON/YAML files or directories (multi-document YAML and ``List`` objects work)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = expand_paths(paths)
        builder = _Builder()
        for path in files:
            for obj in iter_objects(load_file(path)):
                builder.add(obj)
        return builder.build(source='files', taken_at=None, cluster_name=cluster_name)

    @classmethod
    def from_api(cls, api, *, namespaces: Iterable[str] | None = None, page_size: int = 500,
                 cluster_name: str = 'default') -> PolicySnapshot:
        """Read live through ``api.list_pages(path, params)`` (pages are ``*List`` dicts).

        ``namespaces`` limits pods, ReplicaSets and namespaced policies to those namespaces
        (namespaces and clusterwide policies are always read whole: selectors need them).
        Optional resources that are absent (404: Cilium CRDs not installed) or forbidden (403)
        become warnings; a failure on a required resource raises ``SnapshotError``.
        """
        taken_at = utc_now_text()
        builder = _Builder()
        scoped = sorted(set(namespaces)) if namespaces else None
        for kind, path, required in LIVE_RESOURCES:
            targets = [path]
            if scoped and kind in NAMESPACED_LIVE_KINDS:
                targets = [_namespaced_path(path, ns) for ns in scoped]
            for target in targets:
                try:
                    for page in api.list_pages(target, {'limit': page_size}):
                        for obj in iter_objects(page, default_kind=kind):
                            builder.add(obj)
                except Exception as exc:  # the client's error type is not ours to import
                    status = getattr(exc, 'status', None)
                    if not required and status in (403, 404):
                        what = 'not installed' if status == 404 else 'forbidden'
                        builder.warnings.append(f'{kind} objects were not read ({what}: {target}); '
                                                f'the snapshot has no {kind} objects')
                        continue
                    raise SnapshotError(f'cannot list {kind} objects at {target}: {exc}') from exc
        return builder.build(source='live', taken_at=taken_at, cluster_name=cluster_name)


def _namespaced_path(path: str, namespace: str) -> str:
    head, _sep, resource = path.rpartition('/')
    return f'{head}/namespaces/{namespace}/{resource}'


def _normalize_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(str(ip).strip()))
    except ValueError:
        return str(ip)


# -- reading files ---------------------------------------------------------------------------------
def expand_paths(paths: Iterable) -> list[str]:
    """Files named directly plus the ``*.json``/``*.yaml``/``*.yml`` files of directories (sorted)."""
    files = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(os.path.join(root, name) for name in sorted(names) if name.endswith(FILE_EXTENSIONS))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise SnapshotError(f'policy snapshot source {path!r} does not exist')
    return files


def load_file(path: str) -> list:
    """The documents of one JSON or YAML file (empty documents dropped)."""
    return load_documents(path, SnapshotError)


def iter_objects(data, default_kind: str | None = None) -> Iterator[dict]:
    """Flatten objects, lists and ``*List`` objects into single objects (item kinds inferred)."""
    if isinstance(data, list):
        for item in data:
            yield from iter_objects(item, default_kind)
        return
    if not isinstance(data, Mapping):
        return
    kind = data.get('kind')
    if isinstance(data.get('items'), list) and (kind is None or str(kind).endswith('List')):
        item_kind = default_kind
        if kind and kind != 'List':
            item_kind = str(kind)[:-len('List')]
        for item in data['items']:
            yield from iter_objects(item, item_kind)
        return
    if kind is None and default_kind:
        data = dict(data)
        data['kind'] = default_kind
    yield data


# -- building ------------------------------------------------------------------------------------
class _Builder:
    def __init__(self):
        self.namespaces: dict[str, NamespaceInfo] = {}
        self.pod_objects: list[dict] = []
        self.replicasets: dict[tuple[str, str], tuple[str, str] | None] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.policies: dict[tuple[str, str, str], PolicyRecord] = {}
        self.warnings: list[str] = []
        self.ignored: dict[str, int] = {}

    def add(self, obj: Mapping) -> None:
        kind = obj.get('kind')
        meta = obj.get('metadata') or {}
        name = meta.get('name')
        if not name:
            self.ignored[str(kind)] = self.ignored.get(str(kind), 0) + 1
            return
        if kind == 'Namespace':
            self.namespaces[name] = NamespaceInfo(name, _string_map(meta.get('labels')), meta.get('uid'))
        elif kind == 'Pod':
            self.pod_objects.append(obj)
        elif kind == 'ReplicaSet':
            self.replicasets[(meta.get('namespace') or 'default', name)] = _controller_owner(meta)
        elif kind == 'Node':
            self.nodes[name] = _node_info(obj)
        elif kind in POLICY_KINDS:
            record = _policy_record(obj, self.warnings)
            if record is not None:
                self.policies[record.key] = record
        else:
            self.ignored[str(kind)] = self.ignored.get(str(kind), 0) + 1

    def build(self, *, source: str, taken_at: str | None, cluster_name: str) -> PolicySnapshot:
        pods = [self._pod_info(obj) for obj in self.pod_objects]
        return PolicySnapshot(namespaces=self.namespaces.values(), pods=pods, nodes=self.nodes.values(),
                              policies=self.policies.values(), warnings=self.warnings, source=source,
                              taken_at=taken_at, cluster_name=cluster_name, ignored=self.ignored)

    def _pod_info(self, obj: Mapping) -> PodInfo:
        meta = obj.get('metadata') or {}
        spec = obj.get('spec') or {}
        status = obj.get('status') or {}
        namespace = meta.get('namespace') or 'default'
        labels = _string_map(meta.get('labels'))
        ips = []
        for entry in status.get('podIPs') or []:
            if isinstance(entry, Mapping) and entry.get('ip'):
                ips.append(_normalize_ip(entry['ip']))
        if status.get('podIP') and _normalize_ip(status['podIP']) not in ips:
            ips.insert(0, _normalize_ip(status['podIP']))
        owner_kind, owner_name = self._owner(namespace, meta, labels)
        return PodInfo(
            namespace=namespace, name=meta['name'], labels=labels, ips=tuple(ips),
            named_ports=_named_ports(spec), owner_kind=owner_kind, owner_name=owner_name,
            node=spec.get('nodeName'), host_network=bool(spec.get('hostNetwork')),
            service_account=spec.get('serviceAccountName') or spec.get('serviceAccount') or 'default',
            phase=status.get('phase'), uid=meta.get('uid'))

    def _owner(self, namespace: str, meta: Mapping, labels: Mapping[str, str]) -> tuple[str | None, str | None]:
        owner = _controller_owner(meta)
        if owner is None:
            return None, None
        kind, name = owner
        if kind != 'ReplicaSet':
            return kind, name
        if (namespace, name) in self.replicasets:
            parent = self.replicasets[(namespace, name)]
            return parent if parent is not None else (kind, name)
        template_hash = labels.get('pod-template-hash')
        if template_hash and name.endswith('-' + template_hash):
            return 'Deployment', name[:-len(template_hash) - 1]
        return kind, name


def _string_map(value) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): label_value(val) for key, val in value.items()}


def _controller_owner(meta: Mapping) -> tuple[str, str] | None:
    owners = [o for o in meta.get('ownerReferences') or [] if isinstance(o, Mapping) and o.get('kind') and o.get('name')]
    if not owners:
        return None
    chosen = next((o for o in owners if o.get('controller')), owners[0])
    return str(chosen['kind']), str(chosen['name'])


def _named_ports(spec: Mapping) -> dict[str, tuple[int, str]]:
    ports: dict[str, tuple[int, str]] = {}
    containers = list(spec.get('containers') or [])
    # Native sidecars (init containers that keep running) serve traffic too.
    containers += [c for c in spec.get('initContainers') or [] if isinstance(c, Mapping) and c.get('restartPolicy') == 'Always']
    for container in containers:
        if not isinstance(container, Mapping):
            continue
        for port in container.get('ports') or []:
            if not isinstance(port, Mapping) or not port.get('name') or port.get('containerPort') is None:
                continue
            try:
                number = int(port['containerPort'])
            except (TypeError, ValueError):
                continue
            ports.setdefault(str(port['name']), (number, str(port.get('protocol') or 'TCP').upper()))
    return ports


def _node_info(obj: Mapping) -> NodeInfo:
    meta = obj.get('metadata') or {}
    status = obj.get('status') or {}
    ips = []
    for address in status.get('addresses') or []:
        if isinstance(address, Mapping) and address.get('type') in ('InternalIP', 'ExternalIP') and address.get('address'):
            ips.append(_normalize_ip(address['address']))
    return NodeInfo(meta['name'], tuple(ips), _string_map(meta.get('labels')))


def _policy_record(obj: Mapping, warnings: list[str]) -> PolicyRecord | None:
    kind = obj['kind']
    meta = obj.get('metadata') or {}
    name = meta['name']
    namespace = None if kind == KIND_CCNP else (meta.get('namespace') or 'default')
    spec = obj.get('spec')
    specs = obj.get('specs') or []
    ref = name if namespace is None else f'{namespace}/{name}'
    if spec is not None and not isinstance(spec, Mapping):
        warnings.append(f'{kind} {ref}: spec is not a mapping; policy ignored')
        return None
    if not isinstance(specs, list) or not all(isinstance(s, Mapping) for s in specs):
        warnings.append(f'{kind} {ref}: specs is not a list of mappings; policy ignored')
        return None
    if kind == KIND_NP:
        specs = []
        if spec is None:
            spec = {}
    elif spec is None and not specs:
        warnings.append(f'{kind} {ref}: neither spec nor specs is set; Cilium rejects it, policy ignored')
        return None
    hashed = spec if not specs else {'spec': spec, 'specs': specs}
    return PolicyRecord(kind=kind, namespace=namespace, name=name, uid=meta.get('uid'),
                        resource_version=meta.get('resourceVersion'), content_hash=canonical_hash(hashed),
                        spec=spec, specs=tuple(specs))


# -- endpoint resolution -------------------------------------------------------------------------
def pod_endpoint(snapshot: PolicySnapshot, pod: PodInfo, local_node: str | None = None) -> Endpoint:
    """Endpoint for a pod of the snapshot (host-network pods become ``host``/``remote-node``)."""
    if pod.host_network:
        entity = 'host' if local_node and pod.node == local_node else 'remote-node'
        ip = pod.ips[0] if pod.ips else None
        return Endpoint(kind='entity', cilium_labels=CiliumLabels.reserved(entity), entity=entity, pod=pod, ip=ip,
                        node=pod.node, note='host-network pod: Cilium sees the node identity')
    ns_labels = snapshot.namespace_labels(pod.namespace)
    return Endpoint(
        kind='pod', pod=pod, ip=pod.ips[0] if pod.ips else None, namespace=pod.namespace, labels=dict(pod.labels),
        namespace_labels=ns_labels, named_ports=dict(pod.named_ports), node=pod.node,
        cilium_labels=CiliumLabels.for_pod(pod.labels, pod.namespace, ns_labels, pod.service_account, snapshot.cluster_name))


def entity_endpoint(entity: str, ip: str | None = None, note: str | None = None) -> Endpoint:
    """Endpoint for a reserved identity (``world``, ``host``, ``remote-node`` ...)."""
    return Endpoint(kind='entity', entity=entity, ip=ip, note=note, cilium_labels=CiliumLabels.reserved(entity))


def labels_endpoint(snapshot: PolicySnapshot, namespace: str, labels: Mapping[str, str], *, ip: str | None = None,
                    namespace_labels: Mapping[str, str] | None = None, service_account: str | None = None,
                    named_ports: Mapping[str, tuple[int, str]] | None = None, note: str | None = None) -> Endpoint:
    """Endpoint for a pod that is not in the snapshot, described by its namespace and labels."""
    ns_labels = dict(namespace_labels) if namespace_labels is not None else snapshot.namespace_labels(namespace)
    return Endpoint(
        kind='pod', ip=ip, namespace=namespace, labels=dict(labels), namespace_labels=ns_labels,
        named_ports=dict(named_ports) if named_ports is not None else None, synthetic=True, note=note,
        cilium_labels=CiliumLabels.for_pod(labels, namespace, ns_labels, service_account, snapshot.cluster_name))


def resolve_endpoint(snapshot: PolicySnapshot, spec, *, local_node: str | None = None) -> Endpoint | None:
    """Resolve a description of one side of a connection to an ``Endpoint`` (``None`` if impossible).

    ``spec`` may be an ``Endpoint``; a string (``"ns/pod"``, an IP address, or a reserved identity
    name such as ``"world"``); or a dict with any of ``namespace``, ``pod``/``name``, ``pods`` (first
    one is used), ``workload`` (name or ``{kind, name}``), ``labels`` (dict, or Hubble strings such as
    ``"k8s:app=nginx"``), ``reserved``, ``ip``. Order: pod by namespace+name; then a workload's first
    pod; then the reserved identity (other than ``unknown``) Cilium reported; then the IP (pod, then
    node); then labels (a pod that is not in the snapshot); then world for an IP outside the cluster.
    ``local_node`` decides whether a node IP is ``host`` or ``remote-node``.
    """
    if spec is None:
        return None
    if isinstance(spec, Endpoint):
        return spec
    if isinstance(spec, str):
        return _resolve_string(snapshot, spec.strip(), local_node)
    if not isinstance(spec, Mapping):
        return None
    namespace = spec.get('namespace') or None
    pod_name = spec.get('pod') or spec.get('name')
    if not pod_name and isinstance(spec.get('pods'), list) and spec['pods']:
        first = spec['pods'][0]
        pod_name = (first.get('name') or first.get('pod')) if isinstance(first, Mapping) else first
    ip = spec.get('ip') or None
    reserved = spec.get('reserved') or None
    if namespace and pod_name:
        pod = snapshot.pod(namespace, str(pod_name))
        if pod is not None:
            return pod_endpoint(snapshot, pod, local_node)
    workload = spec.get('workload')
    if workload and not reserved:
        if isinstance(workload, Mapping):
            wl_kind, wl_name = workload.get('kind'), workload.get('name')
        else:
            wl_kind, wl_name = spec.get('kind'), str(workload)
        if wl_name:
            pods = snapshot.workload_pods(namespace, wl_name, wl_kind if wl_kind in (None, '') else str(wl_kind))
            if not pods and wl_kind:
                pods = snapshot.workload_pods(namespace, wl_name)
            if pods:
                return pod_endpoint(snapshot, pods[0], local_node)
    if reserved and reserved != 'unknown':
        # The identity Cilium saw at drop time beats what the snapshot says about the IP now.
        return entity_endpoint(str(reserved), ip)
    if ip:
        found = _resolve_ip(snapshot, str(ip), local_node)
        if found is not None:
            return found
    labels = spec.get('labels')
    if labels:
        endpoint = _labels_spec_endpoint(snapshot, namespace, labels, ip, pod_name)
        if endpoint is not None:
            return endpoint
    if ip:
        return entity_endpoint('world', ip, note='IP is not a pod or node of the snapshot: treated as world')
    return None


def _labels_spec_endpoint(snapshot, namespace, labels, ip, pod_name) -> Endpoint | None:
    if isinstance(labels, Mapping):
        if not namespace:
            return None
        return labels_endpoint(snapshot, namespace, _string_map(labels), ip=ip,
                               note='pod not in the snapshot: evaluated with the given labels')
    if isinstance(labels, (list, tuple)):
        strings = [str(s) for s in labels]
        if any(s.startswith(SOURCE_RESERVED + ':') for s in strings):
            names = [s.split(':', 1)[1].split('=', 1)[0] for s in strings if s.startswith(SOURCE_RESERVED + ':')]
            return entity_endpoint(names[0], ip)
        pod_labels, ns_labels, label_ns, service_account = split_pod_labels(strings)
        namespace = namespace or label_ns
        if not namespace:
            return None
        what = f'pod {namespace}/{pod_name}' if pod_name else 'pod'
        return labels_endpoint(snapshot, namespace, pod_labels, ip=ip,
                               namespace_labels=ns_labels or None, service_account=service_account,
                               note=f'{what} not in the snapshot: evaluated with the labels from the drop')
    return None


def _resolve_string(snapshot: PolicySnapshot, text: str, local_node: str | None) -> Endpoint | None:
    if not text:
        return None
    if text in RESERVED_ENTITIES or text in ('all', 'cluster'):
        return entity_endpoint(text)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return _resolve_ip(snapshot, text, local_node) or entity_endpoint(
            'world', text, note='IP is not a pod or node of the snapshot: treated as world')
    namespace, sep, name = text.partition('/')
    if sep and namespace and name:
        pod = snapshot.pod(namespace, name)
        if pod is not None:
            return pod_endpoint(snapshot, pod, local_node)
        pods = snapshot.workload_pods(namespace, name)
        if pods:
            return pod_endpoint(snapshot, pods[0], local_node)
    return None


def _resolve_ip(snapshot: PolicySnapshot, ip: str, local_node: str | None) -> Endpoint | None:
    pod = snapshot.pod_by_ip(ip)
    if pod is not None:
        return pod_endpoint(snapshot, pod, local_node)
    node = snapshot.node_by_ip(ip)
    if node is not None:
        entity = 'host' if local_node and node.name == local_node else 'remote-node'
        return Endpoint(kind='entity', entity=entity, ip=_normalize_ip(ip), node=node.name,
                        cilium_labels=CiliumLabels.reserved(entity), note=f'IP of node {node.name}')
    return None
