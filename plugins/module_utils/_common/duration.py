# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations (``15m``, ``1h30m``, ``90s``, ``2d``) and RFC 3339 timestamps for ``since``/``until`` options.

* ``parse_duration('1h30m') -> timedelta``: a sequence of ``<number><unit>`` with units
  ``w d h m s ms us ns`` (Go ``time.ParseDuration`` units plus days and weeks); a bare number is seconds.
* ``parse_timestamp('2025-05-31T05:24:48.077Z') -> aware datetime`` (UTC offset required, up to 9
  fractional digits, ``T`` or space separator).
* ``parse_since(value, now=None) -> aware datetime``: a duration means "that long before now",
  otherwise the value must be an RFC 3339 timestamp.
* ``format_timestamp(dt) -> '2025-05-31T05:24:48Z'``.

Errors raise ``DurationError`` (a ``ValueError``) whose message shows accepted forms.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError

UTC = datetime.timezone.utc

_UNITS = {
    'w': 7 * 86400.0,
    'd': 86400.0,
    'h': 3600.0,
    'm': 60.0,
    's': 1.0,
    'ms': 1e-3,
    'us': 1e-6,
    'ns': 1e-9,
}
_PART = re.compile(r'(\d+(?:\.\d*)?|\.\d+)(ms|us|ns|w|d|h|m|s)')
_NUMBER = re.compile(r'^\d+(?:\.\d+)?$')
_RFC3339 = re.compile(
    r'^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})$')

HINT_DURATION = 'a duration like 15m, 1h30m, 90s or 2d'
HINT_TIMESTAMP = 'an RFC 3339 timestamp like 2025-05-31T05:24:48Z'


class DurationError(NetobsError, ValueError):
    """A duration or timestamp could not be parsed."""


def parse_duration(value, name='duration'):
    """Parse ``value`` (str, int or float seconds) into a ``datetime.timedelta`` (never negative)."""
    if isinstance(value, bool):
        raise DurationError('invalid %s %r: expected %s' % (name, value, HINT_DURATION))
    if isinstance(value, (int, float)):
        if value < 0:
            raise DurationError('invalid %s %r: must not be negative' % (name, value))
        return datetime.timedelta(seconds=value)
    if isinstance(value, datetime.timedelta):
        return value
    text = str(value).strip()
    if not text:
        raise DurationError('invalid %s: empty value; expected %s' % (name, HINT_DURATION))
    if _NUMBER.match(text):
        return datetime.timedelta(seconds=float(text))
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise DurationError('invalid %s %r: expected %s (units: w, d, h, m, s, ms)' % (name, value, HINT_DURATION))
    return datetime.timedelta(seconds=total)


def parse_timestamp(value, name='timestamp'):
    """Parse an RFC 3339 timestamp (str or datetime) into an aware ``datetime``."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise DurationError('invalid %s %s: no UTC offset' % (name, value.isoformat()))
        return value
    text = str(value).strip()
    match = _RFC3339.match(text)
    if not match:
        if re.match(r'^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$', text):
            raise DurationError('invalid %s %r: no UTC offset; append Z (UTC) or an offset like +02:00' % (name, value))
        raise DurationError('invalid %s %r: expected %s' % (name, value, HINT_TIMESTAMP))
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or '0')[:6].ljust(6, '0'))
    if zone in ('Z', 'z'):
        tzinfo = UTC
    else:
        sign = -1 if zone[0] == '-' else 1
        digits = zone[1:].replace(':', '')
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        second_i = min(int(second), 59)  # tolerate leap seconds
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), second_i, micro, tzinfo=tzinfo)
    except ValueError as exc:
        raise DurationError('invalid %s %r: %s' % (name, value, exc)) from exc


def parse_since(value, now=None, name='since'):
    """Turn a ``since`` value (duration before ``now`` or RFC 3339 timestamp) into an aware UTC datetime."""
    if value is None:
        return None
    now = now or datetime.datetime.now(UTC)
    if isinstance(value, datetime.datetime):
        return parse_timestamp(value, name).astimezone(UTC)
    text = str(value).strip()
    if text and (text[0].isdigit() or text[0] == '.') and '-' not in text[1:] and ':' not in text:
        try:
            return now - parse_duration(text, name)
        except DurationError:
            raise DurationError('invalid %s %r: expected %s or %s' % (name, value, HINT_DURATION, HINT_TIMESTAMP)) from None
    try:
        return parse_timestamp(text, name).astimezone(UTC)
    except DurationError:
        if re.match(r'^\d{4}-\d{2}-\d{2}', text):
            raise
        raise DurationError('invalid %s %r: expected %s or %s' % (name, value, HINT_DURATION, HINT_TIMESTAMP)) from None


def format_timestamp(value):
    """RFC 3339 in UTC with a ``Z`` suffix; microseconds only when non-zero."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')
