# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance report pipeline: building the document from collector results, rolling reports up, rendering and
writing the formats (the document's constants, hashing and marker line are in ``report.document``).

``build_report()`` turns registered results of ``drop_events_info`` / ``hubble_flows_info`` (their
``violations``, ``drops`` and ``coverage``), an optional policy snapshot, expectations and probe results
into one versioned document (``schema_version``; JSON Schema in ``docs/schemas/report.schema.json``):

* ``run``: cluster, time, collection version, sources, options;
* ``coverage``: what the run could not see (nodes, lost events, event TTL and sampling, malformed input,
  partial collections) as numbers plus plain-language ``notes``;
* ``violations``: policy drops merged by key across sources, each with its policy attribution, evidence
  samples and classification (``expected`` / ``outage_risk`` / ``unreviewed``);
* ``other_drops``: drops whose reason is not a network-policy verdict (``UNSUPPORTED_L3_PROTOCOL``, conntrack,
  routing, ...), counted per reason and per peer: shown, never judged, failing only with ``other_drops='fail'``;
* ``expectations``: one verdict per expectation (see ``verdicts/expectations.py``);
* ``baseline``: new / resolved / persisting violations against a previous report;
* ``summary``: counts and the overall verdict: ``fail`` when something fails, else ``pass`` only when the coverage is
  complete and ``incomplete`` ("pass (incomplete evidence)") otherwise - evidence that was empty, not understood,
  partial or unchecked against a policy snapshot never gives a plain pass (``coverage.incomplete_reasons`` says why).

``content_hash`` covers everything except ``VOLATILE_PATHS`` (the generation time and similar), so a
second run over the same evidence produces the same hash: writers reuse the previous generation time
and the files stay byte-identical (the module then reports ``changed=false``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import utc_now_text
from ansible_collections.netobs.cilium.plugins.module_utils.attribution import attribute as attribution
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import resolve_endpoint
from ansible_collections.netobs.cilium.plugins.module_utils.evidence import reasons as drop_reasons
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import earliest, latest, merge_violation_dicts, violation_key
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Drop
from ansible_collections.netobs.cilium.plugins.module_utils.report.document import (
    COLLECTION_NAME, COLLECTION_VERSION, FLEET_KIND, REPORT_KIND, SCHEMA_VERSION, VERDICT_INCOMPLETE, canonical_json, content_hash,
    evidence_hash, read_marker)
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp

FORMATS = ('json', 'junit', 'markdown', 'html')
FORMAT_SUFFIXES = {'json': '.json', 'junit': '.junit.xml', 'markdown': '.md', 'html': '.html'}
FLEET_FORMATS = ('json', 'markdown', 'html')
ALLOWED_VERDICTS = frozenset(('FORWARDED', 'REDIRECTED', 'TRANSLATED', 'AUDIT'))
DEFAULT_EVENT_TTL = '1h'
DEFAULT_MAX_EVIDENCE = 5
MAX_FINDINGS = 50
MAX_ALLOWED_OBSERVATIONS = 5000
MAX_PROBES = 1000
OTHER_DROPS_MODES = ('report', 'fail')
OTHER_DROP = exp.OTHER_DROP
_SEVERITY = {exp.OUTAGE_RISK: 0, exp.UNREVIEWED: 1, exp.EXPECTED: 2}
_SOURCE_OPTION_KEYS = ('transport', 'src', 'since', 'until', 'namespaces', 'verdicts', 'api', 'reasons', 'relay_address',
                       'cilium_namespace', 'drop_reasons', 'last', 'max_drops')


class ReportError(NetobsError, ValueError):
    """Invalid input for a report (bad evidence item, unreadable baseline, ...)."""


# -- small helpers -----------------------------------------------------------------------------------
def short_hash(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:length]


def violation_id(key: str) -> str:
    """Stable id of a violation key (same traffic, same id, run after run)."""
    return 'v-' + short_hash(key)


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _int(value, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# -- evidence sources ---------------------------------------------------------------------------------
def source_kind(result: Mapping) -> str:
    """``events`` (drop_events_info), ``hubble`` (hubble_flows_info) or ``unknown``."""
    if 'flows_total' in result or 'lost_events' in result or ('transport' in result and 'events_total' not in result):
        return 'hubble'
    if 'events_total' in result or 'unparsed' in result:
        return 'events'
    return 'unknown'


def result_verdicts(result: Mapping) -> list[str]:
    """Verdicts a collector was asked for (``[DROPPED]`` for events)."""
    if source_kind(result) == 'events':
        return ['DROPPED']
    query = result.get('query') if isinstance(result.get('query'), Mapping) else {}
    verdicts = query.get('verdicts') or (result.get('coverage') or {}).get('verdicts') or ['DROPPED']
    return [str(v).upper() for v in verdicts]


def source_info(result: Mapping, index: int) -> dict:
    kind = source_kind(result)
    args = {}
    invocation = result.get('invocation')
    if isinstance(invocation, Mapping) and isinstance(invocation.get('module_args'), Mapping):
        module_args = invocation['module_args']
        args = {k: module_args[k] for k in _SOURCE_OPTION_KEYS if module_args.get(k) not in (None, '', [])}
    module = {'events': 'netobs.cilium.drop_events_info', 'hubble': 'netobs.cilium.hubble_flows_info'}.get(kind)
    info = {
        'index': index,
        'kind': kind,
        'module': module,
        'verdicts': result_verdicts(result),
        'records': _int(result.get('events_total')) if kind == 'events' else _int(result.get('flows_total')),
        'violations': len(_as_list(result.get('violations'))),
        'partial': bool(result.get('partial')),
        'options': args,
    }
    if kind == 'hubble':
        info['transport'] = result.get('transport') or (result.get('coverage') or {}).get('transport') or args.get('transport')
    else:
        info['api'] = result.get('api_used')
    if result.get('failed'):
        info['failed'] = True
        info['msg'] = str(result.get('msg') or '')[:500]
    return info


# -- merging violations ---------------------------------------------------------------------------------
def merge_violations(lists: Iterable[Iterable[Mapping]]) -> list[dict]:
    """Merge Violation dicts of several sources by ``key``: the one aggregation's merge (its caps, its counting rule)."""
    return merge_violation_dicts(lists)


def drop_key(drop: Mapping) -> str | None:
    """The violation key a Drop dict aggregates under (the aggregation's own key function)."""
    try:
        return violation_key(Drop.from_dict(dict(drop)))
    except ValueError:
        return None


# -- peers ---------------------------------------------------------------------------------------------
def _side_labels(side: Mapping) -> dict | None:
    labels = side.get('labels')
    if isinstance(labels, Mapping):
        return {str(k): str(v) for k, v in labels.items()}
    if isinstance(labels, list) and labels:
        return exp.labels_from_strings(labels)
    return None


def peer_from_side(side: Mapping | None, snapshot=None, label_index: Mapping | None = None) -> exp.Peer:
    """A ``Peer`` from a Violation/Drop endpoint dict, enriched from the snapshot (labels, owner) when given."""
    side = dict(side or {})
    namespace = side.get('namespace') or None
    pods = [p for p in side.get('pods') or [] if isinstance(p, str)]
    pod = side.get('pod') if isinstance(side.get('pod'), str) else (pods[0] if pods else None)
    workload = side.get('workload')
    if isinstance(workload, Mapping):
        workload = workload.get('name')
    labels = _side_labels(side)
    entity = side.get('reserved') or None
    ip = side.get('ip') or None
    if snapshot is not None:
        resolved = _resolve(snapshot, side, namespace, pod, workload, entity, ip)
        if resolved is not None:
            if resolved.pod is not None and resolved.kind == 'pod':
                namespace = namespace or resolved.pod.namespace
                pod = pod or resolved.pod.name
                workload = workload or resolved.pod.workload.get('name')
                if labels is None:
                    labels = dict(resolved.pod.labels)
            elif resolved.kind == 'pod' and resolved.synthetic and labels is None:
                labels = dict(resolved.labels)
            elif resolved.kind == 'entity' and not namespace:
                entity = entity or resolved.entity
            ip = ip or resolved.ip
    if labels is None and label_index and namespace:
        for name in ([pod] if pod else []) + pods:
            found = label_index.get((namespace, name))
            if found is not None:
                labels = dict(found)
                break
    if entity in ('unknown',) and ip:
        entity = 'world'
    return exp.Peer(namespace=namespace, pod=pod, pods=tuple(pods), workload=workload, labels=labels, entity=entity, ip=ip)


def _resolve(snapshot, side, namespace, pod, workload, entity, ip):
    spec = {'namespace': namespace, 'pod': pod, 'workload': workload, 'kind': side.get('kind'), 'reserved': entity, 'ip': ip}
    labels = side.get('labels')
    if labels:
        spec['labels'] = labels
    try:
        return resolve_endpoint(snapshot, {k: v for k, v in spec.items() if v not in (None, '', [])})
    except (ValueError, TypeError, KeyError):
        return None


def side_display(side: Mapping | None) -> str:
    side = side or {}
    name = side.get('workload')
    if isinstance(name, Mapping):
        name = name.get('name')
    name = name or side.get('pod') or ((side.get('pods') or [None])[0])
    if side.get('namespace') and name:
        return f"{side['namespace']}/{name}"
    if side.get('reserved') and side.get('ip'):
        return f"{side['reserved']} ({side['ip']})"
    return str(side.get('reserved') or side.get('ip') or 'unknown')


def l4_display(protocol, port) -> str:
    if not protocol:
        return 'unknown protocol'
    return f'{protocol}/{port}' if port not in (None, '') else str(protocol)


# -- evidence samples ------------------------------------------------------------------------------------
def sample_from_drop(drop: Mapping) -> dict:
    evidence = drop.get('evidence') if isinstance(drop.get('evidence'), Mapping) else {}
    kind = evidence.get('kind') or 'flow'
    event = evidence.get('event') if isinstance(evidence.get('event'), Mapping) else None
    if kind == 'event' and event:
        ref = f"event {event.get('namespace')}/{event.get('name')}"
        count = _int(event.get('count'), 1)
        when = event.get('last_seen') or event.get('first_seen') or drop.get('time')
    else:
        ref = f"flow {evidence.get('flow_uuid')}" if evidence.get('flow_uuid') else (
            f"flow {evidence.get('file') or '-'}:{evidence.get('line')}" if evidence.get('line') is not None else 'flow')
        count = _int(drop.get('count'), 1)
        when = drop.get('time')
    src, dst = drop.get('source') or {}, drop.get('destination') or {}

    def end(side):
        name = f"{side.get('namespace')}/{side.get('pod')}" if side.get('namespace') and side.get('pod') else (side.get('reserved') or '')
        if side.get('ip'):
            return f'{name} ({side["ip"]})' if name else str(side['ip'])
        return name or 'unknown'

    text = (f"{end(src)} -> {end(dst)} {l4_display(drop.get('protocol'), drop.get('port'))} "
            f"{str(drop.get('direction') or 'unknown').upper()} {drop.get('verdict') or 'DROPPED'}"
            + (f" ({drop.get('reason')})" if drop.get('reason') else ''))
    return {
        'kind': kind, 'time': when, 'node': drop.get('node'), 'ref': ref, 'count': count, 'text': text,
        'event_type': drop.get('event_type'), 'tcp_flags': list(drop.get('tcp_flags') or []),
    }


def _sample_from_ref(sample: Mapping) -> dict:
    kind = sample.get('kind') or 'flow'
    return {'kind': kind, 'time': None, 'node': None, 'ref': f"{kind} {sample.get('ref')}", 'count': None,
            'text': f"{kind} {sample.get('ref')} (details not in the bounded drops sample)", 'event_type': None, 'tcp_flags': []}


# -- probes ---------------------------------------------------------------------------------------------
def _probe_outcome(probe: Mapping) -> str | None:
    outcome = probe.get('outcome') or probe.get('result')
    if isinstance(outcome, str):
        text = outcome.strip().lower()
        if text in ('allowed', 'allow', 'success', 'succeeded', 'connected', 'pass', 'ok'):
            return 'allowed'
        if text in ('denied', 'deny', 'blocked', 'failed', 'failure', 'timeout', 'refused', 'dropped'):
            return 'denied'
        if text in ('error', 'skipped', 'unknown'):
            return None
    for key in ('succeeded', 'success', 'allowed', 'connected'):
        if isinstance(probe.get(key), bool):
            return 'allowed' if probe[key] else 'denied'
    if isinstance(probe.get('rc'), int) and not isinstance(probe.get('rc'), bool):
        return 'allowed' if probe['rc'] == 0 else 'denied'
    return None


def flatten_probes(items) -> list[Mapping]:
    """Probe dicts from a list that may contain role results (``cni_test_result``) with a ``probes`` list."""
    found = []
    for item in items or []:
        if isinstance(item, Mapping) and isinstance(item.get('probes'), list) and 'from' not in item:
            found.extend(p for p in item['probes'] if isinstance(p, Mapping))
        elif isinstance(item, Mapping):
            found.append(item)
    return found[:MAX_PROBES]


def _probe_peer(value, snapshot) -> exp.Peer | None:
    if isinstance(value, Mapping):
        return peer_from_side(value, snapshot)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    namespace, sep, name = text.partition('/')
    if sep and namespace and name:
        return peer_from_side({'namespace': namespace, 'pod': name, 'workload': None if snapshot else name}, snapshot)
    if text in exp.ENTITIES:
        return exp.Peer(entity=text)
    return peer_from_side({'ip': text}, snapshot)


def probe_observations(probes, snapshot, notes: list) -> list[exp.Observation]:
    observations = []
    for index, probe in enumerate(flatten_probes(probes)):
        name = str(probe.get('name') or f'probe[{index}]')
        outcome = _probe_outcome(probe)
        src = _probe_peer(probe.get('from') or probe.get('source'), snapshot)
        dst = _probe_peer(probe.get('to') or probe.get('destination'), snapshot)
        if outcome is None or src is None or dst is None:
            notes.append(f'probe {name} was ignored: it needs from, to and an outcome (allowed/denied) or succeeded (true/false)')
            continue
        port = probe.get('port')
        try:
            port = int(port) if port not in (None, '') else None
        except (TypeError, ValueError):
            port = None
        protocol = str(probe.get('protocol') or ('TCP' if port else '')).upper() or None
        verb = 'succeeded' if outcome == 'allowed' else 'failed'
        text = f'probe {name}: {src.display()} -> {dst.display()} {l4_display(protocol, port)} {verb}'
        if probe.get('detail'):
            text += f" ({str(probe['detail'])[:200]})"
        observations.append(exp.Observation(
            kind='allowed' if outcome == 'allowed' else 'drop', origin='probe', ref=f'probe:{name}', src=src, dst=dst,
            protocol=protocol, port=port, reason=None if outcome == 'allowed' else 'PROBE_FAILED', count=1, text=text))
    return observations


# -- coverage ------------------------------------------------------------------------------------------
SAMPLING_TEXT = ('Cilium writes at most one PacketDrop Event per pod per emitter interval ({interval}); drops in between only '
                 'raise the Event count, and other peers hit in between are not visible. Events are a sampled signal.')
TTL_TEXT = ('The API server keeps Events for --event-ttl ({ttl}); drops older than that cannot be seen through the Events API '
            '(oldest PacketDrop Event read: {oldest}).')


def build_coverage(results: list[Mapping], *, emitter_interval: str | None, event_ttl: str | None, snapshot_info: Mapping | None,
                   probes: int, expected_nodes: Iterable[str] = ()) -> dict:
    events = [r for r in results if source_kind(r) == 'events']
    hubble = [r for r in results if source_kind(r) == 'hubble']
    notes: list[str] = []
    partial_reasons: list[str] = []
    for result in results:
        for reason in result.get('partial_reasons') or []:
            text = f'{source_kind(result)}: {reason}'
            if text not in partial_reasons:
                partial_reasons.append(text)
        if result.get('partial') and not result.get('partial_reasons'):
            partial_reasons.append(f'{source_kind(result)}: the collector marked its result partial')
    # Violations a collector did not return (max_violations) or could not track (its aggregation's key limit): the
    # report cannot judge what it never saw.
    violations_cut, overflow_drops = [], 0
    for index, result in enumerate(results):
        if result.get('failed'):
            continue
        if result.get('violations_truncated'):
            total = _int(result.get('violations_total'))
            shown = len(_as_list(result.get('violations')))
            violations_cut.append(f'{source_kind(result)} source {index}: {max(total - shown, 0)} of {total} violation(s) '
                                  'not returned (max_violations)')
        aggregation = result.get('aggregation') if isinstance(result.get('aggregation'), Mapping) else {}
        overflow_drops += _int(aggregation.get('overflow_drops'))
    seen, expected, unavailable = set(), set(expected_nodes), {}
    lost_by_source: dict[str, int] = {}
    lost_by_node: dict[str, int] = {}
    malformed_count, malformed_samples = 0, []
    flows_not_understood, not_decoded, empty_sources = 0, 0, []
    counts_approximate = False
    for index, result in enumerate(results):
        cov = result.get('coverage') if isinstance(result.get('coverage'), Mapping) else {}
        if cov.get('empty'):
            src = (source_info(result, index).get('options') or {}).get('src')
            empty_sources.append(f'{source_kind(result)} source {index}' + (f' ({src})' if src else ''))
        counts_approximate = counts_approximate or bool(cov.get('counts_approximate'))
    first_flow, last_flow = None, None
    flows_total = 0
    drops_truncated = False
    for result in hubble:
        nodes = result.get('nodes') if isinstance(result.get('nodes'), Mapping) else {}
        seen.update(n for n in nodes.get('seen') or [] if isinstance(n, str))
        expected.update(n for n in nodes.get('expected') or [] if isinstance(n, str))
        for item in nodes.get('unavailable') or []:
            if isinstance(item, Mapping) and item.get('name'):
                unavailable[item['name']] = str(item.get('reason') or 'unavailable')
            elif isinstance(item, str):
                unavailable[item] = 'unavailable'
        cov = result.get('coverage') if isinstance(result.get('coverage'), Mapping) else {}
        seen.update(n for n in cov.get('nodes') or [] if isinstance(n, str))
        lost = result.get('lost_events') if isinstance(result.get('lost_events'), Mapping) else (cov.get('lost_events') or {})
        # Several collections of one run (e.g. DROPPED and FORWARDED) see the same ring buffers and the same
        # input lines: losses and malformed lines are counted once (the largest report), not summed.
        for target, values in ((lost_by_source, lost.get('by_source') or {}), (lost_by_node, lost.get('by_node') or {})):
            for key, value in values.items():
                target[key or 'unknown'] = max(target.get(key or 'unknown', 0), _int(value))
        malformed = result.get('malformed') if isinstance(result.get('malformed'), Mapping) else (cov.get('malformed') or {})
        if _int(malformed.get('count')) > malformed_count:
            malformed_count = _int(malformed.get('count'))
            malformed_samples = list(malformed.get('samples') or [])[:10]
        # Not understood = malformed lines + JSON objects that are no Hubble record (older results: malformed only).
        understood_not = _int(cov['not_understood']) if 'not_understood' in cov else _int(malformed.get('count')) + _int(cov.get('other_records'))
        flows_not_understood = max(flows_not_understood, understood_not)
        not_decoded = max(not_decoded, _int(cov.get('skipped_other_verdicts')))
        times = cov.get('time') if isinstance(cov.get('time'), Mapping) else {}
        first_flow = earliest(first_flow, times.get('first'))
        last_flow = latest(last_flow, times.get('last'))
        flows_total += _int(result.get('flows_total'))
        drops_truncated = drops_truncated or bool(result.get('drops_truncated'))
    missing = sorted(n for n in expected if n not in seen and n not in unavailable)
    lost_total = sum(lost_by_source.values())
    events_section = None
    events_not_understood = 0
    if events:
        oldest = newest = since = None
        ttl_warnings = []
        total = unparsed = 0
        unparsed_samples = []
        for result in events:
            cov = result.get('coverage') if isinstance(result.get('coverage'), Mapping) else {}
            oldest = earliest(oldest, cov.get('oldest_event'))
            newest = latest(newest, cov.get('newest_event'))
            since = earliest(since, cov.get('since'))
            if cov.get('ttl_warning') and cov['ttl_warning'] not in ttl_warnings:
                ttl_warnings.append(str(cov['ttl_warning']))
            total += _int(result.get('events_total'))
            bad = result.get('unparsed') if isinstance(result.get('unparsed'), Mapping) else {}
            unparsed += _int(bad.get('count'))
            events_not_understood += (_int(cov['not_understood']) if 'not_understood' in cov
                                      else _int(cov.get('events_malformed')) + _int(bad.get('count')))
            unparsed_samples.extend(list(bad.get('samples') or [])[:max(0, 5 - len(unparsed_samples))])
        interval = emitter_interval or 'unknown; Helm default 2m'
        events_section = {
            'sources': len(events), 'total': total, 'oldest_event': oldest, 'newest_event': newest, 'since': since,
            'ttl': event_ttl or DEFAULT_EVENT_TTL, 'ttl_warnings': ttl_warnings, 'emitter_interval': emitter_interval,
            'sampling': SAMPLING_TEXT.format(interval=interval),
            'unparsed': {'count': unparsed, 'samples': unparsed_samples},
        }
        notes.append(SAMPLING_TEXT.format(interval=interval))
        notes.append(TTL_TEXT.format(ttl=event_ttl or DEFAULT_EVENT_TTL, oldest=oldest or 'none'))
        notes.extend(ttl_warnings)
        if unparsed:
            notes.append(f'{unparsed} PacketDrop Event(s) had a message in an unknown format and were not counted.')
        if events_not_understood > unparsed:
            notes.append(f'{events_not_understood - unparsed} item(s) of the Event evidence were not usable Events '
                         '(not Kubernetes Events, or malformed PacketDrop Events) and were not counted.')
    else:
        notes.append('PacketDrop Events were not collected.')
    if hubble:
        if lost_total:
            by = ', '.join(f'{k}: {v}' for k, v in sorted(lost_by_source.items()))
            notes.append(f'Hubble lost {lost_total} event(s) before they became flows ({by}): some drops were never observed.')
        if malformed_count:
            notes.append(f'{malformed_count} flow line(s) were malformed and skipped.')
        if flows_not_understood > malformed_count:
            notes.append(f'{flows_not_understood - malformed_count} JSON object(s) of the flow evidence were not Hubble records '
                         'and were skipped.')
        if not_decoded:
            notes.append(f'{not_decoded} flow line(s) were skipped without decoding: complete JSON objects naming a verdict that '
                         'was not asked for (provably irrelevant to this report).')
        if unavailable:
            notes.append('Node(s) unavailable to Hubble: ' + ', '.join(f'{n} ({r})' for n, r in sorted(unavailable.items()))
                         + ': their drops are missing.')
        if missing:
            notes.append('Node(s) expected but not seen in the flows: ' + ', '.join(missing) + '.')
        if drops_truncated:
            notes.append('Only a bounded sample of drop records was returned by a collector (max_drops); violation counts are complete, '
                         'evidence samples are not.')
        notes.append('Hubble keeps a small ring buffer per node (4095 flows by default): flows older than the buffer are gone.')
    else:
        notes.append('Hubble flows were not collected: without them drops between two PacketDrop Events are invisible, '
                     'and allowed traffic cannot be checked.')
    if partial_reasons:
        notes.append('Partial collection: ' + '; '.join(partial_reasons) + '.')
    if not snapshot_info:
        notes.append('No policy snapshot: drops are attributed only from what the evidence names, and label selectors '
                     'in expectations may be undecidable.')
    elif snapshot_info.get('warnings'):
        notes.append(f"Policy snapshot warnings: {len(snapshot_info['warnings'])} (see snapshot.warnings).")
    if counts_approximate:
        notes.append('More distinct PacketDrop Events were seen than are tracked exactly: Event counts are lower bounds that '
                     'may under-count.')
    not_understood = flows_not_understood + events_not_understood
    # The coverage rule (docs/drop-model.md): any of these makes the evidence incomplete - never a plain pass.
    incomplete = []
    if not hubble:
        incomplete.append('no Hubble flows were collected')
    if empty_sources:
        incomplete.append('empty evidence (allow_empty): ' + ', '.join(empty_sources))
        notes.append('Evidence source(s) held no record at all (accepted with allow_empty): ' + ', '.join(empty_sources) + '.')
    if not_understood:
        incomplete.append(f'{not_understood} input element(s) not understood')
    if lost_total:
        incomplete.append(f'Hubble lost {lost_total} event(s)')
    if unavailable or missing:
        incomplete.append(f'{len(unavailable) + len(missing)} node(s) unavailable or missing')
    if partial_reasons:
        incomplete.append('partial collection')
    if not snapshot_info:
        incomplete.append('no policy snapshot')
    if violations_cut:
        incomplete.append('violations not returned by a collector')
        notes.append('Violations were cut by a collector (' + '; '.join(violations_cut) + '): give max_violations: 0 to the '
                     'collections a report reads.')
    if overflow_drops:
        incomplete.append(f'{overflow_drops} drop(s) beyond the aggregation limit of distinct violations')
    if incomplete:
        notes.insert(0, 'Evidence is incomplete (' + '; '.join(incomplete) + '): the verdict is at best "pass (incomplete evidence)".')
    return {
        'complete': not incomplete,
        'incomplete_reasons': incomplete,
        'not_understood': {'count': not_understood, 'flows': flows_not_understood, 'events': events_not_understood},
        'not_decoded': {'count': not_decoded, 'why': 'complete JSON objects naming a verdict that was not asked for'},
        'counts_approximate': counts_approximate,
        'notes': notes,
        'sources': {'events': len(events), 'hubble': len(hubble), 'probes': probes, 'snapshot': bool(snapshot_info)},
        'nodes': {'seen': sorted(seen), 'expected': sorted(expected), 'unavailable': [
            {'name': n, 'reason': r} for n, r in sorted(unavailable.items())], 'missing': missing},
        'lost_events': {'total': lost_total, 'by_source': dict(sorted(lost_by_source.items())),
                        'by_node': dict(sorted(lost_by_node.items()))},
        'events': events_section,
        'flows': {'sources': len(hubble), 'total': flows_total, 'first': first_flow, 'last': last_flow,
                  'drops_truncated': drops_truncated} if hubble else None,
        'malformed': {'count': malformed_count, 'samples': malformed_samples},
        'partial': {'any': bool(partial_reasons), 'reasons': partial_reasons},
    }


# -- the report -----------------------------------------------------------------------------------------
def _prediction(snapshot, expectation: exp.Expectation) -> dict | None:
    if snapshot is None or expectation.protocol == 'ANY':
        return None
    src = expectation.source.endpoint_spec()
    dst = expectation.destination.endpoint_spec()
    if src is None or dst is None:
        return None
    port = expectation.port_range[0] if expectation.port_range else None
    protocol = 'ICMPv4' if expectation.protocol == 'ICMP' else expectation.protocol
    try:
        decision = attribution.evaluate(snapshot, src, dst, port, protocol)
    except (ValueError, TypeError, KeyError) as exc:
        return {'verdict': 'unknown', 'explanation': f'not evaluated: {exc}', 'responsible': [], 'allowing': []}
    responsible = [hit.to_dict() for d in decision.denied_by for hit in d.responsible]
    allowing = [hit.to_dict() for d in (decision.egress, decision.ingress) for hit in d.allowing]
    explanation = decision.explanation()
    if expectation.port_range and expectation.port_range[0] != expectation.port_range[1]:
        explanation += f' (evaluated for port {port} of the range)'
    return {'verdict': decision.verdict, 'explanation': explanation, 'responsible': responsible, 'allowing': allowing}


def _attribute(items: list[dict], snapshot) -> list[dict]:
    return attribution.attribute_many(items, snapshot)


def _summary_text(violation: Mapping) -> str:
    return (f"{side_display(violation.get('source'))} -> {side_display(violation.get('destination'))} "
            f"{l4_display(violation.get('protocol'), violation.get('port'))} "
            f"({str(violation.get('direction') or 'unknown').upper()}, {violation.get('reason') or 'no reason'})")


def other_drop_explanation(reason) -> str:
    """Why a drop is listed under other drops: its reason is a datapath drop, not a network-policy verdict."""
    hint = drop_reasons.NON_POLICY_HINTS.get(str(reason))
    return (f'{reason} is a datapath drop, not a network-policy verdict' + (f': {hint}' if hint else '')
            + '; it is not judged against expectations')


def other_drops_note(fail: bool) -> str:
    policy = ', '.join(sorted(drop_reasons.POLICY_VERDICT_REASONS))
    text = (f'Drops whose reason is not a network-policy verdict (verdicts: {policy}) are listed here, counted per reason '
            'and per peer, and not judged against expectations: ')
    if fail:
        return text + 'other_drops: fail is set, so each of them is a failing (unexpected) finding.'
    return text + 'they do not change the verdict (set other_drops: fail to make them failing findings).'


def other_drops_section(entries: list[dict], fail: bool) -> dict:
    """The ``other_drops`` section: totals, one row per reason, one item per (direction, peers, L4, reason)."""
    by_reason: dict[str, dict] = {}
    for entry in entries:
        reason = str(entry.get('reason'))
        row = by_reason.setdefault(reason, {'reason': reason, 'reason_code': drop_reasons.reason_code(reason), 'entries': 0,
                                            'count': 0, 'explanation': other_drop_explanation(reason)})
        row['entries'] += 1
        row['count'] += _int(entry.get('count'))
    return {
        'fail': fail,
        'note': other_drops_note(fail),
        'policy_reasons': sorted(drop_reasons.POLICY_VERDICT_REASONS),
        'total': len(entries),
        'count': sum(_int(entry.get('count')) for entry in entries),
        'by_reason': sorted(by_reason.values(), key=lambda r: (-r['count'], r['reason'])),
        'items': entries,
    }


def _allowed_observations(results, snapshot, label_index) -> tuple[list[exp.Observation], int]:
    observations = []
    total = 0
    for result in results:
        for drop in result.get('drops') or []:
            if not isinstance(drop, Mapping) or str(drop.get('verdict') or '').upper() not in ALLOWED_VERDICTS:
                continue
            if drop.get('is_reply') is True:
                continue
            if drop.get('event_type') != 'policy-verdict' and drop.get('is_reply') is not False:
                continue
            total += 1
            if len(observations) >= MAX_ALLOWED_OBSERVATIONS:
                continue
            sample = sample_from_drop(drop)
            observations.append(exp.Observation(
                kind='allowed', origin='flow', ref=sample['ref'], src=peer_from_side(drop.get('source'), snapshot, label_index),
                dst=peer_from_side(drop.get('destination'), snapshot, label_index), protocol=drop.get('protocol'),
                port=drop.get('port'), reason=None, count=_int(drop.get('count'), 1), text=sample['text']))
    return observations, total


def build_report(*, cluster: str, evidence: list[Mapping], snapshot=None, expectations: list[exp.Expectation] = (),
                 probes=(), baseline: Mapping | None = None, baseline_source: str | None = None, options: Mapping | None = None,
                 emitter_interval: str | None = None, event_ttl: str | None = None, max_evidence: int = DEFAULT_MAX_EVIDENCE,
                 now: datetime.datetime | None = None, other_drops: str = 'report') -> dict:
    """Assemble the report document (see the module docstring). ``evidence`` = collector results.

    Drops whose reason is not a network-policy verdict go to ``other_drops`` instead of ``violations``: they are
    counted and shown in every format but never judged; ``other_drops='fail'`` makes each of them a failing finding.
    """
    if other_drops not in OTHER_DROPS_MODES:
        raise ReportError(f"other_drops must be one of {', '.join(OTHER_DROPS_MODES)}, got {other_drops!r}")
    results = []
    for index, item in enumerate(evidence or []):
        if not isinstance(item, Mapping):
            raise ReportError(f'evidence[{index}] is not a registered module result (a mapping), got {type(item).__name__}')
        if item.get('skipped') is True:
            continue
        if source_kind(item) == 'unknown':
            raise ReportError(f'evidence[{index}] is not a result of netobs.cilium.drop_events_info or '
                              'netobs.cilium.hubble_flows_info (no events_total / flows_total key)')
        results.append(item)
    failed = [i for i, r in enumerate(results) if r.get('failed')]
    drop_results = [r for r in results if not r.get('failed') and 'DROPPED' in result_verdicts(r)]
    allowed_results = [r for r in results if not r.get('failed') and any(v in ALLOWED_VERDICTS for v in result_verdicts(r))]
    label_index = {}
    all_drops = []
    for result in results:
        for drop in result.get('drops') or []:
            if not isinstance(drop, Mapping):
                continue
            all_drops.append(drop)
            for side in (drop.get('source') or {}, drop.get('destination') or {}):
                if side.get('namespace') and side.get('pod') and side.get('labels'):
                    label_index.setdefault((side['namespace'], side['pod']), exp.labels_from_strings(side['labels']))
    only_drops = []
    for result in drop_results:
        verdicts = result_verdicts(result)
        items = result.get('violations') or []
        if verdicts != ['DROPPED']:
            items = [v for v in items if isinstance(v, Mapping) and v.get('reason')]
        only_drops.append(items)
    merged = merge_violations(only_drops)
    # Only policy verdicts (and drops whose reason is unknown, which might be one) are violations to judge.
    other_items = [item for item in merged if drop_reasons.is_policy_verdict(item.get('reason')) is False]
    merged = [item for item in merged if drop_reasons.is_policy_verdict(item.get('reason')) is not False]
    attributions = _attribute(merged, snapshot) if merged else []
    samples_by_key: dict[str, list] = {}
    for drop in all_drops:
        if str(drop.get('verdict') or 'DROPPED').upper() != 'DROPPED':
            continue
        key = drop_key(drop)
        if key is not None and len(samples_by_key.setdefault(key, [])) < max_evidence:
            samples_by_key[key].append(sample_from_drop(drop))
    violations = []
    observations = []
    for item, attribution in zip(merged, attributions):
        vid = violation_id(item['key'])
        samples = samples_by_key.get(item['key']) or [_sample_from_ref(s) for s in item.get('samples', [])[:max_evidence]]
        src = peer_from_side(item['source'], snapshot, label_index)
        dst = peer_from_side(item['destination'], snapshot, label_index)
        entry = dict(item)
        entry.pop('samples', None)
        entry['source'] = dict(item['source'], display=side_display(item['source']))
        entry['destination'] = dict(item['destination'], display=side_display(item['destination']))
        entry.update({'id': vid, 'summary': _summary_text(item), 'attribution': attribution, 'evidence': samples})
        violations.append(entry)
        observations.append(exp.Observation(
            kind='drop', origin='violation', ref=vid, src=src, dst=dst, protocol=item.get('protocol'), port=item.get('port'),
            reason=item.get('reason'), count=item.get('count') or 1, text=f"{vid} {entry['summary']} x{item.get('count')}"))
    other_entries = []
    for item in other_items:
        vid = violation_id(item['key'])
        entry = dict(item)
        entry.pop('samples', None)
        entry['source'] = dict(item['source'], display=side_display(item['source']))
        entry['destination'] = dict(item['destination'], display=side_display(item['destination']))
        entry.update({'id': vid, 'summary': _summary_text(item), 'explanation': other_drop_explanation(item.get('reason')),
                      'evidence': samples_by_key.get(item['key']) or [_sample_from_ref(s) for s in item.get('samples', [])[:max_evidence]]})
        other_entries.append(entry)
        observations.append(exp.Observation(
            kind='drop', origin=OTHER_DROP, ref=vid, src=peer_from_side(item['source'], snapshot, label_index),
            dst=peer_from_side(item['destination'], snapshot, label_index), protocol=item.get('protocol'), port=item.get('port'),
            reason=item.get('reason'), count=item.get('count') or 1,
            text=f"{vid} {entry['summary']} x{item.get('count')} (not a policy verdict, not judged)"))
    other_entries.sort(key=lambda v: (-(v.get('count') or 0), v['key']))
    judge_notes: list[str] = []
    allowed_obs, allowed_total = _allowed_observations(allowed_results, snapshot, label_index)
    observations.extend(allowed_obs)
    observations.extend(probe_observations(probes, snapshot, judge_notes))
    verdicts = exp.judge(list(expectations), observations, predict=(lambda e: _prediction(snapshot, e)) if snapshot is not None else None)
    for entry in violations:
        entry.update(verdicts.classification.get(entry['id'], {'classification': exp.UNREVIEWED, 'expectation': None}))
    violations.sort(key=lambda v: (_SEVERITY.get(v['classification'], 9), -(v.get('count') or 0), v['key']))
    snapshot_info = _snapshot_info(snapshot)
    coverage = build_coverage(results, emitter_interval=emitter_interval, event_ttl=event_ttl, snapshot_info=snapshot_info,
                              probes=len(flatten_probes(probes)),
                              expected_nodes=sorted(snapshot.nodes) if snapshot is not None and getattr(snapshot, 'nodes', None) else ())
    coverage['allowed_observations'] = {'flows': allowed_total, 'sources': len(allowed_results)}
    coverage['notes'].extend(judge_notes)
    if failed:
        coverage['notes'].append(f'{len(failed)} collector result(s) had failed and were not used: evidence is incomplete.')
        coverage['partial']['any'] = True
        coverage['complete'] = False
        coverage['incomplete_reasons'].append(f'{len(failed)} collector result(s) failed')
    report = {
        'schema_version': SCHEMA_VERSION,
        'kind': REPORT_KIND,
        'run': {
            'cluster': cluster,
            'generated_at': utc_now_text(now),
            'collection': {'name': COLLECTION_NAME, 'version': COLLECTION_VERSION},
            'sources': [source_info(r, i) for i, r in enumerate(results)],
            'options': dict(options or {}),
        },
        'snapshot': snapshot_info,
        'coverage': coverage,
        'violations': violations,
        'other_drops': other_drops_section(other_entries, fail=other_drops == 'fail'),
        'expectations': verdicts.expectations,
        'baseline': None,
        'summary': {},
        'evidence_hash': '',
        'content_hash': '',
    }
    if baseline is not None:
        report['baseline'] = exp.diff_baseline(report, baseline, baseline_source)
        status = {vid: 'new' for vid in report['baseline']['new']}
        status.update({vid: 'persisting' for vid in report['baseline']['persisting']})
        for entry in violations:
            entry['baseline'] = status.get(entry['id'])
        before = {v.get('id') for v in baseline.get('violations') or [] if isinstance(v, Mapping)}
        previous_other = baseline.get('other_drops') if isinstance(baseline.get('other_drops'), Mapping) else {}
        before.update(v.get('id') for v in previous_other.get('items') or [] if isinstance(v, Mapping))
        for entry in other_entries:
            entry['baseline'] = 'persisting' if entry['id'] in before else 'new'
    report['summary'] = summarize(report)
    report['evidence_hash'] = evidence_hash(report)
    report['content_hash'] = content_hash(report)
    return report


def same_evidence(report: Mapping, previous: Mapping | None) -> bool:
    """True when ``previous`` (a loaded report) judged exactly the same content as ``report``."""
    return bool(previous) and previous.get('evidence_hash') == report.get('evidence_hash') and bool(report.get('evidence_hash'))


def _snapshot_info(snapshot) -> dict | None:
    if snapshot is None:
        return None
    info = snapshot.to_dict()
    info['warnings'] = list(info.get('warnings') or [])[:50]
    return info


def summarize(report: Mapping) -> dict:
    violations = report.get('violations') or []
    results = report.get('expectations') or []
    by_class = {name: 0 for name in exp.VIOLATION_CLASSES}
    for violation in violations:
        by_class[violation.get('classification', exp.UNREVIEWED)] = by_class.get(violation.get('classification', exp.UNREVIEWED), 0) + 1
    by_category = {name: 0 for name in exp.PASS_CATEGORIES + exp.FAIL_CATEGORIES}
    for result in results:
        by_category[result['category']] = by_category.get(result['category'], 0) + 1
    failed_expectations = sum(1 for r in results if r['verdict'] == exp.FAIL)
    unexpected = sum(1 for r in results if r['verdict'] == exp.FAIL and r['category'] in exp.UNEXPECTED_CATEGORIES)
    unexpected += by_class[exp.UNREVIEWED]
    failing = failed_expectations + by_class[exp.UNREVIEWED]
    other = report.get('other_drops') if isinstance(report.get('other_drops'), Mapping) else {}
    other_total = len(other.get('items') or [])
    if other.get('fail'):  # opted in: every drop that is not a policy verdict is a failing, unexpected finding
        failing += other_total
        unexpected += other_total
    baseline = report.get('baseline')
    complete = bool((report.get('coverage') or {}).get('complete'))
    return {
        'verdict': exp.FAIL if failing else (exp.PASS if complete else VERDICT_INCOMPLETE),
        'failing': failing,
        'unexpected': unexpected,
        'violations': dict(total=len(violations), **by_class),
        'expectations': dict(total=len(results), passed=len(results) - failed_expectations, failed=failed_expectations, **by_category),
        'coverage_complete': bool((report.get('coverage') or {}).get('complete')),
        'baseline': {k: len(baseline[k]) for k in ('new', 'resolved', 'persisting')} if baseline else None,
        'other_drops': {'total': other_total, 'count': _int(other.get('count')), 'fail': bool(other.get('fail'))},
    }


def findings(report: Mapping, limit: int = MAX_FINDINGS) -> tuple[list[dict], bool]:
    """Failing items first (expectations, then unreviewed violations), bounded."""
    items = []
    for result in report.get('expectations') or []:
        if result['verdict'] == exp.FAIL:
            items.append({'type': 'expectation', 'name': result['name'], 'verdict': result['verdict'], 'category': result['category'],
                          'controls': result.get('controls') or [], 'explanation': result['explanation']})
    for violation in report.get('violations') or []:
        if violation.get('classification') == exp.UNREVIEWED:
            items.append({'type': 'violation', 'name': violation['id'], 'verdict': exp.FAIL, 'category': exp.UNREVIEWED,
                          'controls': [], 'explanation': f"{violation['summary']}: {(violation.get('attribution') or {}).get('explanation') or ''}"})
    other = report.get('other_drops') if isinstance(report.get('other_drops'), Mapping) else {}
    if other.get('fail'):
        for item in other.get('items') or []:
            items.append({'type': OTHER_DROP, 'name': item['id'], 'verdict': exp.FAIL, 'category': OTHER_DROP,
                          'controls': [], 'explanation': f"{item['summary']}: {item.get('explanation') or ''} (other_drops: fail)"})
    return items[:limit], len(items) > limit


def should_fail(summary: Mapping, fail_on: str) -> bool:
    if fail_on == 'any':
        return summary.get('failing', 0) > 0 or summary.get('verdict') == VERDICT_INCOMPLETE
    if fail_on == 'unexpected':
        return summary.get('unexpected', 0) > 0
    return False


# -- fleet roll-up ----------------------------------------------------------------------------------------
def load_report(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ReportError(f'cannot read report {path}: {exc}') from None
    if not isinstance(data, Mapping) or data.get('kind') != REPORT_KIND:
        raise ReportError(f'{path} is not a netobs.cilium compliance report (kind {REPORT_KIND})')
    major = str(data.get('schema_version', '')).split('.', 1)[0]
    if major != SCHEMA_VERSION.split('.', 1)[0]:
        raise ReportError(f'{path} has schema_version {data.get("schema_version")!r}; this collection reads {SCHEMA_VERSION}')
    return dict(data)


def _did_not_report(item) -> dict:
    """The roll-up row of a cluster whose run failed or wrote no report: a failed row carrying its error."""
    if not isinstance(item, Mapping) or not str(item.get('cluster') or '').strip():
        raise ReportError(f'each cluster that did not report needs a cluster name and an error, got {item!r}')
    error = ' '.join(str(item.get('error') or '').split()) or 'no report and no error message (the run stopped before the report task)'
    return {
        'cluster': str(item['cluster']), 'report': str(item['report']) if item.get('report') else None, 'generated_at': None,
        'verdict': exp.FAIL, 'failing': 0, 'unexpected': 0, 'violations': {}, 'expectations': {}, 'coverage_complete': False,
        'content_hash': None, 'coverage_notes': 0, 'error': error,
    }


def build_rollup(paths: list[str], now: datetime.datetime | None = None, did_not_report: Iterable[Mapping] = ()) -> dict:
    """A cluster x verdict table over several JSON reports.

    ``did_not_report`` lists the clusters whose run failed or wrote no report (``{cluster, error}``): each one is a
    failed row with its error and counts in the totals, so a fleet is never green because a cluster was missing.
    """
    clusters = [_did_not_report(item) for item in did_not_report or ()]
    names: list[str] = []
    matrix: dict[str, dict] = {}
    for path in paths:
        report = load_report(path)
        run = report.get('run') or {}
        cluster = str(run.get('cluster') or os.path.basename(os.path.dirname(path)) or path)
        summary = report.get('summary') or {}
        clusters.append({
            'cluster': cluster, 'report': path, 'generated_at': run.get('generated_at'), 'verdict': summary.get('verdict'),
            'failing': summary.get('failing', 0), 'unexpected': summary.get('unexpected', 0),
            'violations': summary.get('violations') or {}, 'expectations': summary.get('expectations') or {},
            'coverage_complete': summary.get('coverage_complete'), 'content_hash': report.get('content_hash'),
            'coverage_notes': len((report.get('coverage') or {}).get('notes') or []),
        })
        for result in report.get('expectations') or []:
            name = result.get('name')
            if name not in names:
                names.append(name)
            cell = {'verdict': result.get('verdict'), 'category': result.get('category'), 'controls': result.get('controls') or []}
            matrix.setdefault(name, {})[cluster] = cell
    seen = set()
    for entry in clusters:
        if entry['cluster'] in seen:
            raise ReportError(f"cluster {entry['cluster']!r} appears in several roll-up reports; each cluster once")
        seen.add(entry['cluster'])
    clusters.sort(key=lambda c: c['cluster'])
    rollup = {
        'schema_version': SCHEMA_VERSION,
        'kind': FLEET_KIND,
        'generated_at': utc_now_text(now),
        'collection': {'name': COLLECTION_NAME, 'version': COLLECTION_VERSION},
        'clusters': clusters,
        'expectations': [{'name': n, 'results': dict(sorted(matrix.get(n, {}).items()))} for n in names],
        'summary': {'clusters': len(clusters), 'passed': sum(1 for c in clusters if c['verdict'] == exp.PASS),
                    'failed': sum(1 for c in clusters if c['verdict'] != exp.PASS),
                    'unexpected': sum(c['unexpected'] or 0 for c in clusters)},
        'content_hash': '',
    }
    rollup['content_hash'] = hashlib.sha256(canonical_json(
        {k: v for k, v in rollup.items() if k not in ('generated_at', 'content_hash')}).encode('utf-8')).hexdigest()
    return rollup


# -- rendering and writing ------------------------------------------------------------------------------------
def render(report: Mapping, fmt: str) -> bytes:
    """Render one format (``json``, ``junit``, ``markdown``, ``html``); roll-ups support json/markdown/html."""
    from ansible_collections.netobs.cilium.plugins.module_utils.report import html as report_html
    from ansible_collections.netobs.cilium.plugins.module_utils.report import json as report_json
    from ansible_collections.netobs.cilium.plugins.module_utils.report import junit as report_junit
    from ansible_collections.netobs.cilium.plugins.module_utils.report import markdown as report_markdown
    fleet = report.get('kind') == FLEET_KIND
    if fmt == 'json':
        return report_json.render(report)
    if fmt == 'markdown':
        return (report_markdown.render_rollup if fleet else report_markdown.render)(report)
    if fmt == 'html':
        return (report_html.render_rollup if fleet else report_html.render)(report)
    if fmt == 'junit' and not fleet:
        return report_junit.render(report)
    raise ReportError(f'format {fmt!r} is not available for {"a roll-up" if fleet else "a report"}')


def output_paths(dest: str, basename: str, formats: Iterable[str]) -> dict[str, str]:
    return {fmt: os.path.join(dest, basename + FORMAT_SUFFIXES[fmt]) for fmt in formats}


def reuse_generation_time(report: dict, paths: Mapping[str, str]) -> bool:
    """If a previous file has the same content hash, take over its generation time (no rewrite needed)."""
    for path in paths.values():
        marker = read_marker(path)
        if marker and marker[0] == report['content_hash'] and marker[1]:
            if report.get('kind') == FLEET_KIND:
                report['generated_at'] = marker[1]
            else:
                report['run']['generated_at'] = marker[1]
            return True
    return False


def plan_outputs(report: dict, dest: str, basename: str, formats: Iterable[str]) -> list[dict]:
    """Render every format and compare with what is on disk: ``[{format, path, content, changed}]``."""
    paths = output_paths(dest, basename, formats)
    reuse_generation_time(report, paths)
    plan = []
    for fmt, path in paths.items():
        content = render(report, fmt)
        try:
            with open(path, 'rb') as handle:
                changed = handle.read() != content
        except OSError:
            changed = True
        plan.append({'format': fmt, 'path': path, 'content': content, 'changed': changed})
    return plan


def write_atomic(path: str, content: bytes, mode: int = 0o644) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix='.netobs-', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(content)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
