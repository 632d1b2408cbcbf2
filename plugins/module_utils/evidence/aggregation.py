# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming aggregation of ``Drop`` records into violations, with bounded memory.

Violation key = (direction, source workload, destination workload/entity/IP, protocol, destination port, reason).
Cilium reports one denied packet twice: a policy-verdict flow (monitor event type 5) and the drop flow itself
(event type 1). ``Aggregator`` counts dropped packets from the drop flows only; policy-verdict flows are kept as
corroborating evidence (``count_by_kind.policy_verdict``) and never add to the count. Only a violation seen through
policy-verdict flows alone (drop notifications disabled or filtered out) counts those, as they are its only evidence.
PacketDrop Events count their occurrences (``count``); a re-listed Event (same uid) only adds the increase of its count.
The last count of every Event is kept exactly for ``model.MAX_TRACKED_EVENTS`` Events, then in a fixed-size hashed table
(``model.EventTable``) that can only under-count; ``stats.events_approximate`` says so. A violation's ``count`` is the
larger of its flow (packet) count and its Event count: both are lower bounds of the drops.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import (
    Coverage, Drop, Endpoint, EventTable, ViolationEndpoint, parse_time_ns)
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import WORLD_ENTITIES

DEFAULT_MAX_SAMPLES = 5
DEFAULT_MAX_VIOLATIONS = 50_000
MAX_PODS = 5
MAX_NODES_PER_VIOLATION = 64
MAX_POLICIES_PER_VIOLATION = 32
POLICY_VERDICT = 'policy-verdict'

# rand.SafeEncodeString alphabet used for pod-template-hash and generated name suffixes (no vowels, no 0/1/3).
_SAFE = 'bcdfghjklmnpqrstvwxz2456789'
_REPLICASET_POD = re.compile(rf'(?P<name>.+)-[{_SAFE}]{{6,10}}-[{_SAFE}]{{5}}')
_CRONJOB_POD = re.compile(rf'(?P<name>.+)-\d{{8,10}}-[{_SAFE}]{{5}}')
_GENERATED_POD = re.compile(rf'(?P<name>.+)-[{_SAFE}]{{5}}')
_NAME_LABELS = ('k8s:app.kubernetes.io/name=', 'k8s:app=', 'k8s:k8s-app=', 'k8s:name=', 'k8s:run=')
_NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace='


@functools.lru_cache(maxsize=4096)
def workload_from_pod(pod: str) -> tuple[str, str | None]:
    """Guess ``(workload name, kind)`` from a generated pod name.

    ``<deploy>-<pod-template-hash>-<5>`` -> (deploy, ``Deployment``); ``<cronjob>-<schedule>-<5>`` -> (cronjob, ``CronJob``);
    ``<name>-<5>`` (DaemonSet or Job) -> (name, None); anything else, including StatefulSet pods (``web-0``, ordinal
    kept) and bare pods -> (pod, ``Pod``). Suffixes only use the Kubernetes safe alphabet, so ``my-nginx`` stays whole.
    """
    match = _REPLICASET_POD.fullmatch(pod)
    if match:
        return match.group('name'), 'Deployment'
    match = _CRONJOB_POD.fullmatch(pod)
    if match:
        return match.group('name'), 'CronJob'
    match = _GENERATED_POD.fullmatch(pod)
    if match:
        return match.group('name'), None
    return pod, 'Pod'


def _label_name(labels) -> str | None:
    for prefix in _NAME_LABELS:
        for label in labels:
            if label.startswith(prefix) and len(label) > len(prefix):
                return label[len(prefix):]
    return None


def _endpoint_info(endpoint: Endpoint, owners=None) -> tuple:
    """``(key, namespace, workload, kind, kind_authoritative, reserved, ip)`` of an endpoint (see ``endpoint_key``)."""
    namespace = endpoint.namespace
    if endpoint.pod or endpoint.workload:
        owner = owners.get((namespace, endpoint.pod)) if owners and endpoint.pod else None
        if owner:
            kind, name, authoritative = owner[0], owner[1], True
        elif endpoint.workload:
            kind, name, authoritative = endpoint.workload.kind, endpoint.workload.name, True
        else:
            name, kind = workload_from_pod(endpoint.pod)
            authoritative = False
        return f'{namespace or ""}/{name}', namespace, name, kind, authoritative, None, None
    label_name = _label_name(endpoint.labels)
    if label_name:
        if namespace is None:
            for label in endpoint.labels:
                if label.startswith(_NAMESPACE_LABEL):
                    namespace = label[len(_NAMESPACE_LABEL):] or None
        return f'{namespace or ""}/{label_name}', namespace, label_name, None, False, None, None
    reserved = endpoint.reserved
    if reserved and reserved not in WORLD_ENTITIES:
        return f'reserved:{reserved}', None, None, None, False, reserved, None
    if endpoint.ip:
        return f'ip:{endpoint.ip}', None, None, None, False, reserved, endpoint.ip
    if reserved:
        return f'reserved:{reserved}', None, None, None, False, reserved, None
    return 'unknown', None, None, None, False, None, None


def _view(info: tuple) -> ViolationEndpoint:
    _key, namespace, workload, kind, authoritative, reserved, ip = info
    return ViolationEndpoint(namespace=namespace, workload=workload, kind=kind, reserved=reserved, ip=ip,
                             kind_authoritative=authoritative)


def endpoint_key(endpoint: Endpoint, owners=None) -> tuple[str, ViolationEndpoint]:
    """Stable key and display form of an endpoint.

    Order: owner from ``owners`` (``{(namespace, pod): (kind, name)}``), Hubble ``workloads``, generated pod-name
    suffix stripped, identity labels (``app``/``k8s-app``/...), reserved entity (``host``, ``remote-node``...),
    IP (``world``-like entities and bare addresses are keyed by IP so events and flows meet).
    """
    info = _endpoint_info(endpoint, owners)
    return info[0], _view(info)


def _key(direction, src_key: str, dst_key: str, protocol, port, reason) -> str:
    return f'{direction}|{src_key}|{dst_key}|{protocol or "-"}|{"-" if port is None else port}|{reason or "-"}'


def violation_key(drop: Drop, owners=None) -> str:
    """The key ``drop`` aggregates under: ``direction|source|destination|protocol|port|reason`` (see ``endpoint_key``)."""
    return _key(drop.direction, _endpoint_info(drop.source, owners)[0], _endpoint_info(drop.destination, owners)[0],
                drop.protocol, drop.port, drop.reason)


def drop_count(flow_packets: int, event_count: int) -> int:
    """The one counting rule: the larger of the packets seen in flows and the Event occurrences (both lower bounds)."""
    return max(flow_packets, event_count)


@dataclass(slots=True)
class Violation:  # pylint: disable=too-many-instance-attributes
    """All drops sharing one key."""

    key: str
    direction: str
    source: ViolationEndpoint
    destination: ViolationEndpoint
    protocol: str | None
    port: int | None
    reason: str | None
    flow_count: int = 0
    verdict_count: int = 0
    event_count: int = 0
    first_ns: int | None = None
    first_seen: str | None = None
    last_ns: int | None = None
    last_seen: str | None = None
    nodes: set = field(default_factory=set)
    samples: list = field(default_factory=list)
    policies: dict = field(default_factory=dict)
    evidence_kinds: set = field(default_factory=set)

    @property
    def flow_packets(self) -> int:
        """Dropped packets seen in flows: drop flows, or policy-verdict flows when they are the only flow evidence."""
        return self.flow_count if self.flow_count else self.verdict_count

    @property
    def count(self) -> int:
        """The larger of the packets seen in flows and the Event occurrences: both are lower bounds of the drops."""
        return drop_count(self.flow_packets, self.event_count)

    def to_dict(self) -> dict:
        return {
            'key': self.key,
            'direction': self.direction,
            'source': self.source.to_dict(),
            'destination': self.destination.to_dict(),
            'protocol': self.protocol,
            'port': self.port,
            'reason': self.reason,
            'count': self.count,
            'count_by_kind': {'event': self.event_count, 'flow': self.flow_packets, 'policy_verdict': self.verdict_count},
            'first_seen': self.first_seen,
            'last_seen': self.last_seen,
            'nodes': sorted(self.nodes),
            'samples': [{'kind': kind, 'ref': ref} for kind, ref in self.samples],
            'policies': [policy.to_dict() for policy in self.policies],
            'evidence_kinds': sorted(self.evidence_kinds),
        }


@dataclass(slots=True)
class AggregationStats:
    """Counters of the aggregation itself."""

    drops_in: int = 0
    pairs_collapsed: int = 0
    event_duplicates: int = 0
    overflow_drops: int = 0
    events_approximate: int = 0

    def to_dict(self) -> dict:
        return {
            'drops_in': self.drops_in,
            'pairs_collapsed': self.pairs_collapsed,
            'event_duplicates': self.event_duplicates,
            'overflow_drops': self.overflow_drops,
            'events_approximate': self.events_approximate,
        }


@dataclass(slots=True)
class AggregationResult:
    """Violations (largest first) plus what the run covered."""

    violations: list
    coverage: Coverage
    stats: AggregationStats

    def to_dict(self) -> dict:
        return {
            'violations': [violation.to_dict() for violation in self.violations],
            'coverage': self.coverage.to_dict(),
            'aggregation': self.stats.to_dict(),
        }


def _merge_endpoint(view: ViolationEndpoint, info: tuple, endpoint: Endpoint) -> None:
    if info[4] and not view.kind_authoritative:
        view.kind, view.kind_authoritative = info[3], True
    if view.reserved is None and info[5]:
        view.reserved = info[5]
    pod = endpoint.pod
    if pod and len(view.pods) < MAX_PODS and pod not in view.pods:
        view.pods.append(pod)


class Aggregator:
    """Feed ``Drop`` records with ``add()``; read ``violations()`` or ``result()``. Memory is bounded by the options."""

    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES, max_violations: int = DEFAULT_MAX_VIOLATIONS,
                 collapse_pairs: bool = True, owners=None):
        self.max_samples = max_samples
        self.max_violations = max_violations
        self.collapse_pairs = collapse_pairs
        self.owners = owners
        self.stats = AggregationStats()
        self._violations: dict[str, Violation] = {}
        self._event_counts = EventTable()

    def __len__(self) -> int:
        return len(self._violations)

    def _violation(self, drop: Drop) -> tuple[Violation | None, tuple, tuple]:
        src = _endpoint_info(drop.source, self.owners)
        dst = _endpoint_info(drop.destination, self.owners)
        key = _key(drop.direction, src[0], dst[0], drop.protocol, drop.port, drop.reason)
        violation = self._violations.get(key)
        if violation is None and len(self._violations) < self.max_violations:
            violation = Violation(key=key, direction=drop.direction, source=_view(src), destination=_view(dst),
                                  protocol=drop.protocol, port=drop.port, reason=drop.reason)
            self._violations[key] = violation
        return violation, src, dst

    def _event_increment(self, drop: Drop) -> int:
        event = drop.evidence.event
        if event is None:
            return drop.count
        ident = event.uid or f'{event.namespace}/{event.name}'
        table = self._event_counts
        previous = table.get(ident)
        if previous is None:
            table.put(ident, None, drop.count)
            self.stats.events_approximate = table.approximate
            return drop.count
        seen = previous[1]
        self.stats.event_duplicates += 1
        if drop.count > seen:
            table.put(ident, None, drop.count)
            return drop.count - seen
        return 0

    def add(self, drop: Drop) -> None:
        """Account one record."""
        self.stats.drops_in += 1
        violation, src, dst = self._violation(drop)
        if violation is None:
            self.stats.overflow_drops += drop.count
            return
        evidence = drop.evidence
        kind = evidence.kind
        if kind == 'event':
            violation.event_count += self._event_increment(drop)
            event = evidence.event
            ref = f'{event.namespace}/{event.name}' if event and event.name else None
            stamps = ((event.first_seen, parse_time_ns(event.first_seen)), (event.last_seen, parse_time_ns(event.last_seen))) \
                if event else ((drop.time, drop.time_ns),)
        else:
            if self.collapse_pairs and drop.event_type == POLICY_VERDICT:
                # corroborates the drop flow of the same packet; never an extra drop (see the module docstring)
                violation.verdict_count += drop.count
                if violation.flow_count:
                    self.stats.pairs_collapsed += drop.count
            else:
                if self.collapse_pairs and not violation.flow_count:
                    # the verdict flows seen so far were counted as the only evidence; drop flows take over
                    self.stats.pairs_collapsed += violation.verdict_count
                violation.flow_count += drop.count
            ref = evidence.flow_uuid or (f'{evidence.file or "-"}:{evidence.line}' if evidence.line is not None else None)
            stamps = ((drop.time, drop.time_ns),)
        if kind not in violation.evidence_kinds:
            violation.evidence_kinds.add(kind)
        if ref and len(violation.samples) < self.max_samples and (kind, ref) not in violation.samples:
            violation.samples.append((kind, ref))
        for stamp, value in stamps:
            if value is None:
                continue
            if violation.first_ns is None or value < violation.first_ns:
                violation.first_ns, violation.first_seen = value, stamp
            if violation.last_ns is None or value > violation.last_ns:
                violation.last_ns, violation.last_seen = value, stamp
        node = drop.node
        if node and node not in violation.nodes and len(violation.nodes) < MAX_NODES_PER_VIOLATION:
            violation.nodes.add(node)
        for policy in drop.policies:
            if policy not in violation.policies and len(violation.policies) < MAX_POLICIES_PER_VIOLATION:
                violation.policies[policy] = None
        _merge_endpoint(violation.source, src, drop.source)
        _merge_endpoint(violation.destination, dst, drop.destination)

    def add_all(self, drops) -> Aggregator:
        for drop in drops:
            self.add(drop)
        return self

    def violations(self) -> list[Violation]:
        """Violations, largest count first, then by key."""
        return sorted(self._violations.values(), key=lambda item: (-item.count, item.key))

    def result(self, coverage: Coverage | None = None) -> AggregationResult:
        return AggregationResult(violations=self.violations(), coverage=coverage or Coverage(), stats=self.stats)


def aggregate(drops, coverage: Coverage | None = None, **options) -> AggregationResult:
    """Aggregate an iterable of Drops (``options`` as for ``Aggregator``)."""
    return Aggregator(**options).add_all(drops).result(coverage)


# -- merging the violations of several results (reports) ----------------------------------------------------------
def _merge_side_dict(target: dict, other) -> None:
    for name in ('namespace', 'workload', 'kind', 'reserved', 'ip'):
        if target.get(name) in (None, '') and other.get(name) not in (None, ''):
            target[name] = other[name]
    pods = list(target.get('pods') or [])
    for pod in other.get('pods') or []:
        if pod not in pods and len(pods) < MAX_PODS:
            pods.append(pod)
    target['pods'] = pods


def _count(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def earliest(a, b):
    """The earlier of two RFC 3339 times (either may be empty)."""
    values = [v for v in (a, b) if v]
    return min(values, key=lambda t: parse_time_ns(t) or 0) if values else None


def latest(a, b):
    """The later of two RFC 3339 times (either may be empty)."""
    values = [v for v in (a, b) if v]
    return max(values, key=lambda t: parse_time_ns(t) or 0) if values else None


def merge_violation_dicts(lists, max_samples: int = DEFAULT_MAX_SAMPLES) -> list[dict]:
    """Merge the ``violations`` of several results (``Violation.to_dict()`` dicts) by ``key``.

    The same aggregation as ``Aggregator``, one level up: the same caps (``MAX_PODS`` pods per side, ``max_samples``
    samples, ``MAX_NODES_PER_VIOLATION`` nodes, ``MAX_POLICIES_PER_VIOLATION`` policies) and the same counting rule
    (``drop_count``): flow packets add up across results, Event occurrences add up, and the count is the larger of the
    two. A dict without ``count_by_kind`` counts ``count`` (default 1) as flow packets when it names flow evidence,
    else as Event occurrences. Result dicts: ``count_by_kind`` has ``event`` and ``flow``; insertion order is kept.
    """
    merged: dict = {}
    for violations in lists:
        for item in violations or []:
            if not isinstance(item, Mapping) or not item.get('key'):
                continue
            key = str(item['key'])
            current = merged.get(key)
            if current is None:
                current = merged[key] = {
                    'key': key, 'direction': item.get('direction') or 'unknown',
                    'source': dict(item.get('source') or {}), 'destination': dict(item.get('destination') or {}),
                    'protocol': item.get('protocol'), 'port': item.get('port'), 'reason': item.get('reason'),
                    'count_by_kind': {'event': 0, 'flow': 0}, 'first_seen': None, 'last_seen': None,
                    'nodes': [], 'samples': [], 'policies': [], 'evidence_kinds': [],
                }
                current['source'].setdefault('pods', [])
                current['destination'].setdefault('pods', [])
            else:
                _merge_side_dict(current['source'], item.get('source') or {})
                _merge_side_dict(current['destination'], item.get('destination') or {})
            counts = item.get('count_by_kind') if isinstance(item.get('count_by_kind'), Mapping) else {}
            if counts:
                for kind in ('event', 'flow'):
                    current['count_by_kind'][kind] += _count(counts.get(kind))
            else:
                kinds = item.get('evidence_kinds') or ['flow']
                current['count_by_kind']['flow' if 'flow' in kinds else 'event'] += _count(item.get('count'), 1)
            current['first_seen'] = earliest(current['first_seen'], item.get('first_seen'))
            current['last_seen'] = latest(current['last_seen'], item.get('last_seen'))
            for node in item.get('nodes') or []:
                if node not in current['nodes'] and len(current['nodes']) < MAX_NODES_PER_VIOLATION:
                    current['nodes'].append(node)
            for sample in item.get('samples') or []:
                if sample not in current['samples'] and len(current['samples']) < max_samples:
                    current['samples'].append(sample)
            for policy in item.get('policies') or []:
                if policy not in current['policies'] and len(current['policies']) < MAX_POLICIES_PER_VIOLATION:
                    current['policies'].append(policy)
            for kind in item.get('evidence_kinds') or []:
                if kind not in current['evidence_kinds']:
                    current['evidence_kinds'].append(kind)
    for item in merged.values():
        counts = item['count_by_kind']
        item['count'] = drop_count(counts['flow'], counts['event'])
        item['nodes'].sort()
        item['evidence_kinds'].sort()
    return list(merged.values())
