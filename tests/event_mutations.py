# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile mutations of real PacketDrop Events, shared by the ingest property test and ``tests/perf/fuzz_ingest.py``.

``mutate(rng, event, extra_values=())`` deep-copies a fixture Event and applies 1-4 random edits anywhere in it:
type swaps (list, int, float, bool, None, dict, string where something else is expected), deletions, huge
integers (5000 digits: beyond Python's int-to-str limit), lone surrogates, bidi and NUL characters, deep
nesting, renamed/extra keys, truncated strings; sometimes the whole item is replaced or wrapped (watch
wrappers, lists, scalars). ``rng`` is a ``random.Random`` (hypothesis' ``st.randoms()`` works too).
"""

from __future__ import annotations

import copy
import datetime
import json
import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'drop_events')
HUGE_INT = 10 ** 5000  # str(HUGE_INT) raises ValueError (sys.int_info.str_digits_check_threshold)


def fixture_events():
    """Every Event of the drop_events fixtures (core/v1), plus an events.k8s.io/v1 rendering of each."""
    events = []
    for name in ('events.json', 'events_v119.json'):
        with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
            events.extend(json.load(handle)['items'])
    converted = []
    for ev in events:
        converted.append({'apiVersion': 'events.k8s.io/v1', 'kind': 'Event', 'metadata': ev['metadata'], 'regarding': ev['involvedObject'],
                          'reason': ev['reason'], 'note': ev['message'], 'type': ev['type'], 'deprecatedSource': ev.get('source'),
                          'deprecatedFirstTimestamp': ev.get('firstTimestamp'), 'deprecatedLastTimestamp': ev.get('lastTimestamp'),
                          'deprecatedCount': ev.get('count'), 'eventTime': None,
                          'series': {'count': ev.get('count'), 'lastObservedTime': ev.get('lastTimestamp')}})
    return events + converted


class _Deep:
    """Stands for ``[[[...None...]]]`` nested ``depth`` deep, built fresh on every draw (too deep to deepcopy)."""

    def __init__(self, depth):
        self.depth = depth

    def build(self):
        value = None
        for _unused in range(self.depth):
            value = [value]
        return value


HOSTILE = (
    None, True, False, 0, -1, 1 << 63, -(1 << 70), HUGE_INT, -HUGE_INT, 1.5, float('nan'), float('inf'), -0.0,
    '', ' ', '0', '-1', '9' * 5000, 'x' * 70000, '\x00', '\ud800', '\udfff\ud800', '\u202eevil\u202c', '\u2066x\u2069',
    'caf\u00e9 \U0001f600', '\r\n', '{}', '[]', 'null', 'PacketDrop', 'Outgoing packet dropped (policy_denied) to ',
    'Incoming packet dropped (', '2025-05-31T05:25:23Z', '2025-02-30T25:61:61Z', '9999-12-31T23:59:59.999999999Z',
    [], [None], ['a', 1], {}, {'a': None}, {'uid': []}, {'namespace': {}, 'name': []}, _Deep(50), _Deep(5000),
    b'bytes', bytearray(b'x'), (1, 2), datetime.datetime(2025, 5, 31, 5, 25), datetime.date(2025, 5, 31),
    datetime.datetime(2025, 5, 31, 5, 25, tzinfo=datetime.timezone.utc), object(), set(),
)
KEYS = ('metadata', 'uid', 'name', 'namespace', 'resourceVersion', 'creationTimestamp', 'involvedObject', 'regarding',
        'reason', 'message', 'note', 'source', 'host', 'component', 'firstTimestamp', 'lastTimestamp', 'eventTime', 'count',
        'series', 'lastObservedTime', 'deprecatedCount', 'deprecatedFirstTimestamp', 'deprecatedLastTimestamp',
        'deprecatedSource', 'object', 'type', 'items', 'kind')


def _paths(obj, prefix=(), out=None, depth=0):
    """Every (container, key) position in a JSON-like tree (bounded depth)."""
    out = [] if out is None else out
    if depth > 6:
        return out
    if isinstance(obj, dict):
        for key in list(obj):
            out.append((obj, key))
            _paths(obj[key], prefix + (key,), out, depth + 1)
    elif isinstance(obj, list):
        for index in range(len(obj)):
            out.append((obj, index))
            _paths(obj[index], prefix + (index,), out, depth + 1)
    return out


def _mutate_string(rng, text):
    choice = rng.randrange(6)
    if choice == 0 and text:
        return text[:rng.randrange(len(text))]
    if choice == 1:
        position = rng.randrange(len(text) + 1)
        return text[:position] + rng.choice(('\ud800', '\u202e', '\x00', ')', '(', ' ', '.', '/', ',', 'TCP/', '\n')) + text[position:]
    if choice == 2:
        return text * rng.randrange(2, 50)
    if choice == 3:
        return text.upper()
    if choice == 4 and text:
        position = rng.randrange(len(text))
        return text[:position] + text[position + 1:]
    return text + rng.choice(('.', ' Denied by policies: ', ' Applied policies: a/b.', '9' * 30))


def _copy(value):
    if isinstance(value, _Deep):
        return value.build()
    try:
        return copy.deepcopy(value)
    except RecursionError:  # an extra value nested too deep: a fresh placeholder instead of sharing it
        return _Deep(5000).build()


def _text(value):
    try:
        return str(value)[:100]
    except (ValueError, RecursionError):  # a huge int inside, or deep nesting
        return 'unprintable'


def _value(rng, extra_values):
    return _copy(rng.choice(HOSTILE + tuple(extra_values)))


def mutate(rng, event, extra_values=()):
    """A mutated deep copy of ``event`` (or something that replaced it: a list, a scalar, a watch wrapper)."""
    obj = copy.deepcopy(event)
    for _unused in range(rng.randrange(1, 5)):
        paths = _paths(obj)
        action = rng.randrange(10)
        if not paths or action == 9:
            # the item itself
            kind = rng.randrange(6)
            if kind == 0:
                obj = _value(rng, extra_values)
            elif kind == 1:
                obj = {'type': rng.choice(('ADDED', 'MODIFIED', 'DELETED', 'ERROR', None, 1)), 'object': obj}
            elif kind == 2:
                obj = [obj]
            elif kind == 3 and isinstance(obj, dict):
                obj['object'] = _copy(obj)
            elif kind == 4:
                for _depth in range(rng.choice((2, 10, 3000))):
                    obj = {'type': 'ADDED', 'object': obj}
            elif isinstance(obj, dict):
                obj[rng.choice(KEYS)] = _value(rng, extra_values)
            continue
        container, key = rng.choice(paths)
        current = container[key]
        if action <= 3:
            container[key] = _value(rng, extra_values)
        elif action == 4:
            del container[key]
        elif action == 5 and isinstance(current, str):
            container[key] = _mutate_string(rng, current)
        elif action == 6:
            container[key] = [current] if rng.random() < 0.5 else {'value': current}
        elif action == 7 and isinstance(current, dict):
            current[rng.choice(KEYS)] = _value(rng, extra_values)
        elif action == 8 and isinstance(container, dict):
            container[rng.choice(KEYS)] = current
        else:
            container[key] = _text(current)
    return obj
