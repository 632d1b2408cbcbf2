# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalised drop evidence: one record per dropped packet (or per PacketDrop Event), whatever its source.

Records are frozen ``slots`` dataclasses with ``to_dict()``/``from_dict()`` for JSON. ``Coverage`` (what a run
could and could not see) is mutable and filled while streaming. The JSON shapes are documented in
``docs/drop-model.md`` and are a contract for the rest of the collection: keep key names stable.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import (  # pylint: disable=unused-import  # re-exported
    format_time_ns, parse_time_ns, time_text)
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import reason_code

EVIDENCE_KINDS = ('event', 'flow')
POLICY_RELATIONS = ('denied_by', 'allowed_by', 'applied')


def _opt_str(value):
    return value if isinstance(value, str) else None


def _opt_int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Workload:
    """Owner of a pod (``Deployment``, ``DaemonSet``, ...) as reported by Hubble, or derived from the pod name."""

    kind: str | None
    name: str

    def to_dict(self) -> dict:
        return {'kind': self.kind, 'name': self.name}

    @classmethod
    def from_dict(cls, data) -> Workload | None:
        if not isinstance(data, dict) or not isinstance(data.get('name'), str):
            return None
        return cls(kind=_opt_str(data.get('kind')), name=data['name'])


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a dropped packet (the one endpoint model of the evidence; aggregated: ``ViolationEndpoint``)."""

    namespace: str | None = None
    pod: str | None = None
    workload: Workload | None = None
    labels: tuple[str, ...] = ()
    identity: int | None = None
    reserved: str | None = None
    ip: str | None = None

    def to_dict(self) -> dict:
        return {
            'namespace': self.namespace,
            'pod': self.pod,
            'workload': self.workload.to_dict() if self.workload else None,
            'labels': list(self.labels),
            'identity': self.identity,
            'reserved': self.reserved,
            'ip': self.ip,
        }

    @classmethod
    def from_dict(cls, data) -> Endpoint:
        if not isinstance(data, dict):
            return cls()
        labels = data.get('labels') or ()
        return cls(
            namespace=_opt_str(data.get('namespace')),
            pod=_opt_str(data.get('pod')),
            workload=Workload.from_dict(data.get('workload')),
            labels=tuple(label for label in labels if isinstance(label, str)) if isinstance(labels, (list, tuple)) else (),
            identity=_opt_int(data.get('identity')),
            reserved=_opt_str(data.get('reserved')),
            ip=_opt_str(data.get('ip')),
        )


EMPTY_ENDPOINT = Endpoint()


@dataclass(slots=True)
class ViolationEndpoint:
    """An ``Endpoint`` as the aggregation sees it: one side of a violation, over every Drop that shares its key.

    The same concept as ``Endpoint`` (one side of a dropped packet), reduced to its identity (``aggregation.endpoint_key``):
    a workload (``namespace``, ``workload`` name and ``kind``, up to ``aggregation.MAX_PODS`` of its ``pods``), a
    reserved entity or an IP. ``Endpoint`` keeps what one packet said (pod, labels, identity); this keeps what all of
    them share, so the two shapes (and their dicts in the module results) differ. Not to be confused with
    ``attribution.snapshot.Endpoint`` (an end resolved against the cluster snapshot for the policy engines) or
    ``verdicts.expectations.Peer`` (an observed end as the expectations judge it, matched against selectors).
    """

    namespace: str | None = None
    workload: str | None = None
    kind: str | None = None
    pods: list = field(default_factory=list)
    reserved: str | None = None
    ip: str | None = None
    kind_authoritative: bool = False

    def to_dict(self) -> dict:
        return {
            'namespace': self.namespace,
            'workload': self.workload,
            'kind': self.kind,
            'pods': list(self.pods),
            'reserved': self.reserved,
            'ip': self.ip,
        }


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy named by the evidence: ``denied_by``/``allowed_by`` (flows, events) or ``applied`` (events)."""

    relation: str
    kind: str | None
    namespace: str | None
    name: str
    clusterwide: bool = False
    revision: int | None = None

    def to_dict(self) -> dict:
        return {
            'relation': self.relation,
            'kind': self.kind,
            'namespace': self.namespace,
            'name': self.name,
            'clusterwide': self.clusterwide,
            'revision': self.revision,
        }

    @classmethod
    def from_dict(cls, data) -> PolicyRef | None:
        if not isinstance(data, dict) or not isinstance(data.get('name'), str) or not isinstance(data.get('relation'), str):
            return None
        return cls(
            relation=data['relation'],
            kind=_opt_str(data.get('kind')),
            namespace=_opt_str(data.get('namespace')),
            name=data['name'],
            clusterwide=data.get('clusterwide') is True,
            revision=_opt_int(data.get('revision')),
        )


@dataclass(frozen=True, slots=True)
class EventRef:
    """The Kubernetes Event a drop came from."""

    namespace: str | None
    name: str | None
    uid: str | None = None
    count: int = 1
    first_seen: str | None = None
    last_seen: str | None = None

    def to_dict(self) -> dict:
        return {
            'namespace': self.namespace,
            'name': self.name,
            'uid': self.uid,
            'count': self.count,
            'first_seen': self.first_seen,
            'last_seen': self.last_seen,
        }

    @classmethod
    def from_dict(cls, data) -> EventRef | None:
        if not isinstance(data, dict):
            return None
        count = _opt_int(data.get('count'))
        return cls(
            namespace=_opt_str(data.get('namespace')),
            name=_opt_str(data.get('name')),
            uid=_opt_str(data.get('uid')),
            count=1 if count is None else count,
            first_seen=_opt_str(data.get('first_seen')),
            last_seen=_opt_str(data.get('last_seen')),
        )


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """Where a drop record came from: an Event, or a flow (uuid, capture file and 1-based line number)."""

    kind: str
    event: EventRef | None = None
    flow_uuid: str | None = None
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict:
        return {
            'kind': self.kind,
            'event': self.event.to_dict() if self.event else None,
            'flow_uuid': self.flow_uuid,
            'file': self.file,
            'line': self.line,
        }

    @classmethod
    def from_dict(cls, data) -> EvidenceRef:
        if not isinstance(data, dict):
            return cls(kind='flow')
        kind = data.get('kind') if data.get('kind') in EVIDENCE_KINDS else 'flow'
        return cls(
            kind=kind,
            event=EventRef.from_dict(data.get('event')),
            flow_uuid=_opt_str(data.get('flow_uuid')),
            file=_opt_str(data.get('file')),
            line=_opt_int(data.get('line')),
        )


@dataclass(frozen=True, slots=True)
class Drop:  # pylint: disable=too-many-instance-attributes
    """One dropped packet (flow) or one PacketDrop Event (``count`` = its occurrences).

    ``time_ns`` (sortable integer form of ``time``) is derived and not serialised. ``source_port`` is kept
    for pairing a policy-verdict with its drop flow; it is not part of the JSON shape either.
    """

    time: str | None = None
    node: str | None = None
    direction: str = 'unknown'
    verdict: str | None = None
    reason: str | None = None
    reason_code: int | None = None
    event_type: str | None = None
    protocol: str | None = None
    port: int | None = None
    tcp_flags: tuple[str, ...] = ()
    source: Endpoint = EMPTY_ENDPOINT
    destination: Endpoint = EMPTY_ENDPOINT
    policies: tuple[PolicyRef, ...] = ()
    evidence: EvidenceRef = field(default_factory=lambda: EvidenceRef(kind='flow'))
    count: int = 1
    unparsed: str | None = None
    time_ns: int | None = field(default=None, compare=False)
    source_port: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {
            'time': self.time,
            'node': self.node,
            'direction': self.direction,
            'verdict': self.verdict,
            'reason': self.reason,
            'reason_code': self.reason_code,
            'event_type': self.event_type,
            'protocol': self.protocol,
            'port': self.port,
            'tcp_flags': list(self.tcp_flags),
            'source': self.source.to_dict(),
            'destination': self.destination.to_dict(),
            'policies': [policy.to_dict() for policy in self.policies],
            'evidence': self.evidence.to_dict(),
            'count': self.count,
            'unparsed': self.unparsed,
        }

    @classmethod
    def from_dict(cls, data) -> Drop:
        """Rebuild a record from ``to_dict()`` output (lenient: wrong-typed fields become empty)."""
        if not isinstance(data, dict):
            raise ValueError('a drop record must be a mapping')
        flags = data.get('tcp_flags') or ()
        policies = data.get('policies') or ()
        count = _opt_int(data.get('count'))
        reason = _opt_str(data.get('reason'))
        code = _opt_int(data.get('reason_code'))
        direction = data.get('direction')
        return cls(
            time=_opt_str(data.get('time')),
            node=_opt_str(data.get('node')),
            direction=direction if direction in ('ingress', 'egress') else 'unknown',
            verdict=_opt_str(data.get('verdict')),
            reason=reason,
            reason_code=code if code is not None or 'reason_code' in data else reason_code(reason),
            event_type=_opt_str(data.get('event_type')),
            protocol=_opt_str(data.get('protocol')),
            port=_opt_int(data.get('port')),
            tcp_flags=tuple(flag for flag in flags if isinstance(flag, str)) if isinstance(flags, (list, tuple)) else (),
            source=Endpoint.from_dict(data.get('source')),
            destination=Endpoint.from_dict(data.get('destination')),
            policies=tuple(ref for ref in (PolicyRef.from_dict(item) for item in policies) if ref is not None)
            if isinstance(policies, (list, tuple)) else (),
            evidence=EvidenceRef.from_dict(data.get('evidence')),
            count=1 if count is None else count,
            unparsed=_opt_str(data.get('unparsed')),
            time_ns=parse_time_ns(data.get('time')),
            source_port=_opt_int(data.get('source_port')),
        )


def _slot_setters(cls, names):
    return tuple(getattr(cls, name).__set__ for name in names)


_ENDPOINT_SET = _slot_setters(Endpoint, ('namespace', 'pod', 'workload', 'labels', 'identity', 'reserved', 'ip'))
_DROP_SET = _slot_setters(Drop, ('time', 'node', 'direction', 'verdict', 'reason', 'reason_code', 'event_type', 'protocol', 'port',
                                 'tcp_flags', 'source', 'destination', 'policies', 'evidence', 'count', 'unparsed', 'time_ns',
                                 'source_port'))
_EVIDENCE_SET = _slot_setters(EvidenceRef, ('kind', 'event', 'flow_uuid', 'file', 'line'))


def new_endpoint(namespace, pod, workload, labels, identity, reserved, ip, _new=object.__new__, _set=_ENDPOINT_SET) -> Endpoint:
    """``Endpoint(...)`` with every field given positionally, without the frozen ``__init__`` overhead (hot path)."""
    obj = _new(Endpoint)
    _set[0](obj, namespace)
    _set[1](obj, pod)
    _set[2](obj, workload)
    _set[3](obj, labels)
    _set[4](obj, identity)
    _set[5](obj, reserved)
    _set[6](obj, ip)
    return obj


def new_flow_evidence(flow_uuid, file, line, _new=object.__new__, _set=_EVIDENCE_SET) -> EvidenceRef:
    """``EvidenceRef(kind='flow', ...)`` for the hot path."""
    obj = _new(EvidenceRef)
    _set[0](obj, 'flow')
    _set[1](obj, None)
    _set[2](obj, flow_uuid)
    _set[3](obj, file)
    _set[4](obj, line)
    return obj


def new_flow_drop(time, node, direction, verdict, reason, reason_code_value, event_type,  # pylint: disable=too-many-arguments
                  protocol, port, tcp_flags, source, destination, policies, evidence, time_ns, source_port,
                  _new=object.__new__, _set=_DROP_SET) -> Drop:
    """``Drop(...)`` of a flow (count 1, parsed) with every field given positionally, for the hot path."""
    obj = _new(Drop)
    _set[0](obj, time)
    _set[1](obj, node)
    _set[2](obj, direction)
    _set[3](obj, verdict)
    _set[4](obj, reason)
    _set[5](obj, reason_code_value)
    _set[6](obj, event_type)
    _set[7](obj, protocol)
    _set[8](obj, port)
    _set[9](obj, tcp_flags)
    _set[10](obj, source)
    _set[11](obj, destination)
    _set[12](obj, policies)
    _set[13](obj, evidence)
    _set[14](obj, 1)
    _set[15](obj, None)
    _set[16](obj, time_ns)
    _set[17](obj, source_port)
    return obj


@dataclass(frozen=True, slots=True)
class LostEvents:
    """A Hubble ``lost_events`` record: events lost before they became flows (ring buffer / queue overflow)."""

    source: str
    num_lost: int
    node: str | None = None
    cpu: int | None = None
    first: str | None = None
    last: str | None = None
    time: str | None = None

    def to_dict(self) -> dict:
        return {
            'source': self.source,
            'num_lost': self.num_lost,
            'node': self.node,
            'cpu': self.cpu,
            'first': self.first,
            'last': self.last,
            'time': self.time,
        }

    @classmethod
    def from_dict(cls, data) -> LostEvents:
        data = data if isinstance(data, dict) else {}
        count = _opt_int(data.get('num_lost'))
        return cls(source=_opt_str(data.get('source')) or 'UNKNOWN_LOST_EVENT_SOURCE', num_lost=count or 0,
                   node=_opt_str(data.get('node')), cpu=_opt_int(data.get('cpu')), first=_opt_str(data.get('first')),
                   last=_opt_str(data.get('last')), time=_opt_str(data.get('time')))


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A Hubble Relay ``node_status`` record (a node connected, became unavailable, ...)."""

    state: str
    node_names: tuple[str, ...] = ()
    message: str | None = None
    node: str | None = None
    time: str | None = None

    def to_dict(self) -> dict:
        return {
            'state': self.state,
            'node_names': list(self.node_names),
            'message': self.message,
            'node': self.node,
            'time': self.time,
        }

    @classmethod
    def from_dict(cls, data) -> NodeStatus:
        data = data if isinstance(data, dict) else {}
        names = data.get('node_names') or ()
        return cls(state=_opt_str(data.get('state')) or 'UNKNOWN_NODE_STATE',
                   node_names=tuple(name for name in names if isinstance(name, str)) if isinstance(names, (list, tuple)) else (),
                   message=_opt_str(data.get('message')), node=_opt_str(data.get('node')), time=_opt_str(data.get('time')))


MAX_MALFORMED_SAMPLES = 10
MAX_UNPARSED_SAMPLES = 5
MAX_LOST_SAMPLES = 10
MAX_FILES_LISTED = 100
MAX_NODES = 10_000
MAX_SAMPLE_TEXT = 500
# Events whose last count is kept exactly (sources de-duplicating relists, the aggregation counting increases).
MAX_TRACKED_EVENTS = 100_000
OVERFLOW_SLOTS = 1 << 16
_MAX_PACKED = (1 << 60) - 1


@dataclass(slots=True)
class Coverage:  # pylint: disable=too-many-instance-attributes
    """What a run read and what it could not see. Mutable; filled while streaming; ``merge()`` combines runs."""

    lines_read: int = 0
    decoded: int = 0
    flows: int = 0
    drops: int = 0
    other_records: int = 0
    skipped_other_verdicts: int = 0
    malformed: int = 0
    malformed_lines: list = field(default_factory=list)
    malformed_samples: list = field(default_factory=list)
    events_total: int = 0
    events_skipped: int = 0
    events_malformed: int = 0
    events_oversized: int = 0
    event_drops: int = 0
    unparsed_events: int = 0
    unparsed_samples: list = field(default_factory=list)
    lost_total: int = 0
    lost_records: int = 0
    lost_by_source: dict = field(default_factory=dict)
    lost_by_node: dict = field(default_factory=dict)
    lost_samples: list = field(default_factory=list)
    nodes: set = field(default_factory=set)
    node_status: dict = field(default_factory=dict)
    status_records: int = 0
    first_ns: int | None = None
    first_time: str | None = None
    last_ns: int | None = None
    last_time: str | None = None
    files: list = field(default_factory=list)
    strict: bool = False
    verdicts: tuple = ()

    @property
    def not_understood(self) -> int:
        """Input elements that were read but not understood (the coverage rule in docs/drop-model.md): malformed lines,
        JSON objects that are no Hubble record, malformed Event objects and PacketDrop messages outside the grammar."""
        return self.malformed + self.other_records + self.events_malformed + self.unparsed_events

    @property
    def records(self) -> int:
        """Hubble records recognised (flows decoded or skipped as another verdict, lost_events, node_status)."""
        return self.flows + self.skipped_other_verdicts + self.lost_records + self.status_records

    def add_malformed(self, line: int | None, file: str | None = None, error: str = '') -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_MALFORMED_SAMPLES:
            self.malformed_lines.append(line)
            self.malformed_samples.append({'file': file, 'line': line, 'error': error[:200]})

    def add_unparsed(self, namespace, name, message) -> None:
        self.unparsed_events += 1
        if len(self.unparsed_samples) < MAX_UNPARSED_SAMPLES:
            text = message if isinstance(message, str) else ''
            self.unparsed_samples.append({'namespace': namespace, 'name': name, 'message': text[:MAX_SAMPLE_TEXT]})

    def add_node(self, node) -> None:
        if node and isinstance(node, str) and len(self.nodes) < MAX_NODES:
            self.nodes.add(node)

    def add_time(self, text, value: int | None = None) -> None:
        """Widen the covered time span with one timestamp (RFC 3339 text; ``value`` = its nanoseconds if known)."""
        if value is None:
            value = parse_time_ns(text)
            if value is None:
                return
        if self.first_ns is None or value < self.first_ns:
            self.first_ns, self.first_time = value, text
        if self.last_ns is None or value > self.last_ns:
            self.last_ns, self.last_time = value, text

    def add_lost(self, record: LostEvents) -> None:
        self.lost_records += 1
        self.lost_total += record.num_lost
        self.lost_by_source[record.source] = self.lost_by_source.get(record.source, 0) + record.num_lost
        node = record.node or ''
        self.lost_by_node[node] = self.lost_by_node.get(node, 0) + record.num_lost
        if len(self.lost_samples) < MAX_LOST_SAMPLES:
            self.lost_samples.append(record.to_dict())
        self.add_node(record.node)
        for stamp in (record.time, record.first, record.last):
            if stamp:
                self.add_time(stamp)

    def add_node_status(self, record: NodeStatus) -> None:
        self.status_records += 1
        for name in record.node_names:
            self.add_node(name)
            if len(self.node_status) < MAX_NODES or name in self.node_status:
                self.node_status[name] = record.state
        if record.time:
            self.add_time(record.time)

    def add_file(self, path: str) -> None:
        if len(self.files) < MAX_FILES_LISTED:
            self.files.append(path)

    def merge(self, other: Coverage) -> None:
        """Add another run's counters into this one."""
        for name in ('lines_read', 'decoded', 'flows', 'drops', 'other_records', 'skipped_other_verdicts', 'events_total', 'events_skipped',
                     'events_malformed', 'events_oversized', 'event_drops', 'lost_total', 'lost_records', 'status_records'):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for index in range(other.malformed):
            if index < len(other.malformed_samples):
                sample = other.malformed_samples[index]
                self.add_malformed(sample['line'], sample['file'], sample['error'])
            else:
                self.malformed += 1
        for index in range(other.unparsed_events):
            if index < len(other.unparsed_samples):
                sample = other.unparsed_samples[index]
                self.add_unparsed(sample['namespace'], sample['name'], sample['message'])
            else:
                self.unparsed_events += 1
        for target, source in ((self.lost_by_source, other.lost_by_source), (self.lost_by_node, other.lost_by_node)):
            for key, value in source.items():
                target[key] = target.get(key, 0) + value
        self.lost_samples.extend(other.lost_samples[:max(0, MAX_LOST_SAMPLES - len(self.lost_samples))])
        for node in other.nodes:
            self.add_node(node)
        self.node_status.update(other.node_status)
        for text, value in ((other.first_time, other.first_ns), (other.last_time, other.last_ns)):
            if value is not None:
                self.add_time(text, value)
        for path in other.files:
            self.add_file(path)

    def to_dict(self) -> dict:
        return {
            'lines_read': self.lines_read,
            'decoded': self.decoded,
            'not_decoded': max(0, self.lines_read - self.decoded),
            'flows': self.flows,
            'drops': self.drops,
            'other_records': self.other_records,
            'skipped_other_verdicts': self.skipped_other_verdicts,
            'not_understood': self.not_understood,
            'malformed': {'count': self.malformed, 'lines': list(self.malformed_lines), 'samples': list(self.malformed_samples)},
            'events_total': self.events_total,
            'events_skipped': self.events_skipped,
            'events_malformed': self.events_malformed,
            'events_oversized': self.events_oversized,
            'event_drops': self.event_drops,
            'unparsed_events': {'count': self.unparsed_events, 'samples': list(self.unparsed_samples)},
            'lost_events': {
                'total': self.lost_total,
                'records': self.lost_records,
                'by_source': dict(sorted(self.lost_by_source.items())),
                'by_node': dict(sorted(self.lost_by_node.items())),
                'samples': list(self.lost_samples),
            },
            'nodes': sorted(self.nodes),
            'node_status': dict(sorted(self.node_status.items())),
            'node_status_records': self.status_records,
            'time': {'first': self.first_time, 'last': self.last_time},
            'files': list(self.files),
            'strict': self.strict,
            'verdicts': list(self.verdicts),
        }


class EventTable:
    """Bounded memory of Events seen: key -> ``(resourceVersion, count, flags)``.

    The first ``limit`` keys are kept exactly. Further keys go to a fixed table of ``slots`` integers indexed by the key's
    hash, holding the largest count and the OR of the flags of every key in that slot (no resourceVersion): a key that
    shares a slot with another looks already seen with a count at least as large, so an Event can be under-counted but
    never counted twice. ``approximate`` counts the slots in use: 0 means every count is exact.
    """

    __slots__ = ('limit', 'slots', 'approximate', '_exact', '_table')

    def __init__(self, limit: int | None = None, slots: int = OVERFLOW_SLOTS):
        self.limit = MAX_TRACKED_EVENTS if limit is None else limit
        self.slots = slots
        self.approximate = 0
        self._exact: dict = {}
        self._table = None

    def __len__(self) -> int:
        return len(self._exact)

    def get(self, key):
        """``(resourceVersion, count, flags)`` of ``key``, or None when it was never stored."""
        hit = self._exact.get(key)
        if hit is not None or self._table is None:
            return hit
        packed = self._table[hash(key) % self.slots]
        if not packed:
            return None
        packed -= 1
        return None, packed >> 4, packed & 15

    def put(self, key, resource_version, count: int, flags: int = 0) -> None:
        exact = self._exact
        if key in exact or len(exact) < self.limit:
            exact[key] = (resource_version, count, flags)
            return
        if self._table is None:
            self._table = array('q', bytes(8 * self.slots))
        slot = hash(key) % self.slots
        packed = self._table[slot]
        old_count, old_flags = ((packed - 1) >> 4, (packed - 1) & 15) if packed else (0, 0)
        if not packed:
            self.approximate += 1
        count = min(max(0, count), _MAX_PACKED >> 4)
        self._table[slot] = ((max(old_count, count) << 4) | old_flags | (flags & 15)) + 1
