# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect Hubble flows through one of three transports and turn them into drop evidence.

Logic behind the ``netobs.cilium.hubble_flows_info`` module, importable without Ansible.

* ``relay``: gRPC ``observer.Observer/GetFlows`` to Hubble Relay, at ``relay_address`` or (``auto``)
  through a port-forward to the ``hubble-relay`` Service in the Cilium namespace (Service -> Ready pod
  behind its selector -> targetPort, a named ``grpc`` port resolved to the container port). The filters
  are sent as the request whitelist, so only matching flows cross the wire. Relay's ``node_status``
  messages say which nodes answered.
* ``exec``: ``hubble observe --output jsonpb`` (argv list, no shell) in the ``cilium-agent`` container of
  every running ``k8s-app=cilium`` pod through the API's exec subresource. Each agent only knows its own
  node; outputs are merged by time. Nodes whose agent did not answer are reported with the reason and
  make the result ``partial``.
* ``file``: saved ``hubble observe -o json|jsonpb`` captures (file or directory, gzip ok) read with the
  evidence-core ``capture_reader``; the same filters are applied locally.

Every transport feeds the evidence-core parser (``sources.hubble.parser``), fills one ``evidence.model.Coverage``
(flows, lost_events, node_status, malformed lines) and hands each matching Drop to the caller's ``sink``: this
source never aggregates (``report.collect.hubble_flows`` wires it to ``evidence.aggregation``).

``timeout`` (plus ``follow_for``) bounds the whole live call: Kubernetes API requests (``KubeAPI.deadline``),
the Relay stream (gRPC deadline) and every agent exec. When it runs out, what was collected is returned with
``partial`` and ``timed_out`` set and a warning; agents not queried in time are listed as unavailable.
"""

from __future__ import annotations

import heapq
import io
import json
import math
import threading
import time
from concurrent import futures
from urllib.parse import quote

from ansible_collections.netobs.cilium.plugins.module_utils._common import partial
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hubble_relay
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage, Drop, LostEvents, NodeStatus
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import VERDICT_CODES
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.parser import MalformedRecord, parse_record
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.relay import HubbleError
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.errors import KubeAPIError, KubeAPITimeout

TRANSPORTS = ('relay', 'exec', 'file')
RELAY_SERVICE = 'hubble-relay'
RELAY_DEFAULT_SERVER_NAME = 'ui.hubble-relay.cilium.io'
AGENT_SELECTOR = 'k8s-app=cilium'
AGENT_CONTAINER = 'cilium-agent'
HUBBLE_BIN = 'hubble'
EXEC_WORKERS = 8
RELAY_NOT_ENABLED = ('Hubble Relay is not enabled: Service {ns}/hubble-relay does not exist. Set hubble.relay.enabled=true '
                     '(netobs.cilium.install does by default) or use transport: exec')


class FlowCollection:
    """Accumulates flows of one run: drops (bounded list), coverage, nodes, partial reasons.

    Every matching Drop is also handed to ``sink`` (anything with ``add(drop)``), in input order, as it is read:
    the caller passes the aggregation there (see ``report.collect``); a source never aggregates.
    """

    def __init__(self, query, max_drops=100, transport='relay', sink=None):
        self.query = query
        self.filters = hubble_relay.build_flow_filters(query)
        self.transport = transport
        self.max_drops = max_drops
        self.coverage = Coverage()
        self.coverage.verdicts = tuple(query.verdicts or VERDICT_CODES)
        self.sink = sink
        self.drops = []
        self.drops_total = 0
        self.flows_total = 0
        self.nodes_seen = set()
        self.nodes_expected = set()
        self.unavailable = {}      # node -> {'name', 'pod', 'reason'}
        self.partial_reasons = []
        self.warnings = []
        self.details = {}
        self.timeout = None
        self.deadline = None       # time.monotonic() value bounding the whole live call
        self.timed_out = False
        self.empty = False

    # ------------------------------------------------------------------ feeding
    def add_drop(self, drop):
        """One flow Drop that matched the query."""
        self.flows_total += 1
        self.drops_total += 1
        if drop.node:
            self.nodes_seen.add(drop.node)
        if not self.max_drops or len(self.drops) < self.max_drops:
            self.drops.append(drop)
        if self.sink is not None:
            self.sink.add(drop)

    def add_record(self, obj, label=None, line=None):
        """One decoded jsonpb response dict (relay): flow, lost_events or node_status."""
        cov = self.coverage
        cov.lines_read += 1
        cov.decoded += 1
        try:
            record = parse_record(obj, label, line)
        except (MalformedRecord, TypeError, ValueError) as exc:
            cov.add_malformed(line, label, str(exc))
            return
        if isinstance(record, Drop):
            cov.flows += 1
            cov.add_node(record.node)
            if record.time_ns is not None:
                cov.add_time(record.time, record.time_ns)
            cov.drops += 1
            self.add_drop(record)
        elif isinstance(record, LostEvents):
            cov.add_lost(record)
            if record.node:
                self.nodes_seen.add(record.node)
        elif isinstance(record, NodeStatus):
            cov.add_node_status(record)
            self.node_status(record)
        else:
            cov.other_records += 1

    def node_status(self, record):
        """Relay node_status: connected nodes are expected and answering; unavailable ones are missing."""
        for name in record.node_names:
            self.nodes_expected.add(name)
            if record.state == 'NODE_CONNECTED':
                self.nodes_seen.add(name)
                self.unavailable.pop(name, None)
            elif record.state in hubble_relay.NODE_STATES_UNAVAILABLE:
                self.nodes_seen.discard(name)
                reason = '%s%s' % (record.state, (': ' + record.message) if record.message else '')
                self.node_unavailable(name, reason)

    def node_unavailable(self, name, reason, pod=None):
        self.unavailable[name] = {'name': name, 'pod': pod, 'reason': reason}

    def mark_partial(self, why):
        if why not in self.partial_reasons:
            self.partial_reasons.append(why)

    def remaining(self):
        """Seconds left of the time budget (None without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def time_up(self, what):
        """The time budget ran out: partial result, said once as a reason and a warning."""
        partial.time_up(self, 'timeout (%ss%s)' % (self.timeout, ' + follow_for' if self.query.follow_for else ''), what,
                        self.mark_partial)

    # ------------------------------------------------------------------ result
    def result(self):
        cov = self.coverage
        unavailable = [self.unavailable[name] for name in sorted(self.unavailable)]
        if unavailable:
            self.mark_partial('%d of %d nodes did not answer: %s' % (
                len(unavailable), len(self.nodes_expected | set(self.unavailable)) or len(unavailable),
                ', '.join('%s (%s)' % (u['name'], u['reason']) for u in unavailable)))
        coverage = cov.to_dict()
        coverage.update({
            'empty': self.empty,
            'transport': self.transport,
            'since': hubble_relay.format_time(self.query.since) if self.query.since else None,
            'until': hubble_relay.format_time(self.query.until) if self.query.until else None,
        })
        return {
            'drops': [drop.to_dict() for drop in self.drops],
            'drops_truncated': bool(self.max_drops) and self.drops_total > len(self.drops),
            'flows_total': self.flows_total,
            'timed_out': self.timed_out,
            'nodes': {
                'seen': sorted(self.nodes_seen),
                'expected': sorted(self.nodes_expected | set(self.unavailable)),
                'unavailable': unavailable,
            },
            'lost_events': {
                'total': cov.lost_total,
                'by_source': dict(sorted(cov.lost_by_source.items())),
                'by_node': dict(sorted(cov.lost_by_node.items())),
            },
            'malformed': {'count': cov.malformed, 'lines': list(cov.malformed_lines), 'samples': list(cov.malformed_samples)},
            'coverage': coverage,
            'partial': bool(self.partial_reasons),
            'partial_reasons': list(self.partial_reasons),
            'query': self.query.to_dict(),
            'filters': self.filters,
            'transport': self.transport,
        }


# ---------------------------------------------------------------------------------------------- relay


def relay_target(api, namespace):
    """(pod, container port, service port) behind Service ``hubble-relay`` in ``namespace``."""
    path = '/api/v1/namespaces/%s/services/%s' % (quote(namespace), RELAY_SERVICE)
    try:
        service = api.get(path)
    except KubeAPIError as exc:
        if exc.status == 404:
            raise HubbleError(RELAY_NOT_ENABLED.format(ns=namespace)) from None
        raise
    ports = (service.get('spec') or {}).get('ports') or []
    if not ports:
        raise HubbleError('Service %s/%s has no ports; cannot reach Hubble Relay (use transport: exec)' % (namespace, RELAY_SERVICE))
    chosen = next((p for p in ports if str(p.get('targetPort')) == 'grpc' or p.get('name') in ('grpc', 'http', 'https')), ports[0])
    pod, container_port = api.resolve_service_target(namespace, RELAY_SERVICE, chosen.get('port'))
    return pod, container_port, chosen.get('port')


def collect_relay(collection, address='auto', api=None, namespace='kube-system', tls=None, timeout=30.0):
    """Stream GetFlows from Relay (``address`` or ``auto`` = port-forward through ``api``) into ``collection``."""
    tls = tls or hubble_relay.TLSOptions()
    request = hubble_relay.build_request(collection.query)
    if address != 'auto':
        collection.details['relay_address'] = address
        _stream_relay(collection, address, request, tls, timeout)
        return
    if api is None:
        raise HubbleError('relay_address: auto needs Kubernetes API access (kubeconfig/context); or set relay_address to host:port')
    pod, port, service_port = relay_target(api, namespace)
    if str(service_port) == '443' and not tls.enabled:
        collection.warnings.append('Service %s/%s exposes port 443: Relay TLS looks enabled (hubble.relay.tls.server.enabled); '
                                   'set relay_tls: true if the connection fails' % (namespace, RELAY_SERVICE))
    if tls.enabled and tls.validate_certs and not tls.server_name:
        # through a port-forward the address is 127.0.0.1: check the name Cilium's Helm chart puts in the Relay certificate
        tls.server_name = RELAY_DEFAULT_SERVER_NAME
    collection.details['relay_address'] = 'auto (port-forward to %s/%s:%s, pod %s port %s)' % (
        namespace, RELAY_SERVICE, service_port, pod, port)
    with api.port_forward(namespace, pod, port) as local:
        try:
            _stream_relay(collection, local, request, tls, timeout)
        except HubbleError as exc:
            errors = list(getattr(local, 'errors', None) or [])
            if errors:
                raise HubbleError('%s Port-forward to %s/%s port %s reported: %s' % (exc, namespace, pod, port, '; '.join(errors[:3])),
                                  code=exc.code) from None
            raise


def _stream_relay(collection, address, request, tls, timeout):
    follow_for = collection.query.follow_for
    remaining = collection.remaining()
    if remaining is not None:
        # the gRPC deadline is timeout + follow_for: give the stream what is left of the whole call's budget
        timeout = remaining - (follow_for or 0)
        if timeout <= 0:
            collection.time_up('no time left to stream flows from Relay at %s' % address)
            return
    client = hubble_relay.RelayClient(address, tls=tls, timeout=timeout)
    number = 0
    try:
        for number, response in enumerate(client.get_flows(request, follow_for=follow_for), 1):
            collection.add_record(hubble_relay.response_to_dict(response), None, number)
    except HubbleError as exc:
        if exc.code != 'DEADLINE_EXCEEDED' or collection.deadline is None:
            raise
        collection.time_up('the Relay stream from %s was cut after %d response(s)' % (address, number))


# ---------------------------------------------------------------------------------------------- exec


def hubble_observe_argv(query, start=None):
    """``hubble observe`` argv for ``query`` (filters as ``--allowlist`` FlowFilter JSON, like Relay gets them)."""
    argv = [HUBBLE_BIN, 'observe', '--output', 'jsonpb']
    since = query.since
    if query.follow_for and not since and not query.last:
        since = start
    if query.last:
        argv += ['--last', str(query.last)]
    if since:
        argv += ['--since', hubble_relay.format_time(since)]
    if query.until:
        argv += ['--until', hubble_relay.format_time(query.until)]
    if not query.last and not since and not query.until:
        argv.append('--all')
    for flt in hubble_relay.build_flow_filters(query):
        argv += ['--allowlist', json.dumps(flt, separators=(',', ':'), sort_keys=True)]
    return argv


def list_agent_pods(api, namespace):
    """Cilium agent pods (``k8s-app=cilium``) in ``namespace``."""
    pods = []
    for page in api.list_pages('/api/v1/namespaces/%s/pods' % quote(namespace), {'labelSelector': AGENT_SELECTOR}):
        pods.extend(page.get('items') or [])
    return pods


def _exec_failure(result, node, pod):
    err = (result.stderr or b'').decode('utf-8', 'replace').strip()
    tail = err.splitlines()[-1] if err else ''
    if result.timed_out:
        return 'hubble observe did not finish in time (output so far kept)'
    if result.rc == 127 or 'executable file not found' in err or 'not found' in tail:
        return 'hubble CLI not found in container %s (%s)' % (AGENT_CONTAINER, tail or 'exit code %s' % result.rc)
    return 'hubble observe exited with %s: %s' % (result.rc, tail[:300] or 'no error output')


def collect_exec(collection, api, namespace='kube-system', timeout=30.0, sleep=time.sleep, workers=EXEC_WORKERS):
    """Run ``hubble observe`` in every running agent pod, merge the outputs by time into ``collection``."""
    query = collection.query
    start = hubble_relay.utcnow()
    pods = list_agent_pods(api, namespace)
    if not pods:
        raise HubbleError('No Cilium agent pod (label %s) found in namespace %s: set cilium_namespace to where Cilium runs'
                          % (AGENT_SELECTOR, namespace))
    targets = []
    for pod in pods:
        meta, spec, status = pod.get('metadata') or {}, pod.get('spec') or {}, pod.get('status') or {}
        name = meta.get('name', '?')
        node = spec.get('nodeName') or '(pod %s)' % name
        collection.nodes_expected.add(node)
        if status.get('phase') != 'Running' or meta.get('deletionTimestamp'):
            collection.node_unavailable(node, 'agent pod %s is %s' % (name, 'terminating' if meta.get('deletionTimestamp')
                                                                      else status.get('phase', 'not running')), name)
            continue
        targets.append((name, node))
    if query.follow_for:
        # each agent keeps its flows in a ring buffer: wait, then read the window from `start` on every node
        sleep(query.follow_for)
    argv = hubble_observe_argv(query, start)
    collection.details['argv'] = argv
    results = {}
    errors = {}
    skipped = {}
    lock = threading.Lock()

    def run(target):
        name, node = target
        budget = timeout
        remaining = collection.remaining()
        if remaining is not None:
            if remaining <= 0:
                with lock:
                    skipped[node] = name
                return
            # whole seconds, like the option: the first wave of execs gets the full timeout, later ones what is left
            budget = min(timeout, math.ceil(remaining)) if timeout else math.ceil(remaining)
        try:
            outcome = api.exec_argv(namespace, name, AGENT_CONTAINER, argv, timeout=budget)
        except KubeAPIError as exc:
            with lock:
                errors[node] = (name, exc)
            return
        with lock:
            results[node] = (name, outcome)

    if targets:
        with futures.ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
            list(pool.map(run, targets))
    if targets and not results and errors and not skipped:
        first = next(iter(errors.values()))[1]
        if first.status in (401, 403) or len(errors) == len(targets):
            raise first
    reader = CaptureReader(verdicts=tuple(query.verdicts or VERDICT_CODES), coverage=collection.coverage)
    per_node = []
    for node in sorted(results):
        name, outcome = results[node]
        if outcome.rc != 0:
            collection.node_unavailable(node, _exec_failure(outcome, node, name), name)
            if not outcome.timed_out:
                continue
        stream = io.BytesIO(outcome.stdout or b'')
        stream.name = 'exec:%s/%s' % (namespace, name)
        drops = list(reader.drops(stream))
        if outcome.rc == 0:
            collection.nodes_seen.add(node)
        per_node.append(drops)
    for node, (name, exc) in sorted(errors.items()):
        collection.node_unavailable(node, 'exec failed: %s' % exc, name)
    if skipped:
        for node, name in sorted(skipped.items()):
            collection.node_unavailable(node, 'not queried: the time budget ran out first', name)
        collection.time_up('%d of %d agent pod(s) not queried' % (len(skipped), len(targets)))
    for drop in heapq.merge(*per_node, key=lambda d: d.time_ns or 0):
        collection.add_drop(drop)


# ---------------------------------------------------------------------------------------------- file


def drop_matches(filters, drop):
    """The FlowFilter dicts of a query applied to a parsed ``Drop`` (captures are filtered locally)."""
    if not filters:
        return True
    for flt in filters:
        if 'verdict' in flt and drop.verdict not in flt['verdict']:
            continue
        if 'drop_reason_desc' in flt and (drop.reason or '').upper() not in flt['drop_reason_desc']:
            continue
        if 'source_pod' in flt and not hubble_relay.pod_matches(flt['source_pod'], _endpoint_dict(drop.source)):
            continue
        if 'destination_pod' in flt and not hubble_relay.pod_matches(flt['destination_pod'], _endpoint_dict(drop.destination)):
            continue
        if 'source_label' in flt and not any(hubble_relay.selector_matches(s, drop.source.labels) for s in flt['source_label']):
            continue
        if 'destination_label' in flt and not any(hubble_relay.selector_matches(s, drop.destination.labels)
                                                  for s in flt['destination_label']):
            continue
        return True
    return False


def _endpoint_dict(endpoint):
    return {'namespace': endpoint.namespace or '', 'pod_name': endpoint.pod or ''}


def collect_file(collection, src, allow_empty=False):
    """Read saved captures (file or directory) into ``collection``, applying the query locally."""
    query = collection.query
    reader = CaptureReader(verdicts=tuple(query.verdicts or VERDICT_CODES), coverage=collection.coverage)
    since_ns = _ns(query.since)
    until_ns = _ns(query.until)
    last = {}
    try:
        for drop in reader.drops(src):
            if not drop_matches(collection.filters, drop):
                continue
            if since_ns is not None and (drop.time_ns is None or drop.time_ns < since_ns):
                continue
            if until_ns is not None and (drop.time_ns is None or drop.time_ns > until_ns):
                continue
            if query.last:
                bucket = last.setdefault(drop.node, [])
                bucket.append(drop)
                if len(bucket) > query.last:
                    bucket.pop(0)
                continue
            collection.add_drop(drop)
    except OSError as exc:
        raise HubbleError('cannot read src %s: %s' % (src, exc)) from None
    if query.last:
        for drop in heapq.merge(*last.values(), key=lambda d: d.time_ns or 0):
            collection.add_drop(drop)
    collection.nodes_seen.update(collection.coverage.nodes)
    cov = collection.coverage
    if not cov.records:
        # Not one Hubble record (flow, lost_events, node_status): an empty capture or not a capture of flows.
        if not cov.files and not cov.lines_read:
            what = 'no capture file (*.json, *.jsonl, *.txt, *.gz)'
        else:
            what = '%d line(s), none of them a Hubble record (%d not understood%s)' % (
                cov.lines_read, cov.not_understood,
                ': ' + '; '.join('line %s: %s' % (m['line'], m['error'][:80]) for m in cov.malformed_samples[:2]) if cov.malformed_samples else '')
        error, warning = partial.empty_src_messages(
            src, 'Hubble flows', what, 'Save flows with "hubble observe -o jsonpb" (PacketDrop Events are read by '
            'netobs.cilium.drop_events_info; compact text output cannot be read)')
        if not allow_empty:
            raise HubbleError(error)
        collection.empty = True
        collection.warnings.append(warning)


def _ns(value):
    if value is None:
        return None
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


# ---------------------------------------------------------------------------------------------- entry point


def collect(transport='relay', api=None, src=None, relay_address='auto', cilium_namespace='kube-system', tls=None,
            timeout=30.0, max_drops=100, allow_empty=False, sink=None, **query_options):
    """Run one collection; returns ``(result dict, FlowCollection)``. Raises ``HubbleError``/``KubeAPIError``.

    The result holds what the source saw (drops, coverage, nodes...); every matching Drop also goes to ``sink``.
    """
    if transport not in TRANSPORTS:
        raise HubbleError('transport must be one of %s' % ', '.join(TRANSPORTS))
    if max_drops is not None and max_drops < 0:
        raise HubbleError('max_drops must be 0 (all) or a positive number')
    if timeout is not None and timeout <= 0:
        raise HubbleError('timeout must be a positive number of seconds')
    query = hubble_relay.FlowQuery(**query_options)
    collection = FlowCollection(query, max_drops=max_drops or 0, transport=transport, sink=sink)
    if tls is not None:
        collection.warnings.extend(tls.warnings)
    if timeout and transport != 'file':
        collection.timeout = timeout
        collection.deadline = time.monotonic() + timeout + (query.follow_for or 0)
    previous_deadline = getattr(api, 'deadline', None) if api is not None else None
    if api is not None and collection.deadline is not None:
        api.deadline = collection.deadline
    try:
        _collect_transport(collection, transport, api, src, relay_address, cilium_namespace, tls, timeout, allow_empty)
    except KubeAPITimeout as exc:
        collection.time_up('Kubernetes API: %s' % exc)
    finally:
        if api is not None:
            api.deadline = previous_deadline
    if api is not None:
        collection.details['api_requests'] = api.request_count
    result = collection.result()
    result.update(collection.details)
    return result, collection


def _collect_transport(collection, transport, api, src, relay_address, cilium_namespace, tls, timeout, allow_empty=False):
    query = collection.query
    if transport == 'file':
        if not src:
            raise HubbleError('transport: file needs src (a hubble observe -o jsonpb capture file or directory)')
        if query.follow_for:
            raise HubbleError('follow_for cannot be used with transport: file')
        collect_file(collection, src, allow_empty)
    elif transport == 'exec':
        if api is None:
            raise HubbleError('transport: exec needs Kubernetes API access (kubeconfig/context)')
        collect_exec(collection, api, cilium_namespace, timeout)
    else:
        collect_relay(collection, relay_address, api, cilium_namespace, tls, timeout)
