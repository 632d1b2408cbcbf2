# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect Cilium ``PacketDrop`` Kubernetes Events (live or from saved files) into drop evidence.

Logic behind the ``netobs.cilium.drop_events_info`` module, importable without Ansible.

Live collection lists Events with the server-side field selector ``reason=PacketDrop`` (plus
``involvedObject.namespace=<ns>`` - ``regarding.namespace`` on events.k8s.io/v1, which does not
accept ``involvedObject.*`` - when namespaces are given, one namespaced request per namespace so a
namespaced Role is enough), page by page (``limit``/``continue``), parses every event with
``sources.events.parser.parse_event`` and hands every drop to the caller's ``sink`` (anything with ``add(drop)``):
this source never aggregates (``report.collect`` wires it to ``evidence.aggregation``).
Nothing is kept per event except its uid, so 100 000s of Events stream through in constant memory.

``api: auto`` reads core/v1 (Cilium writes core/v1 Events, every cluster serves them and they carry
``source.component``) and falls back to events.k8s.io/v1 - the same objects through the newer API -
when core/v1 is forbidden (403: a least-privilege Role that only grants events.k8s.io) or not served
(404).

``wait_for`` lists first, then watches from the list's resourceVersion (one watch per scope) until
``min_count`` drop occurrences match the criteria or ``timeout`` passes (listing and parsing included); a 410
Gone relists, with exponential backoff (jitter) after the first, at most ``MAX_WATCH_RELISTS`` times in a row
per scope (then that scope's watch gives up and the result is partial). Relists are counted in
``coverage.watch_relists``.

``timeout`` bounds the whole live call (every request, retry, page, watch and the parsing): when it runs
out, what was collected so far is returned with ``partial`` set and a warning.

Results are never silently short: ``partial`` is set (with ``partial_reasons``) when a page failed
after retries, a watch could not be resumed, or a namespace could not be read.
"""

from __future__ import annotations

import codecs
import datetime
import fnmatch
import json
import os
import queue
import random
import re
import threading
import time

from ansible_collections.netobs.cilium.plugins.module_utils._common import partial
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import MAX_MALFORMED_SAMPLES, MAX_SAMPLE_TEXT, Coverage, EventTable
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import check_reason
from ansible_collections.netobs.cilium.plugins.module_utils._common.duration import (
    DurationError,
    format_timestamp,
    parse_since,
)
from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import to_datetime
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import event_malformed_reason, parse_event
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import (
    KubeAPIConnectionError,
    KubeAPIError,
    KubeAPITimeout,
    ResourceVersionTooOld,
    json_loads,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

UTC = datetime.timezone.utc
PACKET_DROP = 'PacketDrop'
CORE_V1 = 'core/v1'
EVENTS_V1 = 'events.k8s.io/v1'
API_CHOICES = ('auto', CORE_V1, EVENTS_V1)
DEFAULT_EVENT_TTL = 3600
SRC_SUFFIXES = ('.json', '.yaml', '.yml')
# A JSON src file this large whose top level is one object with an ``items`` list (``kubectl get events -o json``) is
# read item by item instead of whole (memory: one read chunk plus one item, not ~8x the file).
STREAM_MIN_BYTES = 16 << 20
STREAM_CHUNK = 256 << 10
DEFAULT_TIMEOUT = 300
MAX_WATCH_RELISTS = 5          # consecutive 410 Gone relists per scope before that watch gives up
RELIST_BACKOFF = 0.5           # seconds before the 2nd consecutive relist, doubled each time (jitter 0.8-1.2x)
RELIST_MAX_BACKOFF = 8.0
DEADLINE_CHECK_EVERY = 256     # Events ingested between two looks at the clock while listing
_MATCHED = 1
_COUNTED = 2
_NAMESPACE = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
MAX_WRAPPER_DEPTH = 3


class DropEventsError(NetobsError):
    """A user-facing error (bad option, unreadable file, failed wait_for)."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result or {}


# ----------------------------------------------------------------------------- evidence-core glue
# Everything that depends on the Drop model lives here (one place to adapt).

def _event_field(ev, core, events_v1):
    value = ev.get(core)
    return value if value is not None else ev.get(events_v1)


def drop_fields(drop):
    """The fields ``wait_for`` criteria match on, from a ``Drop``.

    The pod the Event is attached to is the source of an egress drop and the destination of an
    ingress drop; the other side is the peer.
    """
    direction = (drop.direction or '').lower()
    if direction == 'ingress':
        local, peer = drop.destination, drop.source
    else:
        local, peer = drop.source, drop.destination
    return {
        'direction': direction,
        'reason': (drop.reason or '').lower(),
        'namespace': local.namespace,
        'pod': local.pod,
        'peer_namespace': peer.namespace,
        'peer_pod': peer.pod,
        'peer_ip': peer.ip,
        'peer_reserved': peer.reserved,
        'protocol': (drop.protocol or '').lower(),
        'port': drop.port,
        'count': drop.count or 1,
    }


# ----------------------------------------------------------------------------- shape checks

def _kind(value):
    """A short name for the type of a value in messages (never its text: it may be huge or unprintable)."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'an integer'
    if isinstance(value, float):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if isinstance(value, dict):
        return 'an object'
    return 'a %s' % type(value).__name__


def _str_or_none(value):
    return value[:MAX_SAMPLE_TEXT] if isinstance(value, str) else None


_TIMESTAMP_FIELDS = (('lastTimestamp', 'deprecatedLastTimestamp'), ('firstTimestamp', 'deprecatedFirstTimestamp'),
                     ('eventTime', 'eventTime'))


def event_shape_error(ev):
    """Why the fields ``ingest`` reads before parsing have the wrong types, or None when they are usable.

    Checks the values the collector itself uses (metadata, the involved object, timestamps, series); the rest
    of the Event is checked by ``event_parser.parse_event``.
    """
    meta = ev.get('metadata')
    if meta is not None and not isinstance(meta, dict):
        return 'metadata is %s, expected an object' % _kind(meta)
    for key in ('uid', 'name', 'namespace', 'resourceVersion'):
        value = (meta or {}).get(key)
        if value is not None and not isinstance(value, str):
            return 'metadata.%s is %s, expected a string' % (key, _kind(value))
    created = (meta or {}).get('creationTimestamp')
    if created is not None and not isinstance(created, (str, datetime.datetime)):
        return 'metadata.creationTimestamp is %s, expected a timestamp string' % _kind(created)
    involved = _event_field(ev, 'involvedObject', 'regarding')
    if involved is not None:
        if not isinstance(involved, dict):
            return 'involvedObject/regarding is %s, expected an object' % _kind(involved)
        for key in ('namespace', 'name'):
            value = involved.get(key)
            if value is not None and not isinstance(value, str):
                return 'involvedObject.%s is %s, expected a string' % (key, _kind(value))
    for core, events_v1 in _TIMESTAMP_FIELDS:
        value = _event_field(ev, core, events_v1)
        if value is not None and not isinstance(value, (str, datetime.datetime)):
            return '%s is %s, expected a timestamp string' % (core, _kind(value))
    series = ev.get('series')
    if series is not None:
        if not isinstance(series, dict):
            return 'series is %s, expected an object' % _kind(series)
        observed = series.get('lastObservedTime')
        if observed is not None and not isinstance(observed, (str, datetime.datetime)):
            return 'series.lastObservedTime is %s, expected a timestamp string' % _kind(observed)
    return None


# ----------------------------------------------------------------------------- timestamps

_TS_CACHE = {}


def _ts(value):
    """Parse an apiserver timestamp (cached); None for empty/invalid (see ``_common.timestamps.to_datetime``)."""
    if isinstance(value, datetime.datetime) or not isinstance(value, str):
        return to_datetime(value)
    hit = _TS_CACHE.get(value)
    if hit is not None:
        return hit
    parsed = to_datetime(value)
    if parsed is None:
        return None
    if len(_TS_CACHE) > 100000:
        _TS_CACHE.clear()
    _TS_CACHE[value] = parsed
    return parsed


def event_last_seen(ev):
    """When the Event (core/v1 or events.k8s.io/v1) was last observed."""
    last = _ts(_event_field(ev, 'lastTimestamp', 'deprecatedLastTimestamp'))
    series = _ts((ev.get('series') or {}).get('lastObservedTime'))
    if series is not None and (last is None or series > last):
        last = series
    return last or _ts(ev.get('eventTime')) or _ts((ev.get('metadata') or {}).get('creationTimestamp'))


def event_first_seen(ev):
    """When the Event (core/v1 or events.k8s.io/v1) was first observed."""
    return (_ts(_event_field(ev, 'firstTimestamp', 'deprecatedFirstTimestamp')) or _ts(ev.get('eventTime'))
            or _ts((ev.get('metadata') or {}).get('creationTimestamp')) or event_last_seen(ev))


# ----------------------------------------------------------------------------- wait_for criteria

class WaitCriteria:
    """``wait_for`` options: which drops count, how many, for how long."""

    KEYS = ('direction', 'reason', 'namespace', 'pod', 'peer_namespace', 'peer_pod', 'peer_ip', 'protocol', 'port')

    def __init__(self, spec):
        spec = dict(spec or {})
        self.min_count = int(spec.get('min_count') if spec.get('min_count') is not None else 1)
        self.timeout = float(spec.get('timeout') if spec.get('timeout') is not None else 60)
        if self.min_count < 1:
            raise DropEventsError('wait_for.min_count must be >= 1 (got %s)' % self.min_count)
        if self.timeout <= 0:
            raise DropEventsError('wait_for.timeout must be > 0 seconds (got %s)' % spec.get('timeout'))
        self.criteria = {k: spec.get(k) for k in self.KEYS if spec.get(k) not in (None, '')}
        for key in ('direction', 'reason', 'protocol'):
            if key in self.criteria:
                self.criteria[key] = str(self.criteria[key]).lower()
        if 'reason' in self.criteria:
            try:
                self.criteria['reason'] = check_reason(self.criteria['reason'], 'wait_for.reason').lower()
            except ValueError as exc:
                raise DropEventsError(str(exc)) from None
        if 'port' in self.criteria:
            self.criteria['port'] = int(self.criteria['port'])

    def matches(self, fields):
        """True when the drop (``drop_fields`` dict) satisfies every given criterion."""
        for key, want in self.criteria.items():
            have = fields.get(key)
            if key in ('pod', 'peer_pod'):
                if have is None or not fnmatch.fnmatchcase(str(have), str(want)):
                    return False
            elif key == 'port':
                if have is None or int(have) != want:
                    return False
            elif key in ('direction', 'reason', 'protocol'):
                if (have or '').lower() != want:
                    return False
            elif have != want:
                return False
        return True

    def describe(self):
        if not self.criteria:
            return 'any drop'
        return ', '.join('%s=%s' % (k, self.criteria[k]) for k in self.KEYS if k in self.criteria)


def _looks_like_event(obj):
    """True for a dict shaped like a core/v1 or events.k8s.io/v1 Event (or the Python client's snake_case form)."""
    return (obj.get('kind') == 'Event' or 'reason' in obj or 'involvedObject' in obj or 'involved_object' in obj
            or 'regarding' in obj)


def _drop_summary(fields):
    local = '%s/%s' % (fields.get('namespace') or '?', fields.get('pod') or '?')
    if fields.get('peer_pod'):
        peer = '%s/%s' % (fields.get('peer_namespace') or '?', fields['peer_pod'])
    else:
        peer = fields.get('peer_reserved') or fields.get('peer_ip') or '?'
    arrow = '<-' if fields.get('direction') == 'ingress' else '->'
    proto = (fields.get('protocol') or '').upper()
    port = fields.get('port')
    return '%s %s %s %s%s (%s)' % (local, arrow, peer, proto, '/%s' % port if port else '', fields.get('reason') or '?')


# ----------------------------------------------------------------------------- offline files

SRC_FORMATS = ('kubectl get events -o json|yaml output: an EventList/List, a plain list, one Event, multi-document YAML, '
               'or Event objects (or watch events) back to back or one per line as kubectl get events -w -o json writes them')


class Undecodable:
    """A part of a src file that could not be decoded (a truncated last line, garbage between objects)."""

    __slots__ = ('line', 'error')

    def __init__(self, line, error):
        self.line = line
        self.error = error


def _src_files(src):
    if not os.path.exists(src):
        raise DropEventsError('src %s does not exist' % src)
    if os.path.isdir(src):
        files = []
        for root, dirs, names in os.walk(src):
            dirs.sort()
            files.extend(os.path.join(root, n) for n in sorted(names) if n.lower().endswith(SRC_SUFFIXES))
        if not files:
            raise DropEventsError('src directory %s contains no .json/.yaml/.yml files' % src)
        return files
    return [src]


def iter_src_items(src):
    """Yield ``(path, line, item)`` for every item of a file or directory of ``kubectl get events`` output.

    ``item`` is what the file holds where an Event is expected (usually an Event dict; anything else is for
    ``DropEventsCollector.ingest`` to count) or an ``Undecodable`` for a part that could not be decoded.
    ``line`` is where a top-level document starts (None for the items of a list). Directories are read
    recursively in name order (``*.json``, ``*.yaml``, ``*.yml``).
    """
    for path in _src_files(src):
        if _streamable(path):
            for item in _stream_items(path):
                for event in _events_from_doc(item, 1):
                    yield path, None, event
            continue
        for line, doc in _documents_from_file(path):
            if isinstance(doc, Undecodable):
                yield path, doc.line, doc
                continue
            for item in _events_from_doc(doc):
                yield path, line if item is doc else None, item


class _NotStreamable(Exception):
    """The file is not exactly one JSON object with one ``items`` list: it is read whole, as before."""


_WHITESPACE = re.compile(r'[ \t\r\n]*')
_RAW_DECODE = json.JSONDecoder().raw_decode


class _JSONStream:
    """Strict UTF-8 text of a file, read in chunks; ``value()`` decodes the next JSON value, dropping what was read."""

    def __init__(self, handle, chunk):
        self.handle = handle
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder('utf-8')('strict')
        self.text = ''
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Append more text (at least as much as is pending, so a large value costs O(n log n)); False at the end."""
        if self.eof:
            return False
        data = self.handle.read(max(self.chunk, len(self.text) - self.pos))
        try:
            more = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise _NotStreamable(str(exc)) from None
        self.eof = not data
        self.text = self.text[self.pos:] + more
        self.pos = 0
        return bool(data) or bool(more)

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or not self.fill():
                return self.text[self.pos:self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _NotStreamable('expected %r' % char)
        self.pos += 1

    def value(self):
        self.peek()
        while True:
            try:
                obj, end = _RAW_DECODE(self.text, self.pos)
                if end < len(self.text) or self.eof:  # a number that ends the buffer may go on in the next chunk
                    self.pos = end
                    return obj
            except (ValueError, RecursionError):
                if self.eof:
                    raise _NotStreamable('a value does not decode') from None
            if not self.fill():
                raise _NotStreamable('the file ends inside a value')


def _streamable(path) -> bool:
    """A JSON file large enough to stream whose every byte forms one object with one ``items`` list (checked by reading
    it once without keeping anything); anything else (a YAML file, JSON lines, a truncated capture) is read whole."""
    try:
        if os.path.getsize(path) < STREAM_MIN_BYTES:
            return False
        for _item in _stream_items(path):
            pass
    except (OSError, _NotStreamable):
        return False
    return True


def _stream_items(path, chunk=None):
    """Yield the ``items`` of the one top-level object of a JSON file, one at a time; ``_NotStreamable`` on anything
    else (its other keys are read and dropped; ``involvedObject``/``regarding`` at the top level make it an Event)."""
    with open(path, 'rb') as handle:
        if handle.read(3) != b'\xef\xbb\xbf':  # UTF-8 byte order mark
            handle.seek(0)
        stream = _JSONStream(handle, chunk or STREAM_CHUNK)
        stream.expect('{')
        keys = set()
        while True:
            key = stream.value()
            if not isinstance(key, str) or key in keys or key in ('involvedObject', 'regarding'):
                raise _NotStreamable('not an Event list')
            keys.add(key)
            stream.expect(':')
            if key != 'items':
                stream.value()
            else:
                stream.expect('[')
                if stream.peek() == ']':
                    stream.pos += 1
                else:
                    while True:
                        yield stream.value()
                        char = stream.peek()
                        stream.pos += 1
                        if char == ']':
                            break
                        if char != ',':
                            raise _NotStreamable('expected , or ]')
            char = stream.peek()
            stream.pos += 1
            if char == '}':
                break
            if char != ',':
                raise _NotStreamable('expected , or }')
        if 'items' not in keys or stream.peek() != '':
            raise _NotStreamable('no items, or more after the object')


def _documents_from_file(path):
    """Yield ``(line, document)`` of one src file: JSON, JSON documents back to back or per line, or YAML."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError as exc:
        raise DropEventsError('cannot read src file %s: %s' % (path, exc)) from exc
    if data[:3] == b'\xef\xbb\xbf':  # UTF-8 byte order mark
        data = data[3:]
    stripped = data.lstrip()
    if not stripped:
        return
    if stripped[:1] in (b'{', b'['):
        try:
            yield 1, json_loads(data)
            return
        except (ValueError, RecursionError):
            pass
        yield from _json_documents(data, path)
        return
    yield from _yaml_documents(data, path)


def _json_documents(data, path):
    """JSON documents one per line (fast) or back to back, pretty-printed (``kubectl get events -w -o json``).

    A part that does not decode (a truncated last line, garbage) is yielded as ``Undecodable`` and reading resumes at
    the next line that starts with ``{`` or ``[``; nothing decoding at all is an error naming the file.
    """
    lines = data.split(b'\n')
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    docs = []
    for number, line in enumerate(lines[:last + 1], 1):
        if not line.strip():
            continue
        try:
            docs.append((number, json_loads(line)))
        except (ValueError, RecursionError) as exc:
            if number - 1 == last and docs:  # only the last line is broken: a capture cut off mid-write
                docs.append((number, Undecodable(number, 'line %d is truncated or not JSON (%s); the rest of the file was read' % (number, _short_error(exc)))))
                break
            docs = None
            break
    if docs is not None:
        yield from docs
        return
    text = data.decode('utf-8', 'replace')
    decoder = json.JSONDecoder()
    position, size, line, counted = 0, len(text), 1, 0
    decoded = 0
    first_error = None
    while position < size:
        while position < size and text[position] in ' \t\r\n':
            position += 1
        if position >= size:
            break
        line += text.count('\n', counted, position)
        counted = position
        try:
            obj, end = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as exc:
            error = 'JSON from line %d does not decode (%s); skipped to the next object' % (line, _short_error(exc))
            first_error = first_error or error
            resume = _next_document_start(text, position + 1)
            if resume < 0 and not decoded:
                break
            yield line, Undecodable(line, error)
            if resume < 0:
                break
            position = resume
            continue
        decoded += 1
        yield line, obj
        position = end
    if not decoded and first_error:
        raise DropEventsError('src file %s is neither valid JSON nor YAML: expected %s; %s' % (path, SRC_FORMATS, first_error))


def _next_document_start(text, position):
    """Offset of the next line that starts with ``{`` or ``[`` at or after ``position``, -1 if none."""
    best = -1
    for opener in ('\n{', '\n['):
        found = text.find(opener, position)
        if found >= 0 and (best < 0 or found < best):
            best = found
    return best + 1 if best >= 0 else -1


def _short_error(exc):
    if isinstance(exc, RecursionError):
        return 'nested too deep'
    return str(exc).split('\n', 1)[0][:120]


def _yaml_documents(data, path):
    if not HAS_YAML:
        raise DropEventsError('src file %s is not JSON and PyYAML is not installed to read YAML; expected %s' % (path, SRC_FORMATS))
    loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
    decoded = 0
    try:
        for doc in yaml.load_all(data, Loader=loader):  # nosec - safe loader
            if doc is not None:
                decoded += 1
                yield None, doc
    except (yaml.YAMLError, ValueError, RecursionError, OverflowError) as exc:
        mark = getattr(exc, 'problem_mark', None)
        line = mark.line + 1 if mark is not None else None
        if not decoded:
            raise DropEventsError('src file %s is neither valid JSON nor YAML: expected %s; %s'
                                  % (path, SRC_FORMATS, _short_error(exc) if not isinstance(exc, yaml.YAMLError) else exc)) from None
        yield line, Undecodable(line, 'YAML from line %s does not decode (%s); the rest of the file was skipped'
                                % (line or '?', str(exc).replace('\n', ' ')[:200]))


def _events_from_doc(doc, depth=0):
    """The items of one document where Events are expected; what is not an Event is yielded too (to be counted)."""
    if isinstance(doc, list) and depth < 3:
        for item in doc:
            yield from _events_from_doc(item, depth + 1)
    elif isinstance(doc, dict) and 'involvedObject' not in doc and 'regarding' not in doc and depth < 3:
        items = doc.get('items')
        if isinstance(items, list):
            for item in items:
                yield from _events_from_doc(item, depth + 1)
        else:
            # an Event, a watch event wrapper {type, object} (kubectl get -w -o json; ingest() unwraps it), or something
            # else that ingest() counts as not understood
            yield doc
    else:
        yield doc  # a scalar (e.g. ``kubectl get events`` table text read as YAML): counted as not understood


# ----------------------------------------------------------------------------- collector

class _Scope:
    """One list/watch target: all namespaces or one namespace, on one API."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.api = None
        self.resource_version = None

    def request(self, api_version):
        ns = self.namespace
        if api_version == CORE_V1:
            base = '/api/v1'
            selector = 'reason=%s' % PACKET_DROP + (',involvedObject.namespace=%s' % ns if ns else '')
        else:
            base = '/apis/events.k8s.io/v1'
            selector = 'reason=%s' % PACKET_DROP + (',regarding.namespace=%s' % ns if ns else '')
        path = base + ('/namespaces/%s/events' % ns if ns else '/events')
        return path, {'fieldSelector': selector}

    def label(self):
        return 'namespace %s' % self.namespace if self.namespace else 'all namespaces'


class DropEventsCollector:
    """Streams PacketDrop Events into drops and a ``sink``; see the module docstring.

    ``sink`` receives every drop in scope (an Event seen again included: the sink counts increases); ``result()``
    holds what the source saw, without violations (the aggregation adds them, see ``report.collect``).
    """

    def __init__(self, api=None, namespaces=None, since=None, reasons=None, api_version='auto', page_size=500,
                 max_drops=100, max_violations=100, wait_for=None, now=None, clock=time.monotonic, event_ttl=DEFAULT_EVENT_TTL,
                 timeout=None, allow_empty=False, sink=None):
        if api_version not in API_CHOICES:
            raise DropEventsError('api must be one of %s (got %r)' % (', '.join(API_CHOICES), api_version))
        if page_size is not None and page_size < 1:
            raise DropEventsError('page_size must be >= 1 (got %s)' % page_size)
        if max_drops is not None and max_drops < 0:
            raise DropEventsError('max_drops must be >= 0 (0 = all; got %s)' % max_drops)
        if max_violations is not None and max_violations < 0:
            raise DropEventsError('max_violations must be >= 0 (0 = all; got %s)' % max_violations)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
            raise DropEventsError('timeout must be a number of seconds > 0 (got %r); it bounds the whole live collection' % (timeout,))
        self.api = api
        self.namespaces = sorted(set(namespaces)) if namespaces else None
        for ns in self.namespaces or ():
            if not isinstance(ns, str) or not _NAMESPACE.match(ns):
                raise DropEventsError('namespaces: %r is not a valid namespace name (lower-case DNS label)' % (ns,))
        self._namespace_set = frozenset(self.namespaces or ())
        self.now = now or datetime.datetime.now(UTC)
        try:
            self.since = parse_since(since, now=self.now) if since not in (None, '') else None
        except DurationError as exc:
            raise DropEventsError(str(exc)) from exc
        self.since_input = since
        try:
            self.reasons = {check_reason(r).lower() for r in reasons} if reasons else None
        except ValueError as exc:
            raise DropEventsError(str(exc)) from None
        self.api_version = api_version
        self.page_size = page_size or 500
        self.max_drops = max_drops if max_drops is not None else 100
        self.max_violations = max_violations if max_violations is not None else 100
        self.wait = WaitCriteria(wait_for) if wait_for is not None else None
        self.clock = clock
        self.event_ttl = event_ttl
        self.sink = sink
        self.cov = Coverage()
        self.drops = []
        self.drops_truncated = False
        self.events_total = 0
        self.malformed = 0
        self.malformed_samples = []
        self.not_events = 0
        self.not_event_samples = []
        self.allow_empty = bool(allow_empty)
        self.empty = False
        self.excluded = {'before_since': 0, 'reasons': 0, 'namespaces': 0, 'other_reasons': 0}
        self.oldest = None
        self.newest = None
        self.partial_reasons = []
        self.warnings = []
        self.apis_used = []
        self.source = None
        self._seen = EventTable()
        self.matched = 0
        self.matched_events = 0
        self._seen_fields = {}
        self._lock = threading.Lock()
        self.waited_seconds = None
        self.satisfied = None
        self.timeout = timeout
        self.deadline = None
        self.timed_out = False
        self.watch_relists = 0

    # ------------------------------------------------------------------ ingest
    def ingest(self, raw, file=None, line=None):
        """Account one Event object (core/v1 or events.k8s.io/v1, or a watch wrapper); returns its Drop or None.

        An Event seen again (relist, watch MODIFIED) is parsed again: the aggregator only adds the increase of
        its ``count``, and wait_for counts the increase.

        Never raises on bad input: an item that is not an Event object, or whose fields have the wrong types
        (uid as a list, a timestamp as a number, metadata as a string...), is counted in ``events_malformed``
        and kept as a bounded sample (``events_malformed_samples``). ``file``/``line`` only label those samples.
        """
        for _depth in range(MAX_WRAPPER_DEPTH + 1):
            if not isinstance(raw, dict):
                self._not_event(raw, file, line)
                return None
            reason = raw.get('reason')
            if reason == PACKET_DROP or not isinstance(raw.get('object'), dict) or 'involvedObject' in raw:
                break
            raw = raw['object']  # watch event wrapper {"type": ..., "object": {...}}
        else:
            self.add_malformed(None, 'watch event wrappers nested more than %d deep' % MAX_WRAPPER_DEPTH, file, line)
            return None
        if reason != PACKET_DROP:
            if reason is not None and not isinstance(reason, str):
                self.add_malformed(raw, 'reason is %s, expected a string' % _kind(reason), file, line)
            elif not _looks_like_event(raw):
                self._not_event(raw, file, line)
            else:
                self.excluded['other_reasons'] += 1
            return None
        problem = event_shape_error(raw)
        if problem is not None:
            self.add_malformed(raw, problem, file, line)
            return None
        try:
            return self._ingest(raw, file, line)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:  # pragma: no cover - safety net
            self.add_malformed(raw, 'could not be read (%s)' % type(exc).__name__, file, line)
            return None

    def add_malformed(self, raw, error, file=None, line=None):
        """Count one Event (or item of a capture) that could not be read; keep a bounded sample of it."""
        self.malformed += 1
        if len(self.malformed_samples) < MAX_MALFORMED_SAMPLES:
            meta = raw.get('metadata') if isinstance(raw, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            self.malformed_samples.append({
                'namespace': _str_or_none(meta.get('namespace')), 'name': _str_or_none(meta.get('name')),
                'file': file, 'line': line, 'error': str(error)[:MAX_SAMPLE_TEXT],
            })

    def _ingest(self, raw, file, line):
        meta = raw.get('metadata') or {}
        if self.namespaces is not None:
            involved = _event_field(raw, 'involvedObject', 'regarding') or {}
            if (involved.get('namespace') or meta.get('namespace')) not in self._namespace_set:
                self.excluded['namespaces'] += 1
                return None
        key = meta.get('uid') or '%s/%s' % (meta.get('namespace'), meta.get('name'))
        rv = meta.get('resourceVersion')
        # _seen: key -> (resourceVersion, count, flags: _MATCHED wait_for, _COUNTED in events_total); bounded
        previous = self._seen.get(key)
        if previous is not None and rv is not None and previous[0] == rv:
            return None
        known = previous is not None and bool(previous[2] & _COUNTED)
        last = event_last_seen(raw)
        if self.since is not None and last is not None and last < self.since:
            if previous is None:
                self.excluded['before_since'] += 1
            self._seen.put(key, rv, 0)
            return None
        first = event_first_seen(raw)
        if first is not None and (self.oldest is None or first < self.oldest):
            self.oldest = first
        if last is not None and (self.newest is None or last > self.newest):
            self.newest = last
        drop = parse_event(raw, self.cov if not known else Coverage(), file)
        if drop is None:
            if not known:
                self.add_malformed(raw, event_malformed_reason(raw) or 'not a readable PacketDrop Event', file, line)
            return None
        if not known:
            self.events_total += 1
        count = drop.count or 1
        if drop.unparsed is not None:
            self._seen.put(key, rv, count, _COUNTED)
            return None
        fields = drop_fields(drop)
        if self.reasons is not None and fields['reason'] not in self.reasons:
            if not known:
                self.excluded['reasons'] += 1
            self._seen.put(key, rv, count, _COUNTED)
            return None
        if self.sink is not None:
            self.sink.add(drop)
        if not known:
            if self.max_drops == 0 or len(self.drops) < self.max_drops:
                self.drops.append(drop.to_dict())
            else:
                self.drops_truncated = True
        matched = False
        if self.wait is not None:
            before = previous[1] if known else 0
            if self.wait.matches(fields):
                matched = True
                was_matched = known and bool(previous[2] & _MATCHED)
                already = before if was_matched else 0
                self.matched += max(0, count - already)
                if not was_matched:
                    self.matched_events += 1
            else:
                summary = _drop_summary(fields)
                self._seen_fields[summary] = self._seen_fields.get(summary, 0) + max(0, count - before)
        self._seen.put(key, rv, count, _COUNTED | (_MATCHED if matched else 0))
        return drop

    def _not_event(self, item, file=None, line=None):
        """Count an item that is not a Kubernetes Event (not understood; see docs/drop-model.md, coverage rule)."""
        # never str(item): a 5000-digit int or a deep list must not raise here
        what = 'an object with keys %s' % ', '.join(sorted(str(k) for k in item)[:6]) if isinstance(item, dict) else _kind(item)
        self.add_malformed(item, ('not a Kubernetes Event but %s' if isinstance(item, dict) else 'not an Event object but %s') % what,
                           file, line)
        self.not_events += 1
        if len(self.not_event_samples) < 5:
            self.not_event_samples.append('not a Kubernetes Event: %s' % what)

    def _mark_partial(self, why):
        if why not in self.partial_reasons:
            self.partial_reasons.append(why)

    # ------------------------------------------------------------------ live
    def _api_order(self, scope):
        if self.api_version != 'auto':
            return [self.api_version]
        if self.apis_used and self.apis_used[-1] == EVENTS_V1:
            return [EVENTS_V1, CORE_V1]
        return [CORE_V1, EVENTS_V1]

    def _list_scope(self, scope):
        """List one scope (with auto API fallback); sets scope.api/resource_version."""
        order = self._api_order(scope)
        first_error = None
        for api_version in order:
            path, params = scope.request(api_version)
            pages = 0
            pager = self.api.list_pages(path, params, page_size=self.page_size)
            try:
                for page in pager:
                    pages += 1
                    if pages == 1:
                        scope.api = api_version
                        if api_version not in self.apis_used:
                            self.apis_used.append(api_version)
                    for index, item in enumerate(page.get('items') or []):
                        if index % DEADLINE_CHECK_EVERY == 0 and self._expired():
                            self._time_up('listing %s stopped in page %d' % (scope.label(), pages))
                            return False
                        self.ingest(item)
                    scope.resource_version = (page.get('metadata') or {}).get('resourceVersion') or scope.resource_version
                    if self._expired():
                        self._time_up('listing %s stopped after %d page(s)' % (scope.label(), pages))
                        return False
                return True
            except KubeAPITimeout:
                self._time_up('listing %s stopped after %d page(s)' % (scope.label(), pages))
                return False
            except KubeAPIError as exc:
                if pages:
                    self._mark_partial('listing %s on %s stopped after %d page(s): %s' % (scope.label(), api_version, pages, exc))
                    self.warnings.append('PacketDrop events of %s may be incomplete: %s' % (scope.label(), exc))
                    return False
                if self.api_version == 'auto' and exc.status in (403, 404) and api_version != order[-1]:
                    first_error = exc
                    continue
                if first_error is not None:
                    raise KubeAPIError('%s (api: auto also tried %s: HTTP %s %s)' % (first_error, api_version, exc.status, exc.reason),
                                       status=first_error.status, reason=first_error.reason, method=first_error.method,
                                       path=first_error.path, status_obj=first_error.status_obj, rbac=first_error.rbac) from exc
                raise
            finally:
                pager.close()
        return False  # pragma: no cover

    def _expired(self):
        return self.deadline is not None and self.clock() >= self.deadline

    def _time_up(self, what):
        """The time budget ran out: mark the result partial (once) and say so."""
        if self.wait is not None and (self.timeout is None or self.wait.timeout <= self.timeout):
            budget = 'wait_for.timeout (%ss)' % self.wait.timeout
        else:
            budget = 'timeout (%ss)' % self.timeout
        partial.time_up(self, budget, what, self._mark_partial)

    def collect_live(self):
        if self.api is None:
            raise DropEventsError('no Kubernetes API client')
        self.source = 'api'
        start = self.clock()
        budgets = [b for b in (self.timeout, self.wait.timeout if self.wait is not None else None) if b is not None]
        self.deadline = start + min(budgets) if budgets else None
        previous_deadline = getattr(self.api, 'deadline', None)
        if self.deadline is not None:
            self.api.deadline = time.monotonic() + (self.deadline - start)
        try:
            scopes = [_Scope(ns) for ns in self.namespaces] if self.namespaces else [_Scope(None)]
            for scope in scopes:
                if self._expired():
                    self._time_up('%s not listed' % scope.label())
                    break
                self._list_scope(scope)
            if self.wait is not None:
                self._wait(scopes, start)
        finally:
            self.api.deadline = previous_deadline
        return self.result()

    def _wait(self, scopes, start):
        deadline = self.deadline
        if self.matched >= self.wait.min_count:
            self.satisfied = True
            self.waited_seconds = round(self.clock() - start, 3)
            return
        events = queue.Queue()
        stop = threading.Event()
        cancels = []
        threads = []
        for scope in scopes:
            if scope.api is None:
                continue
            thread = threading.Thread(target=self._watch_scope, args=(scope, deadline, events, stop, cancels),
                                      name='netobs-drop-watch', daemon=True)
            thread.start()
            threads.append(thread)
        alive = len(threads)
        while alive and self.matched < self.wait.min_count:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                kind, payload = events.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if kind == 'event':
                self.ingest(payload)
            elif kind == 'partial':
                self._mark_partial(payload)
            elif kind == 'relist':
                self.watch_relists += 1
            elif kind == 'done':
                alive -= 1
            elif kind == 'error':
                stop.set()
                for cancel in list(cancels):
                    cancel()
                raise payload
        stop.set()
        for cancel in list(cancels):
            cancel()
        while True:  # drain what already arrived
            try:
                kind, payload = events.get_nowait()
            except queue.Empty:
                break
            if kind == 'event':
                self.ingest(payload)
            elif kind == 'relist':
                self.watch_relists += 1
            elif kind == 'partial':
                self._mark_partial(payload)
        self.waited_seconds = round(self.clock() - start, 3)
        self.satisfied = self.matched >= self.wait.min_count
        if not self.satisfied and alive == 0 and self.clock() < deadline:
            self._mark_partial('every watch ended before wait_for.timeout')

    def _watch_scope(self, scope, deadline, events, stop, cancels):  # pylint: disable=too-many-branches
        failures = 0
        relists = 0  # consecutive 410 Gone relists (reset once a watch delivers an event)
        path, params = scope.request(scope.api)
        try:
            while not stop.is_set():
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return
                try:
                    for etype, obj in self.api.watch(path, params, scope.resource_version, timeout_seconds=max(1, int(remaining + 0.999)),
                                                     on_open=cancels.append):
                        failures = 0
                        relists = 0
                        rv = (obj.get('metadata') or {}).get('resourceVersion')
                        if rv:
                            scope.resource_version = rv
                        if etype in ('ADDED', 'MODIFIED'):
                            events.put(('event', obj))
                        if stop.is_set():
                            return
                except ResourceVersionTooOld:
                    if stop.is_set():
                        return
                    if relists >= MAX_WATCH_RELISTS:
                        events.put(('partial', 'watch on %s: resourceVersion expired (410 Gone) %d times in a row; gave up relisting '
                                    '(events after the last list may be missing)' % (scope.label(), relists + 1)))
                        return
                    if relists:
                        delay = min(RELIST_MAX_BACKOFF, RELIST_BACKOFF * 2 ** (relists - 1)) * (0.8 + 0.4 * random.random())  # nosec
                        if stop.wait(min(delay, max(0.0, deadline - self.clock()))) or self.clock() >= deadline:
                            return
                    relists += 1
                    events.put(('relist', scope.label()))
                    rv = None
                    for page in self.api.list_pages(path, params, page_size=self.page_size):
                        for item in page.get('items') or []:
                            events.put(('event', item))
                        rv = (page.get('metadata') or {}).get('resourceVersion') or rv
                    scope.resource_version = rv
                except KubeAPIConnectionError as exc:
                    failures += 1
                    if failures > 5:
                        events.put(('partial', 'watch on %s kept failing: %s' % (scope.label(), exc)))
                        return
                    time.sleep(min(2.0, 0.2 * 2 ** failures))
        except KubeAPITimeout:
            return
        except KubeAPIError as exc:
            if exc.status in (0, 429, 500, 502, 503, 504):
                events.put(('partial', 'watch on %s failed: %s' % (scope.label(), exc)))
            else:
                events.put(('error', exc))
        finally:
            events.put(('done', scope.label()))

    # ------------------------------------------------------------------ offline
    def collect_src(self, src):
        self.source = 'src'
        undecodable = 0
        for path, line, item in iter_src_items(src):
            if isinstance(item, Undecodable):
                undecodable += 1
                self.add_malformed(None, item.error, path, item.line)
            else:
                self.ingest(item, path, line)
        if self.events_total == 0 and not any(self.excluded.values()) and self.malformed == self.not_events + undecodable:
            # No Event object at all: an empty capture, or not a capture of Events.
            what = ('%d item(s) that are not Kubernetes Events (%s)' % (self.not_events, '; '.join(self.not_event_samples[:2]))
                    if self.not_events else ('%d undecodable part(s)' % undecodable if undecodable else 'nothing'))
            error, warning = partial.empty_src_messages(
                src, 'Kubernetes Event', what, 'Save PacketDrop Events with "kubectl get events -A --field-selector '
                'reason=PacketDrop -o json" (Hubble flow captures are read by netobs.cilium.hubble_flows_info)')
            if not self.allow_empty:
                raise DropEventsError(error)
            self.empty = True
            self.warnings.append(warning)
        if self.events_total == 0 and self.excluded['before_since']:
            self.warnings.append('all %d PacketDrop events in %s are older than since=%s (relative durations count back from now)'
                                 % (self.excluded['before_since'], src, self.since_input))
        return self.result()

    # ------------------------------------------------------------------ result
    def coverage(self):
        cov = self.cov.to_dict()
        cov['events_malformed'] = self.malformed
        cov['events_malformed_samples'] = list(self.malformed_samples)
        cov['watch_relists'] = self.watch_relists
        cov['not_understood'] = self.malformed + self.cov.unparsed_events + self.cov.malformed + self.cov.other_records
        cov['not_understood_samples'] = list(self.not_event_samples)
        cov['empty'] = self.empty
        cov['counts_approximate'] = bool(self._seen.approximate)
        cov['oldest_event'] = format_timestamp(self.oldest)
        cov['newest_event'] = format_timestamp(self.newest)
        cov['since'] = format_timestamp(self.since)
        cov['ttl_warning'] = self.ttl_warning()
        return cov

    def ttl_warning(self):
        if self.source != 'api':
            return None
        ttl = self.event_ttl
        horizon = self.now - datetime.timedelta(seconds=ttl)
        oldest = format_timestamp(self.oldest) or 'none'
        if self.since is None:
            return ('no since given: only Events the API server still retains are visible (kube-apiserver --event-ttl, 1h by default); '
                    'oldest PacketDrop event seen: %s' % oldest)
        if self.since < horizon:
            return ('since=%s reaches %s back, beyond the API server event TTL (--event-ttl, 1h by default): drops before %s may have '
                    'expired; oldest PacketDrop event seen: %s. Use Hubble flows or a saved capture for older evidence.'
                    % (self.since_input, _human(self.now - self.since), format_timestamp(horizon), oldest))
        return None

    def result(self):
        """What the source saw; ``report.collect`` adds ``violations`` (capped by ``max_violations``) from the sink."""
        result = {
            'drops': self.drops,
            'drops_truncated': self.drops_truncated,
            'events_total': self.events_total,
            'unparsed': {'count': self.cov.unparsed_events, 'samples': list(self.cov.unparsed_samples)},
            'coverage': self.coverage(),
            'partial': bool(self.partial_reasons),
            'partial_reasons': list(self.partial_reasons),
            'excluded': dict(self.excluded),
            'api_used': self.apis_used[0] if len(self.apis_used) == 1 else (list(self.apis_used) or None),
            'api_requests': self.api.request_count if self.api is not None else 0,
            'timed_out': self.timed_out,
        }
        if self.wait is not None:
            result['wait'] = {
                'satisfied': bool(self.satisfied),
                'waited_seconds': self.waited_seconds if self.waited_seconds is not None else 0.0,
                'matched': self.matched,
                'matched_events': self.matched_events,
                'min_count': self.wait.min_count,
                'criteria': dict(self.wait.criteria),
            }
        return result

    def wait_failure_message(self):
        """Message for a wait_for that was not satisfied."""
        seen = sorted(self._seen_fields.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        seen_txt = '; '.join('%s x%d' % kv for kv in seen) if seen else 'none'
        return ('wait_for timed out after %.0fs: %d of %d required drop(s) matched [%s]. Seen meanwhile: %d PacketDrop event(s) in scope '
                '(%d parsed drops, %d unparsed); most frequent non-matching: %s.%s'
                % (self.wait.timeout, self.matched, self.wait.min_count, self.wait.describe(), self.events_total,
                   self.events_total - self.cov.unparsed_events, self.cov.unparsed_events, seen_txt,
                   ' Results may be partial: %s.' % '; '.join(self.partial_reasons) if self.partial_reasons else ''))


def _human(delta):
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return '%dd%dh' % (seconds // 86400, seconds % 86400 // 3600)
    if seconds >= 3600:
        return '%dh%dm' % (seconds // 3600, seconds % 3600 // 60)
    return '%dm' % (seconds // 60)


def collect(api=None, src=None, factory=None, **options):
    """Run a collection; returns ``(result dict, collector)``, raises DropEventsError / KubeAPIError.

    Pass ``sink=`` (see ``DropEventsCollector``) to receive the drops; the result has no violations.
    ``factory`` builds the collector (default ``DropEventsCollector``; ``report.collect`` passes one that aggregates).

    A ``wait_for`` that is not satisfied raises ``DropEventsError`` whose ``result`` holds the
    partial result (for ``fail_json``).
    """
    collector = (factory or DropEventsCollector)(api=api, **options)
    if src:
        if collector.wait is not None:
            raise DropEventsError('wait_for cannot be used with src (a saved capture does not change); remove one of them')
        return collector.collect_src(src), collector
    result = collector.collect_live()
    if collector.wait is not None and not collector.satisfied:
        raise DropEventsError(collector.wait_failure_message(), result=result)
    return result, collector
