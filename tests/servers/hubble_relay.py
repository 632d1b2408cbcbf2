# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback Hubble Relay: a real grpcio server implementing ``/observer.Observer/GetFlows``.

Semantics follow Hubble Relay (facts: GetFlowsRequest comments, hubble observe help):

* whitelist = OR of ``FlowFilter``s (empty = everything), blacklist = OR, result = whitelist - blacklist;
  inside one filter every set field must match (AND), the values of one field are alternatives (OR);
* ``number`` = last N flows *per node* (first N with ``first``), merged by time; ``number`` with
  ``since``/``until`` and ``first`` with ``follow`` are rejected (INVALID_ARGUMENT);
* ``since``/``until`` bound the flow time; ``follow`` keeps the stream open for flows added with
  ``push()`` (history first: since/number, or nothing when neither is set);
* at the start of every stream: ``node_status`` NODE_CONNECTED (connected nodes) and NODE_UNAVAILABLE
  (unavailable nodes), like Relay does for its peers; ``lost_events`` records of connected nodes are
  streamed in time order and never filtered;
* filter fields emulated: verdict, drop_reason_desc, source_pod/destination_pod (``ns/``, ``ns/prefix``,
  ``/prefix`` = any namespace, ``prefix`` = namespace ``default`` as upstream ``ParseNamespaceName``; an empty
  name is INVALID_ARGUMENT), source_label/destination_label (Kubernetes selectors; a key without
  ``source:`` matches any label source), source_ip/destination_ip, node_name, traffic_direction,
  event_type, uuid. Any other filter field is rejected with INVALID_ARGUMENT so a test notices.

Modes: plaintext, ``tls=True`` (server certificate for ``*.hubble-relay.cilium.io`` signed by a test CA,
like the Helm-generated one: connect with ``server_name='ui.hubble-relay.cilium.io'``) and ``mtls=True``
(client certificate required). ``TLSMaterial`` writes the CA, server, client and an unrelated CA as
PEM files.

Usage::

    with HubbleRelayServer() as srv:
        srv.load_jsonl('tests/fixtures/cilium/flows.jsonl')
        srv.set_nodes(connected=['kind-control-plane'], unavailable=['kind-worker'])
        ... srv.address ... srv.requests ...
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import tempfile
import threading
from concurrent import futures

import grpc
from google.protobuf import json_format

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import observer_pb2 as pb

SERVICE = 'observer.Observer'
UTC = datetime.timezone.utc
SERVER_SAN = '*.hubble-relay.cilium.io'
SERVER_NAME = 'ui.hubble-relay.cilium.io'
# Upstream Flow fields (Cilium 1.19 flow.proto) the collection's proto does not declare; real captures carry
# ``emitter`` (1.19+). Unlisted unknown fields still make ParseDict fail, so a typo in a fixture is noticed.
UPSTREAM_ONLY_FLOW_FIELDS = frozenset(('emitter', 'tunnel', 'ip_trace_id', 'policy_log', 'aggregate', 'debug_capture_point',
                                       'trace_context', 'sock_xlate_point', 'extensions'))
EMULATED_FIELDS = frozenset(('verdict', 'drop_reason_desc', 'source_pod', 'destination_pod', 'source_label', 'destination_label',
                             'source_ip', 'destination_ip', 'node_name', 'traffic_direction', 'event_type', 'uuid'))


# ---------------------------------------------------------------------------------------------- TLS material


class TLSMaterial:
    """CA, server and client certificates (EC P-256) written as PEM files under ``directory``."""

    def __init__(self, directory=None):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.directory = directory or tempfile.mkdtemp(prefix='hubble-tls-')
        now = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
        later = now + datetime.timedelta(days=2)

        def key():
            return ec.generate_private_key(ec.SECP256R1())

        def name(common):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

        def ca(common):
            ca_key = key()
            cert = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(name(common))
                    .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now).not_valid_after(later)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                 encipher_only=False, decipher_only=False), critical=True)
                    .sign(ca_key, hashes.SHA256()))
            return ca_key, cert

        def leaf(common, sans, usage, ca_key, ca_cert):
            leaf_key = key()
            builder = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(ca_cert.subject)
                       .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now).not_valid_after(later)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            return leaf_key, builder.sign(ca_key, hashes.SHA256())

        def pem_cert(cert):
            return cert.public_bytes(serialization.Encoding.PEM)

        def pem_key(private):
            return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

        ca_key, ca_cert = ca('hubble-ca.cilium.io')
        server_key, server_cert = leaf(SERVER_SAN, [x509.DNSName(SERVER_SAN)], ExtendedKeyUsageOID.SERVER_AUTH, ca_key, ca_cert)
        client_key, client_cert = leaf('hubble-relay-client', [x509.DNSName('client.hubble-relay.cilium.io')],
                                       ExtendedKeyUsageOID.CLIENT_AUTH, ca_key, ca_cert)
        _other_key, other_ca = ca('unrelated-ca.example')
        self.ca_pem = pem_cert(ca_cert)
        self.server_cert_pem, self.server_key_pem = pem_cert(server_cert), pem_key(server_key)
        self.client_cert_pem, self.client_key_pem = pem_cert(client_cert), pem_key(client_key)
        self.other_ca_pem = pem_cert(other_ca)
        self.ca_cert = self._write('ca.crt', self.ca_pem)
        self.server_cert = self._write('server.crt', self.server_cert_pem)
        self.server_key = self._write('server.key', self.server_key_pem)
        self.client_cert = self._write('client.crt', self.client_cert_pem)
        self.client_key = self._write('client.key', self.client_key_pem)
        self.wrong_ca_cert = self._write('wrong-ca.crt', self.other_ca_pem)
        self.server_name = SERVER_NAME

    def _write(self, filename, data):
        path = os.path.join(self.directory, filename)
        with open(path, 'wb') as handle:
            handle.write(data)
        return path


_TLS_CACHE = {}


def shared_tls_material():
    """One ``TLSMaterial`` per process (key generation is cheap, but tests reuse it anyway)."""
    if 'material' not in _TLS_CACHE:
        _TLS_CACHE['material'] = TLSMaterial()
    return _TLS_CACHE['material']


# ---------------------------------------------------------------------------------------------- filter semantics


def parse_time(text):
    """RFC 3339 (up to nanoseconds) -> aware datetime."""
    text = text.replace('z', 'Z')
    match = re.match(r'^(.*?)(\.\d+)?(Z|[+-]\d\d:\d\d)$', text)
    if not match:
        raise ValueError('bad time %r' % text)
    base, frac, zone = match.groups()
    micro = (frac or '.0')[1:7].ljust(6, '0')
    zone = '+00:00' if zone == 'Z' else zone
    return datetime.datetime.fromisoformat('%s.%s%s' % (base, micro, zone))


def _split_requirements(selector):
    parts, depth, current = [], 0, ''
    for char in selector:
        depth += char == '('
        depth -= char == ')'
        if char == ',' and not depth:
            parts.append(current.strip())
            current = ''
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def label_map(labels):
    """Hubble labels (``source:key=value``) -> {'source:key': value, 'any:key': value}."""
    result = {}
    for label in labels or []:
        key, _sep, value = label.partition('=')
        source, sep, bare = key.partition(':')
        if not sep:
            source, bare = 'unspec', key
        result['%s:%s' % (source, bare)] = value
        result.setdefault('any:%s' % bare, value)
    return result


def selector_match(selector, labels):
    """Kubernetes label selector over Hubble labels; keys without a source prefix mean ``any:``."""
    values = label_map(labels)

    def norm(key):
        return key if ':' in key else 'any:' + key

    for req in _split_requirements(selector):
        set_match = re.match(r'^(\S+)\s+(in|notin)\s*\((.*)\)$', req)
        if set_match:
            key, op, items = norm(set_match.group(1)), set_match.group(2), {v.strip() for v in set_match.group(3).split(',')}
            if op == 'in' and values.get(key) not in items:
                return False
            if op == 'notin' and key in values and values[key] in items:
                return False
            continue
        eq_match = re.match(r'^([^!=\s]+)\s*(!=|==|=)\s*(.*)$', req)
        if eq_match:
            key, op, value = norm(eq_match.group(1)), eq_match.group(2), eq_match.group(3).strip()
            if op == '!=':
                if values.get(key) == value:
                    return False
            elif values.get(key) != value:
                return False
            continue
        if req.startswith('!'):
            if norm(req[1:]) in values:
                return False
            continue
        if norm(req) not in values:
            return False
    return True


class FilterError(ValueError):
    """A FlowFilter Hubble itself rejects (the server answers INVALID_ARGUMENT, the fake CLI fails)."""


def parse_namespace_name(text):
    """Upstream ``pkg/hubble/k8s.ParseNamespaceName`` (Cilium 1.19.6): split on every "/", namespace = first part,
    name = second part (anything after a second "/" is ignored); a bare name is in namespace ``default``."""
    parts = text.split('/')
    if len(parts) > 1:
        return parts[0], parts[1]
    if parts[0] == '':
        return '', ''
    return 'default', parts[0]


def pod_match(patterns, endpoint):
    """Upstream ``filterByNamespacedName`` (``pkg/hubble/filters/k8s.go``): an empty name is an invalid filter; an
    endpoint without namespace and pod never matches; prefix '' or namespace '' match anything."""
    parsed = []
    for pattern in patterns:
        if pattern == '':
            raise FilterError('invalid filter, name must not be empty')
        parsed.append(parse_namespace_name(pattern))
    namespace = endpoint.get('namespace', '')
    pod = endpoint.get('pod_name', '')
    if not namespace and not pod:
        return False
    return any((not prefix or pod.startswith(prefix)) and (not want_ns or want_ns == namespace) for want_ns, prefix in parsed)


def ip_match(patterns, address):
    if not address:
        return False
    for pattern in patterns:
        if '/' in pattern:
            if ipaddress.ip_address(address) in ipaddress.ip_network(pattern, strict=False):
                return True
        elif pattern == address:
            return True
    return False


def single_filter_match(flt, flow):
    """All set fields of one FlowFilter dict must match the flow dict."""
    source, destination = flow.get('source') or {}, flow.get('destination') or {}
    checks = {
        'verdict': lambda v: flow.get('verdict', 'VERDICT_UNKNOWN') in v,
        'drop_reason_desc': lambda v: flow.get('drop_reason_desc', 'DROP_REASON_UNKNOWN') in v,
        'source_pod': lambda v: pod_match(v, source),
        'destination_pod': lambda v: pod_match(v, destination),
        'source_label': lambda v: any(selector_match(s, source.get('labels')) for s in v),
        'destination_label': lambda v: any(selector_match(s, destination.get('labels')) for s in v),
        'source_ip': lambda v: ip_match(v, (flow.get('IP') or {}).get('source')),
        'destination_ip': lambda v: ip_match(v, (flow.get('IP') or {}).get('destination')),
        'node_name': lambda v: any(flow.get('node_name', '').startswith(n) for n in v),
        'traffic_direction': lambda v: flow.get('traffic_direction', 'TRAFFIC_DIRECTION_UNKNOWN') in v,
        'event_type': lambda v: any(e.get('type', 0) == (flow.get('event_type') or {}).get('type', 0)
                                    and (not e.get('match_sub_type') or e.get('sub_type', 0) == (flow.get('event_type') or {}).get('sub_type', 0))
                                    for e in v),
        'uuid': lambda v: flow.get('uuid') in v,
    }
    for field, wanted in flt.items():
        if not checks[field](wanted):
            return False
    return True


def filters_match(whitelist, blacklist, flow):
    if whitelist and not any(single_filter_match(f, flow) for f in whitelist):
        return False
    return not any(single_filter_match(f, flow) for f in blacklist)


def filter_dicts(filters):
    return [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in filters]


def filter_error(filters):
    """Why Hubble would refuse to build these filters (upstream ``OnBuildFilter``), or None."""
    for flt in filters:
        for field in ('source_pod', 'destination_pod'):
            if '' in flt.get(field, ()):
                return 'invalid filter, name must not be empty'
    return None


def unsupported_fields(filters):
    return sorted({field for flt in filters for field in flt} - EMULATED_FIELDS)


# ---------------------------------------------------------------------------------------------- the server


class HubbleRelayServer:
    """gRPC ``observer.Observer/GetFlows`` on 127.0.0.1 serving JSON-lines fixtures; see the module docstring."""

    def __init__(self, tls=False, mtls=False, tls_material=None, max_workers=8):
        self.tls = bool(tls or mtls)
        self.mtls = bool(mtls)
        self.tls_material = (tls_material or shared_tls_material()) if self.tls else None
        self.records = []          # dicts in jsonpb shape: {"flow"|"lost_events": ..., "node_name": ..., "time": ...}
        self.connected = None      # None = every node that has records
        self.unavailable = []
        self.requests = []         # decoded GetFlowsRequest messages, in arrival order
        self.request_dicts = []    # the same as dicts (proto field names)
        self.abort_with = None     # (grpc.StatusCode, details) for the next calls
        self.delay = 0.0           # seconds to wait before answering (deadline tests)
        self.flow_delay = 0.0      # seconds to wait before each stored record (a slow stream)
        self.server = None
        self.port = None
        self._cond = threading.Condition()
        self._pushed = []
        self._stopping = False
        self._max_workers = max_workers

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            'GetFlows': grpc.unary_stream_rpc_method_handler(
                self._get_flows, request_deserializer=pb.GetFlowsRequest.FromString,
                response_serializer=pb.GetFlowsResponse.SerializeToString),
        })
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix='hubble-relay'),
                                  handlers=[handler], options=[('grpc.so_reuseport', 0)])
        if self.tls:
            material = self.tls_material
            credentials = grpc.ssl_server_credentials(
                [(material.server_key_pem, material.server_cert_pem)],
                root_certificates=material.ca_pem if self.mtls else None, require_client_auth=self.mtls)
            self.port = self.server.add_secure_port('127.0.0.1:0', credentials)
        else:
            self.port = self.server.add_insecure_port('127.0.0.1:0')
        self.server.start()
        return self

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.server is not None:
            self.server.stop(grace=0.2).wait(5)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return '127.0.0.1:%d' % self.port

    # ------------------------------------------------------------------ data
    def load_jsonl(self, path, node_name=None):
        """Add every line of a ``hubble observe -o jsonpb`` capture (optionally re-homed to ``node_name``)."""
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                if line.strip():
                    self.add(json.loads(line), node_name=node_name)
        return self

    def add(self, record, node_name=None):
        """Add one jsonpb record (``flow`` or ``lost_events``); ``node_name`` overrides the record's node."""
        record = json.loads(json.dumps(record))
        if node_name:
            record['node_name'] = node_name
            if 'flow' in record:
                record['flow']['node_name'] = node_name
        self._to_message(record)  # fail early on fixtures the schema cannot carry
        self.records.append(record)
        return record

    def push(self, record, node_name=None):
        """Add a record and deliver it to streams that ``follow``."""
        record = self.add(record, node_name)
        with self._cond:
            self._pushed.append(record)
            self._cond.notify_all()
        return record

    def set_nodes(self, connected=None, unavailable=None):
        """Nodes Relay reports as connected (their records are served) and unavailable (their records are not)."""
        self.connected = list(connected) if connected is not None else None
        self.unavailable = list(unavailable or [])
        return self

    def nodes_connected(self):
        if self.connected is not None:
            return list(self.connected)
        seen = []
        for record in self.records:
            node = record.get('node_name', '')
            if node and node not in seen and node not in self.unavailable:
                seen.append(node)
        return seen

    # ------------------------------------------------------------------ RPC
    @staticmethod
    def _time(record):
        text = record.get('time') or (record.get('flow') or {}).get('time')
        return parse_time(text) if text else datetime.datetime.min.replace(tzinfo=UTC)

    def _selected(self, record, connected, whitelist, blacklist, since, until):
        if record.get('node_name') not in connected:
            return False
        when = self._time(record)
        if since and when < since:
            return False
        if until and when > until:
            return False
        if 'flow' in record:
            return filters_match(whitelist, blacklist, record['flow'])
        return True

    def _to_message(self, record):
        flow = record.get('flow')
        if isinstance(flow, dict) and UPSTREAM_ONLY_FLOW_FIELDS.intersection(flow):
            # A real Relay sends these (upstream flow.proto); the collection's smaller proto skips them on the wire.
            record = dict(record, flow={k: v for k, v in flow.items() if k not in UPSTREAM_ONLY_FLOW_FIELDS})
        return json_format.ParseDict(record, pb.GetFlowsResponse())

    def _get_flows(self, request, context):
        self.requests.append(request)
        self.request_dicts.append(json_format.MessageToDict(request, preserving_proto_field_name=True))
        if self.abort_with:
            context.abort(*self.abort_with)
        if self.delay:
            threading.Event().wait(self.delay)
        whitelist, blacklist = filter_dicts(request.whitelist), filter_dicts(request.blacklist)
        unknown = unsupported_fields(whitelist + blacklist)
        if unknown:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'test relay does not emulate FlowFilter fields: %s' % ', '.join(unknown))
        invalid = filter_error(whitelist + blacklist)
        if invalid:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, invalid)
        has_since, has_until = request.HasField('since'), request.HasField('until')
        if request.number and (has_since or has_until):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'number is incompatible with since/until')
        if request.first and request.follow:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'first is incompatible with follow')
        since = request.since.ToDatetime(tzinfo=UTC) if has_since else None
        until = request.until.ToDatetime(tzinfo=UTC) if has_until and not request.follow else None
        connected = self.nodes_connected()
        now = pb.GetFlowsResponse()
        now.time.GetCurrentTime()
        if connected:
            yield pb.GetFlowsResponse(node_status=pb.NodeStatusEvent(state_change=pb.NODE_CONNECTED, node_names=connected),
                                      time=now.time)
        if self.unavailable:
            yield pb.GetFlowsResponse(node_status=pb.NodeStatusEvent(state_change=pb.NODE_UNAVAILABLE, node_names=self.unavailable,
                                                                     message='node is unreachable (test relay)'),
                                      time=now.time)
        with self._cond:
            backlog = len(self._pushed)
        history = []
        if request.number or has_since or not request.follow:
            per_node = {}
            for record in self.records:
                if self._selected(record, connected, whitelist, blacklist, since, until):
                    per_node.setdefault(record['node_name'], []).append(record)
            for items in per_node.values():
                items.sort(key=self._time)
                if request.number:
                    # number counts flows; lost_events from the first selected flow on (last N) or up to the
                    # last selected flow (first N) come along
                    flow_items = [r for r in items if 'flow' in r]
                    flow_items = flow_items[:request.number] if request.first else flow_items[-request.number:]
                    if not flow_items:
                        continue
                    low, high = self._time(flow_items[0]), self._time(flow_items[-1])
                    if not request.first:
                        high = datetime.datetime.max.replace(tzinfo=UTC)
                    items = [r for r in items if 'flow' in r and r in flow_items or 'flow' not in r and low <= self._time(r) <= high]
                history.extend(items)
            history.sort(key=self._time)
        for record in history:
            if self.flow_delay:
                threading.Event().wait(self.flow_delay)
            if not context.is_active():
                return
            yield self._to_message(record)
        if not request.follow:
            return
        position = backlog
        while context.is_active():
            with self._cond:
                while position >= len(self._pushed) and not self._stopping and context.is_active():
                    self._cond.wait(0.1)
                if self._stopping:
                    return
                fresh, position = self._pushed[position:], len(self._pushed)
            for record in fresh:
                if self._selected(record, self.nodes_connected(), whitelist, blacklist, since, None):
                    yield self._to_message(record)


# ---------------------------------------------------------------------------------------------- fake hubble CLI


class FakeHubbleCLI:
    """Emulates ``hubble observe --output jsonpb`` inside one Cilium agent pod (one node's ring buffer).

    Plug it into the Kubernetes API test server: ``srv.set_exec_handler('kube-system', pod, 'cilium-agent',
    FakeHubbleCLI(records, node))``. Parses argv like the real CLI for the flags the collection uses
    (``--output/-o``, ``--allowlist``, ``--denylist``, ``--since``, ``--until``, ``--last``, ``--first``,
    ``--all``, ``--follow/-f``) and fails like cobra on anything else. ``calls`` keeps every argv.
    """

    VALUE_FLAGS = ('--output', '-o', '--allowlist', '--denylist', '--since', '--until', '--last', '--first')
    BOOL_FLAGS = ('--all', '--follow', '-f', '--print-node-name')

    def __init__(self, records, node_name, fail=None):
        self.node_name = node_name
        self.records = [r for r in records if r.get('node_name') == node_name]
        self.fail = fail          # (stderr bytes, exit code) to simulate a broken agent
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        if self.fail:
            return b'', self.fail[0], self.fail[1]
        if not argv or os.path.basename(argv[0]) != 'hubble':
            return b'', ('exec: "%s": executable file not found in $PATH' % (argv[0] if argv else '')).encode(), 127
        if argv[1:2] != ['observe']:
            return b'', b'Error: unknown command\n', 1
        opts = {'allowlist': [], 'denylist': []}
        args = list(argv[2:])
        while args:
            arg = args.pop(0)
            flag, eq, inline = arg.partition('=')
            if flag in self.VALUE_FLAGS:
                if eq:
                    value = inline
                elif args:
                    value = args.pop(0)
                else:
                    return b'', ('Error: flag needs an argument: %s\n' % flag).encode(), 1
                name = {'-o': 'output'}.get(flag, flag.lstrip('-'))
                if name in ('allowlist', 'denylist'):
                    opts[name].append(value)
                else:
                    opts[name] = value
            elif flag in self.BOOL_FLAGS:
                opts[{'-f': 'follow'}.get(flag, flag.lstrip('-'))] = True
            else:
                return b'', ('Error: unknown flag: %s\n' % flag).encode(), 1
        if opts.get('output') not in ('jsonpb', 'json'):
            return b'', b'fake hubble: only --output jsonpb is emulated\n', 1
        try:
            whitelist = [json_format.MessageToDict(json_format.Parse(v, pb.FlowFilter()), preserving_proto_field_name=True)
                         for v in opts['allowlist']]
            blacklist = [json_format.MessageToDict(json_format.Parse(v, pb.FlowFilter()), preserving_proto_field_name=True)
                         for v in opts['denylist']]
        except json_format.ParseError as exc:
            return b'', ('Error: failed to parse allowlist/denylist: %s\n' % exc).encode(), 1
        unknown = unsupported_fields(whitelist + blacklist)
        if unknown:
            return b'', ('fake hubble does not emulate FlowFilter fields %s\n' % unknown).encode(), 1
        invalid = filter_error(whitelist + blacklist)
        if invalid:
            return b'', ('Error: %s\n' % invalid).encode(), 1
        since = parse_time(opts['since']) if opts.get('since') else None
        until = parse_time(opts['until']) if opts.get('until') else None
        selected = []
        for record in sorted(self.records, key=HubbleRelayServer._time):  # pylint: disable=protected-access
            when = HubbleRelayServer._time(record)  # pylint: disable=protected-access
            if (since and when < since) or (until and when > until):
                continue
            if 'flow' in record and not filters_match(whitelist, blacklist, record['flow']):
                continue
            selected.append(record)
        if opts.get('last'):
            selected = selected[-int(opts['last']):]
        elif opts.get('first'):
            selected = selected[:int(opts['first'])]
        elif not (opts.get('all') or since or until or opts.get('follow')):
            selected = selected[-20:]  # the CLI's default --last 20
        stdout = ''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in selected)
        return stdout.encode('utf-8'), b'', 0
