# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hubble Relay gRPC client for ``observer.Observer/GetFlows``.

* ``FlowQuery`` holds the user's filter options; ``build_flow_filters`` turns them into Hubble
  ``FlowFilter`` dicts (proto field names) that are sent as the request ``whitelist`` (Relay
  evaluates them, so only relevant flows cross the wire), passed to ``hubble observe --allowlist``
  by the exec transport, and evaluated locally by ``flow_matches`` for saved captures.
* ``build_request`` makes the ``GetFlowsRequest``; ``response_to_dict`` converts a response to the
  exact JSON shape ``hubble observe -o jsonpb`` prints (``{"flow": {...}, "node_name": ..., "time": ...}``).
* ``RelayClient.get_flows`` streams responses (plain TCP, TLS, mTLS; ``validate_certs=False``
  through a local TLS-unwrapping pipe) and turns gRPC failures into ``HubbleError`` messages that
  say what to do.

Third-party imports (grpc, protobuf) are optional at import time; ``missing_libraries()`` lists
what is missing for the relay transport.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import socket
import ssl
import threading

from ansible_collections.netobs.cilium.plugins.module_utils._common import duration
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError, redact_userinfo
from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import parse_label
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import DROP_REASON_CODES
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.loopback import LoopbackRelay

# grpc and protobuf (with the generated ``observer_pb2``) are imported on first use: ~0.1 s that reading a saved
# capture never needs. ``missing_libraries()`` imports them and says what is missing; ``relay.pb``, ``relay.grpc``,
# ``relay.HAS_GRPC``, ``relay.GRPC_IMPORT_ERROR`` and ``relay.HAS_JSON_FORMAT`` stay readable as module attributes.
_LAZY: dict = {}


def _load_libraries() -> dict:
    if not _LAZY:
        try:
            import grpc  # pylint: disable=import-outside-toplevel
            _LAZY.update(grpc=grpc, HAS_GRPC=True, GRPC_IMPORT_ERROR=None)
        except ImportError as exc:
            _LAZY.update(grpc=None, HAS_GRPC=False, GRPC_IMPORT_ERROR=str(exc))
        try:
            from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
            _LAZY.update(json_format=json_format, HAS_JSON_FORMAT=True)
        except ImportError:
            _LAZY.update(json_format=None, HAS_JSON_FORMAT=False)
        from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import (  # pylint: disable=import-outside-toplevel
            observer_pb2)
        _LAZY['pb'] = observer_pb2
    return _LAZY


def __getattr__(name):
    if name in ('grpc', 'pb', 'json_format', 'HAS_GRPC', 'GRPC_IMPORT_ERROR', 'HAS_JSON_FORMAT'):
        return _load_libraries()[name]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


GET_FLOWS_METHOD = '/observer.Observer/GetFlows'
# ``number`` value meaning "everything in the ring buffer" (what ``hubble observe --all`` sends).
ALL_FLOWS = (1 << 64) - 1
VERDICTS = ('FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED')
NODE_STATES_UNAVAILABLE = ('NODE_UNAVAILABLE', 'NODE_GONE', 'NODE_ERROR')


class HubbleError(NetobsError):
    """A Hubble query failed; ``str(err)`` is a message fit for ``fail_json`` (what happened + what to do)."""

    def __init__(self, message, code=None):
        message = redact_userinfo(message)
        super().__init__(message)
        self.message = message
        self.code = code


def missing_libraries():
    """Names (pip requirement strings) of the libraries the relay transport needs and cannot import."""
    libs = _load_libraries()
    missing = []
    if not libs['HAS_GRPC']:
        missing.append('grpcio')
    if not libs['pb'].HAS_PROTOBUF or not libs['HAS_JSON_FORMAT']:
        missing.append(libs['pb'].PROTOBUF_REQUIREMENT)
    return missing


# ---------------------------------------------------------------------------------------------- time


def utcnow():
    """Timezone-aware current time (UTC)."""
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(value, now=None, option='since'):
    """Parse ``15m``/``1h30m``/``90s`` (that long before ``now``) or an RFC 3339 timestamp into an aware UTC datetime."""
    if value is None or value == '':
        return None
    try:
        return duration.parse_since(value, now=now, name=option)
    except duration.DurationError as exc:
        raise HubbleError(str(exc)) from None


def format_time(value):
    """RFC 3339 UTC with a ``Z`` suffix (what the hubble CLI accepts for --since/--until)."""
    return duration.format_timestamp(value)


# ---------------------------------------------------------------------------------------------- query


class FlowQuery:
    """What to ask Hubble for (the module's filter options, validated and normalised)."""

    def __init__(self, verdicts=None, namespaces=None, from_pods=None, to_pods=None, from_labels=None, to_labels=None,
                 drop_reasons=None, since=None, until=None, last=None, follow_for=None, now=None):
        now = now or utcnow()
        self.verdicts = [str(v).strip().upper() for v in (['DROPPED'] if verdicts is None else verdicts)]
        for verdict in self.verdicts:
            if verdict not in VERDICTS:
                raise HubbleError('verdicts: unknown verdict %r; use one of %s' % (verdict, ', '.join(VERDICTS)))
        self.namespaces = [str(n).strip() for n in namespaces or [] if str(n).strip()]
        for namespace in self.namespaces:
            if '/' in namespace:
                raise HubbleError('namespaces: %r is not a namespace name (to select pods use from_pods/to_pods)' % namespace)
        self.from_pods = [self._pod(p, 'from_pods') for p in from_pods or []]
        self.to_pods = [self._pod(p, 'to_pods') for p in to_pods or []]
        self.from_labels = [str(s).strip() for s in from_labels or [] if str(s).strip()]
        self.to_labels = [str(s).strip() for s in to_labels or [] if str(s).strip()]
        for selector in self.from_labels + self.to_labels:
            parse_selector(selector)
        self.drop_reasons = [str(r).strip().upper() for r in drop_reasons or [] if str(r).strip()]
        for reason in self.drop_reasons:
            if reason not in DROP_REASON_CODES or reason == 'DROP_REASON_UNKNOWN':
                raise HubbleError('drop_reasons: unknown drop reason %r; use Hubble DropReason names such as '
                                  'POLICY_DENIED, POLICY_DENY, AUTH_REQUIRED' % reason)
        self.since = parse_time(since, now, 'since')
        self.until = parse_time(until, now, 'until')
        if self.since and self.until and self.since > self.until:
            raise HubbleError('since (%s) is after until (%s)' % (format_time(self.since), format_time(self.until)))
        if last is not None and int(last) < 1:
            raise HubbleError('last must be a positive number of flows per node (got %s)' % last)
        self.last = int(last) if last is not None else None
        if self.last and (self.since or self.until):
            raise HubbleError('last cannot be combined with since/until (Hubble rejects number together with a time range)')
        if follow_for is not None and float(follow_for) <= 0:
            raise HubbleError('follow_for must be a positive number of seconds (got %s)' % follow_for)
        self.follow_for = float(follow_for) if follow_for else None
        if self.follow_for and self.until:
            raise HubbleError('until cannot be combined with follow_for (Hubble ignores until when following)')

    @staticmethod
    def _pod(value, option):
        """A pod filter in Hubble's form; a name without a namespace is made explicit as ``default/<name>``."""
        text = str(value).strip()
        if not text or text == '/':
            raise HubbleError('%s: empty pod filter; use "namespace/pod-prefix", "namespace/" or "/pod-prefix"' % option)
        if text.count('/') > 1:
            raise HubbleError('%s: %r has more than one "/"; use "namespace/pod-prefix", "namespace/" or "/pod-prefix" '
                              '(pod names contain no "/")' % (option, text))
        namespace, prefix = parse_pod_filter(text)
        return '%s/%s' % (namespace, prefix)

    def to_dict(self):
        """The effective query (for the module result)."""
        return {
            'verdicts': list(self.verdicts), 'namespaces': list(self.namespaces), 'from_pods': list(self.from_pods),
            'to_pods': list(self.to_pods), 'from_labels': list(self.from_labels), 'to_labels': list(self.to_labels),
            'drop_reasons': list(self.drop_reasons), 'since': format_time(self.since) if self.since else None,
            'until': format_time(self.until) if self.until else None, 'last': self.last, 'follow_for': self.follow_for,
        }


def parse_pod_filter(pod_filter):
    """``(namespace, pod prefix)`` of a Hubble pod filter, as Hubble reads it (``k8s.ParseNamespaceName``).

    ``ns/prefix`` -> (ns, prefix); ``ns/`` -> (ns, '') (the whole namespace); ``/prefix`` -> ('', prefix) (any
    namespace); ``prefix`` without a ``/`` -> ('default', prefix): a name without a namespace means the namespace
    ``default``, not any namespace.
    """
    parts = pod_filter.split('/')
    if len(parts) > 1:
        return parts[0], parts[1]
    if not parts[0]:
        return '', ''
    return 'default', parts[0]


def _pod_namespace(pod_filter):
    """Namespace part of a pod filter; None when the filter matches any namespace (``/prefix``)."""
    return parse_pod_filter(pod_filter)[0] or None


def _restrict(pod_filters, namespaces):
    """Pod filters constrained to ``namespaces`` (a filter without namespace is expanded per namespace)."""
    result = []
    for pod_filter in pod_filters:
        namespace = _pod_namespace(pod_filter)
        if namespace is None:
            prefix = parse_pod_filter(pod_filter)[1]
            result.extend('%s/%s' % (ns, prefix) for ns in namespaces)
        elif namespace in namespaces:
            result.append(pod_filter)
    return result


def build_flow_filters(query):
    """Hubble ``FlowFilter`` dicts (proto field names) for ``query``; OR'ed by Hubble, each one AND of its fields.

    ``namespaces`` means "either side is in one of these namespaces": two filters, one with
    ``source_pod: ["ns/"...]`` and one with ``destination_pod: ["ns/"...]`` (like ``hubble observe -n``),
    each combined with the other options.  Returns ``[]`` only if the query has no filter at all;
    raises ``HubbleError`` when from_pods/to_pods and namespaces exclude each other.
    """
    base = {}
    if query.verdicts:
        base['verdict'] = list(query.verdicts)
    if query.drop_reasons:
        base['drop_reason_desc'] = list(query.drop_reasons)
    if query.from_labels:
        base['source_label'] = list(query.from_labels)
    if query.to_labels:
        base['destination_label'] = list(query.to_labels)
    if not query.namespaces:
        flt = dict(base)
        if query.from_pods:
            flt['source_pod'] = list(query.from_pods)
        if query.to_pods:
            flt['destination_pod'] = list(query.to_pods)
        return [flt] if flt else []
    prefixes = ['%s/' % ns for ns in query.namespaces]
    filters = []
    # 1. the source is in one of the namespaces
    source = _restrict(query.from_pods, query.namespaces) if query.from_pods else prefixes
    if source:
        flt = dict(base, source_pod=source)
        if query.to_pods:
            flt['destination_pod'] = list(query.to_pods)
        filters.append(flt)
    # 2. the destination is in one of the namespaces
    destination = _restrict(query.to_pods, query.namespaces) if query.to_pods else prefixes
    if destination:
        flt = dict(base)
        if query.from_pods:
            flt['source_pod'] = list(query.from_pods)
        flt['destination_pod'] = destination
        filters.append(flt)
    if not filters:
        raise HubbleError('from_pods/to_pods select no pod in namespaces %s: nothing could match; '
                          'drop namespaces or use pods inside them' % ', '.join(query.namespaces))
    return filters


def build_request(query, now=None):
    """The ``GetFlowsRequest`` for ``query`` (needs protobuf)."""
    libs = _load_libraries()
    pb, json_format = libs['pb'], libs['json_format']
    request = pb.GetFlowsRequest()
    for flt in build_flow_filters(query):
        json_format.ParseDict(flt, request.whitelist.add())
    if query.since:
        request.since.FromDatetime(query.since)
    if query.until:
        request.until.FromDatetime(query.until)
    if query.last:
        request.number = query.last
    if query.follow_for:
        request.follow = True
        if not query.since and not query.last:
            # only flows from now on (plus the little that happened while connecting)
            request.since.FromDatetime((now or utcnow()) - datetime.timedelta(seconds=1))
    elif not query.last and not query.since and not query.until:
        request.number = ALL_FLOWS
    return request


# protojson encodes 64-bit integers as strings.
_INT64_TYPES = frozenset((3, 4, 6, 16, 18))  # TYPE_INT64, TYPE_UINT64, TYPE_FIXED64, TYPE_SFIXED64, TYPE_SINT64
_TYPE_MESSAGE = 11
_TYPE_ENUM = 14
_WRAPPERS = frozenset(('google.protobuf.BoolValue', 'google.protobuf.Int32Value', 'google.protobuf.UInt32Value',
                       'google.protobuf.StringValue'))
_entries = {}


def _identity(value):
    return value


def _timestamp(value):
    return value.ToJsonString()


def _wrapped(value):
    return value.value


def _field_entry(field):
    """``(json key, converter)`` for one field descriptor (cached): the converter turns a value into its protojson form."""
    if field.type == _TYPE_MESSAGE:
        full_name = field.message_type.full_name
        if full_name == 'google.protobuf.Timestamp':
            converter = _timestamp
        elif full_name in _WRAPPERS:
            converter = _wrapped
        else:
            converter = message_to_dict
    elif field.type == _TYPE_ENUM:
        names = {number: value.name for number, value in field.enum_type.values_by_number.items()}
        if field.is_repeated:
            def converter(values):
                return [names.get(value, value) for value in values]
        else:
            def converter(value):
                return names.get(value, value)
    elif field.type in _INT64_TYPES:
        converter = str
    else:
        converter = _identity
    if field.is_repeated and field.type != _TYPE_ENUM:
        element = converter
        if element is _identity:
            converter = list
        else:
            def converter(values):
                return [element(value) for value in values]
    entry = (field.name, converter)
    _entries[field] = entry
    return entry


def message_to_dict(message):
    """Fast protojson-equivalent of ``json_format.MessageToDict(message, preserving_proto_field_name=True)``.

    Covers what our schema uses (no maps, floats, bytes or Any): set fields only, enums as names (numbers when
    unknown), 64-bit integers as strings, Timestamp as RFC 3339, wrapper types as plain values.
    """
    out = {}
    entries = _entries
    for field, value in message.ListFields():
        entry = entries.get(field) or _field_entry(field)
        out[entry[0]] = entry[1](value)
    return out


def response_to_dict(response):
    """A ``GetFlowsResponse`` as the dict ``hubble observe -o jsonpb`` prints for it."""
    return message_to_dict(response)


# ---------------------------------------------------------------------------------------------- local matching


def parse_selector(selector):
    """Parse a Kubernetes label selector into ``[(key, op, values)]`` (op: =, !=, in, notin, exists, !exists)."""
    requirements = []
    parts, depth, current = [], 0, ''
    for char in selector:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            parts.append(current)
            current = ''
        else:
            current += char
    parts.append(current)
    for raw in parts:
        part = raw.strip()
        if not part:
            raise HubbleError('label selector %r has an empty requirement' % selector)
        match = re.match(r'^(\S+)\s+(in|notin)\s*\((.*)\)$', part)
        if match:
            values = [v.strip() for v in match.group(3).split(',') if v.strip()]
            requirements.append((match.group(1), match.group(2), values))
            continue
        match = re.match(r'^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$', part)
        if match:
            requirements.append((match.group(1), '!=' if match.group(2) == '!=' else '=', [match.group(3)]))
            continue
        if re.match(r'^![^=!\s(),]+$', part):
            requirements.append((part[1:], '!exists', []))
            continue
        if re.match(r'^[^=!\s(),]+$', part):
            requirements.append((part, 'exists', []))
            continue
        raise HubbleError('cannot parse label selector %r (requirement %r); use Kubernetes selector syntax such as '
                          '"app=nginx", "run=netshot,tier!=db" or "k8s:app in (a,b)"' % (selector, part))
    return requirements


def _label_values(labels, key):
    """Values of ``key`` in Hubble labels (``source:key=value``); a key without source matches any source."""
    found = []
    for label in labels or []:
        source, bare, value = parse_label(label, '')
        if key == bare if ':' not in key else key == '%s:%s' % (source, bare):
            found.append(value)
    return found


def selector_matches(selector, labels):
    """True when Hubble ``labels`` satisfy the Kubernetes label ``selector``."""
    for key, op, values in parse_selector(selector):
        present = _label_values(labels, key)
        if op == 'exists' and not present:
            return False
        if op == '!exists' and present:
            return False
        if op == '=' and values[0] not in present:
            return False
        if op == '!=' and values[0] in present:
            return False
        if op == 'in' and not any(v in values for v in present):
            return False
        if op == 'notin' and any(v in values for v in present):
            return False
    return True


def pod_matches(pod_filters, endpoint):
    """Hubble ``source_pod``/``destination_pod`` semantics: ``ns/``, ``ns/prefix``, ``/prefix`` (any namespace) or
    ``prefix`` (namespace ``default``), see ``parse_pod_filter``."""
    endpoint = endpoint or {}
    namespace = endpoint.get('namespace', '')
    pod_name = endpoint.get('pod_name', '')
    if not namespace and not pod_name:
        return False
    for pod_filter in pod_filters:
        want_ns, prefix = parse_pod_filter(pod_filter)
        if want_ns and want_ns != namespace:
            continue
        if pod_name.startswith(prefix):
            return True
    return False


def filter_matches(flt, flow):
    """One ``FlowFilter`` dict (fields AND'ed) against a jsonpb flow dict."""
    if 'verdict' in flt and flow.get('verdict', 'VERDICT_UNKNOWN') not in flt['verdict']:
        return False
    if 'drop_reason_desc' in flt and flow.get('drop_reason_desc', 'DROP_REASON_UNKNOWN') not in flt['drop_reason_desc']:
        return False
    if 'source_pod' in flt and not pod_matches(flt['source_pod'], flow.get('source')):
        return False
    if 'destination_pod' in flt and not pod_matches(flt['destination_pod'], flow.get('destination')):
        return False
    if 'source_label' in flt and not any(selector_matches(s, (flow.get('source') or {}).get('labels')) for s in flt['source_label']):
        return False
    if 'destination_label' in flt and not any(selector_matches(s, (flow.get('destination') or {}).get('labels'))
                                              for s in flt['destination_label']):
        return False
    return True


def flow_matches(filters, flow):
    """True when ``flow`` (jsonpb ``flow`` dict) matches any of ``filters`` (or there is none)."""
    if not filters:
        return True
    return any(filter_matches(flt, flow) for flt in filters)


# ---------------------------------------------------------------------------------------------- TLS


class TLSOptions:
    """TLS settings for the Relay connection (``enabled`` False = plaintext gRPC)."""

    def __init__(self, enabled=False, ca_cert=None, client_cert=None, client_key=None, server_name=None, validate_certs=True):
        self.enabled = bool(enabled)
        self.ca_cert = ca_cert
        self.client_cert = client_cert
        self.client_key = client_key
        self.server_name = server_name
        self.validate_certs = bool(validate_certs)
        if bool(client_cert) != bool(client_key):
            raise HubbleError('relay_client_cert and relay_client_key must be given together (mTLS needs both)')
        self.warnings = []
        if not self.enabled and (ca_cert or client_cert or server_name):
            self.warnings.append('relay_ca_cert/relay_client_cert/relay_client_key/relay_server_name are ignored because relay_tls is false')
        if self.enabled and not self.validate_certs:
            self.warnings.append('relay_validate_certs=false: the Hubble Relay server certificate is NOT verified (no CA check, no name '
                                 'check); the connection is encrypted but the server is not authenticated%s'
                                 % ('; relay_ca_cert and relay_server_name are ignored' if (ca_cert or server_name) else ''))

    @staticmethod
    def _read(path, what):
        try:
            with open(path, 'rb') as handle:
                return handle.read()
        except OSError as exc:
            raise HubbleError('cannot read %s %s: %s' % (what, path, exc)) from exc

    def credentials(self):
        """``grpc.ChannelCredentials`` for verified TLS (validate_certs true)."""
        root = self._read(self.ca_cert, 'relay_ca_cert') if self.ca_cert else None
        key = self._read(self.client_key, 'relay_client_key') if self.client_key else None
        chain = self._read(self.client_cert, 'relay_client_cert') if self.client_cert else None
        return _load_libraries()['grpc'].ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)

    def unverified_context(self):
        """``ssl.SSLContext`` for the TLS pipe used with validate_certs false (client cert still presented)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(['h2'])
        if self.client_cert:
            try:
                context.load_cert_chain(self.client_cert, self.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise HubbleError('cannot load relay_client_cert %s / relay_client_key %s: %s' % (self.client_cert, self.client_key, exc)) from exc
        return context


def split_address(address):
    """``host:port`` (also ``[v6]:port``) -> (host, port)."""
    text = str(address).strip()
    for scheme in ('tls://', 'dns:///', 'ipv4:', 'ipv6:'):
        if text.startswith(scheme):
            text = text[len(scheme):]
    match = re.match(r'^\[([^\]]+)\]:(\d+)$', text) or re.match(r'^([^:\[\]]+):(\d+)$', text)
    if not match:
        raise HubbleError('relay_address %r is not host:port (for example 127.0.0.1:4245, or auto)' % address)
    return match.group(1), int(match.group(2))


class _TLSPipe(LoopbackRelay):
    """Loopback listener that wraps each accepted plaintext connection in TLS to ``target`` without verification.

    Used only for ``validate_certs=False``: gRPC Python cannot skip certificate verification, so the
    channel speaks plaintext HTTP/2 to this pipe and the pipe speaks TLS (ALPN h2, optional client
    certificate) to the server.
    """

    thread_name = 'netobs-hubble-tls-pipe'

    def __init__(self, host, port, context, server_hostname, connect_timeout):
        super().__init__()
        self.host, self.port = host, port
        self.context = context
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        self.start(backlog=8)

    def open_upstream(self, conn):
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            tls = self.context.wrap_socket(raw, server_hostname=self.server_hostname)
            tls.settimeout(None)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append('TLS connection to %s:%s failed: %s' % (self.host, self.port, exc))
            return None
        return tls

    def pumps(self, conn, upstream):
        return (self._plain_to_tls, self._tls_to_plain)

    def close_upstream(self, upstream):
        with contextlib.suppress(OSError, ssl.SSLError):
            upstream.shutdown(socket.SHUT_RDWR)
        upstream.close()

    def _plain_to_tls(self, conn, tls):
        self._copy(conn, tls)
        self.close_pair(conn, tls)

    def _tls_to_plain(self, conn, tls):
        self._copy(tls, conn)
        self.close_pair(conn, tls)

    @staticmethod
    def _copy(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
        except (OSError, ssl.SSLError):
            return

    def close(self):
        """Stop the pipe and close every connection."""
        self.stop()


# ---------------------------------------------------------------------------------------------- client


def explain_rpc_error(code_name, details, address, tls, timeout, pipe_errors=()):
    """An actionable message for a failed GetFlows call."""
    details = details or ''
    extra = ' '.join(pipe_errors)
    text = (details + ' ' + extra).lower()
    where = 'Hubble Relay at %s' % address
    if code_name == 'UNIMPLEMENTED':
        return ('%s does not implement observer.Observer/GetFlows (%s): relay_address does not point to Hubble Relay '
                '(the hubble-relay Service listens on port 80, or 443 with relay TLS; Hubble UI and hubble-peer are different '
                'services).' % (where, details))
    if code_name == 'DEADLINE_EXCEEDED':
        return ('%s did not finish answering within timeout=%ss (%s): increase timeout, or narrow the query '
                '(since, last, namespaces, verdicts).' % (where, timeout, details))
    if code_name == 'UNAUTHENTICATED' or code_name == 'PERMISSION_DENIED':
        return '%s rejected the request (%s: %s): check relay_client_cert/relay_client_key (mTLS).' % (where, code_name, details)
    if code_name == 'UNAVAILABLE':
        if 'certificate_verify_failed' in text or 'certificate verify failed' in text or 'self-signed' in text \
                or 'unable to get local issuer' in text:
            return ('TLS handshake with %s failed: the server certificate could not be verified (%s). Set relay_ca_cert to the CA '
                    'that signed the Relay certificate (Helm: secret hubble-relay-server-certs / cilium-ca), relay_server_name to '
                    'a name in the certificate (e.g. ui.hubble-relay.cilium.io), or relay_validate_certs: false to skip '
                    'verification.' % (where, details or extra))
        if 'peer name' in text or 'hostname' in text or 'subject alternative' in text or 'san' in text.split():
            return ('TLS handshake with %s failed: the certificate does not match the expected name (%s). Set relay_server_name '
                    'to a name in the Relay certificate (e.g. ui.hubble-relay.cilium.io).' % (where, details or extra))
        if tls.enabled and ('wrong_version_number' in text or 'wrong version number' in text or 'packet_length_too_long' in text
                            or 'record_layer_failure' in text):
            return ('TLS handshake with %s failed: the server does not speak TLS (%s). Set relay_tls: false (the Relay '
                    'Service serves plaintext on port 80 unless hubble.relay.tls.server.enabled=true).' % (where, details or extra))
        if tls.enabled and ('certificate_required' in text or 'certificate required' in text or 'handshake_failure' in text
                            or 'peer did not return a certificate' in text or 'alert' in text):
            return ('TLS handshake with %s failed (%s): the Relay requires a client certificate (mTLS): set '
                    'relay_client_cert and relay_client_key (Helm: hubble.relay.tls.server.mtls).' % (where, details or extra))
        if tls.enabled and not tls.client_cert and ('socket closed' in text or 'connection reset' in text):
            return ('%s closed the TLS connection right after the handshake (%s): the Relay probably requires a client '
                    'certificate (mTLS, Helm hubble.relay.tls.server.mtls): set relay_client_cert and relay_client_key.' % (where, details))
        if not tls.enabled and ('socket closed' in text or 'connection reset' in text or 'protocol' in text
                                or 'end of file' in text or 'http2' in text or 'frame' in text):
            return ('%s closed the connection (%s): it probably expects TLS; set relay_tls: true (with relay_ca_cert, or '
                    'relay_validate_certs: false).' % (where, details))
        if 'ssl' in text or 'tls' in text or 'handshake' in text:
            return ('TLS handshake with %s failed (%s): check relay_tls, relay_ca_cert, relay_client_cert/relay_client_key and '
                    'relay_server_name.' % (where, details or extra))
        return ('%s is unreachable (%s): check relay_address (or use relay_address: auto to port-forward to the '
                'hubble-relay Service), that hubble-relay is running (hubble.relay.enabled=true), or use transport: exec.'
                % (where, details))
    return '%s failed: %s: %s' % (where, code_name, details)


class RelayClient:
    """Streams ``GetFlows`` from one Relay address."""

    def __init__(self, address, tls=None, timeout=30.0, connect_timeout=10.0):
        missing = missing_libraries()
        if missing:
            raise HubbleError('the relay transport needs %s (pip install %s)' % (', '.join(missing), ' '.join(repr(m) for m in missing)))
        self.address = str(address)
        self.host, self.port = split_address(address)
        self.tls = tls or TLSOptions()
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)

    @contextlib.contextmanager
    def _channel(self):
        grpc = _load_libraries()['grpc']
        options = [('grpc.max_receive_message_length', 64 * 1024 * 1024), ('grpc.enable_retries', 0)]
        pipe = None
        target = '%s:%d' % (('[%s]' % self.host) if ':' in self.host else self.host, self.port)
        if not self.tls.enabled:
            channel = grpc.insecure_channel(target, options=options)
        elif not self.tls.validate_certs:
            pipe = _TLSPipe(self.host, self.port, self.tls.unverified_context(), self.tls.server_name or self.host,
                            self.connect_timeout)
            options.append(('grpc.default_authority', self.tls.server_name or target))
            channel = grpc.insecure_channel(pipe.address, options=options)
        else:
            if self.tls.server_name:
                options.append(('grpc.ssl_target_name_override', self.tls.server_name))
                options.append(('grpc.default_authority', self.tls.server_name))
            channel = grpc.secure_channel(target, self.tls.credentials(), options=options)
        try:
            yield channel, pipe
        finally:
            channel.close()
            if pipe is not None:
                pipe.close()

    def get_flows(self, request, follow_for=None):
        """Yield ``GetFlowsResponse`` messages; with ``follow_for`` the stream is cancelled after that many seconds.

        Raises ``HubbleError`` with an actionable message on failure.
        """
        libs = _load_libraries()
        grpc, pb = libs['grpc'], libs['pb']
        deadline = self.timeout + (follow_for or 0)
        with self._channel() as (channel, pipe):
            method = channel.unary_stream(GET_FLOWS_METHOD, request_serializer=pb.GetFlowsRequest.SerializeToString,
                                          response_deserializer=pb.GetFlowsResponse.FromString)
            call = method(request, timeout=deadline, wait_for_ready=False)
            stopped = threading.Event()
            timer = None
            if follow_for:
                def _stop():
                    stopped.set()
                    call.cancel()
                timer = threading.Timer(follow_for, _stop)
                timer.daemon = True
                timer.start()
            try:
                yield from call
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, 'code') else None
                if code == grpc.StatusCode.CANCELLED and stopped.is_set():
                    return
                name = code.name if code is not None else 'UNKNOWN'
                details = exc.details() if hasattr(exc, 'details') else str(exc)
                raise HubbleError(explain_rpc_error(name, details, self.address, self.tls, deadline,
                                                    pipe.errors if pipe else ()), code=name) from None
            finally:
                if timer is not None:
                    timer.cancel()
                call.cancel()
